"""Which quantities does bfloat16 break? The measurement behind what ``core/precision.py`` keeps in float32.

Trains FOCAL++ (batch-wise, ``cpu`` preset sizes, with the divergence critic switched on so that BRAC's
estimate is measured too) for ``--steps`` fp32 updates on synthetic point-robot-sized buffers, so that Q
values have grown to their trained scale, then computes one meta-batch's quantities three ways:

- ``fp32``: the reference;
- ``ours``: bf16 autocast with float32 output layers, losses and InfoNCE logits (``--precision bf16``);
- ``naive``: the whole forward under autocast, output layers and loss matmuls included (what wrapping
  ``update`` in ``torch.autocast`` alone does).

It prints each quantity's error against fp32 (max absolute and relative to the quantity's RMS) and the
cosine similarity of the whole loss's gradient with the fp32 gradient.

    python scripts/precision_errors.py [--steps 500]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import torch
from torch import nn

from omrl_bench.baselines.focal import dml_loss
from omrl_bench.core import losses, networks, precision
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.registry import Dims, build_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets.loader import TaskData
from omrl_bench.focalpp import losses as focalpp_losses
from omrl_bench.focalpp.losses import contrastive_loss


def synthetic_buffers(n_tasks: int = 16, n: int = 2000) -> TaskBuffers:
    """Point-robot-sized data with a task-dependent sparse reward, so Q and the embeddings have structure."""
    rng = np.random.default_rng(0)
    tasks = []
    for t in range(n_tasks):
        goal = np.array([np.cos(np.pi * t / n_tasks), np.sin(np.pi * t / n_tasks)])
        obs = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        act = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        nxt = np.clip(obs + 0.1 * act, -1, 1).astype(np.float32)
        d = np.linalg.norm(nxt - goal, axis=1)
        sparse = np.where(d < 0.2, 1 - d, 0.0)
        tasks.append(TaskData(t, {}, obs, act, -d, sparse, nxt, np.zeros(n, bool)))
    return TaskBuffers(tasks, sparse_context=True, next_obs_in_context=False)


@contextlib.contextmanager
def naive() -> Iterator[None]:
    """Output layers and loss matmuls follow autocast like everything else."""
    with contextlib.ExitStack() as stack:
        for module in (precision, networks, focalpp_losses):
            stack.enter_context(mock.patch.object(module, "float32_region", lambda _d: contextlib.nullcontext()))
        stack.enter_context(mock.patch.object(precision.Float32Linear, "forward", nn.Linear.forward))
        yield


def quantities(algo: ContextRL, buffers: TaskBuffers, mode: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One meta-batch's intermediate quantities and the flattened gradient of the summed losses."""
    cfg, ac = algo.cfg, algo.cfg.ac
    gen = torch.Generator().manual_seed(123)
    ctx = autocast = contextlib.nullcontext()
    if mode != "fp32":
        autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        ctx = naive() if mode == "naive" else contextlib.nullcontext()
    algo.zero_grad(set_to_none=True)
    torch.manual_seed(0)  # dropout
    with ctx, autocast:
        tasks = sample_tasks(buffers.n_tasks, cfg.meta_batch, False, gen)
        z = algo.encoder(buffers.sample_context(tasks, cfg.context_size, gen))
        z_key = algo.key_encoder(buffers.sample_context(tasks, cfg.context_size, gen))
        with precision.float32_region(z.device):  # as contrastive_loss computes them
            logits = z.float() @ z_key.float().T / cfg.task_loss.temperature
        info_nce = contrastive_loss(z, z_key, cfg.task_loss.temperature)
        dml = dml_loss(z, tasks)
        b = buffers.sample_batch(tasks, cfg.batch_size, gen)
        m, n = b.rewards.shape
        zb = z.detach()[:, None].expand(m, n, -1).reshape(m * n, -1)
        s_z = torch.cat([b.observations.reshape(m * n, -1), zb], -1)
        act = b.actions.reshape(m * n, -1)
        new_a, _, _, log_pi, _ = algo.ac.policy(s_z, generator=gen)
        q1, q2 = algo.ac.qf(torch.cat([s_z, act], -1))
        next_v = algo.ac.target_vf(torch.cat([b.next_observations.reshape(m * n, -1), zb], -1)).squeeze(-1)
        y = losses.q_target(b.rewards.reshape(-1), b.terminals.reshape(-1), next_v, ac.gamma, ac.reward_scale)
        lp = algo.ac.critic_c(torch.cat([s_z, new_a], -1)).squeeze(-1)
        lb = algo.ac.critic_c(torch.cat([s_z, act], -1)).squeeze(-1)
        div = losses.kl_dual_estimate(lp, lb)
        q_new = torch.min(*algo.ac.qf(torch.cat([s_z, new_a], -1)))
        qf_loss = ((q1 - y.detach()) ** 2).mean() + ((q2 - y.detach()) ** 2).mean()
        total = info_nce + qf_loss + (log_pi - q_new).mean() - div.mean()
    total.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in algo.parameters() if p.grad is not None])
    out = {
        "Q(s, a)": q1,
        "Q target y": y,
        "log pi(a|s)": log_pi,
        "InfoNCE logits": logits,
        "InfoNCE loss": info_nce,
        "DML loss": dml,
        "KL dual estimate": div,
        "Q loss": qf_loss,
    }
    return {k: v.detach().float() for k, v in out.items()}, grad.float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="fp32 updates before measuring")
    args = parser.parse_args()
    torch.set_num_threads(1)
    buffers = synthetic_buffers()
    _, cfg = resolve_config("focalpp", "batch-wise", "sparse-point-robot", "cpu", ["ac.alpha=1.0"])
    algo = build_algorithm("focalpp", cfg, Dims(2, 2, buffers.context_dim, buffers.n_tasks))
    for _ in range(args.steps):
        algo.update(buffers)
    ref, ref_grad = quantities(algo, buffers, "fp32")
    runs = {mode: quantities(algo, buffers, mode) for mode in ("ours", "naive")}
    print(f"FOCAL++ batch-wise, cpu sizes, after {args.steps} fp32 updates; errors against fp32")
    print(f"{'quantity':<18}{'RMS (fp32)':>11}{'ours: max abs':>15}{'rel':>9}{'naive: max abs':>16}{'rel':>9}")
    for k, v in ref.items():
        rms = float(v.pow(2).mean().sqrt())
        cells = []
        for mode in ("ours", "naive"):
            err = float((runs[mode][0][k] - v).abs().max())
            cells.append(f"{err:>14.4g}{err / rms if rms else float('nan'):>9.2e}")
        print(f"{k:<18}{rms:>11.4g} {cells[0]} {cells[1]}")
    for mode in ("ours", "naive"):
        cos = torch.nn.functional.cosine_similarity(runs[mode][1], ref_grad, dim=0)
        print(f"gradient cosine similarity with fp32, {mode}: {float(cos):.5f}")


if __name__ == "__main__":
    main()
