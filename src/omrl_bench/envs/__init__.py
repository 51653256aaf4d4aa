"""Registered gymnasium envs of the omrl-bench task families (see ``suites``)."""

from gymnasium.envs.registration import register, registry

from omrl_bench.envs.suites import SUITES, Suite, get_suite, make_task_env, task_parameters, train_test_split

_ENTRY_POINTS = {
    "omrl/SparsePointRobot-v0": ("omrl_bench.envs.point_robot:PointRobotEnv", 20),
    "omrl/PointRobotWind-v0": ("omrl_bench.envs.point_robot:PointRobotEnv", 20),
    "omrl/CheetahVel-v0": ("omrl_bench.envs.mujoco_tasks:CheetahVelEnv", 200),
    "omrl/AntFwdBack-v0": ("omrl_bench.envs.mujoco_tasks:AntFwdBackEnv", 200),
}

for _env_id, (_entry_point, _steps) in _ENTRY_POINTS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, max_episode_steps=_steps)

__all__ = ["SUITES", "Suite", "get_suite", "make_task_env", "task_parameters", "train_test_split"]
