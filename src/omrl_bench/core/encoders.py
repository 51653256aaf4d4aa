"""The context encoder every method can use: transitions (s, a, r[, s']) of one task -> task embedding z.

``MLPEncoder`` is FOCAL's: a per-transition MLP with tanh output, mean-pooled, so invariant to the
order of the transitions. FOCAL++'s attention encoders are in ``focalpp/encoders.py``; the
probabilistic encoder of the BCQ baselines is in ``baselines/bcq.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from omrl_bench.core.networks import mlp


class MLPEncoder(nn.Module):
    """FOCAL: per-transition MLP (ReLU, tanh output), mean over the context."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 200, depth: int = 3) -> None:
        super().__init__()
        self.net = mlp(in_dim, latent_dim, hidden, depth)

    def transition_embeddings(self, context: torch.Tensor) -> torch.Tensor:
        """One embedding per transition (tasks, n, latent), before the mean over the context."""
        return torch.tanh(self.net(context))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.transition_embeddings(context).mean(dim=1)
