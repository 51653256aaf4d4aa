"""Each loss against a small NumPy reference written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omrl_bench.core import losses


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
    ours = losses.dml_loss(torch.tensor(z), torch.tensor(ids), beta, power, 0.1)
    assert ours.item() == pytest.approx(_np_dml(z, ids, beta, power, 0.1), rel=1e-10)


def test_dml_loss_without_same_task_pairs() -> None:
    z = np.random.default_rng(1).normal(size=(4, 3))
    ids = np.arange(4)
    assert losses.dml_loss(torch.tensor(z), torch.tensor(ids)).item() == pytest.approx(_np_dml(z, ids, 1.0, 2.0, 0.1))


def test_contrastive_loss() -> None:
    rng = np.random.default_rng(2)
    zq, zk = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    logits = zq @ zk.T / 0.5
    logits -= logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(np.diag(log_softmax))
    ours = losses.contrastive_loss(torch.tensor(zq), torch.tensor(zk), 0.5)
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
