"""BCQ (Fujimoto, Meger, Precup, ICML 2019) on conditioned inputs: the pieces contextual BCQ and MBML share.

Their configs (``BCQConfig``, with ``ActorCriticCommon`` as their ``ac`` section), the probabilistic
context encoder (PEARL's product of Gaussians), and BCQ's own losses as pure functions.

``BCQ`` holds a conditional action VAE, a perturbation actor, twin critics and
their targets. The condition is whatever the caller passes: (s, z) for
contextual BCQ and MBML's student, s alone for MBML's per-task teachers. With
``members`` set, every network is a ``BatchedMLP`` of that many independent
copies and inputs carry a leading member axis (one BCQ per task, trained
together). ``losses`` computes the three BCQ losses of one batch; the actor's
loss sees the critics through detached parameters, so one backward pass over
their sum trains each network on its own loss only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from omrl_bench.core import losses
from omrl_bench.core.networks import TwinQ, detached_params, make_mlp, mlp


@dataclass(frozen=True)
class BCQConfig:
    """BCQ's pieces (Fujimoto et al. 2019), used by contextual BCQ and MBML."""

    vae_hidden: int = 750
    vae_depth: int = 2
    vae_latent_factor: int = 2  # VAE latent size = factor * action dim
    vae_kl_weight: float = 0.5
    vae_lr: float = 1e-3
    perturbation: float = 0.05  # phi: the actor moves a VAE action by at most phi per dimension
    lmbda: float = 0.75  # soft clipped double Q
    n_actions: int = 10  # VAE actions scored by Q for the target and for acting
    kl_weight: float = 0.1  # KL(q(z | c) || N(0, I)) on the probabilistic context encoder


def vae_loss(
    recon: torch.Tensor, action: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, kl_weight: float = 0.5
) -> torch.Tensor:
    """BCQ's action-VAE loss: MSE reconstruction plus ``kl_weight`` times the KL averaged over latent entries."""
    kl = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean()
    return F.mse_loss(recon, action) + kl_weight * kl


def soft_clipped_double_q(q1: torch.Tensor, q2: torch.Tensor, lmbda: float = 0.75) -> torch.Tensor:
    """BCQ's soft clipped double Q: ``lmbda * min(q1, q2) + (1 - lmbda) * max(q1, q2)``."""
    return lmbda * torch.minimum(q1, q2) + (1.0 - lmbda) * torch.maximum(q1, q2)


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


def kl_to_standard_normal(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag var) || N(0, I)), summed over the last axis."""
    return 0.5 * (var + mu.pow(2) - 1.0 - torch.log(var)).sum(-1)


def kl_diagonal_gaussians(
    mu_a: torch.Tensor, var_a: torch.Tensor, mu_b: torch.Tensor, var_b: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_a, diag var_a) || N(mu_b, diag var_b)), summed over the last axis."""
    return 0.5 * (torch.log(var_b / var_a) + (var_a + (mu_a - mu_b).pow(2)) / var_b - 1.0).sum(-1)


class ProbabilisticEncoder(nn.Module):
    """PEARL / MBML: each transition gives a Gaussian factor (mean, softplus variance); the
    posterior q(z | c) is their product. ``forward`` returns the posterior mean (used for
    evaluation and embedding statistics); ``posterior`` returns mean and variance."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 200, depth: int = 3) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = mlp(in_dim, 2 * latent_dim, hidden, depth)

    def factors(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-transition Gaussian factors (mean, variance) of q(z | c)."""
        params = self.net(context)
        return params[..., : self.latent_dim], nn.functional.softplus(params[..., self.latent_dim :])

    def posterior(self, context: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return product_of_gaussians(*self.factors(context), mask)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.posterior(context)[0]


def probabilistic_encoder(cfg: Any, context_dim: int) -> ProbabilisticEncoder:
    """The product-of-Gaussians encoder of the BCQ-based baselines (``cfg.encoder``: an MLPEncoderConfig)."""
    e = cfg.encoder
    return ProbabilisticEncoder(context_dim, e.latent_dim, e.mlp_hidden, e.mlp_depth)


class ActionVAE(nn.Module):
    """A conditional VAE over actions: encoder (cond, a) -> latent, decoder (cond, latent) -> a in [-1, 1]."""

    def __init__(
        self, cond_dim: int, action_dim: int, latent_dim: int, hidden: int, depth: int, members: int | None = None
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.enc = make_mlp(cond_dim + action_dim, 2 * latent_dim, hidden, depth, members)
        self.dec = make_mlp(cond_dim + latent_dim, action_dim, hidden, depth, members)

    def forward(
        self, cond: torch.Tensor, action: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, latent mean and latent std of dataset actions."""
        params = self.enc(torch.cat([cond, action], -1))
        mean, log_std = params[..., : self.latent_dim], params[..., self.latent_dim :].clamp(-4, 15)
        std = log_std.exp()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self.decode(cond, mean + std * noise), mean, std

    def decode(self, cond: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dec(torch.cat([cond, latent], -1)))

    def sample_latent(self, shape: torch.Size | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """BCQ's clipped prior draw for sampling actions, one latent per leading index of ``shape``."""
        return torch.randn(*shape, self.latent_dim, generator=generator, device=generator.device).clamp(-0.5, 0.5)


class Perturbation(nn.Module):
    """xi(cond, a): moves an action by at most ``phi`` per dimension, clipped to [-1, 1]."""

    def __init__(
        self, cond_dim: int, action_dim: int, hidden: int, depth: int, phi: float, members: int | None = None
    ) -> None:
        super().__init__()
        self.net = make_mlp(cond_dim + action_dim, action_dim, hidden, depth, members)
        self.phi = phi

    def forward(self, cond: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return (action + self.phi * torch.tanh(self.net(torch.cat([cond, action], -1)))).clamp(-1.0, 1.0)


class BCQ(nn.Module):
    """VAE, perturbation actor, twin critics and targets of one BCQ (or ``members`` of them)."""

    def __init__(
        self, cfg: Any, cond_dim: int, action_dim: int, members: int | None = None, hidden: int | None = None
    ) -> None:
        """``hidden`` (optional) sets the width of every network, VAE included."""
        super().__init__()
        ac, bcq = cfg.ac, cfg.bcq
        self.cfg = cfg
        latent = bcq.vae_latent_factor * action_dim
        self.vae = ActionVAE(cond_dim, action_dim, latent, hidden or bcq.vae_hidden, bcq.vae_depth, members)
        self.actor = Perturbation(cond_dim, action_dim, hidden or ac.hidden, ac.depth, bcq.perturbation, members)
        self.qf = TwinQ(cond_dim + action_dim, hidden or ac.hidden, ac.depth, members)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_qf = copy.deepcopy(self.qf).requires_grad_(False)

    def losses(
        self,
        cond: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        next_cond: torch.Tensor,
        terminal: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(VAE loss, critic loss, actor loss, mean Q) of a batch: inputs (..., n, dim), rewards (..., n)."""
        ac, bcq = self.cfg.ac, self.cfg.bcq
        recon, mean, std = self.vae(cond, action, generator)
        recon_loss = vae_loss(recon, action, mean, std, bcq.vae_kl_weight)

        with torch.no_grad():
            k = bcq.n_actions
            rep = next_cond.repeat_interleave(k, dim=-2)
            next_a = self.target_actor(rep, self.vae.decode(rep, self.vae.sample_latent(rep.shape[:-1], generator)))
            tq1, tq2 = self.target_qf(torch.cat([rep, next_a], -1))
            best = soft_clipped_double_q(tq1, tq2, bcq.lmbda).unflatten(-1, (-1, k)).max(-1).values
            y = losses.q_target(reward, terminal, best, ac.gamma, ac.reward_scale)
        q1, q2 = self.qf(torch.cat([cond, action], -1))
        qf_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()

        cond_d = cond.detach()
        with torch.no_grad():
            sampled = self.vae.decode(cond_d, self.vae.sample_latent(cond_d.shape[:-1], generator))
        q_pi, _ = functional_call(
            self.qf, detached_params(self.qf), (torch.cat([cond_d, self.actor(cond_d, sampled)], -1),)
        )
        return recon_loss, qf_loss, -q_pi.mean(), q1.mean()

    @torch.no_grad()
    def soft_update(self) -> None:
        tau = self.cfg.ac.target_tau
        for target, source in ((self.target_qf, self.qf), (self.target_actor, self.actor)):
            for t, s in zip(target.parameters(), source.parameters(), strict=True):
                t.lerp_(s, tau)

    @torch.no_grad()
    def act(self, cond: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """The best by Q1 of the perturbed VAE actions for the fixed ``latents`` (k, latent): cond (..., n, d)."""
        k = latents.shape[0]
        rep = cond.repeat_interleave(k, dim=-2)
        candidates = self.actor(rep, self.vae.decode(rep, latents.repeat(*cond.shape[:-1], 1)))
        q1, _ = self.qf(torch.cat([rep, candidates], -1))
        best = q1.unflatten(-1, (-1, k)).argmax(-1, keepdim=True)
        grouped = candidates.unflatten(-2, (-1, k))
        return torch.take_along_dim(grouped, best[..., None], dim=-2).squeeze(-2)
