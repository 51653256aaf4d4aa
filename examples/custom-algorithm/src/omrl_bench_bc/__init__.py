"""Context-free behaviour cloning: one policy for every task, trained to copy the dataset's actions.

Provenance: the classic offline-RL baseline (Pomerleau 1991; the BC rows of D4RL). It ignores the
context, so its return says how far a benchmark can be solved without task inference. An example of an
omrl-bench plug-in: this file is the whole algorithm.
Deliberate differences: none (deterministic tanh-MLP policy, mean squared error on the actions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.networks import mlp
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.train_config import RunConfig


@dataclass(frozen=True)
class PolicyConfig:
    hidden: int = 256
    depth: int = 2
    lr: float = 1e-3


@dataclass(frozen=True)
class BCConfig(RunConfig):  # the harness's keys (steps, batch_size, ...) plus this algorithm's own section
    bc: PolicyConfig = field(default_factory=PolicyConfig)


class NoContext(nn.Module):
    """The 'encoder': one constant embedding per task, whatever the context."""

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return context.new_zeros(context.shape[0], 1)


class BC(OfflineMetaAlgorithm):
    def __init__(self, cfg: BCConfig, dims: Dims, seed: int, device: str) -> None:
        super().__init__()
        self.cfg, self.device = cfg, torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = NoContext()
            self.policy = mlp(dims.obs_dim, dims.action_dim, cfg.bc.hidden, cfg.bc.depth)
        self.to(self.device)
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.bc.lr)

    def update(self, buffers: TaskBuffers) -> dict[str, float]:
        tasks = sample_tasks(buffers.n_tasks, self.cfg.meta_batch, True, self.generator)
        batch = buffers.sample_batch(tasks.to(self.device), self.cfg.batch_size, self.generator)
        with self.autocast():
            loss = (torch.tanh(self.policy(batch.observations)).float() - batch.actions).pow(2).sum(-1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"train/bc_loss": loss.item()}

    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return torch.tanh(self.policy(obs.to(self.device))).float()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.opt}


register_algorithm(
    AlgorithmSpec(
        name="bc",
        label="BC (no context)",
        config=BCConfig,
        build=lambda cfg, dims, seed, device: BC(cfg, dims, seed, device),
        provenance=__doc__ or "",
        variants={"bc": {}},
    )
)
