"""MuJoCo task families on gymnasium's v5 envs: Cheetah-Vel and Ant-Fwd-Back.

Provenance: the FOCAL code's ``HalfCheetahVelEnv`` and ``AntDirEnv`` (built on
rlkit's mujoco-py envs), sparsified as in the FOCAL++ paper, appendix D.1.
Differences: built on gymnasium ``HalfCheetah-v5`` (its default 17-D
observation; the reference used a custom 20-D one) and ``Ant-v5`` (27-D,
contact forces excluded); randomness only through ``self.np_random``.
"""

from __future__ import annotations

import sys
from typing import Any, SupportsFloat

import mujoco
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv


def _quiet_settotalmass_warning() -> None:
    """gymnasium's HalfCheetah XML uses ``settotalmass``, which MuJoCo 4 reports as deprecated on every
    model compile; a dataset rollout compiles hundreds of models. Drop that one message, keep the rest."""
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if "settotalmass" in message:
            return
        if previous is not None:
            previous(message)
        else:
            print(f"MuJoCo warning: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)


_quiet_settotalmass_warning()


def radius_sparse_reward(reward: float | np.ndarray, goal_radius: float) -> Any:
    """Paper appendix D.1: ``(r - g) / |g|`` where ``r > g``, else 0."""
    r = np.asarray(reward, dtype=np.float64)
    return np.where(r > goal_radius, (r - goal_radius) / abs(goal_radius), 0.0)


class _TaskInfo:
    """Identical info keys after ``reset`` and ``step`` (Minari needs them equal)."""

    task: int

    def _info(self, dense: float, sparse: float, x_velocity: float) -> dict[str, Any]:
        return {"task": self.task, "dense_reward": dense, "sparse_reward": sparse, "x_velocity": x_velocity}

    def _get_reset_info(self) -> dict[str, Any]:
        return self._info(0.0, 0.0, 0.0)


class CheetahVelEnv(_TaskInfo, HalfCheetahEnv):
    """HalfCheetah that must run forward at a target velocity; one instance is one task.

    ## Spaces
    As gymnasium ``HalfCheetah-v5``: 17-D observation, 6-D action in [-1, 1].

    ## Rewards
    ``step`` returns the dense reward ``-|v_x - v_target| - 0.05 ||a||^2``. The
    info carries ``task``, ``dense_reward``, ``sparse_reward`` (goal radius
    -0.1) and ``x_velocity``, with the same keys after ``reset``.

    ## Termination
    Never terminates; truncated by the registered time limit (200 steps).

    ## Version history
    v0: first release.
    """

    GOAL_RADIUS = -0.1
    CTRL_COST = 0.05

    def __init__(self, target_velocity: float = 1.0, task: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_velocity = float(target_velocity)
        self.task = int(task)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:  # type: ignore[override]  # info: task is an int
        obs, _, terminated, truncated, info = super().step(action)
        x_velocity = float(info["x_velocity"])
        a = np.asarray(action, dtype=np.float64)
        dense = -abs(x_velocity - self.target_velocity) - self.CTRL_COST * float(np.sum(a * a))
        sparse = float(radius_sparse_reward(dense, self.GOAL_RADIUS))
        return obs, dense, terminated, truncated, self._info(dense, sparse, x_velocity)


class AntFwdBackEnv(_TaskInfo, AntEnv):
    """Ant that must walk forward (+x) or backward (-x); one instance is one task.

    ## Spaces
    As gymnasium ``Ant-v5`` with contact forces excluded: 27-D observation,
    8-D action in [-1, 1].

    ## Rewards
    ``step`` returns ``direction * v_x + 1 - 0.5 ||a||^2 - contact cost``
    (Ant-v5's terms with the forward weight set to the direction). The info
    carries ``task``, ``dense_reward``, ``sparse_reward`` (goal radius 3) and
    ``x_velocity``, with the same keys after ``reset``.

    ## Termination
    Terminates when the torso height leaves [0.2, 1.0]; truncated by the
    registered time limit (200 steps).

    ## Version history
    v0: first release.
    """

    GOAL_RADIUS = 3.0

    def __init__(self, direction: float = 1.0, task: int = 0, **kwargs: Any) -> None:
        if direction not in (1.0, -1.0):
            raise ValueError(f"direction must be +1 or -1, got {direction}")
        kwargs.setdefault("include_cfrc_ext_in_observation", False)
        super().__init__(forward_reward_weight=float(direction), **kwargs)
        self.direction = float(direction)
        self.task = int(task)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:  # type: ignore[override]  # info: task is an int
        obs, reward, terminated, truncated, info = super().step(action)
        dense = float(reward)
        sparse = float(radius_sparse_reward(dense, self.GOAL_RADIUS))
        return obs, dense, terminated, truncated, self._info(dense, sparse, float(info["x_velocity"]))
