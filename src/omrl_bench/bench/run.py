"""One training run: load datasets, build the algorithm, train, evaluate on held-out tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omrl_bench.config import to_dict
from omrl_bench.core.train_config import TrainConfig, resolve_config
from omrl_bench.datasets.recipe import ALL_QUALITIES, PROTOCOL
from omrl_bench.errors import OmrlError


def _algorithms() -> dict[str, Callable[..., Any]]:
    from omrl_bench import focalpp
    from omrl_bench.baselines import cbcq, focal, mbml

    return {"focal": focal.make, "focalpp": focalpp.make, "cbcq": cbcq.make, "mbml": mbml.make}


ALGORITHMS = ("focal", "focalpp", "cbcq", "mbml")


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
    tag: str = ""  # names a run whose overrides change what it measures (e.g. "hard"), so it gets its own directory
    precision: str | None = None  # fp32 | bf16; None: the preset's

    def all_overrides(self) -> list[str]:
        """The ``--set`` overrides with ``--precision`` last (it wins over a ``--set precision=``)."""
        return [*self.overrides, *([f"precision={self.precision}"] if self.precision else [])]

    def run_name(self, variant: str) -> str:
        """``algo-variant-suite-quality-sSEED[-tag][-precision]``: the precision only where it is not the preset's."""
        name = f"{self.algo}-{variant}-{self.suite}-{self.train_quality}-s{self.seed}"
        if self.tag:
            name = f"{name}-{self.tag}"
        precision = resolve_config(self.algo, variant, self.suite, self.preset, self.all_overrides())[1].precision
        if precision != resolve_config(self.algo, variant, self.suite, self.preset)[1].precision:
            name = f"{name}-{precision}"
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


def run_config(spec: RunSpec) -> tuple[str, TrainConfig, dict[str, Any]]:
    """Check ``spec`` and resolve it: (variant, train config, the config written to the run directory)."""
    if spec.algo not in ALGORITHMS:
        raise OmrlError(f"unknown algorithm {spec.algo!r}; choose one of: {', '.join(ALGORITHMS)}")
    for q in (spec.train_quality, *spec.test_qualities):
        if q not in ALL_QUALITIES:
            raise OmrlError(f"unknown quality {q!r}; choose from: {', '.join(ALL_QUALITIES)}")
    variant, cfg = resolve_config(spec.algo, spec.variant, spec.suite, spec.preset, spec.all_overrides())
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


def execute(spec: RunSpec, out: Path, root: Path | None, resume: bool, progress: bool = True) -> dict[str, Any]:
    """Run one (algorithm, variant, suite, train quality, seed); return the final report."""
    from omrl_bench.core.buffers import TaskBuffers
    from omrl_bench.core.evaluation import embedding_stats, evaluate, task_embedding_draws
    from omrl_bench.core.trainer import run_training
    from omrl_bench.datasets import load_suite
    from omrl_bench.envs import get_suite

    variant, cfg, config = run_config(spec)
    if spec.device.startswith("cuda") and not torch.cuda.is_available():
        raise OmrlError("--device cuda requested but no CUDA device is available")
    suite = get_suite(spec.suite)
    train = load_suite(spec.suite, spec.train_quality, "train", spec.data_preset, root)
    _check_spaces(spec.suite, train)
    tests = {q: load_suite(spec.suite, q, "test", spec.data_preset, root) for q in spec.test_qualities}
    for t in tests.values():
        _check_spaces(spec.suite, t)
    ctx_next = cfg.encoder.next_obs_in_context
    buffers = TaskBuffers(train.tasks, suite.sparse_context, ctx_next, spec.device)
    test_buffers = {q: TaskBuffers(t.tasks, suite.sparse_context, ctx_next, spec.device) for q, t in tests.items()}
    test_kwargs = [t.task_kwargs | {"task": t.task} for t in next(iter(tests.values())).tasks]
    train_kwargs = [t.task_kwargs | {"task": t.task} for t in train.tasks]

    seed_everything(spec.seed)
    algo = _algorithms()[spec.algo](
        cfg, buffers.obs_dim, buffers.action_dim, buffers.context_dim, spec.seed, spec.device, buffers.n_tasks
    )
    run_dir = out / spec.run_name(variant)

    def evaluate_all(step: int) -> dict[str, float]:
        row = {}
        for q, b in test_buffers.items():
            res = evaluate(algo, suite, b, test_kwargs, cfg.eval_context_size, cfg.eval_episodes, spec.seed + step)
            row[f"eval/{q}/return"] = res["mean_return"]
            row[f"eval/{q}/dense_return"] = res["mean_dense_return"]
        return row

    def finalize() -> dict[str, Any]:
        report: dict[str, Any] = {"config": config, "test": {}}
        for q, b in test_buffers.items():
            report["test"][q] = evaluate(
                algo, suite, b, test_kwargs, cfg.eval_context_size, cfg.eval_episodes, spec.seed + 10**6
            )
        gen = torch.Generator(device=spec.device).manual_seed(spec.seed)
        z_test_draws = task_embedding_draws(
            algo, test_buffers[spec.test_qualities[0]], cfg.eval_context_size, cfg.embedding_draws, gen
        )
        z_train_draws = task_embedding_draws(algo, buffers, cfg.eval_context_size, cfg.embedding_draws, gen)
        z_test, z_train = z_test_draws.mean(0), z_train_draws.mean(0)
        report["embeddings"] = {"test": embedding_stats(z_test), "train": embedding_stats(z_train)}
        np.savez(
            run_dir / "embeddings.npz",
            z_train=z_train,
            z_test=z_test,
            z_test_draws=z_test_draws,  # (draws, tasks, latent): one z per context draw (Figure 5's points)
            train_tasks=np.array([k["task"] for k in train_kwargs]),
            test_tasks=np.array([k["task"] for k in test_kwargs]),
        )
        _dump_attention(algo, buffers, run_dir, cfg)
        return report

    return run_training(
        algo,
        buffers,
        run_dir,
        config,
        cfg.steps,
        cfg.eval_every,
        cfg.checkpoint_every,
        cfg.log_every,
        evaluate_all,
        finalize,
        resume,
        progress,
    )


def _dump_attention(algo: Any, buffers: Any, run_dir: Path, cfg: TrainConfig) -> None:
    """Batch-attention weight of each transition of one context per training task, with its reward (Figure 7)."""
    gen = torch.Generator(device=buffers.device).manual_seed(0)
    tasks = torch.arange(buffers.n_tasks)
    context = buffers.sample_context(tasks, cfg.eval_context_size, gen)
    algo.eval()
    weights = algo.encoder.transition_weights(context.to(algo.device))
    algo.train()
    if weights is None:
        return
    reward_col = buffers.obs_dim + buffers.action_dim
    np.savez(run_dir / "attention.npz", weights=weights.cpu().numpy(), rewards=context[..., reward_col].cpu().numpy())
