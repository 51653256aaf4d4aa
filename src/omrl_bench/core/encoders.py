"""The context encoder every method can use: transitions (s, a, r[, s']) of one task -> task embedding z.

``MLPEncoder`` is FOCAL's: a per-transition MLP with tanh output, mean-pooled, so invariant to the
order of the transitions. FOCAL++'s attention encoders are in ``focalpp/encoders.py``; the
probabilistic encoder of the BCQ baselines is in ``baselines/bcq.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from omrl_bench.core.networks import mlp
from omrl_bench.errors import OmrlError

ENCODER_OUTPUTS = ("tanh", "l2")


class MLPEncoder(nn.Module):
    """FOCAL: per-transition MLP (ReLU, tanh output), mean over the context. ``output="l2"`` puts each
    transition embedding on the unit sphere instead of the tanh (CORRO's encoder)."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 200, depth: int = 3, output: str = "tanh") -> None:
        super().__init__()
        if output not in ENCODER_OUTPUTS:
            raise OmrlError(f"encoder output must be one of {', '.join(ENCODER_OUTPUTS)}, got {output!r}")
        self.net = mlp(in_dim, latent_dim, hidden, depth)
        self.output = output

    def transition_embeddings(self, context: torch.Tensor) -> torch.Tensor:
        """One embedding per transition (tasks, n, latent), before the mean over the context."""
        out = self.net(context)
        return torch.tanh(out) if self.output == "tanh" else F.normalize(out.float(), dim=-1)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.transition_embeddings(context).mean(dim=1)
