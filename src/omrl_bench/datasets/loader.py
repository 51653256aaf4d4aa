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
from omrl_bench.datasets.recipe import ALL_QUALITIES, PROTOCOL, QUALITIES
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


def dataset_path(root: Path, suite: str, preset: str, task: int, quality: str, version: int = PROTOCOL) -> Path:
    """The ``data`` directory of one dataset (``.../task-07/expert-v1/data``)."""
    return root / suite_namespace(suite, preset) / f"task-{task:02d}" / f"{quality}-v{version}" / "data"


def older_versions(root: Path, suite: str, preset: str) -> list[int]:
    """Data protocol versions older than this one with datasets of the suite under ``root``."""
    ns = root / suite_namespace(suite, preset)
    return [v for v in range(PROTOCOL) if any(ns.glob(f"task-*/*-v{v}/data"))]


def _regenerate_hint(root: Path, suite: str, preset: str) -> str:
    old = older_versions(root, suite, preset)
    only = "" if any((root / suite_namespace(suite, preset)).glob(f"task-*/*-v{PROTOCOL}/data")) else "only "
    found = f"{only}protocol v{old[-1]} datasets (-v{old[-1]}) are there, and " if old else ""
    return (
        f"{found}omrl-bench trains on data protocol v{PROTOCOL} (-v{PROTOCOL}); "
        f"run: omrl-bench generate-data --suite {suite} --preset {preset}"
    )


def read_namespace(root: Path, suite: str, preset: str) -> dict[str, Any]:
    path = root / suite_namespace(suite, preset) / "namespace_metadata.json"
    if not path.exists():
        raise OmrlError(
            f"no {suite} datasets of preset {preset!r} in {root}; run: "
            f"omrl-bench generate-data --suite {suite} --preset {preset}"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rebuild_command(root: Path, dataset_id: str) -> str:
    """The ``generate-data`` command that publishes ``dataset_id`` again under ``root`` (byte-identical: a
    published dataset that fails its checksum is rebuilt)."""
    import re
    import shlex

    from omrl_bench.envs import SUITES

    found = re.fullmatch(r"omrl/(.+)/task-(\d+)/([a-z]+)-v\d+", dataset_id)
    names = [s for s in SUITES if found and found.group(1).startswith(s + "-")]
    if found is None or not names:
        return f"omrl-bench generate-data (the suite and preset of {dataset_id})"
    suite = max(names, key=len)
    preset = found.group(1)[len(suite) + 1 :]
    try:
        seed = int(read_namespace(root, suite, preset).get("recipe", {}).get("seed", 0))
    except (OmrlError, ValueError, TypeError):
        seed = 0
    words = ["omrl-bench", "generate-data", "--suite", suite, "--preset", preset]
    words += [
        *(["--seed", str(seed)] if seed else []),
        "--tasks",
        str(int(found.group(2))),
        "--qualities",
        found.group(3),
        "--root",
        str(root),
    ]
    return shlex.join(words)


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
    if quality not in ALL_QUALITIES:
        raise OmrlError(f"unknown quality {quality!r}; choose from: {', '.join(ALL_QUALITIES)}")
    if split not in ("train", "test", "all"):
        raise OmrlError(f"unknown split {split!r}; choose from: train, test, all")
    base = Path(root) if root is not None else default_root()
    ns = read_namespace(base, suite, preset)
    tasks = sorted(set(ns["split"]["train"]) | set(ns["split"]["test"])) if split == "all" else ns["split"][split]
    dirs = [dataset_path(base, suite, preset, t, quality) for t in tasks]
    missing = [d for d in dirs if not (d / storage.METADATA_FILE).exists()]
    if missing:
        raise OmrlError(
            f"{len(missing)} of {len(dirs)} {quality} datasets missing, e.g. {missing[0].parent}; "
            + _regenerate_hint(base, suite, preset)
        )
    for folder in dirs:  # a damaged file must not be trained on, even where it still reads
        why = storage.damage(folder)
        if why is not None:
            ds_id = str(folder.parent.relative_to(base))
            raise OmrlError(f"damaged dataset {ds_id}: {why}; rebuild it with: {rebuild_command(base, ds_id)}")
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
        ds_id = str(meta_path.parent.parent.relative_to(base))
        why = storage.damage(meta_path.parent)
        if why is not None:
            rows.append({"dataset_id": ds_id, "error": f"DAMAGED: {why}; rebuild: {rebuild_command(base, ds_id)}"})
            continue
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
            rows.append({"dataset_id": ds_id, "error": "corrupt metadata"})
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


@dataclass
class Verification:
    """What ``verify_suite`` found: how many datasets the recipe expects, which are missing, and the
    problems of the ones present (``checked`` of them)."""

    expected: int
    checked: int
    missing: list[str]  # dataset ids
    problems: list[str]  # one line each, in the datasets present (and a recipe mismatch)
    hint: str  # how to generate the missing ones

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problems

    def summary(self, suite: str, preset: str) -> str:
        """One line: the counts, consistent with the lines listed before it."""
        head = f"{suite} [{preset}]: "
        if self.ok:
            return f"{head}all {self.checked} expected datasets verified: no problems"
        parts = [f"{len(self.missing)} of {self.expected} expected datasets missing"] if self.missing else []
        found = f"{len(self.problems)} problem(s)" if self.problems else "no problems"
        parts.append(f"{found} in the {self.checked} present")
        return head + ", ".join(parts) + (f"; {self.hint}" if self.missing else "")


def verify_suite(suite: str, preset: str = "cpu", root: Path | None = None) -> Verification:
    """Check every dataset the recipe expects: present, spaces, finite values, counts, task metadata, checksums.

    The expected set is every task of the recipe times the default qualities (plus ``untrained`` where
    the suite has it); a missing dataset is named by its id, apart from the problems of those present."""
    from omrl_bench.datasets.recipe import load_recipe

    get_suite(suite)
    base = root if root is not None else default_root()
    ns = read_namespace(base, suite, preset)
    recipe = load_recipe(suite, preset, int(ns.get("recipe", {}).get("seed", 0)))
    n_checked, problems = 0, []
    if ns.get("recipe_fingerprint") != recipe.fingerprint:
        problems.append(f"{suite} [{preset}] under {base} was generated from another recipe than today's")
    has_untrained = any((base / suite_namespace(suite, preset)).glob(f"task-*/untrained-v{PROTOCOL}/data"))
    expected = (*QUALITIES, "untrained") if has_untrained else QUALITIES
    missing = []
    for task in range(recipe.config.n_tasks):
        kwargs = ns["tasks"][task] if task < len(ns["tasks"]) else None
        for q in expected:
            d = dataset_path(base, suite, preset, task, q)
            if not (d / storage.METADATA_FILE).exists():
                missing.append(recipe.dataset_id(task, q))
                continue
            n_checked += 1
            problems += verify_dataset(
                d, {"task": task, "quality": q, "task_kwargs": kwargs, "recipe_fingerprint": ns["recipe_fingerprint"]}
            )
    n_expected = recipe.config.n_tasks * len(expected)
    return Verification(n_expected, n_checked, missing, problems, _regenerate_hint(base, suite, preset))


def card_lines(meta: dict[str, Any]) -> list[str]:
    """A dataset's card (its ``omrl`` metadata) as lines of text, for ``omrl-bench datasets show``."""
    o = meta["omrl"]
    if o.get("protocol", 0) < 1:
        return [f"{meta['dataset_id']}: a protocol v0 dataset; it has no card (regenerate for protocol v{PROTOCOL})"]
    steps = ", ".join(f"{s} ({n} ep)" for s, n in zip(o["checkpoint_steps"], o["checkpoint_episodes"], strict=True))
    curve = "  ".join(f"{c['step']}:{c['normalised_score']:.2f}" for c in o["score_curve"])
    lines = [
        meta["dataset_id"],
        f"  {o['suite']} [{o['preset']}], task {o['task']} ({o['split']}), {o['task_kwargs']}; "
        f"protocol v{o['protocol']}",
        f"  quality: {o['quality']}: {o['rule']}",
        f"  checkpoint step(s): {steps}",
        f"  achieved normalised score: {o['normalised_score']:.3f} on the scoring rollouts, "
        f"{o['dataset_normalised_score']:.3f} on this dataset",
        f"  normalised on the {o['score_reward'].replace('_', ' ')}: 0 = {o['score_zero']:.3f} (step 0), "
        f"1 = {o['score_one']:.3f} (final checkpoint)",
        f"  dataset: {meta['total_episodes']} episodes, {meta['total_steps']} steps; mean dense return "
        f"{o['dataset_dense_return']:.3f}, sparse {o['dataset_sparse_return']:.3f}; "
        f"rewarded transitions {100 * o['rewarded_fraction']:.1f}%",
        f"  Minari ref_min_score / ref_max_score (dense): {meta.get('ref_min_score', float('nan')):.3f} / "
        f"{meta.get('ref_max_score', float('nan')):.3f}",
        f"  fallback: {o['fallback'] or 'none'}",
        *_not_rising_lines(o),
        *(f"  note: {n}" for n in o.get("notes", [])),
        f"  score curve (step:normalised): {curve}",
    ]
    return lines


def _not_rising_lines(card: dict[str, Any]) -> list[str]:
    keys = card.get("not_rising", [])
    if not keys:
        return []
    returns = " and ".join(k.replace("_", " ") for k in keys)
    swapped = "; Minari's reference scores are the two swapped, to stay in order" if "dense_return" in keys else ""
    verb = "are" if len(keys) > 1 else "is"
    return [f"  the curve did not rise: the final checkpoint's {returns} {verb} no better than step 0's{swapped}"]


def show_dataset(dataset_id: str, root: Path | None = None) -> list[str]:
    """The card of a published dataset, by id (``omrl/<suite>-<preset>/task-07/expert-v1``)."""
    base = root if root is not None else default_root()
    d = base / dataset_id / "data"
    if not (d / storage.METADATA_FILE).exists():
        raise OmrlError(f"no dataset {dataset_id!r} under {base}; see omrl-bench datasets list")
    try:
        return card_lines(storage.read_metadata(d))
    except OmrlError as exc:
        fix = rebuild_command(base, dataset_id)
        raise OmrlError(f"{dataset_id} is DAMAGED: {exc}; rebuild it with: {fix}") from None


def damage_message(dataset_id: str, root: Path | None = None) -> str | None:
    """``DATASET is DAMAGED: why; rebuild it with: COMMAND`` for a published dataset that fails its
    checksum, or None when it is intact."""
    base = root if root is not None else default_root()
    why = storage.damage(base / dataset_id / "data")
    if why is None:
        return None
    return f"{dataset_id} is DAMAGED: {why}; rebuild it with: {rebuild_command(base, dataset_id)}"


def _grouped_messages(quality: str, metas: list[dict[str, Any]]) -> list[str]:
    """The fallbacks and notes of one quality's cards, one line per distinct text with its tasks."""
    tasks: dict[str, list[int]] = {}
    for m in metas:
        for text in ([m["fallback"]] if m.get("fallback") else []) + list(m.get("notes", [])):
            tasks.setdefault(text, []).append(int(m["task"]))
    return [
        f"{quality} on {len(ts)} task(s) ({', '.join(map(str, ts[:10]))}{', ...' if len(ts) > 10 else ''}): {text}"
        for text, ts in tasks.items()
    ]


def curve_warnings(root: Path, recipe: Any, tasks: tuple[int, ...], qualities: tuple[str, ...]) -> list[str]:
    """One line per return (the reported one, the dense one of Minari's reference scores) naming the tasks
    whose final SAC checkpoint scored no better than step 0, read from their cards."""
    by_key: dict[str, list[int]] = {}
    for t in tasks:
        for q in qualities:
            path = root / recipe.dataset_id(t, q) / "data"
            if (path / storage.METADATA_FILE).exists():
                for key in storage.read_metadata(path)["omrl"].get("not_rising", []):
                    by_key.setdefault(key, []).append(t)
                break
    reported = "sparse_return" if get_suite(recipe.suite).reported_reward == "sparse_reward" else "dense_return"
    lines = []
    for key, ts in by_key.items():
        named = ", ".join(map(str, ts[:10])) + (", ..." if len(ts) > 10 else "")
        what = "; ".join(
            ["their qualities fall back (see the notes)"] * (key == reported)
            + ["Minari's ref_min_score / ref_max_score are the two swapped, to stay in order"] * (key == "dense_return")
        )
        lines.append(
            f"the final SAC checkpoint is no better than step 0 on the {key.replace('_', ' ')} of "
            f"{len(ts)} task(s) ({named}): {what}"
        )
    return lines


def summarise(root: Path, recipe: Any, tasks: tuple[int, ...], qualities: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per quality over the published tasks: mean returns, normalised scores, rewarded fraction, fallbacks."""
    rows = []
    for q in qualities:
        metas = []
        for t in tasks:
            path = root / recipe.dataset_id(t, q) / "data"
            if (path / storage.METADATA_FILE).exists():
                metas.append(storage.read_metadata(path)["omrl"])

        def stat(key: str, fn: Any = np.mean, values: list[dict[str, Any]] = metas) -> float:
            return float(fn([m[key] for m in values])) if values else float("nan")

        rows.append(
            {
                "quality": q,
                "datasets": len(metas),
                "sparse_return": stat("dataset_sparse_return"),
                "dense_return": stat("dataset_dense_return"),
                "normalised_score": stat("dataset_normalised_score"),
                "score_min": stat("normalised_score", np.min),
                "score_median": stat("normalised_score", np.median),
                "score_max": stat("normalised_score", np.max),
                "rewarded_fraction": stat("rewarded_fraction"),
                "rewarded_fraction_min": stat("rewarded_fraction", np.min),
                "messages": _grouped_messages(q, metas),
            }
        )
    return rows
