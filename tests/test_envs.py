"""Envs: gymnasium's checker, reward formulas, info keys, task parameters and splits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import omrl_bench.envs as envs
from omrl_bench.envs.mujoco_tasks import radius_sparse_reward
from omrl_bench.envs.point_robot import pearl_sparse_reward
from omrl_bench.errors import OmrlError

ALL_SUITES = list(envs.SUITES)


# The observations are unbounded by design (positions, MuJoCo joint velocities), which check_env warns about.
@pytest.mark.filterwarnings(r"ignore:.*A Box observation space (minimum|maximum) value is -?infinity")
@pytest.mark.parametrize("suite_name", ALL_SUITES)
def test_check_env_and_info_keys(suite_name: str) -> None:
    suite = envs.get_suite(suite_name)
    kwargs = envs.task_parameters(suite, 2 if suite_name == "sparse-ant-fwd-back" else 5, 0)[1]
    env = envs.make_task_env(suite, kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    _, reset_info = env.reset(seed=3)
    _, reward, _, _, step_info = env.step(env.action_space.sample())
    assert set(reset_info) == set(step_info)
    assert {"task", "dense_reward", "sparse_reward"} <= set(step_info)
    assert step_info["task"] == 1
    assert step_info["dense_reward"] == pytest.approx(float(reward))
    assert env.spec is not None and env.spec.max_episode_steps == suite.max_episode_steps


def test_point_robot_dynamics_and_rewards() -> None:
    env = gym.make("omrl/SparsePointRobot-v0", goal=[0.0, 1.0], task=0)
    env.reset(seed=0)
    total_sparse = 0.0
    for t in range(1, 21):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        np.testing.assert_allclose(obs, [0.0, 0.1 * t], atol=1e-6)
        assert reward == pytest.approx(-abs(1.0 - 0.1 * t))
        d = -float(reward)
        expected_sparse = 1.0 - d if d <= 0.2 else 0.0
        assert info["sparse_reward"] == pytest.approx(expected_sparse)
        total_sparse += info["sparse_reward"]
        assert not terminated and truncated == (t == 20)
    # steps 9..11 are inside the 0.2 radius for sure (0.9 + 1.0 + 0.9); 8 and 12 sit on its edge
    assert 2.8 - 1e-9 <= total_sparse <= 4.4 + 1e-9


def test_point_robot_wind_shifts_every_step() -> None:
    env = gym.make("omrl/PointRobotWind-v0", goal=[1.0, 0.0], wind=[0.03, -0.02], task=4)
    env.reset(seed=0)
    obs, reward, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.13, -0.02], atol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.87, 0.02))


def test_sparse_formulas_against_hand_values() -> None:
    np.testing.assert_allclose(pearl_sparse_reward(np.array([0.0, 0.1, 0.2, 0.21])), [1.0, 0.9, 0.8, 0.0])
    # paper appendix D.1: (r - g) / |g| where r > g
    np.testing.assert_allclose(radius_sparse_reward(np.array([-0.2, -0.1, -0.05, 0.0]), -0.1), [0, 0, 0.5, 1.0])
    np.testing.assert_allclose(radius_sparse_reward(np.array([2.0, 3.0, 4.5]), 3.0), [0, 0, 0.5])


def test_cheetah_vel_reward_formula() -> None:
    env = gym.make("omrl/CheetahVel-v0", target_velocity=1.5, task=2)
    env.reset(seed=1)
    action = np.full(6, 0.5, dtype=np.float32)
    _, reward, _, _, info = env.step(action)
    expected = -abs(info["x_velocity"] - 1.5) - 0.05 * float(np.sum(action.astype(np.float64) ** 2))
    assert reward == pytest.approx(expected)
    assert info["sparse_reward"] == pytest.approx(float(radius_sparse_reward(expected, -0.1)))


def test_ant_fwd_back_reward_and_observation() -> None:
    fwd = gym.make("omrl/AntFwdBack-v0", direction=1.0, task=0)
    back = gym.make("omrl/AntFwdBack-v0", direction=-1.0, task=1)
    assert fwd.observation_space.shape == (27,)
    action = np.zeros(8, dtype=np.float32)
    fwd.reset(seed=5)
    back.reset(seed=5)
    _, r_f, _, _, i_f = fwd.step(action)
    _, r_b, _, _, i_b = back.step(action)
    assert i_f["x_velocity"] == pytest.approx(i_b["x_velocity"])
    # same state and action: the rewards differ by exactly twice the forward term
    assert r_f - r_b == pytest.approx(2 * i_f["x_velocity"])
    with pytest.raises(ValueError):
        gym.make("omrl/AntFwdBack-v0", direction=0.5)


def test_task_parameters_and_split_are_seeded() -> None:
    wind = envs.get_suite("point-robot-wind")
    a = envs.task_parameters(wind, 50, 0)
    assert a == envs.task_parameters(wind, 50, 0)
    assert a != envs.task_parameters(wind, 50, 1)
    assert all(abs(w) <= 0.05 for kw in a for w in kw["wind"])
    spr = envs.get_suite("sparse-point-robot")
    goals = np.array([kw["goal"] for kw in envs.task_parameters(spr, 100, 0)])
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 1.0)
    assert goals[:, 1].min() >= -1e-12
    split = envs.train_test_split(spr, 100, 20, 1)
    assert split == envs.train_test_split(spr, 100, 20, 1)
    assert len(split["test"]) == 20 and sorted(split["train"] + split["test"]) == list(range(100))
    ant = envs.get_suite("sparse-ant-fwd-back")
    assert envs.train_test_split(ant, 2, 1, 0) == {"train": [0, 1], "test": [0, 1]}


def test_unknown_suite_message() -> None:
    with pytest.raises(OmrlError, match="unknown suite 'nope'; choose one of: sparse-point-robot"):
        envs.get_suite("nope")
