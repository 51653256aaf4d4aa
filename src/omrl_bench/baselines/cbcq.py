"""Contextual BCQ: batch-constrained Q-learning conditioned on an inferred task embedding.

Papers: Fujimoto, Meger, Precup, "Off-Policy Deep Reinforcement Learning without
Exploration" (BCQ), ICML 2019; used as a baseline by Li et al., "Multi-Task
Batch Reinforcement Learning with Metric Learning" (MBML), NeurIPS 2020, and by
the FOCAL++ paper (appendix C, Figure 8).
Reference code: Ji4chenLi/Multi-Task-Batch-RL (``contextual_bcq/BCQ_plus_encoder.py``).

Contextual BCQ = BCQ (a state-conditioned VAE over dataset actions, a
perturbation actor that moves a VAE action by at most ``phi``, twin critics
combined with the soft clipped double-Q weight ``lambda``, ``n`` sampled
actions scored by Q) with every network conditioned on z, drawn from a
probabilistic context encoder (a product of per-transition Gaussians). The
encoder is trained through the critic and VAE losses; the actor sees z
detached.

Deliberate differences (see docs/deviations.md):
- A KL term ``bcq.kl_weight * KL(q(z | c) || N(0, I))`` regularises the encoder
  (as MBML describes the baseline; the reference's contextual BCQ samples z but has no
  KL term).
- One backward pass updates the VAE, the critics, the actor and the encoder;
  the actor's loss sees the critic through detached parameters, so each loss
  reaches only its own networks (the reference steps them one after another).
- Acting is deterministic: ``n`` VAE latents are drawn once from the run's
  seed (clipped to [-0.5, 0.5]) and reused at every step, and the candidate
  with the highest Q1 is taken; z is the posterior mean. The reference draws
  fresh latents per step and samples z.
- Task meta-batches are distinct tasks where the suite has enough of them; the
  rewards are scaled by the suite's ``ac.reward_scale`` (paper Table 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from omrl_bench.baselines.bcq import (
    BCQ,
    BCQConfig,
    ProbabilisticEncoder,
    kl_to_standard_normal,
    probabilistic_encoder,
)
from omrl_bench.core.actor_critic import ActorCriticCommon
from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.train_config import EncoderOptConfig, MLPEncoderConfig, RunConfig


@dataclass(frozen=True)
class CBCQConfig(RunConfig):
    encoder: MLPEncoderConfig = field(default_factory=MLPEncoderConfig)  # the probabilistic encoder's MLP
    task_loss: EncoderOptConfig = field(default_factory=EncoderOptConfig)  # trained through the critic and VAE
    ac: ActorCriticCommon = field(default_factory=ActorCriticCommon)
    bcq: BCQConfig = field(default_factory=BCQConfig)


class ContextualBCQ(OfflineMetaAlgorithm):
    """BCQ whose VAE, actor and critics take (s, z); ``update`` is one gradient step."""

    act_latents: torch.Tensor
    encoder: ProbabilisticEncoder

    def __init__(
        self,
        cfg: CBCQConfig,
        dims: Dims,
        seed: int,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        self.cfg = cfg
        latent = cfg.encoder.latent_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = probabilistic_encoder(cfg, dims.context_dim)
            self.bcq = BCQ(cfg, dims.obs_dim + latent, dims.action_dim)
        self.to(device)
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.register_buffer("act_latents", self.bcq.vae.sample_latent((cfg.bcq.n_actions,), self.generator))
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.task_loss.lr)
        self.vae_opt = torch.optim.Adam(self.bcq.vae.parameters(), lr=cfg.bcq.vae_lr)
        self.actor_opt = torch.optim.Adam(self.bcq.actor.parameters(), lr=cfg.ac.actor_lr)
        self.critic_opt = torch.optim.Adam(self.bcq.qf.parameters(), lr=cfg.ac.critic_lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"encoder": self.encoder_opt, "vae": self.vae_opt, "actor": self.actor_opt, "critic": self.critic_opt}

    def update(self, buffers: TaskBuffers) -> dict[str, float]:
        cfg = self.cfg
        self.train()
        with self.autocast():
            tasks = sample_tasks(buffers.n_tasks, cfg.meta_batch, cfg.meta_batch > buffers.n_tasks, self.generator)
            mu, var = self.encoder.posterior(buffers.sample_context(tasks, cfg.context_size, self.generator))
            noise = torch.randn(mu.shape, generator=self.generator, device=mu.device, dtype=mu.dtype)
            z = mu + var.sqrt() * noise
            kl = kl_to_standard_normal(mu, var).mean()

            batch = buffers.sample_batch(tasks, cfg.batch_size, self.generator)
            b = batch.rewards.shape[1]
            zb = z[:, None, :].expand(-1, b, -1)  # the critic and VAE losses reach the encoder through z
            cond = torch.cat([batch.observations, zb], -1)
            next_cond = torch.cat([batch.next_observations, zb.detach()], -1)
            vae_loss, qf_loss, actor_loss, q_mean = self.bcq.losses(
                cond, batch.actions, batch.rewards, next_cond, batch.terminals, self.generator
            )
        opts = list(self.optimizers().values())
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        (vae_loss + qf_loss + actor_loss + cfg.bcq.kl_weight * kl).backward()
        for opt in opts:
            opt.step()
        self.bcq.soft_update()
        return {
            "train/vae_loss": vae_loss.item(),
            "train/qf_loss": qf_loss.item(),
            "train/actor_loss": actor_loss.item(),
            "train/kl": kl.item(),
            "train/q_mean": q_mean.item(),
        }

    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The best of ``n`` perturbed VAE actions by Q1, with the VAE latents fixed at construction."""
        with self.autocast():
            return self.bcq.act(torch.cat([obs.to(self.device), z], -1), self.act_latents).float()


register_algorithm(
    AlgorithmSpec(
        name="cbcq",
        label="contextual BCQ",
        config=CBCQConfig,
        build=lambda cfg, dims, seed, device: ContextualBCQ(cfg, dims, seed, device),
        provenance=__doc__ or "",
        variants={"cbcq": {}},
        legacy_fixed={"encoder.type": "probabilistic"},  # its encoder type, a key before the registry
    )
)
