"""Gradient steps per second of the FOCAL / FOCAL++ update, in fp32 and bf16, at the cpu and paper sizes.

Baseline (named, measured in the same run): a straightforward implementation
of the same FOCAL update written here the way the reference code's
``_take_step`` does it: per-task numpy sampling, a Python loop over the DML
pairs, the divergence critic trained 3 times per step (re-running encoder and
policy) even when alpha is 0, and Q, V and the policy updated one after
another with their own forward and backward passes. It runs the MLP encoder
and DML in float32 at the paper's sizes, so it is compared with the fp32
``focal`` row there.

Ours: ``ContextRL.update`` (the task axis is a tensor dimension, one backward),
for FOCAL and every FOCAL++ variant, in fp32 and in bf16 (bfloat16 autocast,
``core/precision.py``). ``bf16 / fp32`` is the speed-up of the same update.
Also prints the achieved GFLOP/s (matmul FLOPs of one update counted with
``torch.utils.flop_counter``) against the float32 and the bfloat16 matmul
peaks of this machine, both measured in the same run.

Goals: >= 3x the per-task loop and >= 25% of the fp32 peak (FOCAL, fp32,
paper sizes); bf16 >= 1.6x fp32 at the cpu sizes for FOCAL and batch-wise
FOCAL++; >= 50% of the bf16 peak for FOCAL in bf16 at the paper sizes.

    python benchmarks/bench_update.py [--sizes cpu,paper] [--steps 20] [--threads 1]
        [--variants focal,contrastive,batch-wise,sequence-wise,parallel,series] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.registry import Dims, build_algorithm
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
        new_a, mean, log_std, log_pi, _ = self.a.ac.policy(torch.cat([obs, zb.detach()], -1))
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
            y = ac.reward_scale * r + ac.gamma * (1 - term) * a.ac.target_vf(torch.cat([no, zd], -1)).squeeze(-1)
        q1, q2 = a.ac.qf(torch.cat([s_z, act], -1))
        a.ac.opts["critic"].zero_grad()
        (((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()).backward(retain_graph=True)
        a.ac.opts["critic"].step()
        q_new = torch.min(*a.ac.qf(torch.cat([s_z, new_a], -1)))
        a.ac.opts["critic"].zero_grad()
        ((a.ac.vf(s_z).squeeze(-1) - (q_new - log_pi).detach()) ** 2).mean().backward(retain_graph=True)
        a.ac.opts["critic"].step()
        a.ac.opts["policy"].zero_grad()
        (log_pi - q_new).mean().backward()
        a.ac.opts["policy"].step()
        with torch.no_grad():
            for tp, sp in zip(a.ac.target_vf.parameters(), a.ac.vf.parameters(), strict=True):
                tp.lerp_(sp, ac.target_tau)


PAPER_VARIANTS = "focal,contrastive,batch-wise,sequence-wise,parallel,series"
CPU = torch.device("cpu")
PRESETS = {"cpu": "cpu", "paper": "paper"}  # --sizes name -> the training preset whose sizes are measured


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(fn, steps: int, device: torch.device = CPU) -> float:
    fn()  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return steps / (time.perf_counter() - t0)


def matmul_peak_gflops(
    dtype: torch.dtype = torch.float32, device: torch.device = CPU, size: int = 2048, reps: int = 10
) -> float:
    """The best of three timings of ``reps`` square matmuls of ``dtype``."""
    x = torch.randn(size, size, device=device).to(dtype)
    y = torch.randn(size, size, device=device).to(dtype)
    x @ y
    best = float("inf")
    for _ in range(3):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            x @ y
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 * reps / best / 1e9


def update_flops(algo: ContextRL, buffers: TaskBuffers) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        algo.update(buffers)
    return float(counter.get_total_flops())


def sizes_line(name: str, cfg) -> str:
    ac, enc = cfg.ac, cfg.encoder
    return (
        f"{name} sizes: meta-batch {cfg.meta_batch}, batch {cfg.batch_size}, context {cfg.context_size}, "
        f"actor-critic {ac.depth}x{ac.hidden}, attention {enc.blocks} blocks x {enc.hidden}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="cpu,paper", help="cpu, paper or both (comma-separated)")
    parser.add_argument("--steps", type=int, default=20, help="timed updates per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default=PAPER_VARIANTS)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(s not in PRESETS for s in sizes):
        parser.error(f"--sizes: choose from {', '.join(PRESETS)}")
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tasks = synthetic_tasks()
    peak = {"fp32": matmul_peak_gflops(torch.float32, device), "bf16": matmul_peak_gflops(torch.bfloat16, device)}
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} thread(s)"
    print(
        f"{where}; matmul peak (2048^2): float32 {peak['fp32']:.0f} GFLOP/s, bfloat16 {peak['bf16']:.0f} GFLOP/s "
        f"({peak['bf16'] / peak['fp32']:.2f}x)"
    )
    for size in sizes:
        _, cfg0 = resolve_config("focalpp", "batch-wise", "sparse-point-robot", PRESETS[size])
        print("\n" + sizes_line(size, cfg0))
        print(
            f"{'variant':<14}{'precision':<10}{'steps/s':>9}{'bf16/fp32':>10}{'GFLOP/step':>11}{'GFLOP/s':>9}"
            f"{'of fp32 pk':>11}{'of bf16 pk':>11}"
        )
        buffers = TaskBuffers(tasks, sparse_context=True, next_obs_in_context=False, device=device)
        loop_rate = None
        for variant in args.variants.split(","):
            algo_name = "focal" if variant == "focal" else "focalpp"
            rates: dict[str, float] = {}
            for precision in precisions:
                _, cfg = resolve_config(
                    algo_name, variant, "sparse-point-robot", PRESETS[size], [f"precision={precision}"]
                )
                algo = build_algorithm(
                    algo_name, cfg, Dims(OBS, ACT, buffers.context_dim, buffers.n_tasks), 0, str(device)
                )
                rates[precision] = steps_per_second(lambda: algo.update(buffers), args.steps, device)  # noqa: B023
                gflop = update_flops(algo, buffers) / 1e9
                achieved = gflop * rates[precision]
                speedup = (
                    f"{rates[precision] / rates['fp32']:>9.2f}x"
                    if precision != "fp32" and "fp32" in rates
                    else f"{'-':>10}"
                )
                print(
                    f"{variant:<14}{precision:<10}{rates[precision]:>9.2f}{speedup}{gflop:>11.2f}{achieved:>9.1f}"
                    f"{100 * achieved / peak['fp32']:>10.0f}%{100 * achieved / peak['bf16']:>10.0f}%"
                )
            if variant == "focal" and size == "paper" and device.type == "cpu" and "fp32" in rates:
                _, cfg = resolve_config("focal", None, "sparse-point-robot", "paper", ["precision=fp32"])
                loop = PerTaskLoop(
                    build_algorithm("focal", cfg, Dims(OBS, ACT, buffers.context_dim, buffers.n_tasks)), tasks
                )
                loop_rate = steps_per_second(loop.update, max(3, args.steps // 4))
                print(
                    f"{'  baseline: per-task loop (fp32)':<33}{loop_rate:>9.2f}   ours fp32 = "
                    f"{rates['fp32'] / loop_rate:.1f}x the loop"
                )


if __name__ == "__main__":
    main()
