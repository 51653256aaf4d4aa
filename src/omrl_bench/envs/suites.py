"""Task families ("suites"), each defined in one place: env id and entry point, episode length, task
sampler, which reward is reported, the paper's Table 7 training hyper-parameters and its published numbers.
A method's own hyper-parameters on a suite (FOCAL++'s contrastive temperature and momentum, CSRO's lambda,
UNICORN's alpha) live with the method, as its registered ``suite_settings``.

Env registration (``envs/__init__.py``), the training presets (``core/train_config.py``) and the tables'
published columns (``bench/paper.py``) are derived from ``SUITES``. Task parameters and the split are
drawn from recorded seeds with ``numpy.random.default_rng`` (the FOCAL code used an unseeded split).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    entry_point: str
    training: Mapping[str, Any]  # the paper's Table 7: every preset's training config starts from it
    train_is_test: bool = False
    # the FOCAL++ paper's numbers on this suite: "returns" / "embeddings" by table label (mean, std) / (RMS, ESR)
    published: Mapping[str, Any] = field(default_factory=dict)


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


def _hopper_scales(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    from omrl_bench.envs.param_tasks import HOPPER_XML, draw_scales  # imports MuJoCo: only when drawn

    return draw_scales(HOPPER_XML, n_tasks, seed)


def _walker_scales(n_tasks: int, seed: int) -> list[dict[str, Any]]:
    from omrl_bench.envs.param_tasks import WALKER_XML, draw_scales

    return draw_scales(WALKER_XML, n_tasks, seed)


_POINT = "omrl_bench.envs.point_robot:PointRobotEnv"
_POINT_TRAINING = {
    "meta_batch": 16,
    "batch_size": 256,
    "context_size": 1024,
    "eval_context_size": 400,
    "encoder": {"latent_dim": 5},
    "task_loss": {"lr": 0.001, "dml_beta": 1.0},
    "ac": {
        "reward_scale": 100,
        "gamma": 0.9,
        "actor_lr": 0.001,
        "critic_lr": 0.001,
        "alpha": 0.0,
        "train_alpha": False,
    },
}
_MUJOCO_TASK_LOSS = {"lr": 0.0003, "dml_beta": 1.0}
_MUJOCO_TRAINING = {
    "batch_size": 256,
    "context_size": 512,
    "eval_context_size": 400,
    "next_obs_in_context": False,
    "encoder": {"latent_dim": 20},
    "task_loss": _MUJOCO_TASK_LOSS,
}
_MUJOCO_AC = {"reward_scale": 5, "gamma": 0.99, "actor_lr": 0.0003, "critic_lr": 0.0003, "train_alpha": True}

SPARSE_POINT_ROBOT = Suite(
    "sparse-point-robot",
    "omrl/SparsePointRobot-v0",
    20,
    True,
    "sparse_reward",
    _goals_on_half_circle,
    _POINT,
    {**_POINT_TRAINING, "next_obs_in_context": False},
    published={
        "returns": {
            "FOCAL": (12.25, 0.47),
            "FOCAL++ contrastive": (12.53, 0.31),
            "FOCAL++ batch-wise": (12.54, 0.23),
            "FOCAL++ sequence-wise": (12.64, 0.14),
            "FOCAL++ parallel": (12.90, 0.02),
            "FOCAL++ series": (13.02, 0.30),
        },
        "embeddings": {"FOCAL": (1.283, 0.226), "FOCAL++ batch-wise": (1.288, 0.281)},
    },
)
POINT_ROBOT_WIND = Suite(
    "point-robot-wind",
    "omrl/PointRobotWind-v0",
    20,
    False,
    "dense_reward",
    _winds,
    _POINT,
    {**_POINT_TRAINING, "next_obs_in_context": True},
    published={
        "returns": {
            "FOCAL": (-5.67, 0.30),
            "FOCAL++ contrastive": (-5.55, 0.63),
            "FOCAL++ batch-wise": (-5.89, 0.34),
            "FOCAL++ sequence-wise": (-4.90, 0.04),
            "FOCAL++ parallel": (-5.77, 0.19),
            "FOCAL++ series": (-5.49, 0.47),
        },
        # Table 2 (Table 6 repeats the point robots with other values: FOCAL 0.907 / 0.203, FOCAL++ 1.060 / 0.254)
        "embeddings": {"FOCAL": (0.892, 0.077), "FOCAL++ batch-wise": (1.065, 0.100)},
    },
)
CHEETAH_VEL = Suite(
    "sparse-cheetah-vel",
    "omrl/CheetahVel-v0",
    200,
    True,
    "dense_reward",
    _velocities,
    "omrl_bench.envs.mujoco_tasks:CheetahVelEnv",
    {
        **_MUJOCO_TRAINING,
        "meta_batch": 16,
        "ac": {**_MUJOCO_AC, "alpha": 500.0, "target_divergence": 0.05, "divergence_lr": 0.0001},
    },
    published={
        "returns": {
            "FOCAL": (-201.8, 37.4),
            "FOCAL++ sequence-wise": (-199.8, 32.9),
            "FOCAL++ parallel": (-166.7, 16.9),
        },
    },
)
ANT_FWD_BACK = Suite(
    "sparse-ant-fwd-back",
    "omrl/AntFwdBack-v0",
    200,
    True,
    "dense_reward",
    _directions,
    "omrl_bench.envs.mujoco_tasks:AntFwdBackEnv",
    {
        **_MUJOCO_TRAINING,
        "meta_batch": 4,
        "ac": {
            **_MUJOCO_AC,
            "alpha": 1000000.0,
            "target_divergence": 0.1,
            "divergence_lr": 0.0001,
            "alpha_max": 2000000.0,
        },
    },
    train_is_test=True,
    published={
        "returns": {
            "FOCAL": (142.8, 156.0),
            "FOCAL++ contrastive": (166.7, 4.9),
            "FOCAL++ batch-wise": (167.8, 122.2),
            "FOCAL++ sequence-wise": (177.4, 103.2),
            "FOCAL++ parallel": (281.9, 182.1),
            "FOCAL++ series": (278.5, 161.7),
        },
        "embeddings": {"FOCAL": (0.758, 0.5), "FOCAL++ batch-wise": (0.763, 0.5)},  # Table 6
    },
)
# Hopper-Param and Walker-Param (REFERENCE section 1b, beyond the paper: no published FOCAL++ numbers).
_PARAM_TRAINING = {
    **_MUJOCO_TRAINING,
    "next_obs_in_context": True,  # the task shows only in the dynamics (FOCAL-ICLR's walker config sets it too)
    "meta_batch": 16,
    "task_loss": _MUJOCO_TASK_LOSS,  # the methods' own settings for these suites are in their modules
    # BRAC as on Cheetah-Vel. The sources disagree for these families: FOCAL-ICLR's walker_rand_params config
    # starts alpha at 1e4 (max 2e4, target divergence 0.05), CSRO's hopper and walker configs at 50 (max 1e4).
    "ac": {**_MUJOCO_AC, "alpha": 500.0, "target_divergence": 0.05, "divergence_lr": 0.0001},
}
HOPPER_PARAM = Suite(
    "hopper-param",
    "omrl/HopperParam-v0",
    200,
    False,
    "dense_reward",
    _hopper_scales,
    "omrl_bench.envs.param_tasks:HopperParamEnv",
    _PARAM_TRAINING,
)
WALKER_PARAM = Suite(
    "walker-param",
    "omrl/WalkerParam-v0",
    200,
    False,
    "dense_reward",
    _walker_scales,
    "omrl_bench.envs.param_tasks:WalkerParamEnv",
    _PARAM_TRAINING,
)
SUITES: dict[str, Suite] = {
    s.name: s for s in (SPARSE_POINT_ROBOT, POINT_ROBOT_WIND, CHEETAH_VEL, ANT_FWD_BACK, HOPPER_PARAM, WALKER_PARAM)
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
