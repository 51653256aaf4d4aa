"""Evaluation with offline task inference, and embedding statistics.

For every test task, context transitions are drawn from that task's offline
dataset (of the chosen test quality), z is inferred once, and the policy is
rolled out deterministically in the real env. Online experience never enters
the context. All test tasks and episodes step together, one batched policy
call per time step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.envs import Suite, make_task_env


def embedding_stats(z: np.ndarray) -> dict[str, float]:
    """RMS and ESR of per-task mean embeddings ``z`` (n tasks, d) as in docs/protocol.md section 5."""
    n = z.shape[0]
    if n < 2:
        return {"rms": float("nan"), "esr": float("nan")}
    rms = float(np.mean(z.std(axis=0) * np.sqrt(2 * n / (n - 1))))
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).mean(-1)
    iu = np.triu_indices(n, k=1)
    esr = float(np.mean(d2[iu] > 2.0 / 3.0))
    return {"rms": rms, "esr": esr}


def task_embedding_draws(
    algo: Any, buffers: TaskBuffers, n_context: int, draws: int, generator: torch.Generator
) -> np.ndarray:
    """One embedding per task and independent context draw: (draws, tasks, latent)."""
    tasks = torch.arange(buffers.n_tasks)
    zs = [algo.infer_z(buffers.sample_context(tasks, n_context, generator)) for _ in range(draws)]
    return torch.stack(zs).cpu().numpy()


def evaluate(
    algo: Any,
    suite: Suite,
    buffers: TaskBuffers,
    task_kwargs: list[dict[str, Any]],
    n_context: int,
    episodes: int,
    seed: int,
) -> dict[str, Any]:
    """Offline task inference on every task of ``buffers``; returns per-task and mean returns."""
    gen = torch.Generator(device=buffers.device).manual_seed(seed)
    tasks = torch.arange(buffers.n_tasks)
    z = algo.infer_z(buffers.sample_context(tasks, n_context, gen))  # (tasks, latent)
    envs, owner = [], []
    rng = np.random.default_rng(seed)
    for t, kwargs in enumerate(task_kwargs):
        for _ in range(episodes):
            envs.append(make_task_env(suite, kwargs))
            owner.append(t)
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, rng.integers(0, 2**31, len(envs)), strict=True)])
    owner_t = torch.as_tensor(owner)
    totals = {k: np.zeros(len(envs)) for k in ("return", "dense_return", "sparse_return")}
    active = np.ones(len(envs), dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        obs_t = torch.as_tensor(obs[idx], dtype=torch.float32)
        actions = algo.act(obs_t, z[owner_t[idx]]).cpu().numpy()
        for a, i in zip(actions, idx, strict=True):
            env = envs[i]
            space = env.action_space
            assert isinstance(space, gym.spaces.Box)
            low, high = space.low, space.high
            o, r, te, tr, info = env.step((low + 0.5 * (a + 1.0) * (high - low)).astype(space.dtype))
            obs[i] = o
            totals["dense_return"][i] += info["dense_reward"]
            totals["sparse_return"][i] += info["sparse_reward"]
            totals["return"][i] += info[suite.reported_reward]
            if te or tr:
                active[i] = False
    for env in envs:
        env.close()
    per_task = {
        k: [float(v[np.asarray(owner) == t].mean()) for t in range(len(task_kwargs))] for k, v in totals.items()
    }
    return {
        "mean_return": float(np.mean(per_task["return"])),
        "mean_dense_return": float(np.mean(per_task["dense_return"])),
        "mean_sparse_return": float(np.mean(per_task["sparse_return"])),
        "per_task_return": per_task["return"],
        "per_task_dense_return": per_task["dense_return"],
        "per_task_sparse_return": per_task["sparse_return"],
        "tasks": [int(kw["task"]) for kw in task_kwargs],
        "z": z.cpu().numpy().tolist(),
    }
