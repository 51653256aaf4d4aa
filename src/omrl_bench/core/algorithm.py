"""The base class of every offline meta-RL algorithm: what the harness calls, checkpoints and task inference.

The harness (training loop, evaluation, embedding statistics, figures) calls only what this class
declares:

- ``update(buffers) -> dict[str, float]``: one training step on the training tasks' buffers;
- ``act(obs, z)``: deterministic actions for observations (n, obs_dim) and embeddings (n, latent);
- ``infer_z(context)``: task embeddings (tasks, latent) from contexts (tasks, n, context_dim), through
  ``self.encoder`` unless overridden;
- ``optimizers()``: every optimiser by a stable name (checkpoint keys), and ``full_state`` /
  ``load_full_state`` built on them;
- optional hook ``attention_weights(context)``: a weight per context transition (the paper's Figure 7),
  or None.

Attributes: ``cfg`` (the algorithm's config; ``cfg.precision`` is read), ``device`` and one
``torch.Generator`` (``generator``) for all sampling. Forward passes run under ``self.autocast()``
(fp32, or bf16 autocast, see ``core/precision.py``); backward passes run outside it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from omrl_bench.core.precision import autocast


class OfflineMetaAlgorithm(nn.Module):
    """Subclassed by every algorithm: ``ContextRL`` (FOCAL, FOCAL++), contextual BCQ, MBML and plug-ins."""

    cfg: Any
    encoder: nn.Module
    generator: torch.Generator
    device: torch.device

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The context of every forward pass: bfloat16 autocast when ``cfg.precision`` is bf16."""
        return autocast(self.device, self.cfg.precision)

    def update(self, buffers: Any) -> dict[str, float]:
        """One training step; returns float metrics named ``train/...``."""
        raise NotImplementedError

    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Deterministic actions (n, action_dim)."""
        raise NotImplementedError

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

    @torch.no_grad()
    def attention_weights(self, context: torch.Tensor) -> torch.Tensor | None:
        """A weight per transition (tasks, n) of each context, where the encoder has one; else None."""
        return None

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
