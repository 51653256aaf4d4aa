"""The thin base class of every offline meta-RL algorithm: checkpoints and task inference.

An algorithm is an ``nn.Module`` with an ``update(buffers) -> dict[str, float]``
step, ``act(obs, z)`` for deterministic evaluation, an ``encoder`` from
context to task embedding, named optimisers and one ``torch.Generator``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class OfflineMetaAlgorithm(nn.Module):
    """Shared by FOCAL / FOCAL++ (``ContextRL``), contextual BCQ and MBML."""

    encoder: nn.Module
    generator: torch.Generator
    device: torch.device

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by a stable name (the checkpoint keys)."""
        raise NotImplementedError

    @torch.no_grad()
    def infer_z(self, context: torch.Tensor) -> torch.Tensor:
        """Task embeddings (tasks, latent) from contexts (tasks, n, context_dim), in eval mode."""
        was = self.training
        self.eval()
        z = self.encoder(context.to(self.device))
        self.train(was)
        return z

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
