"""Loss functions as pure functions of tensors (each tested against a NumPy reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIVERGENCE_EPS = 1e-8


def dml_loss(
    z: torch.Tensor,
    task_ids: torch.Tensor,
    beta: float = 1.0,
    power: float = 2.0,
    eps: float = 0.1,
    pos_eps: float = 1e-3,
) -> torch.Tensor:
    """FOCAL's distance metric loss over all pairs i < j of a meta-batch (sampled with replacement).

    With ``d2`` the mean over latent dimensions of ``(z_i - z_j)^2`` (the reference code's distance):
    same task -> ``sqrt(d2 + pos_eps)``; different tasks -> ``beta / (d2^(power/2) + eps)``. Each kind
    is averaged over its pairs (a kind with no pairs contributes 0).
    """
    n = z.shape[0]
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).mean(-1)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=z.device), diagonal=1)
    same = (task_ids[:, None] == task_ids[None, :]) & upper
    diff = (task_ids[:, None] != task_ids[None, :]) & upper
    pos = torch.sqrt(d2[same] + pos_eps)
    neg = beta / (d2[diff] ** (power / 2) + eps)
    zero = z.sum() * 0.0
    return (pos.mean() if pos.numel() else zero) + (neg.mean() if neg.numel() else zero)


def contrastive_loss(z_query: torch.Tensor, z_key: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """FOCAL++'s matrix-form contrastive loss: InfoNCE over tasks, logits ``zq zk^T / tau``, diagonal targets."""
    logits = z_query @ z_key.T / temperature
    return F.cross_entropy(logits, torch.arange(z_query.shape[0], device=z_query.device))


def soft_relu(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))``, as BRAC's ``soft_relu``."""
    return F.softplus(x)


def kl_dual_estimate(logits_policy: torch.Tensor, logits_behaviour: torch.Tensor) -> torch.Tensor:
    """BRAC's dual-form KL estimate per sample, from the divergence critic's logits."""
    return -soft_relu(logits_behaviour) + torch.log(soft_relu(logits_policy) + DIVERGENCE_EPS) + 1.0


def gradient_penalty(grad_norm: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """WGAN-GP-style one-sided penalty on the critic's action-gradient norm (per sample norms)."""
    return weight * torch.clamp(grad_norm - 1.0, min=0.0).pow(2).mean()


def q_target(
    reward: torch.Tensor, terminal: torch.Tensor, next_v: torch.Tensor, gamma: float, reward_scale: float
) -> torch.Tensor:
    """``reward_scale * r + gamma * (1 - terminal) * V_target(s', z)``."""
    return reward_scale * reward + gamma * (1.0 - terminal) * next_v


def bc_loss(policy_action: torch.Tensor, data_action: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning: mean over samples of the squared distance to the dataset's action."""
    return (policy_action - data_action).pow(2).sum(-1).mean()


def policy_loss(
    log_pi: torch.Tensor, min_q: torch.Tensor, divergence: torch.Tensor, alpha: float, max_entropy: bool = True
) -> torch.Tensor:
    """SAC policy loss (entropy temperature 1, set by the reward scale) plus ``alpha * D``."""
    entropy = log_pi if max_entropy else torch.zeros_like(log_pi)
    return (entropy - min_q + alpha * divergence).mean()
