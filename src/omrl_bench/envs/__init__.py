"""Registered gymnasium envs of the omrl-bench task families (see ``suites``)."""

from gymnasium.envs.registration import register, registry

from omrl_bench.envs.suites import SUITES, Suite, get_suite, make_task_env, task_parameters, train_test_split

for _suite in SUITES.values():  # registration is derived from the suites' definitions
    if _suite.env_id not in registry:
        register(id=_suite.env_id, entry_point=_suite.entry_point, max_episode_steps=_suite.max_episode_steps)

__all__ = ["SUITES", "Suite", "get_suite", "make_task_env", "task_parameters", "train_test_split"]
