"""Hopper-Param and Walker-Param: the task's parameters take effect on the live MuJoCo model, exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from click.testing import CliRunner
from gymnasium.envs.mujoco.mujoco_env import expand_model_path
from gymnasium.utils.env_checker import check_env

import omrl_bench.envs as envs
from omrl_bench.cli import main
from omrl_bench.datasets.recipe import QUALITIES, load_recipe
from omrl_bench.envs.param_tasks import SCALED_ARRAYS
from omrl_bench.errors import OmrlError

# suite -> (env id, the plain gymnasium env of the same model)
FAMILIES = {
    "hopper-param": ("omrl/HopperParam-v0", lambda: gym.make("Hopper-v5")),
    "walker-param": ("omrl/WalkerParam-v0", lambda: gym.make("Walker2d-v5", xml_file="walker2d.xml")),
}


def _task(suite_name: str, index: int = 1, n_tasks: int = 5) -> dict[str, Any]:
    return envs.task_parameters(envs.get_suite(suite_name), n_tasks, 0)[index]


def _with_spread(kwargs: dict[str, Any], spread: float) -> dict[str, Any]:
    """The same draw with every u scaled by ``spread``: multiplier ** spread."""
    return {k: (np.asarray(v) ** spread).tolist() if k.endswith("_scale") else v for k, v in kwargs.items()}


def _rollout(env: gym.Env[Any, Any], seed: int, n: int = 40) -> np.ndarray:
    """Observations of ``n`` steps under a fixed action sequence (no termination check: physics only)."""
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, size=(n, *env.action_space.shape))
    return np.stack([obs] + [env.step(a.astype(np.float32))[0] for a in actions])


@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_live_model_arrays_are_defaults_times_multipliers_and_resets_do_not_compound(suite_name: str) -> None:
    env_id, plain = FAMILIES[suite_name]
    kwargs = _task(suite_name)
    env = gym.make(env_id, **kwargs)
    default = plain().unwrapped.model
    for _ in range(3):
        env.reset(seed=0)
        env.step(env.action_space.sample())
        model = env.unwrapped.model  # type: ignore[attr-defined]
        for name in SCALED_ARRAYS:
            np.testing.assert_array_equal(
                getattr(model, name), getattr(default, name) * np.array(kwargs[f"{name}_scale"])
            )
    # the derived constants follow the new masses (a model compiled with them would have these)
    subtree = model.body_mass.copy()
    for body in range(model.nbody - 1, 0, -1):
        subtree[model.body_parentid[body]] += subtree[body]
    np.testing.assert_allclose(model.body_subtreemass, subtree)
    assert model.body_subtreemass[0] != pytest.approx(default.body_subtreemass[0])


@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_task_physics_equal_a_model_compiled_with_the_parameters(suite_name: str) -> None:
    """The strongest form of "the parameters take effect": the env's live model steps bit for bit like a
    model that MuJoCo's compiler built with the scaled values. The inertia multipliers are one per body
    here (independent ones can break the principal moments' triangle inequality, which the compiler
    refuses and the simulator accepts, as in the reference)."""
    env_id, plain = FAMILIES[suite_name]
    kwargs = _task(suite_name)
    kwargs["body_inertia_scale"] = [[row[0]] * 3 for row in kwargs["body_inertia_scale"]]
    live = gym.make(env_id, **kwargs).unwrapped
    xml = plain().unwrapped.fullpath  # type: ignore[attr-defined]
    default = mujoco.MjModel.from_xml_path(expand_model_path(xml))
    spec = mujoco.MjSpec.from_file(xml)
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE
    for i, body in enumerate(spec.bodies):
        if i == 0:
            continue
        body.explicitinertial = True
        body.mass = default.body_mass[i] * kwargs["body_mass_scale"][i]
        body.inertia = default.body_inertia[i] * np.array(kwargs["body_inertia_scale"][i])
        body.ipos, body.iquat = default.body_ipos[i], default.body_iquat[i]
    for j, joint in enumerate(spec.joints):  # one dof per joint in these models
        joint.damping = np.array([default.dof_damping[j] * kwargs["dof_damping_scale"][j], 0.0, 0.0])
    for g, geom in enumerate(spec.geoms):
        geom.friction = default.geom_friction[g] * np.array(kwargs["geom_friction_scale"][g])
    compiled = spec.compile()
    for name in (*SCALED_ARRAYS, "body_subtreemass", "dof_invweight0", "body_invweight0", "actuator_acc0"):
        np.testing.assert_array_equal(getattr(live.model, name), getattr(compiled, name), err_msg=name)
    data = mujoco.MjData(compiled)
    for a in np.random.default_rng(0).uniform(-1, 1, size=(100, compiled.nu)):
        live.data.ctrl[:] = data.ctrl[:] = a
        mujoco.mj_step(live.model, live.data, nstep=4)
        mujoco.mj_step(compiled, data, nstep=4)
    np.testing.assert_array_equal(live.data.qpos, data.qpos)
    np.testing.assert_array_equal(live.data.qvel, data.qvel)


@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_tasks_differ_in_dynamics_and_more_with_a_wider_spread(suite_name: str) -> None:
    """From one state, under the same actions, the next states move away from the default model's as
    the multipliers spread (u scaled by 0, 0.1, 1), and two tasks reach different next states."""
    env_id, _ = FAMILIES[suite_name]
    tasks = envs.task_parameters(envs.get_suite(suite_name), 4, 0)
    state_env = gym.make(env_id).unwrapped
    rng = np.random.default_rng(0)
    # 20 states from the default model's random-action rollouts, and an action for each
    states, actions = [], []
    state_env.reset(seed=0)
    for _ in range(20):
        state_env.step(rng.uniform(-1, 1, size=state_env.action_space.shape))
        states.append((state_env.data.qpos.copy(), state_env.data.qvel.copy()))
        actions.append(rng.uniform(-1, 1, size=state_env.action_space.shape))

    def next_states(kwargs: dict[str, Any]) -> np.ndarray:
        env = gym.make(env_id, **kwargs).unwrapped
        env.reset(seed=0)
        out = []
        for (qpos, qvel), a in zip(states, actions, strict=True):
            env.set_state(qpos, qvel)
            out.append(env.step(a)[0])
        return np.array(out)

    default = next_states({})
    distances = {}
    for spread in (0.0, 0.1, 1.0):
        per_task = [np.linalg.norm(next_states(_with_spread(kw, spread)) - default, axis=1).mean() for kw in tasks]
        distances[spread] = float(np.mean(per_task))
    assert distances[0.0] == 0.0  # multipliers of 1 are the default model, bit for bit
    assert 0.0 < distances[0.1] < distances[1.0]
    assert np.linalg.norm(next_states(tasks[0]) - next_states(tasks[1]), axis=1).mean() > 0.1 * distances[1.0]


@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_same_task_and_seed_give_identical_rollouts(suite_name: str) -> None:
    env_id, _ = FAMILIES[suite_name]
    kwargs = _task(suite_name)
    a = _rollout(gym.make(env_id, **kwargs), seed=4)
    np.testing.assert_array_equal(a, _rollout(gym.make(env_id, **kwargs), seed=4))
    assert not np.array_equal(a, _rollout(gym.make(env_id, **kwargs), seed=5))
    assert not np.array_equal(a, _rollout(gym.make(env_id, **_task(suite_name, 2)), seed=4))


# The observations are unbounded by design (MuJoCo positions and velocities), which check_env warns about.
@pytest.mark.filterwarnings(r"ignore:.*A Box observation space (minimum|maximum) value is -?infinity")
@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_check_env_spaces_termination_and_reward(suite_name: str) -> None:
    env_id, plain = FAMILIES[suite_name]
    env = gym.make(env_id, **_task(suite_name))
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec is not None and env.spec.max_episode_steps == 200
    assert env.unwrapped.frame_skip == 4 and env.unwrapped.dt == pytest.approx(0.008)  # type: ignore[attr-defined]
    assert env.observation_space.shape == plain().observation_space.shape
    _, reset_info = env.reset(seed=0)
    action = np.full(env.action_space.shape, 0.5, dtype=np.float32)
    obs, reward, terminated, _, info = env.step(action)
    assert set(reset_info) == set(info) and info["task"] == 1
    assert reward == info["dense_reward"] == info["sparse_reward"]
    assert reward == pytest.approx(info["x_velocity"] + 1.0 - 1e-3 * float(np.sum(action.astype(np.float64) ** 2)))
    qvel = env.unwrapped.data.qvel  # type: ignore[attr-defined]
    np.testing.assert_array_equal(obs[-qvel.size :], np.clip(qvel, -10, 10))
    # a random policy falls: the episode terminates before the time limit, and the last step pays no bonus
    rng = np.random.default_rng(0)
    for _ in range(200):
        _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, size=env.action_space.shape))
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert reward == pytest.approx(info["x_velocity"] - 1e-3 * float(np.sum(env.unwrapped.data.ctrl**2)))  # type: ignore[attr-defined]


def test_termination_thresholds() -> None:
    """The reference's termination rules, checked on set states (v5's strict inequalities)."""
    hopper = gym.make("omrl/HopperParam-v0").unwrapped
    walker = gym.make("omrl/WalkerParam-v0").unwrapped
    for env in (hopper, walker):
        env.reset(seed=0)

    def healthy(env: Any, z: float, angle: float, vel: float = 0.0) -> bool:
        qpos, qvel = env.init_qpos.copy(), env.init_qvel.copy()
        qpos[1], qpos[2], qvel[-1] = z, angle, vel
        env.set_state(qpos, qvel)
        return bool(env.is_healthy)

    assert healthy(hopper, 1.25, 0.0) and not healthy(hopper, 0.7, 0.0)
    assert healthy(hopper, 1.25, 0.199) and not healthy(hopper, 1.25, 0.2) and not healthy(hopper, 1.25, -0.2)
    assert healthy(hopper, 1.25, 0.0, 99.0) and not healthy(hopper, 1.25, 0.0, 100.0)
    assert healthy(walker, 1.25, 0.0) and not healthy(walker, 0.8, 0.0) and not healthy(walker, 2.0, 0.0)
    assert healthy(walker, 1.25, 0.99) and not healthy(walker, 1.25, 1.0) and not healthy(walker, 1.25, -1.0)
    assert healthy(walker, 1.25, 0.0, 500.0)  # no state bound on the Walker
    # the older walker2d.xml: right foot friction 0.9, left foot 1.9 (v5's own model has 1.9 on both)
    friction = walker.model.geom_friction[:, 0]
    assert (
        friction[walker.model.geom("foot_geom").id] == 0.9 and friction[walker.model.geom("foot_left_geom").id] == 1.9
    )


@pytest.mark.parametrize("suite_name", list(FAMILIES))
def test_kwargs_round_trip_through_json_rebuild_the_physics(suite_name: str) -> None:
    """A Minari dataset's env_spec stores the kwargs as JSON: gym.make from them is the same task."""
    env_id, _ = FAMILIES[suite_name]
    kwargs = _task(suite_name, 3)
    env = gym.make(env_id, **kwargs)
    rebuilt_spec = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())  # type: ignore[union-attr]
    rebuilt = gym.make(rebuilt_spec)
    assert json.loads(json.dumps(kwargs)) == kwargs
    for name in SCALED_ARRAYS:
        np.testing.assert_array_equal(
            getattr(rebuilt.unwrapped.model, name),  # type: ignore[attr-defined]
            getattr(env.unwrapped.model, name),  # type: ignore[attr-defined]
        )
    np.testing.assert_array_equal(_rollout(rebuilt, seed=2), _rollout(env, seed=2))


def test_task_draws_are_seeded_and_in_range() -> None:
    suite = envs.get_suite("walker-param")
    a = envs.task_parameters(suite, 6, 0)
    assert a == envs.task_parameters(suite, 6, 0) and a != envs.task_parameters(suite, 6, 1)
    for name, base in SCALED_ARRAYS.items():
        u = np.log(np.array([kw[f"{name}_scale"] for kw in a])) / np.log(base)
        assert np.abs(u).max() <= 3.0 and u.std() > 1.0  # U[-3, 3]: std sqrt(3)
    assert [kw["task"] for kw in a] == list(range(6))


def test_bad_multipliers_get_one_line_errors() -> None:
    with pytest.raises(OmrlError, match=r"body_mass_scale has shape \(3,\); the model's body_mass has \(5,\)"):
        gym.make("omrl/HopperParam-v0", body_mass_scale=[1.0, 1.0, 1.0])
    with pytest.raises(OmrlError, match="dof_damping_scale must be finite and positive"):
        gym.make("omrl/WalkerParam-v0", dof_damping_scale=[1.0] * 8 + [0.0])


def test_smoke_datasets_through_the_cli_recover_each_tasks_physics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """generate-data writes the Hopper-Param smoke datasets; Minari alone rebuilds each task's physics."""
    import minari

    root = str(tmp_path)
    res = CliRunner().invoke(main, ["generate-data", "--suite", "hopper-param", "--preset", "smoke", "--root", root])
    assert res.exit_code == 0, res.output
    recipe = load_recipe("hopper-param", "smoke")
    n = recipe.config.n_tasks
    verified = CliRunner().invoke(
        main, ["datasets", "verify", "--suite", "hopper-param", "--preset", "smoke", "--root", root]
    )
    assert verified.exit_code == 0 and f"all {n * len(QUALITIES)} expected datasets verified" in verified.output, (
        verified.output
    )
    monkeypatch.setenv("MINARI_DATASETS_PATH", root)
    tasks = envs.task_parameters(envs.get_suite("hopper-param"), n, recipe.config.task_seed)
    for task in range(n):
        ds = minari.load_dataset(recipe.dataset_id(task, "expert"))
        assert ds.storage.metadata["omrl"]["task_kwargs"] == tasks[task]
        env = ds.recover_environment()
        assert env.spec is not None and env.spec.max_episode_steps == 200
        want = gym.make("omrl/HopperParam-v0", **tasks[task]).unwrapped.model  # type: ignore[attr-defined]
        for name in SCALED_ARRAYS:
            np.testing.assert_array_equal(getattr(env.unwrapped.model, name), getattr(want, name))  # type: ignore[attr-defined]
        episode = next(iter(ds.iterate_episodes()))
        assert episode.observations.shape[1] == 11
        np.testing.assert_array_equal(episode.infos["dense_reward"][1:], episode.rewards)
    # FOCAL trains on them at smoke size and is tested on the held-out tasks (s' in the context)
    out = tmp_path / "runs"
    args = ["run", "--algo", "focal", "--suite", "hopper-param", "--preset", "smoke", "--root", root]
    res = CliRunner().invoke(main, [*args, "--out", str(out), "--test-quality", "expert"])
    assert res.exit_code == 0, res.output
    final = json.loads(next(out.iterdir()).joinpath("final.json").read_text())
    assert np.isfinite(final["test"]["expert"]["mean_return"])
    assert final["config"]["config"]["next_obs_in_context"] is True
