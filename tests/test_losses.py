"""Each loss against a small NumPy reference written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omrl_bench.baselines import bcq, focal, mbml
from omrl_bench.core import losses
from omrl_bench.focalpp import losses as focalpp_losses


def _np_dml(z: np.ndarray, ids: np.ndarray, beta: float, power: float, eps: float, pos_eps: float = 1e-3) -> float:
    pos, neg = [], []
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            d2 = np.mean((z[i] - z[j]) ** 2)
            if ids[i] == ids[j]:
                pos.append(np.sqrt(d2 + pos_eps))
            else:
                neg.append(beta / (d2 ** (power / 2) + eps))
    return (np.mean(pos) if pos else 0.0) + (np.mean(neg) if neg else 0.0)


@pytest.mark.parametrize(("beta", "power"), [(1.0, 2.0), (0.5, 1.0), (2.0, 4.0)])
def test_dml_loss(beta: float, power: float) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(9, 5))
    ids = np.array([0, 1, 1, 2, 3, 3, 3, 4, 0])
    ours = focal.dml_loss(torch.tensor(z), torch.tensor(ids), beta, power, 0.1)
    assert ours.item() == pytest.approx(_np_dml(z, ids, beta, power, 0.1), rel=1e-10)


def test_dml_loss_without_same_task_pairs() -> None:
    z = np.random.default_rng(1).normal(size=(4, 3))
    ids = np.arange(4)
    assert focal.dml_loss(torch.tensor(z), torch.tensor(ids)).item() == pytest.approx(_np_dml(z, ids, 1.0, 2.0, 0.1))


def test_contrastive_loss() -> None:
    rng = np.random.default_rng(2)
    zq, zk = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    logits = zq @ zk.T / 0.5
    logits -= logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(np.diag(log_softmax))
    ours = focalpp_losses.contrastive_loss(torch.tensor(zq), torch.tensor(zk), 0.5)
    assert ours.item() == pytest.approx(expected, rel=1e-10)


def test_kl_dual_estimate_and_gradient_penalty() -> None:
    rng = np.random.default_rng(3)
    lp, lb = rng.normal(size=10), rng.normal(size=10)

    def softplus(x: np.ndarray) -> np.ndarray:
        return np.log1p(np.exp(x))

    expected = -softplus(lb) + np.log(softplus(lp) + 1e-8) + 1.0
    np.testing.assert_allclose(
        losses.kl_dual_estimate(torch.tensor(lp), torch.tensor(lb)).numpy(), expected, rtol=1e-12
    )
    norms = np.array([0.5, 1.0, 1.5, 3.0])
    assert losses.gradient_penalty(torch.tensor(norms), 5.0).item() == pytest.approx(5.0 * np.mean([0, 0, 0.25, 4.0]))


def test_q_target_and_policy_loss() -> None:
    r, term, v = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.0]), np.array([3.0, 4.0, -1.0])
    np.testing.assert_allclose(
        losses.q_target(torch.tensor(r), torch.tensor(term), torch.tensor(v), 0.9, 100).numpy(),
        100 * r + 0.9 * (1 - term) * v,
    )
    log_pi, q, div = np.array([-1.0, 0.5]), np.array([2.0, 3.0]), np.array([0.1, 0.3])
    got = losses.policy_loss(torch.tensor(log_pi), torch.tensor(q), torch.tensor(div), 2.0, True).item()
    assert got == pytest.approx(np.mean(log_pi - q + 2.0 * div))
    got = losses.policy_loss(torch.tensor(log_pi), torch.tensor(q), torch.tensor(div), 0.0, False).item()
    assert got == pytest.approx(np.mean(-q))


def test_bc_loss() -> None:
    rng = np.random.default_rng(3)
    pi, data = rng.uniform(-1, 1, (6, 2)), rng.uniform(-1, 1, (6, 2))
    expected = np.mean([np.sum((pi[i] - data[i]) ** 2) for i in range(6)])
    assert losses.bc_loss(torch.tensor(pi), torch.tensor(data)).item() == pytest.approx(expected)


def test_product_of_gaussians_and_its_kl() -> None:
    rng = np.random.default_rng(4)
    mu, var = rng.normal(size=(3, 7, 2)), rng.uniform(0.1, 2.0, (3, 7, 2))
    post_mu, post_var = bcq.product_of_gaussians(torch.tensor(mu), torch.tensor(var))
    for t in range(3):
        for d in range(2):
            precision = np.sum(1 / var[t, :, d])
            assert post_var[t, d].item() == pytest.approx(1 / precision)
            assert post_mu[t, d].item() == pytest.approx(np.sum(mu[t, :, d] / var[t, :, d]) / precision)
    m, v = post_mu.numpy(), post_var.numpy()
    expected = [np.sum(0.5 * (v[t] + m[t] ** 2 - 1 - np.log(v[t]))) for t in range(3)]
    np.testing.assert_allclose(bcq.kl_to_standard_normal(post_mu, post_var).numpy(), expected, rtol=1e-10)


def test_vae_loss_and_soft_clipped_double_q() -> None:
    rng = np.random.default_rng(5)
    recon, action = rng.uniform(-1, 1, (8, 2)), rng.uniform(-1, 1, (8, 2))
    mean, std = rng.normal(size=(8, 4)), rng.uniform(0.2, 1.5, (8, 4))
    kl = -0.5 * np.mean(1 + np.log(std**2) - mean**2 - std**2)
    expected = np.mean((recon - action) ** 2) + 0.5 * kl
    got = bcq.vae_loss(*(torch.tensor(x) for x in (recon, action, mean, std)), kl_weight=0.5).item()
    assert got == pytest.approx(expected)
    q1, q2 = rng.normal(size=6), rng.normal(size=6)
    expected_q = 0.75 * np.minimum(q1, q2) + 0.25 * np.maximum(q1, q2)
    np.testing.assert_allclose(bcq.soft_clipped_double_q(torch.tensor(q1), torch.tensor(q2), 0.75), expected_q)


def test_masked_product_of_gaussians_uses_only_kept_factors() -> None:
    rng = np.random.default_rng(6)
    mu, var = torch.tensor(rng.normal(size=(2, 5, 3))), torch.tensor(rng.uniform(0.2, 2.0, (2, 5, 3)))
    mask = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    m, v = bcq.product_of_gaussians(mu, var, mask)
    m0, v0 = bcq.product_of_gaussians(mu[0, mask[0]], var[0, mask[0]])
    torch.testing.assert_close(m[0], m0)
    torch.testing.assert_close(v[0], v0)
    torch.testing.assert_close(m[1], torch.zeros(3, dtype=m.dtype))  # nothing kept: the prior
    torch.testing.assert_close(v[1], torch.ones(3, dtype=v.dtype))


def test_kl_between_diagonal_gaussians_and_triplet_loss() -> None:
    rng = np.random.default_rng(7)
    ma, mb = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    va, vb = rng.uniform(0.2, 2.0, (4, 3)), rng.uniform(0.2, 2.0, (4, 3))
    expected = [0.5 * np.sum(np.log(vb[i] / va[i]) + (va[i] + (ma[i] - mb[i]) ** 2) / vb[i] - 1) for i in range(4)]
    got = bcq.kl_diagonal_gaussians(*(torch.tensor(x) for x in (ma, va, mb, vb)))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    assert bcq.kl_diagonal_gaussians(*(torch.tensor(x) for x in (ma, va, ma, va))).abs().max() < 1e-12
    d_pos, d_neg = np.array([0.5, 3.0, 1.0]), np.array([4.0, 1.0, 2.5])
    expected_t = np.mean([max(0.0, p - n + 2.0) for p, n in zip(d_pos, d_neg, strict=True)])
    assert mbml.triplet_loss(torch.tensor(d_pos), torch.tensor(d_neg), 2.0).item() == pytest.approx(expected_t)
