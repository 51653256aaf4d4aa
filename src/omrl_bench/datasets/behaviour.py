"""Behaviour agents: stable-baselines3 SAC per task, checkpoints, and batched rollouts.

Training uses SB3's SAC unchanged on the dense reward. Rollouts step many
copies of the task env together and sample the squashed-Gaussian policy with
a ``numpy.random.Generator``, so every dataset is a function of the seeds.
"""

from __future__ import annotations

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


def train_sac(suite: Suite, task_kwargs: dict[str, Any], cfg: SACConfig, seed: int, out_dir: Path) -> list[int]:
    """Train SB3 SAC on one task's dense reward; save the policy every ``checkpoint_every`` steps.

    Step 0 (the untrained policy) is saved too. Returns the checkpoint steps.
    """
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = make_task_env(suite, task_kwargs)
    model = SAC(
        "MlpPolicy",
        env,
        seed=seed,
        device="cpu",
        verbose=0,
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        gamma=cfg.gamma,
        tau=cfg.tau,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
    )
    steps = [0]
    model.policy.save(str(out_dir / checkpoint_name(0)))

    class _Checkpoint(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % cfg.checkpoint_every == 0:
                model.policy.save(str(out_dir / checkpoint_name(self.num_timesteps)))
                steps.append(self.num_timesteps)
            return True

    model.learn(total_timesteps=cfg.total_steps, callback=_Checkpoint(), progress_bar=False)
    env.close()
    return steps


def load_policy(path: Path) -> Any:
    from stable_baselines3.sac.policies import SACPolicy

    return SACPolicy.load(str(path), device="cpu")


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
