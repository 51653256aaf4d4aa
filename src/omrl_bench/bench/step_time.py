"""Seconds per gradient step of a registered algorithm at a training preset's exact shapes, on synthetic data.

The data has the suite's dimensions (observation and action sizes of its env, its context layout) and the
shapes of the preset's datasets (the recipe's training tasks, ``dataset_episodes`` x episode length
transitions per task); the values are random, which does not change what a step costs. The slow test that
shows the ``paper`` preset runs (``tests/test_paper_preset_slow.py``) and ``benchmarks/bench_paper_step.py``
both use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.registry import Dims, build_algorithm
from omrl_bench.core.train_config import data_preset
from omrl_bench.datasets.loader import TaskData
from omrl_bench.datasets.recipe import load_recipe
from omrl_bench.envs import get_suite, make_task_env, task_parameters, train_test_split


@dataclass(frozen=True)
class Phase:
    """Steps of a run that cost the same: ``steps`` updates from update number ``start`` on."""

    name: str
    start: int
    steps: int


def synthetic_buffers(suite_name: str, preset: str, next_obs_in_context: bool, device: str = "cpu") -> TaskBuffers:
    """Random transitions in the shapes of ``preset``'s training datasets of ``suite_name``."""
    suite = get_suite(suite_name)
    cfg = load_recipe(suite_name, data_preset(preset)).config
    env = make_task_env(suite, task_parameters(suite, cfg.n_tasks, cfg.task_seed)[0])
    obs_dim, act_dim = int(env.observation_space.shape[0]), int(env.action_space.shape[0])  # type: ignore[index]
    env.close()
    n_train = len(train_test_split(suite, cfg.n_tasks, cfg.n_test, cfg.split_seed)["train"])
    n = cfg.dataset_episodes * suite.max_episode_steps
    rng = np.random.default_rng(0)
    tasks = [
        TaskData(
            t,
            {},
            rng.normal(size=(n, obs_dim)).astype(np.float32),
            rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
            rng.normal(size=n).astype(np.float32),
            (rng.uniform(size=n) < 0.5).astype(np.float32),
            rng.normal(size=(n, obs_dim)).astype(np.float32),
            rng.uniform(size=n) < 0.01,
        )
        for t in range(n_train)
    ]
    return TaskBuffers(tasks, suite.sparse_context, next_obs_in_context, device)


def phases(cfg: Any) -> list[Phase]:
    """The phases of a run of ``cfg.steps`` whose updates cost differently: MBML's teachers, reward models and
    student (the config's ``mbml`` stages), one phase for every other algorithm."""
    stages = getattr(cfg, "mbml", None)
    if stages is None:
        return [Phase("update", 0, cfg.steps)]
    t, r = stages.teacher_steps, stages.reward_steps
    return [Phase("teachers", 0, t), Phase("rewards", t, r), Phase("student", t + r, cfg.steps - t - r)]


def build(algo: str, cfg: Any, buffers: TaskBuffers, device: str = "cpu") -> Any:
    """Registered algorithm ``algo`` with config ``cfg``, built for ``buffers``' dimensions with seed 0."""
    dims = Dims(buffers.obs_dim, buffers.action_dim, buffers.context_dim, buffers.n_tasks)
    return build_algorithm(algo, cfg, dims, 0, device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_phase(model: Any, buffers: TaskBuffers, phase: Phase, steps: int) -> tuple[float, dict[str, float]]:
    """Seconds per update in ``phase`` (the median of ``steps`` timed updates after one untimed warm-up: on a
    shared machine the median resists the updates another process slowed down), and the last update's
    metrics. An algorithm with phases counts its updates in ``num_updates``: it is set to the phase's first."""
    if phase.start:
        with torch.no_grad():
            model.num_updates.fill_(phase.start)
    model.update(buffers)  # warm-up: allocations, first-call dispatch
    times, metrics = [], {}
    for _ in range(steps):
        _sync(model.device)
        t0 = time.perf_counter()
        metrics = model.update(buffers)
        _sync(model.device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), metrics


def projected_seconds(times: dict[str, float], run_phases: list[Phase]) -> float:
    """The update time of one whole run: each phase's steps at its measured seconds per step (no evaluation)."""
    return sum(p.steps * times[p.name] for p in run_phases)
