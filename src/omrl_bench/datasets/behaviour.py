"""Behaviour agents: stable-baselines3 SAC per task, checkpoints, and batched rollouts.

Training uses SB3's SAC unchanged on the dense reward. Rollouts step many
copies of the task env together and sample the squashed-Gaussian policy with
a ``numpy.random.Generator``, so every dataset is a function of the seeds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from omrl_bench.datasets.recipe import SACConfig
from omrl_bench.envs import Suite, make_task_env


def derive_seed(*parts: int | str) -> int:
    """A 32-bit seed from (base seed, task index, stage, ...), stable across processes."""
    ints = [p if isinstance(p, int) else int.from_bytes(p.encode(), "little") % (2**32) for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1)[0])


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}.zip"


def train_sac(
    suite: Suite,
    task_kwargs: dict[str, Any],
    cfg: SACConfig,
    seed: int,
    out_dir: Path,
    snapshot_every_s: float = 600.0,
    stop_at: int | None = None,
) -> list[int]:
    """Train SB3 SAC on one task's dense reward; save the policy at ``cfg.checkpoint_steps()``.

    Step 0 (the untrained policy) is saved too. Returns the checkpoint steps. Training runs in
    chunks from one checkpoint to the next; after a chunk, when ``snapshot_every_s`` seconds have
    passed since the last one, the whole training state (``snapshot``) is written to
    ``out_dir/resume``, and a call on the same ``out_dir`` continues from it. A resumed run is
    bit-identical to an uninterrupted one (tests/test_pipeline.py). ``stop_at``: return after the
    chunk that reaches this step, with a snapshot (for tests). The training wall time, summed over
    the runs that a resumed one continues (without the work a kill lost), is written to ``out_dir/wall.json``.
    """
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger

    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume = _snapshot_dir(out_dir)
    start, before = time.monotonic(), 0.0  # before: the wall time of the runs this one continues
    if resume is not None:
        model = SAC.load(resume / "model.zip", env=make_task_env(suite, task_kwargs), device="cpu", force_reset=False)
        model.load_replay_buffer(resume / "replay.pkl")
        before = _restore_state(model, resume)
    else:
        model = SAC(
            "MlpPolicy",
            make_task_env(suite, task_kwargs),
            seed=seed,
            device="cpu",
            verbose=0,
            policy_kwargs={"net_arch": list(cfg.net_arch)},
            learning_rate=cfg.learning_rate,
            batch_size=cfg.batch_size,
            # the buffer never holds more than total_steps transitions: same samples, less memory to snapshot
            buffer_size=min(cfg.buffer_size, cfg.total_steps + 1),
            learning_starts=cfg.learning_starts,
            gamma=cfg.gamma,
            tau=cfg.tau,
            train_freq=cfg.train_freq,
            gradient_steps=cfg.gradient_steps,
        )
        model.policy.save(str(out_dir / checkpoint_name(0)))
    # SB3's default logger makes an empty folder under /tmp on every learn() call (one per chunk); ours
    # writes nothing. A saved model does not keep its logger, so a resumed one gets it here too.
    model.set_logger(Logger(folder=None, output_formats=[]))

    schedule = cfg.checkpoint_steps()
    saved = set(schedule)

    class _Checkpoint(BaseCallback):
        def _on_step(self) -> bool:  # inside the step, before its gradient update (as in every v1 dataset)
            if self.num_timesteps in saved:
                model.policy.save(str(out_dir / checkpoint_name(self.num_timesteps)))
            return True

    last = time.monotonic()
    while model.num_timesteps < cfg.total_steps:
        chunk = next(s for s in schedule if s > model.num_timesteps) - model.num_timesteps
        model.learn(total_timesteps=chunk, callback=_Checkpoint(), reset_num_timesteps=False)
        stop = stop_at is not None and model.num_timesteps >= stop_at
        if model.num_timesteps < cfg.total_steps and (stop or time.monotonic() - last >= snapshot_every_s):
            snapshot(model, out_dir, before + time.monotonic() - start)
            last = time.monotonic()
            if stop:
                return cfg.checkpoint_steps(model.num_timesteps)
    typing.cast(Any, model.env).close()
    (out_dir / "wall.json").write_text(json.dumps({"sac_wall_s": round(before + time.monotonic() - start, 1)}))
    for name in ("resume", "resume.old", "resume.new"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    return schedule


def _env_layers(model: Any) -> list[Any]:
    """The Monitor, the gymnasium wrappers and the env SB3 steps, outermost first."""
    layer, layers = model.env.envs[0], []
    while True:
        layers.append(layer)
        if not hasattr(layer, "env"):
            return layers
        layer = layer.env


def snapshot(model: Any, out_dir: Path, wall_s: float = 0.0) -> None:
    """Write everything a resumed run needs to continue bit-identically to ``out_dir/resume``.

    SB3's own files (parameters and optimisers with the counters, last observation and episode
    statistics; the replay buffer), the global RNG states, the vectorised env's buffers and every
    env layer's attributes; of a MuJoCo env, its MjData and RNG. The directory is swapped in with
    renames, so a kill leaves one whole snapshot.
    """
    import pickle
    import random

    import torch

    new, cur, old = out_dir / "resume.new", out_dir / "resume", out_dir / "resume.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    model.save(new / "model.zip")
    model.save_replay_buffer(new / "replay.pkl")
    vec = model.env
    state = {
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "vec_env": {k: v for k, v in vars(vec).items() if k in _VEC_ENV_KEYS},
        "layers": [_layer_state(layer) for layer in _env_layers(model)],
        "action_space": model.action_space.np_random.bit_generator.state,
        "wall_s": wall_s,  # training wall time up to this snapshot
    }
    (new / "state.pkl").write_bytes(pickle.dumps(state))
    shutil.rmtree(old, ignore_errors=True)
    if cur.exists():
        os.replace(cur, old)
    os.replace(new, cur)
    shutil.rmtree(old, ignore_errors=True)


_VEC_ENV_KEYS = ("buf_obs", "buf_dones", "buf_rews", "buf_infos", "actions", "_seeds", "_options", "reset_infos")


def _layer_state(layer: Any) -> dict[str, Any]:
    from gymnasium.envs.mujoco import MujocoEnv

    if isinstance(layer, MujocoEnv):
        # the whole MjData (pickled), not only the integration state: MuJoCo envs read quantities that
        # the last mj_step computed before integrating (Ant's x position before the step), which a
        # recomputation from the state would change
        return {"mujoco": layer.data, "np_random": layer.np_random.bit_generator.state}
    attrs = {k: v for k, v in vars(layer).items() if k != "env"}
    if "_np_random" in attrs and attrs["_np_random"] is not None:
        attrs["_np_random"] = attrs["_np_random"].bit_generator.state
    return {"attrs": attrs}


def _snapshot_dir(out_dir: Path) -> Path | None:
    for name in ("resume", "resume.old"):  # resume.old: a kill between the two renames
        if (out_dir / name / "state.pkl").exists():
            return out_dir / name
    return None


def _restore_state(model: Any, resume: Path) -> float:
    """Restore a snapshot's states into ``model``; return the training wall time it recorded."""
    import pickle
    import random

    import mujoco
    import torch

    state = pickle.loads((resume / "state.pkl").read_bytes())
    vars(model.env).update(state["vec_env"])
    for layer, saved in zip(_env_layers(model), state["layers"], strict=True):
        if "mujoco" in saved:
            mujoco.mj_copyData(layer.data, layer.model, saved["mujoco"])
            layer.np_random.bit_generator.state = saved["np_random"]
            continue
        attrs = dict(saved["attrs"])
        if isinstance(attrs.get("_np_random"), dict):
            generator = np.random.default_rng()
            generator.bit_generator.state = attrs["_np_random"]
            attrs["_np_random"] = generator
        vars(layer).update(attrs)
    model.action_space.np_random.bit_generator.state = state["action_space"]
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return float(state.get("wall_s", 0.0))  # snapshots written before the key was recorded: 0


def load_policy(path: Path) -> Any:
    """A checkpoint's SB3 ``SACPolicy``: a whole saved policy, or the policy archive's actor-only file
    (its critics are left at their initial weights; rollouts read only the actor)."""
    import torch
    from stable_baselines3.sac.policies import SACPolicy

    saved = torch.load(str(path), map_location="cpu", weights_only=False)
    state = saved["state_dict"]
    policy = SACPolicy(**saved["data"])
    if all(k.startswith("actor.") for k in state):
        policy.actor.load_state_dict({k.removeprefix("actor."): v for k, v in state.items()})
    else:
        policy.load_state_dict(state)
    return policy


@dataclass
class Episode:
    """One episode in Minari's layout: T+1 observations and infos, T of the rest."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[str, np.ndarray]

    @property
    def nbytes(self) -> int:
        """Raw bytes of every array of the episode."""
        arrays = (self.observations, self.actions, self.rewards, self.terminations, self.truncations)
        return sum(a.nbytes for a in arrays) + sum(v.nbytes for v in self.infos.values())

    def total(self, key: str) -> float:
        """Return summed over the episode's steps, of ``rewards`` or an info key."""
        if key == "rewards":
            return float(self.rewards.sum())
        return float(self.infos[key][1:].sum())


def rollout(
    suite: Suite, task_kwargs: dict[str, Any], policy: Any, n_episodes: int, seed: int, batch: int = 500
) -> list[Episode]:
    """Roll out ``n_episodes`` stochastic episodes of ``policy``, ``batch`` envs at a time."""
    import torch

    rng = np.random.default_rng(seed)
    episodes: list[Episode] = []
    while len(episodes) < n_episodes:
        n = min(batch, n_episodes - len(episodes))
        envs = [make_task_env(suite, task_kwargs) for _ in range(n)]
        space = envs[0].action_space
        assert isinstance(space, gym.spaces.Box)
        low, high = space.low, space.high
        starts = [env.reset(seed=int(s)) for env, s in zip(envs, rng.integers(0, 2**31, size=n), strict=True)]
        obs = [[o] for o, _ in starts]
        infos = [[i] for _, i in starts]
        acts: list[list[np.ndarray]] = [[] for _ in range(n)]
        rews: list[list[float]] = [[] for _ in range(n)]
        terms: list[list[bool]] = [[] for _ in range(n)]
        truncs: list[list[bool]] = [[] for _ in range(n)]
        active = list(range(n))
        while active:
            x = torch.as_tensor(np.stack([obs[i][-1] for i in active]), dtype=torch.float32)
            with torch.no_grad():
                mean, log_std, _ = policy.actor.get_action_dist_params(x)
            noise = rng.standard_normal(size=tuple(mean.shape))
            squashed = np.tanh(mean.numpy().astype(np.float64) + np.exp(log_std.numpy()) * noise)
            actions = (low + 0.5 * (squashed + 1.0) * (high - low)).astype(envs[0].action_space.dtype)
            still = []
            for a, i in zip(actions, active, strict=True):
                o, r, te, tr, info = envs[i].step(a)
                obs[i].append(o)
                infos[i].append(info)
                acts[i].append(a)
                rews[i].append(float(r))
                terms[i].append(bool(te))
                truncs[i].append(bool(tr))
                if not (te or tr):
                    still.append(i)
            active = still
        for i in range(n):
            keys = infos[i][0].keys()
            episodes.append(
                Episode(
                    observations=np.asarray(obs[i], dtype=envs[0].observation_space.dtype),
                    actions=np.asarray(acts[i]),
                    rewards=np.asarray(rews[i], dtype=np.float64),
                    terminations=np.asarray(terms[i], dtype=bool),
                    truncations=np.asarray(truncs[i], dtype=bool),
                    infos={k: np.asarray([inf[k] for inf in infos[i]]) for k in keys},
                )
            )
        for env in envs:
            env.close()
    return episodes
