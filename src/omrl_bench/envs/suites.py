"""Task families ("suites"): registered env ids, task parameters and the train/test split.

Task parameters and the split are drawn from recorded seeds with
``numpy.random.default_rng`` (the FOCAL code used an unseeded split).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from omrl_bench.errors import OmrlError


@dataclass(frozen=True)
class Suite:
    """A task family: how to build its envs and which reward is reported."""

    name: str
    env_id: str
    max_episode_steps: int
    sparse_context: bool  # the context encoder sees sparse rewards
    reported_reward: str  # "sparse_reward" or "dense_reward": what a return sums
    task_kwargs: Callable[[int, int], list[dict[str, Any]]]  # (n_tasks, seed) -> kwargs
    train_is_test: bool = False


def _goals_on_half_circle(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    del seed  # PEARL's goals are evenly spaced, no draw
    angles = np.linspace(0.0, np.pi, num=n_tasks)
    return [{"goal": [float(np.cos(t)), float(np.sin(t))]} for t in angles]


def _winds(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    winds = np.random.default_rng(seed).uniform(-0.05, 0.05, size=(n_tasks, 2))
    return [{"goal": [1.0, 0.0], "wind": [float(w[0]), float(w[1])]} for w in winds]


def _velocities(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    v = np.random.default_rng(seed).uniform(0.0, 3.0, size=n_tasks)
    return [{"target_velocity": float(x)} for x in v]


def _directions(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    del seed
    if n_tasks != 2:
        raise OmrlError(f"sparse-ant-fwd-back has exactly 2 tasks, got n_tasks={n_tasks}")
    return [{"direction": 1.0}, {"direction": -1.0}]


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("sparse-point-robot", "omrl/SparsePointRobot-v0", 20, True, "sparse_reward", _goals_on_half_circle),
        Suite("point-robot-wind", "omrl/PointRobotWind-v0", 20, False, "dense_reward", _winds),
        Suite("sparse-cheetah-vel", "omrl/CheetahVel-v0", 200, True, "dense_reward", _velocities),
        Suite("sparse-ant-fwd-back", "omrl/AntFwdBack-v0", 200, True, "dense_reward", _directions, train_is_test=True),
    )
}


def get_suite(name: str) -> Suite:
    """Look a suite up by name, with a one-line error listing the known ones."""
    try:
        return SUITES[name]
    except KeyError:
        raise OmrlError(f"unknown suite {name!r}; choose one of: {', '.join(SUITES)}") from None


def task_parameters(suite: Suite, n_tasks: int, seed: int) -> list[dict[str, Any]]:
    """Constructor kwargs of every task, ``task`` index included."""
    return [{**kw, "task": i} for i, kw in enumerate(suite.task_kwargs(n_tasks, seed))]


def train_test_split(suite: Suite, n_tasks: int, n_test: int, seed: int) -> dict[str, list[int]]:
    """Seeded split of task indices; for train_is_test suites both lists hold every task."""
    if suite.train_is_test:
        every = list(range(n_tasks))
        return {"train": every, "test": list(every)}
    if not 0 < n_test < n_tasks:
        raise OmrlError(f"n_test must be in 1..{n_tasks - 1}, got {n_test}")
    perm = np.random.default_rng(seed).permutation(n_tasks)
    return {"train": sorted(int(i) for i in perm[n_test:]), "test": sorted(int(i) for i in perm[:n_test])}


def make_task_env(suite: Suite, kwargs: dict[str, Any], **make_kwargs: Any) -> gym.Env[Any, Any]:
    """One task's env, with the suite's registered time limit."""
    return gym.make(suite.env_id, **kwargs, **make_kwargs)
