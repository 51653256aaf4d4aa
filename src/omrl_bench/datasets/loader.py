"""Reading published datasets: ``load_suite`` for training, ``list_datasets`` and ``verify_suite``."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omrl_bench.datasets import storage
from omrl_bench.datasets.pipeline import default_root
from omrl_bench.datasets.recipe import QUALITIES
from omrl_bench.envs import get_suite
from omrl_bench.errors import OmrlError


@dataclass
class TaskData:
    """One task's transitions as flat arrays, ready for a replay buffer."""

    task: int
    task_kwargs: dict[str, Any]
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray  # dense
    sparse_rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    def __len__(self) -> int:
        return len(self.rewards)


@dataclass
class SuiteData:
    suite: str
    preset: str
    quality: str
    split: str
    tasks: list[TaskData]
    namespace_metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def observation_dim(self) -> int:
        return int(self.tasks[0].observations.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.tasks[0].actions.shape[1])


def suite_namespace(suite: str, preset: str) -> str:
    return f"omrl/{suite}-{preset}"


def read_namespace(root: Path, suite: str, preset: str) -> dict[str, Any]:
    path = root / suite_namespace(suite, preset) / "namespace_metadata.json"
    if not path.exists():
        raise OmrlError(
            f"no {suite} datasets of preset {preset!r} in {root}; run: "
            f"omrl-bench generate-data --suite {suite} --preset {preset}"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _load_task(data_dir: Path) -> TaskData:
    arrays = storage.read_arrays(
        data_dir, ("observations", "actions", "rewards", "terminations", "infos/sparse_reward")
    )
    meta = storage.read_metadata(data_dir)
    lengths = np.asarray(meta["omrl"]["episode_lengths"], dtype=np.int64)
    # observations hold T+1 rows per episode: drop each episode's last row / first row
    ends = np.cumsum(lengths + 1)
    first = np.ones(len(arrays["observations"]), dtype=bool)
    first[ends - 1] = False
    nxt = np.ones_like(first)
    nxt[ends - lengths - 1] = False
    obs = arrays["observations"]
    return TaskData(
        task=int(meta["omrl"]["task"]),
        task_kwargs=meta["omrl"]["task_kwargs"],
        observations=obs[first],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        sparse_rewards=arrays["infos/sparse_reward"][nxt],
        next_observations=obs[nxt],
        terminations=arrays["terminations"],
        metadata=meta,
    )


def load_task_dirs(dirs: list[Path], workers: int = 2) -> list[TaskData]:
    """Load dataset directories into TaskData, over ``workers`` processes when there are many."""
    if workers > 1 and len(dirs) > 8:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_load_task, dirs, chunksize=max(1, len(dirs) // (4 * workers))))
    return [_load_task(d) for d in dirs]


def load_suite(
    suite: str,
    quality: str,
    split: str = "train",
    preset: str = "cpu",
    root: str | Path | None = None,
    workers: int = 2,
) -> SuiteData:
    """Per-task arrays of one quality of a suite's train or test tasks (or ``all``)."""
    get_suite(suite)
    if quality not in QUALITIES:
        raise OmrlError(f"unknown quality {quality!r}; choose from: {', '.join(QUALITIES)}")
    if split not in ("train", "test", "all"):
        raise OmrlError(f"unknown split {split!r}; choose from: train, test, all")
    base = Path(root) if root is not None else default_root()
    ns = read_namespace(base, suite, preset)
    tasks = sorted(set(ns["split"]["train"]) | set(ns["split"]["test"])) if split == "all" else ns["split"][split]
    dirs = [base / suite_namespace(suite, preset) / f"task-{t:02d}" / f"{quality}-v0" / "data" for t in tasks]
    missing = [d for d in dirs if not (d / storage.METADATA_FILE).exists()]
    if missing:
        raise OmrlError(
            f"{len(missing)} of {len(dirs)} {quality} datasets missing, e.g. {missing[0].parent}; "
            f"run omrl-bench generate-data --suite {suite} --preset {preset}"
        )
    data = load_task_dirs(dirs, workers)
    first = data[0]
    for d in data:
        if d.observations.shape[1:] != first.observations.shape[1:] or d.actions.shape[1:] != first.actions.shape[1:]:
            raise OmrlError(f"dataset of task {d.task} has spaces that do not match the suite's")
        if d.metadata["omrl"]["recipe_fingerprint"] != ns["recipe_fingerprint"]:
            raise OmrlError(f"dataset of task {d.task} comes from another recipe than the suite's metadata")
    return SuiteData(suite, preset, quality, split, data, ns)


def list_datasets(root: Path | None = None) -> list[dict[str, Any]]:
    """One row per published omrl-bench dataset under ``root``."""
    base = root if root is not None else default_root()
    rows = []
    for meta_path in sorted((base / "omrl").glob("*/task-*/*/data/metadata.json")):
        try:
            meta = json.loads(meta_path.read_text())
            o = meta["omrl"]
            rows.append(
                {
                    "dataset_id": meta["dataset_id"],
                    "episodes": meta["total_episodes"],
                    "steps": meta["total_steps"],
                    "size_mb": meta["dataset_size"],
                    "normalised_score": o["normalised_score"],
                    "sparse_return": o["dataset_sparse_return"],
                    "dense_return": o["dataset_dense_return"],
                }
            )
        except (json.JSONDecodeError, KeyError):
            rows.append({"dataset_id": str(meta_path.parent.parent.relative_to(base)), "error": "corrupt metadata"})
    return rows


def verify_dataset(data_dir: Path, expected: dict[str, Any] | None = None) -> list[str]:
    """Problems found in one dataset (empty when it is sound)."""
    import gymnasium as gym

    problems: list[str] = []
    main = data_dir / storage.MAIN_FILE
    try:
        meta = storage.read_metadata(data_dir)
    except OmrlError as exc:
        return [str(exc)]
    if not main.exists():
        return [f"{main}: missing"]
    if storage.sha256_file(main) != meta["omrl"]["sha256"]:
        return [f"{main}: checksum mismatch (file corrupted or modified)"]
    try:
        arrays = storage.read_arrays(
            data_dir, ("observations", "actions", "rewards", "terminations", "truncations", "infos/sparse_reward")
        )
    except OmrlError as exc:
        return [str(exc)]
    obs_space = storage._space(meta["observation_space"])
    act_space = storage._space(meta["action_space"])
    assert isinstance(act_space, gym.spaces.Box)
    lengths = meta["omrl"]["episode_lengths"]
    if len(lengths) != meta["total_episodes"] or sum(lengths) != meta["total_steps"]:
        problems.append(f"{data_dir}: episode counts disagree with metadata")
    for key, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            problems.append(f"{main}: non-finite values in {key}")
    if arrays["observations"].shape[1:] != obs_space.shape:
        problems.append(f"{main}: observations do not match the observation space")
    if np.any(arrays["actions"] < act_space.low - 1e-6) or np.any(arrays["actions"] > act_space.high + 1e-6):
        problems.append(f"{main}: actions outside the action space")
    if expected is not None:
        o = meta["omrl"]
        for key, value in expected.items():
            if o.get(key) != value:
                problems.append(f"{data_dir}: metadata {key}={o.get(key)!r}, expected {value!r}")
    return problems


def verify_suite(suite: str, preset: str = "cpu", root: Path | None = None) -> tuple[int, list[str]]:
    """Check every dataset of a suite: spaces, finite values, counts, task metadata, checksums."""
    get_suite(suite)
    base = root if root is not None else default_root()
    ns = read_namespace(base, suite, preset)
    n_checked, problems = 0, []
    for task, kwargs in enumerate(ns["tasks"]):
        for q in QUALITIES:
            d = base / suite_namespace(suite, preset) / f"task-{task:02d}" / f"{q}-v0" / "data"
            if not d.exists():
                continue
            n_checked += 1
            problems += verify_dataset(
                d, {"task": task, "quality": q, "task_kwargs": kwargs, "recipe_fingerprint": ns["recipe_fingerprint"]}
            )
    if n_checked == 0:
        problems.append(f"no datasets of {suite} preset {preset!r} under {base}")
    return n_checked, problems


def summarise(root: Path, recipe: Any, tasks: tuple[int, ...], qualities: tuple[str, ...]) -> list[dict[str, Any]]:
    """Mean dataset returns and normalised scores per quality over the published tasks."""
    rows = []
    for q in qualities:
        metas = []
        for t in tasks:
            path = root / recipe.dataset_id(t, q) / "data"
            if (path / storage.METADATA_FILE).exists():
                metas.append(storage.read_metadata(path)["omrl"])
        rows.append(
            {
                "quality": q,
                "datasets": len(metas),
                "sparse_return": float(np.mean([m["dataset_sparse_return"] for m in metas])) if metas else float("nan"),
                "dense_return": float(np.mean([m["dataset_dense_return"] for m in metas])) if metas else float("nan"),
                "normalised_score": float(np.mean([m["normalised_score"] for m in metas])) if metas else float("nan"),
            }
        )
    return rows
