"""FOCAL++'s attention context encoders (paper section 4.2).

A per-transition embedding followed by residual attention blocks (batch-wise channel attention,
sequence-wise self-attention, or both in parallel or in series; optionally the set-attention
extension), then FOCAL's tanh projection and mean pooling: (tasks, transitions, features) ->
(tasks, latent), invariant to the order of the transitions.
"""

from __future__ import annotations

import torch
from torch import nn

from omrl_bench.core.precision import Float32Linear

ATTENTIONS = ("batch", "sequence", "set", "parallel", "series")


class BatchChannelAttention(nn.Module):
    """Squeeze-excitation gate per transition, averaged over features: one scalar weight in (0, 1) each."""

    def __init__(self, hidden: int, reduction: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(hidden, max(1, hidden // reduction)),
            nn.Tanh(),
            nn.Linear(max(1, hidden // reduction), hidden),
            nn.Sigmoid(),
        )

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x).mean(dim=-1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class SequenceSelfAttention(nn.Module):
    """Multi-head self-attention as the paper writes it: the (T, B, C) context is reshaped to
    (T*B, 1, C), so each transition attends only to itself (the softmax over one key is 1 and the
    block reduces to its value and output projections)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c = x.shape
        flat = x.reshape(t * b, 1, c)
        out, _ = self.attn(flat, flat, flat, need_weights=False)
        return out.reshape(t, b, c)


class SetSelfAttention(nn.Module):
    """Extension (not in the paper): self-attention across the transitions of one task's context."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, x, x, need_weights=False)
        return out


class AttentionBlock(nn.Module):
    """Pre-LN residual block: attention sublayer(s) then a GELU feed-forward sublayer."""

    def __init__(self, kind: str, hidden: int, heads: int, reduction: int, dropout: float) -> None:
        super().__init__()
        self.kind = kind
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.batch = BatchChannelAttention(hidden, reduction) if kind in ("batch", "parallel", "series") else None
        if kind in ("sequence", "parallel", "series"):
            self.seq: nn.Module | None = SequenceSelfAttention(hidden, heads, dropout)
        elif kind == "set":
            self.seq = SetSelfAttention(hidden, heads, dropout)
        else:
            self.seq = None
        self.norm_series = nn.LayerNorm(hidden) if kind == "series" else None
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if self.kind == "series":
            assert self.batch is not None and self.seq is not None and self.norm_series is not None
            x = x + self.drop(self.batch(h))
            x = x + self.drop(self.seq(self.norm_series(x)))
        else:
            update = torch.zeros_like(x)
            if self.batch is not None:
                update = update + self.batch(h)
            if self.seq is not None:
                update = update + self.seq(h)
            x = x + self.drop(update)
        return x + self.drop(self.ffn(self.norm2(x)))

    def transition_weights(self, x: torch.Tensor) -> torch.Tensor | None:
        return None if self.batch is None else self.batch.weights(self.norm1(x)).squeeze(-1)


class AttentionEncoder(nn.Module):
    """FOCAL++: embedding, ``blocks`` residual attention blocks, tanh projection, mean over the context."""

    def __init__(
        self,
        in_dim: int,
        latent_dim: int,
        attention: str = "batch",
        hidden: int = 128,
        heads: int = 8,
        reduction: int = 16,
        blocks: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of: {', '.join(ATTENTIONS)}")
        self.embed = nn.Linear(in_dim, hidden)
        self.blocks = nn.ModuleList(AttentionBlock(attention, hidden, heads, reduction, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)
        self.head = Float32Linear(hidden, latent_dim)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        x = self.embed(context)
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.head(self.norm(x))).mean(dim=1)

    @torch.no_grad()
    def transition_weights(self, context: torch.Tensor) -> torch.Tensor | None:
        """Batch-attention weight of every transition in the last block that has one (paper Figure 7)."""
        x = self.embed(context)
        weights = None
        for block in self.blocks:
            assert isinstance(block, AttentionBlock)
            w = block.transition_weights(x)
            weights = w if w is not None else weights
            x = block(x)
        return weights
