"""Dynamics-varying MuJoCo task families on gymnasium's v5 envs: Hopper-Param and Walker-Param.

Provenance: ``rand_param_envs`` (``RandomEnv``, ``HopperRandParamsEnv``, ``Walker2DRandParamsEnv``; copies
ship with FOCAL-ICLR, oyster, CSRO, UNICORN and Meta-DT), written for MuJoCo 1.31 and mujoco-py. A task
multiplies four model arrays element by element: ``body_mass``, ``body_inertia`` and ``geom_friction`` by
1.5^u, ``dof_damping`` by 1.3^u, u ~ U[-3, 3] independently per element; the values are the default
model's times the multipliers. Frame skip 4, reward v_x + 1 - 1e-3 ||a||^2, observation qpos[1:] and
qvel clipped to [-10, 10], 200-step episodes; the Walker on the older ``walker2d.xml`` (different foot
frictions). Differences (docs/deviations.md): built on gymnasium ``Hopper-v5`` / ``Walker2d-v5``, whose
healthy bonus is 0 on the step that terminates (the reference paid it there too); after the arrays are
set, MuJoCo's derived constants are recomputed (``mj_setConst``), so a task runs exactly as a model
compiled with its parameters would; the multipliers are drawn with ``numpy.random.default_rng`` from a
recorded seed and travel in the env's kwargs; randomness only through ``self.np_random``.
"""

from __future__ import annotations

import functools
from typing import Any, SupportsFloat

import mujoco
import numpy as np
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.mujoco_env import expand_model_path
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from omrl_bench.envs.mujoco_tasks import _TaskInfo
from omrl_bench.errors import OmrlError

# the scaled model arrays and the base of each one's multiplier, in the reference's draw order
SCALED_ARRAYS: dict[str, float] = {"body_mass": 1.5, "body_inertia": 1.5, "dof_damping": 1.3, "geom_friction": 1.5}
LOG_SCALE_LIMIT = 3.0  # u ~ U[-3, 3]
HOPPER_XML = "hopper.xml"
WALKER_XML = "walker2d.xml"  # v5's default walker2d_v5.xml gives both feet friction 1.9; this one 0.9 and 1.9

StepResult = tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]


@functools.cache
def array_shapes(xml_file: str) -> dict[str, tuple[int, ...]]:
    """Shapes of the scaled arrays in gymnasium's model ``xml_file``."""
    model = mujoco.MjModel.from_xml_path(expand_model_path(xml_file))
    return {name: tuple(getattr(model, name).shape) for name in SCALED_ARRAYS}


def draw_scales(xml_file: str, n_tasks: int, seed: int) -> list[dict[str, Any]]:
    """``n_tasks`` tasks' multipliers as env kwargs (``<array>_scale``: nested lists of floats, JSON-exact)."""
    shapes, rng = array_shapes(xml_file), np.random.default_rng(seed)
    tasks = []
    for _ in range(n_tasks):
        kw = {}
        for name, base in SCALED_ARRAYS.items():
            u = rng.uniform(-LOG_SCALE_LIMIT, LOG_SCALE_LIMIT, size=shapes[name])
            kw[f"{name}_scale"] = (base**u).tolist()
        tasks.append(kw)
    return tasks


class _ParamTask(_TaskInfo):
    """Sets a task's multipliers on the live model once, at construction; ``step`` adds the task's info."""

    model: mujoco.MjModel
    data: mujoco.MjData

    SETTINGS: dict[str, Any]  # the gymnasium env's constructor arguments, pinned (each subclass's)

    def __init__(
        self,
        body_mass_scale: Any = None,
        body_inertia_scale: Any = None,
        dof_damping_scale: Any = None,
        geom_friction_scale: Any = None,
        task: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{**self.SETTINGS, **kwargs})
        scales = {
            "body_mass": body_mass_scale,
            "body_inertia": body_inertia_scale,
            "dof_damping": dof_damping_scale,
            "geom_friction": geom_friction_scale,
        }
        self._set_task(task, scales)

    def _set_task(self, task: int, scales: dict[str, Any]) -> None:
        self.task = int(task)
        self.default_params = {name: getattr(self.model, name).copy() for name in SCALED_ARRAYS}
        self.scales: dict[str, np.ndarray] = {}
        for name, default in self.default_params.items():
            given = scales[name]
            scale = np.ones_like(default) if given is None else np.asarray(given, dtype=np.float64)
            if scale.shape != default.shape:
                where = f"{type(self).__name__}: {name}_scale"
                raise OmrlError(f"{where} has shape {scale.shape}; the model's {name} has {default.shape}")
            if not np.all(np.isfinite(scale) & (scale > 0)):
                raise OmrlError(f"{type(self).__name__}: {name}_scale must be finite and positive")
            getattr(self.model, name)[:] = default * scale  # the model's arrays are views: set in place
            self.scales[name] = scale
        # Subtree masses, the constraint solver's inverse weights, actuator_acc0 and dof_M0 derive from the
        # masses and inertias: recompute them (and meaninertia, their mean, which mj_setConst leaves), then
        # clear the scratch state mj_setConst leaves in data (the next reset would too).
        mujoco.mj_setConst(self.model, self.data)
        self.model.stat.meaninertia = float(self.model.dof_M0.mean())
        mujoco.mj_resetData(self.model, self.data)

    def _task_step(self, result: StepResult) -> StepResult:
        obs, reward, terminated, truncated, info = result
        dense = float(reward)  # no sparse version of these families: sparse = dense
        return obs, dense, terminated, truncated, self._info(dense, dense, float(info["x_velocity"]))


class HopperParamEnv(_ParamTask, HopperEnv):
    """Hopper whose masses, inertias, joint damping and frictions are one task's; one instance is one task.

    ## Spaces
    As gymnasium ``Hopper-v5``: 11-D observation (qpos[1:], qvel clipped to [-10, 10]), 3-D action in [-1, 1].

    ## Task
    ``body_mass_scale``, ``body_inertia_scale``, ``geom_friction_scale`` and ``dof_damping_scale``:
    element-wise multipliers of the default model's arrays (nested lists of the arrays' shapes; omitted:
    1), set on the live model at construction. The suite draws them as 1.5^u (damping 1.3^u), u ~ U[-3, 3].

    ## Rewards
    ``step`` returns ``v_x + 1 - 1e-3 ||a||^2`` (the healthy bonus 1 is 0 on the step that terminates).
    The info carries ``task``, ``dense_reward``, ``sparse_reward`` (equal to the dense reward: the family
    has no sparse version) and ``x_velocity``, with the same keys after ``reset``.

    ## Termination
    Terminates when the height is <= 0.7, |angle| >= 0.2 or any |state[2:]| >= 100; truncated by the
    registered time limit (200 steps). Frame skip 4 (dt 0.008 s).

    ## Version history
    v0: first release.
    """

    SETTINGS: dict[str, Any] = {  # Hopper-v5's defaults, pinned: each is the reference's value
        "xml_file": HOPPER_XML,
        "frame_skip": 4,
        "forward_reward_weight": 1.0,
        "ctrl_cost_weight": 1e-3,
        "healthy_reward": 1.0,
        "terminate_when_unhealthy": True,
        "healthy_state_range": (-100.0, 100.0),
        "healthy_z_range": (0.7, float("inf")),
        "healthy_angle_range": (-0.2, 0.2),
        "reset_noise_scale": 5e-3,
        "exclude_current_positions_from_observation": True,
    }

    def step(self, action: np.ndarray) -> StepResult:  # type: ignore[override]  # info: task is an int
        return self._task_step(super().step(action))


class WalkerParamEnv(_ParamTask, Walker2dEnv):
    """Walker2d (the older ``walker2d.xml``) whose masses, inertias, damping and frictions are one task's.

    ## Spaces
    As gymnasium ``Walker2d-v5``: 17-D observation (qpos[1:], qvel clipped to [-10, 10]), 6-D action in [-1, 1].

    ## Task
    As ``HopperParamEnv``: four element-wise multipliers of the default model's arrays, set at construction.
    The model is ``walker2d.xml`` (right foot friction 0.9, left 1.9), not v5's default ``walker2d_v5.xml``.

    ## Rewards
    ``step`` returns ``v_x + 1 - 1e-3 ||a||^2`` (the healthy bonus 1 is 0 on the step that terminates).
    The info carries ``task``, ``dense_reward``, ``sparse_reward`` (equal to the dense reward) and
    ``x_velocity``, with the same keys after ``reset``.

    ## Termination
    Terminates when the height leaves (0.8, 2.0) or |angle| >= 1; truncated by the registered time limit
    (200 steps). Frame skip 4 (dt 0.008 s).

    ## Version history
    v0: first release.
    """

    SETTINGS: dict[str, Any] = {  # Walker2d-v5's defaults but the model, pinned: each is the reference's value
        "xml_file": WALKER_XML,
        "frame_skip": 4,
        "forward_reward_weight": 1.0,
        "ctrl_cost_weight": 1e-3,
        "healthy_reward": 1.0,
        "terminate_when_unhealthy": True,
        "healthy_z_range": (0.8, 2.0),
        "healthy_angle_range": (-1.0, 1.0),
        "reset_noise_scale": 5e-3,
        "exclude_current_positions_from_observation": True,
    }

    def step(self, action: np.ndarray) -> StepResult:  # type: ignore[override]  # info: task is an int
        return self._task_step(super().step(action))
