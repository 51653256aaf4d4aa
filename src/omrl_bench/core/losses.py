"""Loss functions as pure functions of tensors (each tested against a NumPy reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from omrl_bench.core.precision import at_least_float32, float32_region

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
    """FOCAL++'s matrix-form contrastive loss: InfoNCE over tasks, logits ``zq zk^T / tau``, diagonal targets.

    The logits and the cross-entropy stay float32 even under bf16 autocast."""
    with float32_region(z_query.device):
        logits = at_least_float32(z_query) @ at_least_float32(z_key).T / temperature
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


def product_of_gaussians(
    mu: torch.Tensor, var: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior of independent Gaussian factors over axis -2: (..., n, d) -> (..., d) mean and variance.

    ``mask`` (..., n) keeps only some factors; a posterior with none left is the prior N(0, 1).
    """
    precision = 1.0 / var.clamp(min=1e-7)
    if mask is not None:
        precision = precision * mask[..., None].to(precision.dtype)
    total = precision.sum(-2)
    if mask is not None:
        total = total + (total == 0).to(total.dtype)  # no factor left: unit precision, zero mean
    post_var = 1.0 / total
    return post_var * (mu * precision).sum(-2), post_var


def kl_diagonal_gaussians(
    mu_a: torch.Tensor, var_a: torch.Tensor, mu_b: torch.Tensor, var_b: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_a, diag var_a) || N(mu_b, diag var_b)), summed over the last axis."""
    return 0.5 * (torch.log(var_b / var_a) + (var_a + (mu_a - mu_b).pow(2)) / var_b - 1.0).sum(-1)


def triplet_loss(d_positive: torch.Tensor, d_negative: torch.Tensor, margin: float = 2.0) -> torch.Tensor:
    """MBML's triplet loss: ``max(0, d(anchor, positive) - d(anchor, negative) + margin)``, averaged."""
    return F.relu(d_positive - d_negative + margin).mean()


def kl_to_standard_normal(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag var) || N(0, I)), summed over the last axis."""
    return 0.5 * (var + mu.pow(2) - 1.0 - torch.log(var)).sum(-1)


def vae_loss(
    recon: torch.Tensor, action: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, kl_weight: float = 0.5
) -> torch.Tensor:
    """BCQ's action-VAE loss: MSE reconstruction plus ``kl_weight`` times the KL averaged over latent entries."""
    kl = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean()
    return F.mse_loss(recon, action) + kl_weight * kl


def soft_clipped_double_q(q1: torch.Tensor, q2: torch.Tensor, lmbda: float = 0.75) -> torch.Tensor:
    """BCQ's soft clipped double Q: ``lmbda * min(q1, q2) + (1 - lmbda) * max(q1, q2)``."""
    return lmbda * torch.minimum(q1, q2) + (1.0 - lmbda) * torch.maximum(q1, q2)
