"""The thin base class of every offline meta-RL algorithm: checkpoints and task inference.

An algorithm is an ``nn.Module`` with an ``update(buffers) -> dict[str, float]``
step, ``act(obs, z)`` for deterministic evaluation, an ``encoder`` from
context to task embedding, named optimisers and one ``torch.Generator``.
Forward passes run under ``self.autocast()`` (``cfg.precision``: fp32 or bf16
autocast, see ``core/precision.py``); backward passes run outside it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from omrl_bench.core.precision import autocast
from omrl_bench.core.train_config import TrainConfig


class OfflineMetaAlgorithm(nn.Module):
    """Shared by FOCAL / FOCAL++ (``ContextRL``), contextual BCQ and MBML."""

    cfg: TrainConfig
    encoder: nn.Module
    generator: torch.Generator
    device: torch.device

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The context of every forward pass: bfloat16 autocast when ``cfg.precision`` is bf16."""
        return autocast(self.device, self.cfg.precision)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by a stable name (the checkpoint keys)."""
        raise NotImplementedError

    @torch.no_grad()
    def infer_z(self, context: torch.Tensor) -> torch.Tensor:
        """Task embeddings (tasks, latent) from contexts (tasks, n, context_dim), in eval mode."""
        was = self.training
        self.eval()
        with self.autocast():
            z = self.encoder(context.to(self.device))
        self.train(was)
        return z.float()

    def full_state(self) -> dict[str, Any]:
        """Everything needed to resume bit-for-bit: networks, optimisers, counters, RNG state."""
        return {
            "model": self.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "generator": self.generator.get_state(),
        }

    def load_full_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.generator.set_state(state["generator"])
