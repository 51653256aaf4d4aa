"""FOCAL++'s task-representation losses (paper section 4.3): the matrix-form momentum contrast, and it
together with FOCAL's DML.

``contrastive``: InfoNCE over a meta-batch of distinct tasks between a query context's embedding and a
key context's embedding of the same tasks, logits ``zq zk^T / tau``; the key encoder carries no gradient
and follows the query encoder as ``theta_k <- m theta_k + (1 - m) theta_q`` (``hard_update``: m = 0,
the query encoder itself). ``both``: that plus ``dml_weight`` times FOCAL's DML on the query and key
embeddings together.
"""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from omrl_bench.baselines.focal import dml_loss
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.precision import at_least_float32, float32_region
from omrl_bench.core.task_losses import TaskLoss, register_task_loss


@dataclass(frozen=True)
class ContrastiveConfig:
    loss: str = "contrastive"  # contrastive | both (a registered task loss)
    lr: float = 1e-3
    temperature: float = 0.5  # tau
    momentum: float = 0.9  # m of the key encoder
    hard_update: bool = False  # key encoder = query encoder (m = 0)
    dml_weight: float = 1.0  # loss = both: the weight of the DML term
    dml_beta: float = 1.0  # loss = both: the DML's beta
    dml_power: float = 2.0
    dml_eps: float = 0.1


def contrastive_loss(z_query: torch.Tensor, z_key: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """FOCAL++'s matrix-form contrastive loss: InfoNCE over tasks, logits ``zq zk^T / tau``, diagonal targets.

    The logits and the cross-entropy stay float32 even under bf16 autocast."""
    with float32_region(z_query.device):
        logits = at_least_float32(z_query) @ at_least_float32(z_key).T / temperature
        return F.cross_entropy(logits, torch.arange(z_query.shape[0], device=z_query.device))


def _key_encoder(algo: ContextRL) -> nn.Module:
    return typing.cast(nn.Module, algo.key_encoder)


@register_task_loss("contrastive")
class ContrastiveLoss(TaskLoss):
    distinct_tasks = True

    def setup(self, algo: ContextRL) -> None:
        algo.key_encoder = copy.deepcopy(algo.encoder).requires_grad_(False)

    def embed(self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Query embeddings (with gradient) and key embeddings (without) of two context draws per task."""
        z = algo.encoder(buffers.sample_context(tasks, algo.cfg.context_size, algo.generator))
        keys = buffers.sample_context(tasks, algo.cfg.context_size, algo.generator)
        with torch.no_grad():
            z_key = (algo.encoder if self.cfg.hard_update else _key_encoder(algo))(keys)
        return z, z_key

    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        z, z_key = self.embed(algo, buffers, tasks)
        loss = contrastive_loss(z, z_key, self.cfg.temperature)
        return loss, z, {"train/contrastive_loss": loss.item()}

    @torch.no_grad()
    def after_step(self, algo: ContextRL) -> None:
        m = 0.0 if self.cfg.hard_update else self.cfg.momentum
        for k, q in zip(_key_encoder(algo).parameters(), algo.encoder.parameters(), strict=True):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)


@register_task_loss("both")
class ContrastiveAndDML(ContrastiveLoss):
    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        c = self.cfg
        z, z_key = self.embed(algo, buffers, tasks)
        c_loss = contrastive_loss(z, z_key, c.temperature)
        d_loss = c.dml_weight * dml_loss(
            torch.cat([z, z_key]), torch.cat([tasks, tasks]), c.dml_beta, c.dml_power, c.dml_eps
        )
        return c_loss + d_loss, z, {"train/contrastive_loss": c_loss.item(), "train/dml_loss": d_loss.item()}
