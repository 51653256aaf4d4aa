"""The shared actor-critic's losses, as pure functions of tensors (each tested against a NumPy reference).

Each method's own losses live with the method: FOCAL's DML in ``baselines/focal.py``, FOCAL++'s
contrastive loss in ``focalpp/losses.py``, BCQ's and MBML's in ``baselines/bcq.py`` and ``baselines/mbml.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DIVERGENCE_EPS = 1e-8


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


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under N(mean, diag exp(log_var)), summed over the last axis and
    averaged over the others (samples, and ensemble members where ``mean`` has a leading member axis)."""
    nll = 0.5 * ((target - mean) ** 2 / log_var.exp() + log_var + math.log(2 * math.pi))
    return nll.sum(-1).mean()
