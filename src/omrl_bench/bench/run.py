"""One training run: load datasets, build the algorithm, train, evaluate on held-out tasks."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omrl_bench.config import check_seed, to_dict
from omrl_bench.core.registry import Dims, get_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets.recipe import ALL_QUALITIES, PROTOCOL
from omrl_bench.errors import OmrlError

DEVICE = re.compile(r"cpu|cuda(:\d+)?")
NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``, or a one-line error."""
    if not DEVICE.fullmatch(device):
        raise OmrlError(f"unknown device {device!r}; choose cpu, cuda or cuda:N")
    return device


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@functools.lru_cache(maxsize=8192)
def _flat_config(cfg: Any) -> dict[str, Any]:
    """A (frozen, cached) config as flat ``a.b`` keys; callers only read it."""
    return _flat(to_dict(cfg))


@dataclass(frozen=True)
class RunSpec:
    algo: str
    variant: str | None
    suite: str
    train_quality: str
    test_qualities: tuple[str, ...]
    seed: int
    preset: str
    data_preset: str
    device: str = "cpu"
    overrides: tuple[str, ...] = ()
    tag: str = ""  # names a run whose overrides change what it measures (e.g. "hard"); --name on the CLI
    precision: str | None = None  # fp32 | bf16; None: the preset's
    tag_overrides: tuple[str, ...] = ()  # the overrides the tag stands for (a grid's "hard", "bc0.4", ...)

    def all_overrides(self) -> list[str]:
        """The tag's and the ``--set`` overrides, with ``--precision`` last (it wins over ``--set precision=``)."""
        return [*self.tag_overrides, *self.overrides, *([f"precision={self.precision}"] if self.precision else [])]

    def run_name(self, variant: str) -> str:
        """``algo-variant-suite-quality-sSEED[-tag][-precision]``: the precision only where it is not the preset's.

        ``--set`` values that change the config beyond what the tag stands for add ``-set<hash>`` (a hash
        of what they changed), so runs with other settings in the same ``--out`` never share a directory;
        a tag given with ``--name`` (no ``tag_overrides``) names the run as it is."""
        if self.tag and not NAME.fullmatch(self.tag):
            raise OmrlError(f"--name {self.tag!r}: use letters, digits, '.', '_' and '-' only")
        name = f"{self.algo}-{variant}-{self.suite}-{self.train_quality}-s{self.seed}"
        preset = _flat_config(resolve_config(self.algo, variant, self.suite, self.preset, [*self.tag_overrides])[1])
        ours = _flat_config(resolve_config(self.algo, variant, self.suite, self.preset, self.all_overrides())[1])
        changed = sorted(f"{k}={ours[k]!r}" for k in ours if k != "precision" and ours[k] != preset[k])
        if self.tag:
            name = f"{name}-{self.tag}"
        if changed and (self.tag_overrides or not self.tag):
            name = f"{name}-set{hashlib.sha256(';'.join(changed).encode()).hexdigest()[:6]}"
        if ours["precision"] != preset["precision"]:
            name = f"{name}-{ours['precision']}"
        return name


def seed_everything(seed: int) -> None:
    """The one seeding call at the entry point (torch's global RNG drives dropout only)."""
    torch.manual_seed(seed)


def _check_spaces(suite_name: str, data: Any) -> None:
    import gymnasium as gym

    from omrl_bench.envs import get_suite

    env = gym.make(get_suite(suite_name).env_id)  # every task of a suite has the same spaces
    obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
    env.close()
    if data.tasks[0].observations.shape[1:] != obs_shape or data.tasks[0].actions.shape[1:] != act_shape:
        raise OmrlError(
            f"dataset spaces {data.tasks[0].observations.shape[1:]}/{data.tasks[0].actions.shape[1:]} do "
            f"not match {suite_name}'s env {obs_shape}/{act_shape}"
        )


def run_config(spec: RunSpec) -> tuple[str, Any, dict[str, Any]]:
    """Check ``spec`` and resolve it: (variant, train config, the config written to the run directory)."""
    from omrl_bench.datasets.recipe import preset_names as recipe_presets

    get_algorithm(spec.algo)
    check_device(spec.device)
    check_seed(spec.seed)
    if not spec.test_qualities:
        raise OmrlError(f"no test quality given; choose one or more of: {', '.join(ALL_QUALITIES)}")
    for q in (spec.train_quality, *spec.test_qualities):
        if q not in ALL_QUALITIES:
            raise OmrlError(f"unknown quality {q!r}; choose from: {', '.join(ALL_QUALITIES)}")
    twice = [q for i, q in enumerate(spec.test_qualities) if q in spec.test_qualities[:i]]
    if twice:
        raise OmrlError(f"test quality {twice[0]!r} is given twice")
    variant, cfg = resolve_config(spec.algo, spec.variant, spec.suite, spec.preset, spec.all_overrides())
    if spec.data_preset not in recipe_presets(spec.suite):  # a recipe that does not exist cannot be generated
        raise OmrlError(
            f"unknown data preset {spec.data_preset!r} for {spec.suite}; its recipe's presets are: "
            f"{', '.join(recipe_presets(spec.suite))}"
        )
    config = {
        "algo": spec.algo,
        "variant": variant,
        "suite": spec.suite,
        "train_quality": spec.train_quality,
        "test_qualities": list(spec.test_qualities),
        "seed": spec.seed,
        "preset": spec.preset,
        "data_preset": spec.data_preset,
        "data_protocol": PROTOCOL,
        "device": spec.device,
        "config": to_dict(cfg),
    }
    return variant, cfg, config


@dataclass(frozen=True)
class RunData:
    """A run's datasets as the trainer and the evaluation use them."""

    suite: Any
    datasets: dict[str, Any]  # "train" and "test/<quality>": the loaded suites (provenance hashes them)
    buffers: Any  # the training tasks' TaskBuffers
    test_buffers: dict[str, Any]  # per test quality
    train_kwargs: list[dict[str, Any]]
    test_kwargs: list[dict[str, Any]]


def load_run_data(spec: RunSpec, cfg: Any, root: Path | None) -> RunData:
    """Load and check the training and test datasets of ``spec`` into buffers on its device."""
    from omrl_bench.core.buffers import TaskBuffers
    from omrl_bench.datasets import load_suite
    from omrl_bench.envs import get_suite

    suite = get_suite(spec.suite)
    train = load_suite(spec.suite, spec.train_quality, "train", spec.data_preset, root)
    _check_spaces(spec.suite, train)
    tests = {q: load_suite(spec.suite, q, "test", spec.data_preset, root) for q in spec.test_qualities}
    for t in tests.values():
        _check_spaces(spec.suite, t)
    ctx_next = cfg.next_obs_in_context
    return RunData(
        suite,
        {"train": train, **{f"test/{q}": t for q, t in tests.items()}},
        TaskBuffers(train.tasks, suite.sparse_context, ctx_next, spec.device),
        {q: TaskBuffers(t.tasks, suite.sparse_context, ctx_next, spec.device) for q, t in tests.items()},
        [t.task_kwargs | {"task": t.task} for t in train.tasks],
        [t.task_kwargs | {"task": t.task} for t in next(iter(tests.values())).tasks],
    )


def _evaluate_all(algo: Any, data: RunData, cfg: Any, seed: int) -> dict[str, float]:
    """``eval/<quality>/return`` and ``dense_return`` with context of every test quality."""
    from omrl_bench.core.evaluation import evaluate

    row = {}
    for q, b in data.test_buffers.items():
        res = evaluate(algo, data.suite, b, data.test_kwargs, cfg.eval_context_size, cfg.eval_episodes, seed)
        row[f"eval/{q}/return"] = res["mean_return"]
        row[f"eval/{q}/dense_return"] = res["mean_dense_return"]
    return row


def _final_report(algo: Any, data: RunData, spec: RunSpec, cfg: Any, config: dict[str, Any], run_dir: Path) -> Any:
    """The final test of every quality, embedding statistics (and their draws on disk), provenance."""
    from omrl_bench.core.evaluation import embedding_stats, evaluate, task_embedding_draws

    report: dict[str, Any] = {"config": config, "test": {}}
    for q, b in data.test_buffers.items():
        report["test"][q] = evaluate(
            algo, data.suite, b, data.test_kwargs, cfg.eval_context_size, cfg.eval_episodes, spec.seed + 10**6
        )
    gen = torch.Generator(device=spec.device).manual_seed(spec.seed)
    z_test_draws = task_embedding_draws(
        algo, data.test_buffers[spec.test_qualities[0]], cfg.eval_context_size, cfg.embedding_draws, gen
    )
    z_train_draws = task_embedding_draws(algo, data.buffers, cfg.eval_context_size, cfg.embedding_draws, gen)
    z_test, z_train = z_test_draws.mean(0), z_train_draws.mean(0)
    report["embeddings"] = {"test": embedding_stats(z_test), "train": embedding_stats(z_train)}
    # an algorithm without task inference (a context-free plug-in) gives every context the same z: its
    # RMS and ESR of 0 would read as a collapsed encoder, so the report says it has no embeddings
    if np.all(z_test_draws == z_test_draws.reshape(-1, z_test_draws.shape[-1])[0]) and np.all(z_train == z_test[0]):
        report["embeddings"]["context_free"] = True
    np.savez(
        run_dir / "embeddings.npz",
        z_train=z_train,
        z_test=z_test,
        z_test_draws=z_test_draws,  # (draws, tasks, latent): one z per context draw (Figure 5's points)
        train_tasks=np.array([k["task"] for k in data.train_kwargs]),
        test_tasks=np.array([k["task"] for k in data.test_kwargs]),
    )
    _dump_attention(algo, data.buffers, run_dir, cfg)
    report["provenance"] = provenance(data.datasets, spec.device)
    return strict_json(report)


def execute(
    spec: RunSpec,
    out: Path,
    root: Path | None,
    resume: bool,
    progress: bool = True,
    resolved: tuple[str, Any, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run one (algorithm, variant, suite, train quality, seed); return the final report. ``resolved`` is
    ``run_config(spec)`` where the caller has it already (the config is resolved once per run)."""
    from omrl_bench.core.trainer import run_training

    variant, cfg, config = resolved or run_config(spec)
    run_dir = out / spec.run_name(variant)
    if spec.device.startswith("cuda") and not torch.cuda.is_available():
        raise OmrlError("--device cuda requested but no CUDA device is available")
    data = load_run_data(spec, cfg, root)
    seed_everything(spec.seed)
    b = data.buffers
    algo = get_algorithm(spec.algo).build(
        cfg, Dims(b.obs_dim, b.action_dim, b.context_dim, b.n_tasks), spec.seed, spec.device
    )
    return run_training(
        algo,
        b,
        run_dir,
        config,
        cfg.steps,
        cfg.eval_every,
        cfg.checkpoint_every,
        cfg.log_every,
        lambda step: _evaluate_all(algo, data, cfg, spec.seed + step),
        lambda: _final_report(algo, data, spec, cfg, config, run_dir),
        resume,
        progress,
    )


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (an undefined statistic) as None, so ``final.json`` is strict JSON."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not math.isfinite(float(obj)):
        return None
    return obj


def provenance(datasets: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Package versions, the project's git commit (when it runs from a checkout), the machine the run finished
    on (:func:`machine`) and the datasets trained and tested on: per split and quality, the dataset ids, the
    recipe fingerprint and one sha256 over the files'."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for pkg in ("omrl-bench", "torch", "numpy", "gymnasium", "mujoco", "minari", "stable-baselines3"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    data = {}
    for split, suite_data in datasets.items():
        metas = [t.metadata for t in suite_data.tasks]
        combined = hashlib.sha256(json.dumps([m["omrl"]["sha256"] for m in metas]).encode()).hexdigest()
        data[split] = {
            "dataset_ids": [m["dataset_id"] for m in metas],
            "recipe_fingerprint": suite_data.namespace_metadata.get("recipe_fingerprint"),
            "sha256": combined,
        }
    return {"versions": versions, "git_commit": _git_commit(), "machine": machine(device), "datasets": data}


def machine(device: str = "cpu") -> dict[str, Any]:
    """What a run's wall time depends on: the CPU model, torch's CPU capability (AVX2, AVX512, ...: whether
    bf16 is native), the core count and, on CUDA, the GPU's name."""
    import os
    import platform

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    return {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": os.cpu_count(), "gpu": gpu}


def _git_commit() -> str | None:
    """The commit of the checkout this package runs from, or None (an installed wheel, no git)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _dump_attention(algo: Any, buffers: Any, run_dir: Path, cfg: Any) -> None:
    """Batch-attention weight of each transition of one context per training task, with its reward (Figure 7)."""
    gen = torch.Generator(device=buffers.device).manual_seed(0)
    tasks = torch.arange(buffers.n_tasks)
    context = buffers.sample_context(tasks, cfg.eval_context_size, gen)
    weights = algo.attention_weights(context)
    if weights is None:
        return
    reward_col = buffers.obs_dim + buffers.action_dim
    np.savez(run_dir / "attention.npz", weights=weights.cpu().numpy(), rewards=context[..., reward_col].cpu().numpy())
