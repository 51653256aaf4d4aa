"""BCQ (Fujimoto, Meger, Precup, ICML 2019) on conditioned inputs, for contextual BCQ and MBML.

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

import torch
from torch import nn
from torch.func import functional_call

from omrl_bench.core import losses
from omrl_bench.core.networks import TwinQ, detached_params, make_mlp
from omrl_bench.core.train_config import TrainConfig


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
        self, cfg: TrainConfig, cond_dim: int, action_dim: int, members: int | None = None, hidden: int | None = None
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
        vae_loss = losses.vae_loss(recon, action, mean, std, bcq.vae_kl_weight)

        with torch.no_grad():
            k = bcq.n_actions
            rep = next_cond.repeat_interleave(k, dim=-2)
            next_a = self.target_actor(rep, self.vae.decode(rep, self.vae.sample_latent(rep.shape[:-1], generator)))
            tq1, tq2 = self.target_qf(torch.cat([rep, next_a], -1))
            best = losses.soft_clipped_double_q(tq1, tq2, bcq.lmbda).unflatten(-1, (-1, k)).max(-1).values
            y = losses.q_target(reward, terminal, best, ac.gamma, ac.reward_scale)
        q1, q2 = self.qf(torch.cat([cond, action], -1))
        qf_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()

        cond_d = cond.detach()
        with torch.no_grad():
            sampled = self.vae.decode(cond_d, self.vae.sample_latent(cond_d.shape[:-1], generator))
        q_pi, _ = functional_call(
            self.qf, detached_params(self.qf), (torch.cat([cond_d, self.actor(cond_d, sampled)], -1),)
        )
        return vae_loss, qf_loss, -q_pi.mean(), q1.mean()

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
