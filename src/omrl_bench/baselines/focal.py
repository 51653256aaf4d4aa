"""FOCAL: fully-offline context-based actor-critic meta-RL.

Paper: Li, Yang, Luo, "FOCAL: Efficient Fully-Offline Meta-Reinforcement
Learning via Distance Metric Learning and Behavior Regularization", ICLR 2021.
Reference code: LanqingLi1993/FOCAL-ICLR (``rlkit/torch/sac/sac.py``).

FOCAL = an MLP context encoder (3x200, tanh output, mean over the context)
trained only by the distance metric loss, and a SAC-style actor-critic with
twin Q, V and target V, conditioned on the detached embedding, with BRAC
behaviour regularisation (dual-KL divergence critic, adaptive alpha): the
shared ``ContextRL`` shell (``core/context_rl.py``) with ``MLPEncoder`` and the
DML task loss defined here.

Deliberate differences (see docs/deviations.md):
- Q, V, policy and divergence critic are updated simultaneously from one
  backward pass (the reference updates Q before computing the V and policy
  targets) and the divergence critic is skipped when alpha is 0 and fixed.
- The divergence critic's gradient penalty is on the action gradient of the
  critic (the reference penalises the critic's output by mistake).
- The DML averages same-task and different-task pairs separately with the
  weight beta on the different-task term (``dml_loss`` below).
- One context draw per test task for evaluation (the reference accumulates
  context 20 transitions at a time and reports the last episode).
- Optional behaviour-cloning term in the policy loss (``ac.bc_weight``, TD3+BC's
  form), used by the ``cpu`` preset on the point robots only: without it the
  unregularised critic extrapolates on narrow expert data at that budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from omrl_bench.core.actor_critic import ActorCriticConfig
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.task_losses import TaskLoss, register_task_loss
from omrl_bench.core.train_config import MLPEncoderConfig, RunConfig


@dataclass(frozen=True)
class DMLConfig:
    """FOCAL's distance metric loss and the encoder's optimiser."""

    lr: float = 1e-3
    dml_beta: float = 1.0  # beta: the weight of the different-task (negative) term
    dml_power: float = 2.0  # n: 2 = inverse-square
    dml_eps: float = 0.1


@dataclass(frozen=True)
class FocalConfig(RunConfig):
    encoder: MLPEncoderConfig = field(default_factory=MLPEncoderConfig)
    task_loss: DMLConfig = field(default_factory=DMLConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)


def dml_loss(
    z: torch.Tensor,
    task_ids: torch.Tensor,
    beta: float = 1.0,
    power: float = 2.0,
    eps: float = 0.1,
    pos_eps: float = 1e-3,
) -> torch.Tensor:
    """FOCAL's distance metric loss over all pairs i < j of a meta-batch (sampled with replacement).

    With ``d2`` the mean over latent dimensions of ``(z_i - z_j)^2`` (the reference code's distance):
    same task -> ``sqrt(d2 + pos_eps)``; different tasks -> ``beta / (d2^(power/2) + eps)``. Each kind
    is averaged over its pairs (a kind with no pairs contributes 0).
    """
    n = z.shape[0]
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).mean(-1)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=z.device), diagonal=1)
    same = (task_ids[:, None] == task_ids[None, :]) & upper
    diff = (task_ids[:, None] != task_ids[None, :]) & upper
    pos = torch.sqrt(d2[same] + pos_eps)
    neg = beta / (d2[diff] ** (power / 2) + eps)
    zero = z.sum() * 0.0
    return (pos.mean() if pos.numel() else zero) + (neg.mean() if neg.numel() else zero)


@register_task_loss("dml")
class DMLLoss(TaskLoss):
    """FOCAL's task loss: DML over a meta-batch sampled with replacement (it needs same-task pairs)."""

    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        c = self.cfg
        z = algo.encoder(buffers.sample_context(tasks, algo.cfg.context_size, algo.generator))
        loss = dml_loss(z, tasks, c.dml_beta, c.dml_power, c.dml_eps)
        return loss, z, {"train/dml_loss": loss.item()}


def migrate_dml_weight(config: dict[str, Any]) -> dict[str, Any]:
    """A training config saved before the algorithm registry (FOCAL's and FOCAL++'s), with today's DML keys:
    ``task_loss.dml_weight`` was DML's beta with ``loss=dml``, and the DML term's weight (beta 1) with ``both``."""
    task_loss = config.get("task_loss")
    if not isinstance(task_loss, dict) or "dml_weight" not in task_loss or "dml_beta" in task_loss:
        return config
    task_loss = dict(task_loss)
    task_loss["dml_beta"] = task_loss.pop("dml_weight") if task_loss.get("loss", "dml") == "dml" else 1.0
    return {**config, "task_loss": task_loss}


def build(cfg: FocalConfig, dims: Dims, seed: int, device: str) -> ContextRL:
    return ContextRL.with_mlp_encoder(cfg, dims, seed, device, DMLLoss(cfg.task_loss))


register_algorithm(
    AlgorithmSpec(
        name="focal",
        label="FOCAL",
        config=FocalConfig,
        build=build,
        provenance=__doc__ or "",
        variants={"focal": {}},
        # before the registry FOCAL was FOCAL++'s config with the DML loss and the MLP encoder: a record with
        # another value of these keys was not a FOCAL run
        legacy_fixed={"task_loss.loss": "dml", "encoder.type": "mlp"},
        migrate=migrate_dml_weight,
    )
)
