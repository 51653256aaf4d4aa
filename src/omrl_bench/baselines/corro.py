"""CORRO: contrastive robust task representation learning for offline meta-RL.

Paper: Yuan and Lu, "Robust Task Representations for Offline Meta-Reinforcement Learning via
Contrastive Learning", ICML 2022. Reference code: PKU-RL/CORRO.

CORRO learns an embedding of each single transition (s, a, r, s') by InfoNCE (temperature 0.1, on
L2-normalised embeddings: FOCAL's encoder MLP with its output put on the unit sphere, as the
reference's encoder, instead of the tanh) and aggregates a context's transition embeddings into the
task embedding (here their mean), on FOCAL's actor-critic. For an anchor transition of task i, the
positive is another transition of task i, drawn independently (as in the reference code), and the
``negatives`` negatives share the anchor's (s, a) and take (r*, s'*) as another task would produce them:
- ``cvae``: from a conditional VAE over (s, a) -> (r, s') trained on every task's data (the mean
  squared error of s' plus that of r, plus ``cvae_kl_weight`` = 0.2 times the KL term; latent size 5,
  one hidden layer of 64, learning rate 3e-4: the reference's point-robot and Cheetah-Vel settings; latent
  64 and hidden 128 on Ant, Hopper-Param and Walker-Param, as the reference's configs for Ant-Dir and the
  two -Param families: ``SUITE_SETTINGS`` below), decoded from prior draws of its latent;
- ``reward-randomisation``: r* = r + N(0, ``reward_noise``^2), s'* = s'.
Because the negatives differ from the anchor only in (r, s'), the embedding must carry the task's
reward and dynamics and not the behaviour policy's (s, a) distribution.

Deliberate differences (see docs/deviations.md):
- ``anchors_per_task`` transitions of each meta-batch task are anchors at every step (not all of them).
- The CVAE trains with the encoder, in the same backward pass (the reference pre-trains it); so does
  the InfoNCE (the reference pre-trains the transition encoder alone, then freezes it for RL).
- The task embedding is the mean of the transition embeddings, detached from the actor-critic as for
  every method here (the reference aggregates with a self-attention layer trained by the critic).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from omrl_bench.core.actor_critic import ActorCriticConfig
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.encoders import MLPEncoder
from omrl_bench.core.networks import mlp
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.task_losses import TaskLoss, register_task_loss
from omrl_bench.core.train_config import MLPEncoderConfig, RunConfig
from omrl_bench.errors import OmrlError

NEGATIVE_SOURCES = ("cvae", "reward-randomisation")


@dataclass(frozen=True)
class CorroLossConfig:
    lr: float = 1e-3
    nce_temperature: float = 0.1  # its own key: task_loss.temperature is FOCAL++'s tau (its suite settings)
    negatives: int = 16  # per anchor
    anchors_per_task: int = 32
    negative_source: str = "cvae"  # cvae | reward-randomisation (the variant)
    reward_noise: float = 0.5
    cvae_latent: int = 5
    cvae_hidden: int = 64
    cvae_depth: int = 1  # hidden layers of its encoder and of its decoder
    cvae_kl_weight: float = 0.2
    cvae_lr: float = 3e-4


@dataclass(frozen=True)
class CorroEncoderConfig(MLPEncoderConfig):
    output: str = "l2"  # each transition embedding on the unit sphere, as the reference's encoder (or "tanh")


@dataclass(frozen=True)
class CorroConfig(RunConfig):
    encoder: CorroEncoderConfig = field(default_factory=CorroEncoderConfig)
    task_loss: CorroLossConfig = field(default_factory=CorroLossConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)


def corro_infonce(
    anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE with one positive (N, d) and K negatives (N, K, d) per anchor (N, d): logits are cosine
    similarities (dot products of L2-normalised embeddings) over ``temperature``, the positive first;
    the mean cross-entropy toward the positive."""
    anchor, positive, negatives = (F.normalize(x.float(), dim=-1) for x in (anchor, positive, negatives))
    pos = (anchor * positive).sum(-1, keepdim=True)
    neg = torch.einsum("nd,nkd->nk", anchor, negatives)
    logits = torch.cat([pos, neg], -1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(anchor), dtype=torch.long, device=anchor.device))


class TransitionCVAE(nn.Module):
    """q(h | s, a, r, s') and p(r, s' | s, a, h) with a standard normal prior on h."""

    def __init__(self, obs_dim: int, action_dim: int, latent: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.latent, self.sa = latent, obs_dim + action_dim
        self.enc = mlp(2 * obs_dim + action_dim + 1, 2 * latent, hidden, depth)
        self.dec = mlp(self.sa + latent, obs_dim + 1, hidden, depth)

    def loss(self, sa: torch.Tensor, rs: torch.Tensor, kl_weight: float, generator: torch.Generator) -> torch.Tensor:
        """The mean squared errors of r and of s' (each averaged over its dimensions) plus ``kl_weight``
        times KL(q(h | .) || N(0, I))."""
        out = self.enc(torch.cat([sa, rs], -1)).float()
        mean, log_var = out[..., : self.latent], out[..., self.latent :].clamp(-10.0, 4.0)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        h = mean + (0.5 * log_var).exp() * noise
        recon = self.dec(torch.cat([sa, h.to(sa.dtype)], -1)).float()
        kl = 0.5 * (log_var.exp() + mean**2 - 1.0 - log_var).sum(-1).mean()
        rs = rs.float()
        return F.mse_loss(recon[..., 0], rs[..., 0]) + F.mse_loss(recon[..., 1:], rs[..., 1:]) + kl_weight * kl

    @torch.no_grad()
    def sample(self, sa: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
        """k draws of (r, s') for every (s, a) (N, sa) -> (N, k, 1 + obs_dim), from the prior on h."""
        rep = sa[:, None, :].expand(-1, k, -1)
        h = torch.randn(*rep.shape[:-1], self.latent, generator=generator, device=sa.device)
        return self.dec(torch.cat([rep, h.to(rep.dtype)], -1)).float()


@register_task_loss("corro")
class CorroLoss(TaskLoss):
    def setup(self, algo: ContextRL) -> None:
        if self.cfg.negative_source == "cvae":
            d = algo.dims
            c = self.cfg
            algo.cvae = TransitionCVAE(d.obs_dim, d.action_dim, c.cvae_latent, c.cvae_hidden, c.cvae_depth)

    def make_optimizers(self, algo: ContextRL) -> dict[str, torch.optim.Optimizer]:
        if self.cfg.negative_source != "cvae":
            return {}
        return {"cvae": torch.optim.Adam(_cvae(algo).parameters(), lr=self.cfg.cvae_lr)}

    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        c, gen = self.cfg, algo.generator
        encoder = typing.cast(MLPEncoder, algo.encoder)
        z = encoder(buffers.sample_context(tasks, algo.cfg.context_size, gen))  # the task embeddings
        a_obs, a_act, a_rew, a_nxt = buffers.sample_transitions(tasks, c.anchors_per_task, gen)
        anchor_ctx = buffers.make_context(a_obs, a_act, a_rew, a_nxt)
        positive_ctx = buffers.make_context(*buffers.sample_transitions(tasks, c.anchors_per_task, gen))
        sa = torch.cat([a_obs, a_act], -1).reshape(-1, a_obs.shape[-1] + a_act.shape[-1])
        k = c.negatives
        metrics: dict[str, float] = {}
        loss = z.sum() * 0.0
        if c.negative_source == "cvae":
            rs = torch.cat([a_rew[..., None], a_nxt], -1).reshape(len(sa), -1)
            cvae_loss = _cvae(algo).loss(sa, rs, c.cvae_kl_weight, gen)  # reaches only the CVAE
            loss = loss + cvae_loss
            metrics["train/cvae_loss"] = cvae_loss.item()
            drawn = _cvae(algo).sample(sa, k, gen)  # (N, k, 1 + obs_dim)
            neg_r, neg_next = drawn[..., 0], drawn[..., 1:]
        else:
            base = a_rew.reshape(-1, 1).expand(-1, k)
            noise = torch.randn(base.shape, generator=gen, device=base.device)
            neg_r, neg_next = base + c.reward_noise * noise, a_nxt.reshape(len(sa), 1, -1).expand(-1, k, -1)

        def rep(x: torch.Tensor) -> torch.Tensor:  # the anchor's (s, a) for each of its k negatives
            return x.reshape(len(sa), 1, -1).expand(-1, k, -1)

        neg_ctx = buffers.make_context(rep(a_obs), rep(a_act), neg_r.to(a_rew.dtype), neg_next.to(a_nxt.dtype))
        e_anchor = encoder.transition_embeddings(anchor_ctx).reshape(len(sa), -1)
        e_pos = encoder.transition_embeddings(positive_ctx).reshape(len(sa), -1)
        e_neg = encoder.transition_embeddings(neg_ctx)
        nce = corro_infonce(e_anchor, e_pos, e_neg, c.nce_temperature)
        metrics["train/corro_nce"] = nce.item()
        return loss + nce, z, metrics


def _cvae(algo: ContextRL) -> TransitionCVAE:
    return typing.cast(TransitionCVAE, algo.cvae)


# The CVAE's size per suite, merged after the suite's Table 7 settings: the reference's configs
# (PKU-RL/CORRO relabel_model_config/ and offline_rl_config/args_*.py) use latent 5 and one hidden layer of 64
# on PointRobot and HalfCheetahVel (the config's defaults), latent 64 and 128 on AntDir, HopperRandParams and
# WalkerRandParams. Fixed before any CORRO run on these suites. (The task embedding's size is shared by every
# method of a table, so the reference's per-suite embedding sizes are not taken.)
_LARGE_CVAE = {"task_loss": {"cvae_latent": 64, "cvae_hidden": 128}}
SUITE_SETTINGS = {"sparse-ant-fwd-back": _LARGE_CVAE, "hopper-param": _LARGE_CVAE, "walker-param": _LARGE_CVAE}


def build(cfg: CorroConfig, dims: Dims, seed: int, device: str) -> ContextRL:
    return ContextRL.with_mlp_encoder(cfg, dims, seed, device, CorroLoss(cfg.task_loss))


def check(cfg: CorroConfig) -> None:
    if cfg.task_loss.negative_source not in NEGATIVE_SOURCES:
        raise OmrlError(
            f"task_loss.negative_source must be one of {', '.join(NEGATIVE_SOURCES)}, "
            f"got {cfg.task_loss.negative_source!r}"
        )


register_algorithm(
    AlgorithmSpec(
        name="corro",
        label="CORRO",
        config=CorroConfig,
        build=build,
        provenance=__doc__ or "",
        variants={s: {"task_loss": {"negative_source": s}} for s in NEGATIVE_SOURCES},
        check=check,
        in_returns=False,
        suite_settings=SUITE_SETTINGS,
    )
)
