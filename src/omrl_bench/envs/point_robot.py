"""Point-robot task families: Sparse-Point-Robot and Point-Robot-Wind.

Provenance: PEARL (katerakelly/oyster) ``PointEnv`` / ``SparsePointEnv`` and the
FOCAL code's ``PointWindEnv``. Differences: the action space is exposed as
[-1, 1]^2 and scaled by 0.1 inside the env (the reference used a normalising
wrapper around [-0.1, 0.1]^2); randomness only through ``self.np_random``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

GOAL_RADIUS = 0.2
STEP_SCALE = 0.1


def pearl_sparse_reward(distance: float | np.ndarray, radius: float = GOAL_RADIUS) -> Any:
    """PEARL's sparse point-robot reward: ``1 - d`` inside the goal radius, else 0."""
    d = np.asarray(distance, dtype=np.float64)
    return np.where(d <= radius, 1.0 - d, 0.0)


class PointRobotEnv(gym.Env[np.ndarray, np.ndarray]):
    """A point robot on the plane that must reach a goal; one instance is one task.

    ## Spaces
    Observation: Box(-inf, inf, (2,), float32), the robot's position. It starts at (0, 0).
    Action: Box(-1, 1, (2,), float32); the position moves by ``0.1 * action`` (plus ``wind``).

    ## Rewards
    ``step`` returns the dense reward ``-||s' - goal||``. The info carries
    ``task`` (index), ``dense_reward`` and ``sparse_reward`` (PEARL's form:
    ``1 - d`` when ``d <= 0.2``, else 0), with the same keys after ``reset``
    (where both rewards are 0).

    ## Termination
    Never terminates; episodes are truncated by the registered time limit (20 steps).

    ## Version history
    v0: first release.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        goal: tuple[float, float] | list[float] = (1.0, 0.0),
        wind: tuple[float, float] | list[float] = (0.0, 0.0),
        task: int = 0,
    ) -> None:
        self.goal = np.asarray(goal, dtype=np.float64)
        self.wind = np.asarray(wind, dtype=np.float64)
        if self.goal.shape != (2,) or self.wind.shape != (2,):
            raise ValueError("goal and wind must be 2-D points")
        self.task = int(task)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._state = np.zeros(2, dtype=np.float64)

    def _info(self, dense: float, sparse: float) -> dict[str, Any]:
        return {"task": self.task, "dense_reward": dense, "sparse_reward": sparse}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = np.zeros(2, dtype=np.float64)
        return self._state.astype(np.float32), self._info(0.0, 0.0)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._state = self._state + STEP_SCALE * a + self.wind
        distance = float(np.linalg.norm(self._state - self.goal))
        dense = -distance
        sparse = float(pearl_sparse_reward(distance))
        return self._state.astype(np.float32), dense, False, False, self._info(dense, sparse)
