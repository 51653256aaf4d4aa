"""Gradient steps per second of the FOCAL / FOCAL++ update at the paper's sizes.

Baseline (named, measured in the same run): a straightforward implementation
of the same FOCAL update written here the way the reference code's
``_take_step`` does it: per-task numpy sampling, a Python loop over the DML
pairs, the divergence critic trained 3 times per step (re-running encoder and
policy) even when alpha is 0, and Q, V and the policy updated one after
another with their own forward and backward passes. It runs the MLP encoder
and DML, so it is compared with the ``focal`` row.

Ours: ``ContextRL.update`` (the task axis is a tensor dimension, one backward).
Also prints our achieved GFLOP/s (matmul FLOPs of one update counted with
``torch.utils.flop_counter``) against this machine's float32 matmul peak
measured in the same run. Goals: >= 3x the per-task loop, >= 25% of the peak.

    python benchmarks/bench_update.py [--steps 20] [--threads 2] [--variants focal,batch-wise]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets.loader import TaskData

OBS, ACT, N_TASKS, N = 2, 2, 80, 10_000


def synthetic_tasks(seed: int = 0) -> list[TaskData]:
    rng = np.random.default_rng(seed)
    return [
        TaskData(
            t,
            {},
            rng.normal(size=(N, OBS)).astype(np.float32),
            rng.uniform(-1, 1, (N, ACT)).astype(np.float32),
            rng.normal(size=N),
            rng.uniform(size=N),
            rng.normal(size=(N, OBS)).astype(np.float32),
            np.zeros(N, bool),
        )
        for t in range(N_TASKS)
    ]


class PerTaskLoop:
    """The same FOCAL update structured like the reference code's ``_take_step``.

    Per task: numpy sampling and conversion of the RL batch and the context; the
    DML as a Python double loop over pairs; the divergence critic trained
    ``c_iter`` = 3 times per step (each time re-running the encoder and the policy,
    and backpropagating into the encoder through the undetached z), also when
    alpha is 0; then Q, V and the policy updated one after another, the V and
    policy targets recomputed with the updated Q.
    """

    C_ITER = 3

    def __init__(self, algo: ContextRL, tasks: list[TaskData]) -> None:
        from omrl_bench.core.networks import mlp

        self.a = algo
        self.cfg = algo.cfg
        self.tasks = tasks
        self.rng = np.random.default_rng(0)
        ac, latent = algo.cfg.ac, algo.cfg.encoder.latent_dim
        self.c = mlp(OBS + ACT + latent, 1, ac.hidden, ac.depth)
        self.c_opt = torch.optim.Adam(self.c.parameters(), lr=ac.divergence_lr)

    def _sample(self, ids: np.ndarray, n: int) -> list[torch.Tensor]:
        parts = []
        for t in ids:  # one task at a time, numpy -> torch
            d = self.tasks[int(t)]
            i = self.rng.integers(0, len(d), n)
            parts.append(
                [
                    torch.as_tensor(x[i], dtype=torch.float32)[None]
                    for x in (
                        d.observations,
                        d.actions,
                        d.rewards,
                        d.sparse_rewards,
                        d.next_observations,
                        d.terminations,
                    )
                ]
            )
        return [torch.cat([p[k] for p in parts]) for k in range(6)]

    def _agent(self, ids: np.ndarray) -> tuple[torch.Tensor, ...]:
        o, a, _, sr, _, _ = self._sample(ids, self.cfg.context_size)
        z = self.a.encoder(torch.cat([o, a, sr[..., None]], -1))  # (tasks, latent)
        obs, act, r, _, no, term = self._sample(ids, self.cfg.batch_size)
        m, b = r.shape
        zb = z[:, None].expand(m, b, -1).reshape(m * b, -1)
        obs, act, no = obs.reshape(m * b, -1), act.reshape(m * b, -1), no.reshape(m * b, -1)
        new_a, mean, log_std, log_pi, _ = self.a.policy(torch.cat([obs, zb.detach()], -1))
        return z, zb, obs, act, r.reshape(-1), no, term.reshape(-1), new_a, log_pi

    def _c_loss(self, obs: torch.Tensor, new_a: torch.Tensor, act: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
        from omrl_bench.core.losses import kl_dual_estimate

        lp = self.c(torch.cat([obs, new_a, zb], -1)).squeeze(-1)
        lb = self.c(torch.cat([obs, act, zb], -1)).squeeze(-1)
        return -kl_dual_estimate(lp, lb).mean()

    def update(self) -> None:
        a, cfg, ac = self.a, self.cfg, self.cfg.ac
        ids = self.rng.integers(0, len(self.tasks), cfg.meta_batch)
        z, zb, obs, act, r, no, term, new_a, log_pi = self._agent(ids)
        c_loss = self._c_loss(obs, new_a, act, zb)
        self.c_opt.zero_grad()
        c_loss.backward(retain_graph=True)
        self.c_opt.step()
        for _ in range(self.C_ITER - 1):
            _, zb2, obs2, act2, _, _, _, new_a2, _ = self._agent(ids)
            self.c_opt.zero_grad()
            self._c_loss(obs2, new_a2, act2, zb2).backward(retain_graph=True)
            self.c_opt.step()
        a.encoder_opt.zero_grad()
        pos, neg, n_pos, n_neg = 0.0, 0.0, 0, 0
        for i in range(len(ids)):  # the reference's pairwise loop
            for j in range(i + 1, len(ids)):
                d2 = torch.mean((z[i] - z[j]) ** 2)
                if ids[i] == ids[j]:
                    pos, n_pos = pos + torch.sqrt(d2 + 1e-3), n_pos + 1
                else:
                    neg, n_neg = neg + 1 / (d2 + 0.1), n_neg + 1
        (pos / (n_pos + 1e-3) + neg / (n_neg + 1e-3)).backward(retain_graph=True)
        a.encoder_opt.step()
        zd = zb.detach()
        s_z = torch.cat([obs, zd], -1)
        with torch.no_grad():
            y = ac.reward_scale * r + ac.gamma * (1 - term) * a.target_vf(torch.cat([no, zd], -1)).squeeze(-1)
        q1, q2 = a.qf(torch.cat([s_z, act], -1))
        a.critic_opt.zero_grad()
        (((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()).backward(retain_graph=True)
        a.critic_opt.step()
        q_new = torch.min(*a.qf(torch.cat([s_z, new_a], -1)))
        a.critic_opt.zero_grad()
        ((a.vf(s_z).squeeze(-1) - (q_new - log_pi).detach()) ** 2).mean().backward(retain_graph=True)
        a.critic_opt.step()
        a.policy_opt.zero_grad()
        (log_pi - q_new).mean().backward()
        a.policy_opt.step()
        with torch.no_grad():
            for tp, sp in zip(a.target_vf.parameters(), a.vf.parameters(), strict=True):
                tp.lerp_(sp, ac.target_tau)


def steps_per_second(fn, steps: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps / (time.perf_counter() - t0)


def matmul_peak_gflops(size: int = 2048, reps: int = 10) -> float:
    x, y = torch.randn(size, size), torch.randn(size, size)
    x @ y
    t0 = time.perf_counter()
    for _ in range(reps):
        x @ y
    return 2 * size**3 * reps / (time.perf_counter() - t0) / 1e9


def update_flops(algo: ContextRL, buffers: TaskBuffers) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        algo.update(buffers)
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="focal,batch-wise")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = synthetic_tasks()
    peak = matmul_peak_gflops()
    print(
        f"paper sizes: meta-batch 16, batch 256, context 1024, networks 3x256; {args.threads} threads; "
        f"float32 matmul peak {peak:.0f} GFLOP/s"
    )
    print(f"{'variant':<14}{'per-task loop':>15}{'ours':>10}{'ratio':>8}{'GFLOP/step':>12}{'GFLOP/s':>9}{'of peak':>9}")
    base = 0.0
    for variant in args.variants.split(","):
        algo_name = "focal" if variant == "focal" else "focalpp"
        _, cfg = resolve_config(algo_name, variant, "sparse-point-robot", "paper")
        buffers = TaskBuffers(tasks, sparse_context=True, next_obs_in_context=False)
        algo = ContextRL(cfg, OBS, ACT, buffers.context_dim, seed=0)
        ours = steps_per_second(lambda: algo.update(buffers), args.steps)  # noqa: B023
        if variant == "focal":
            loop = PerTaskLoop(ContextRL(cfg, OBS, ACT, buffers.context_dim, seed=0), tasks)
            base = steps_per_second(loop.update, max(3, args.steps // 4))
        gflop = update_flops(algo, buffers) / 1e9
        loop_col = f"{base:>12.2f} /s" if variant == "focal" else f"{'-':>15}"
        ratio_col = f"{ours / base:>7.1f}x" if variant == "focal" else f"{'-':>8}"
        print(
            f"{variant:<14}{loop_col}{ours:>7.2f} /s{ratio_col}{gflop:>12.1f}{gflop * ours:>9.1f}"
            f"{100 * gflop * ours / peak:>8.0f}%"
        )


if __name__ == "__main__":
    main()
