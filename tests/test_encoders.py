"""Encoders and attention modules: shapes, permutation invariance, gates in (0, 1), momentum update."""

from __future__ import annotations

import pytest
import torch

from omrl_bench.baselines.bcq import ProbabilisticEncoder
from omrl_bench.core.encoders import MLPEncoder
from omrl_bench.core.registry import Dims, build_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.focalpp.encoders import ATTENTIONS, AttentionEncoder, BatchChannelAttention


def _encoders() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [MLPEncoder(7, 5, 32, 3)] + [AttentionEncoder(7, 5, kind, 32, 4, 4, 2, 0.1) for kind in ATTENTIONS]


@pytest.mark.parametrize("encoder", _encoders(), ids=["mlp", *ATTENTIONS])
def test_shapes_and_order_invariance(encoder: torch.nn.Module) -> None:
    encoder.eval()
    context = torch.randn(3, 40, 7)
    z = encoder(context)
    assert z.shape == (3, 5)
    assert torch.all(z.abs() <= 1)
    perm = torch.randperm(40)
    torch.testing.assert_close(encoder(context[:, perm]), z, atol=1e-5, rtol=1e-5)


def test_batch_gates_are_in_unit_interval() -> None:
    att = BatchChannelAttention(32, 16)
    w = att.weights(torch.randn(4, 50, 32) * 10)
    assert w.shape == (4, 50, 1)
    assert torch.all((w > 0) & (w < 1))
    x = torch.randn(2, 5, 32)
    torch.testing.assert_close(att(x), x * att.weights(x))


def test_transition_weights_only_with_batch_attention() -> None:
    ctx = torch.randn(2, 10, 7)
    assert AttentionEncoder(7, 5, "batch", 16, 2, 4, 2).transition_weights(ctx).shape == (2, 10)
    assert AttentionEncoder(7, 5, "sequence", 16, 2, 4, 2).transition_weights(ctx) is None


def test_sequence_attention_reduces_to_value_and_output_projections() -> None:
    enc = AttentionEncoder(7, 5, "sequence", 16, 2, 4, 1, dropout=0.0)
    seq = enc.blocks[0].seq.attn
    x = torch.randn(2, 6, 16)
    w_v = seq.in_proj_weight[32:]
    b_v = seq.in_proj_bias[32:]
    expected = (x @ w_v.T + b_v) @ seq.out_proj.weight.T + seq.out_proj.bias
    torch.testing.assert_close(enc.blocks[0].seq(x), expected, atol=1e-5, rtol=1e-5)


def test_momentum_update_of_the_key_encoder() -> None:
    _, cfg = resolve_config("focalpp", "contrastive", "sparse-point-robot", "smoke")
    algo = build_algorithm("focalpp", cfg, Dims(2, 2, 5, 4))
    assert algo.key_encoder is not None
    with torch.no_grad():
        for p in algo.encoder.parameters():
            p.add_(1.0)
    before_k = [p.clone() for p in algo.key_encoder.parameters()]
    q = [p.clone() for p in algo.encoder.parameters()]
    algo.task_loss.after_step(algo)
    for k0, qq, k1 in zip(before_k, q, algo.key_encoder.parameters(), strict=True):
        torch.testing.assert_close(k1, 0.9 * k0 + 0.1 * qq)
    _, hard = resolve_config("focalpp", "contrastive", "sparse-point-robot", "smoke", ["task_loss.hard_update=true"])
    algo = build_algorithm("focalpp", hard, Dims(2, 2, 5, 4))
    with torch.no_grad():
        for p in algo.encoder.parameters():
            p.add_(1.0)
    algo.task_loss.after_step(algo)
    for k, qq in zip(algo.key_encoder.parameters(), algo.encoder.parameters(), strict=True):
        torch.testing.assert_close(k, qq)


def test_probabilistic_encoder_posterior_sharpens_with_context_and_ignores_order() -> None:
    torch.manual_seed(0)
    encoder = ProbabilisticEncoder(7, 5, 32, 2)
    context = torch.randn(3, 40, 7)
    mu, var = encoder.posterior(context)
    assert mu.shape == var.shape == (3, 5) and torch.all(var > 0)
    torch.testing.assert_close(encoder(context[:, torch.randperm(40)]), mu, atol=1e-5, rtol=1e-5)
    _, var_short = encoder.posterior(context[:, :10])
    assert torch.all(var < var_short)  # more transitions, a sharper product of Gaussians
