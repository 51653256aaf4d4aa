"""CSRO: context shift reduction for offline meta-RL.

Paper: Gao, Zhang, Li et al., "Context Shift Reduction for Offline Meta-Reinforcement Learning",
NeurIPS 2023. Reference code: MoreanP/CSRO.

CSRO = FOCAL's encoder, ``dml_weight`` (10, the reference's z_loss_weight) times FOCAL's DML loss, and
FOCAL's actor-critic, plus ``club_weight`` (lambda) times a CLUB upper bound on the mutual information
between a transition's embedding z_i and its (s_i, a_i) within a task: a variational Gaussian
q_psi(z | s, a) (the reference's: an MLP with tanh outputs, variance their softplus) is fitted to the
(detached) embeddings by negative log-likelihood, and the encoder minimises, with q fixed,
mean_i mean_j log q(z_i | s_i, a_i) - log q(z_j | s_i, a_i) over pairs (i, j) of one task's context
transitions, so that z carries the task and not the behaviour policy that collected the task's data.
As in the reference code, the pairs are taken within each task (pairs across tasks would penalise the
task information itself wherever (s, a) reveals the task), and the log-ratio is the per-dimension mean
of the squared errors over q's variance, the scale lambda is given on (2 / latent_dim times the
log-density CLUB). lambda = 25 on the point robots and 10 on Cheetah-Vel (the
paper's settings), 10 on Ant-Fwd-Back, where the paper gives none, and 25 on Hopper-Param and Walker-Param
(the reference repository's configs for those families; ``SUITE_SETTINGS`` below).

Deliberate differences (see docs/deviations.md):
- CSRO's online-exploration test mode is not used: every method here is tested with offline context.
- The CLUB negative term averages over every pair (i, j) of a task's context transitions in closed
  form; q's NLL and the encoder's CLUB term share one backward pass (the encoder sees q through
  detached parameters).
- Meta-batch tasks are drawn with replacement, as for FOCAL (the reference draws them without, so its
  DML has no same-task term).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from omrl_bench.baselines.focal import dml_loss
from omrl_bench.core.actor_critic import ActorCriticConfig
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.encoders import MLPEncoder
from omrl_bench.core.losses import gaussian_nll
from omrl_bench.core.networks import detached_params, mlp
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.task_losses import TaskLoss, register_task_loss
from omrl_bench.core.train_config import MLPEncoderConfig, RunConfig


@dataclass(frozen=True)
class CSROLossConfig:
    lr: float = 1e-3
    dml_beta: float = 1.0
    dml_power: float = 2.0
    dml_eps: float = 0.1
    dml_weight: float = 10.0  # the reference's z_loss_weight: with lambda, it sets the CLUB-to-DML ratio (2.5)
    club_weight: float = 25.0  # lambda
    club_hidden: int = 200  # width of q_psi(z | s, a), an MLP of depth 3 (the reference's)
    club_lr: float = 1e-3


@dataclass(frozen=True)
class CSROConfig(RunConfig):
    encoder: MLPEncoderConfig = field(default_factory=MLPEncoderConfig)
    task_loss: CSROLossConfig = field(default_factory=CSROLossConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)


def club_upper_bound(mean: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """CLUB (Cheng et al. 2020) within each task, on CSRO's scale, for tensors (tasks, n, d) with
    q(z | x_ti) = N(mean_ti, exp(log_var_ti)):
    mean_{t,i,k} [mean_j (z_tjk - mean_tik)^2 - (z_tik - mean_tik)^2] / var_tik."""
    var = log_var.exp()
    positive = (z - mean) ** 2
    # mean_j (z_tj - mean_ti)^2 = mean_j z_tj^2 - 2 mean_ti mean_j z_tj + mean_ti^2, in O(tasks n d)
    spread = (z**2).mean(1, keepdim=True) - 2 * mean * z.mean(1, keepdim=True) + mean**2
    return ((spread - positive) / var).mean()


class GaussianHead(nn.Module):
    """x -> (mean, log-variance) of a diagonal Gaussian as CSRO's reference builds q(z | s, a): an MLP with a
    tanh on its outputs, the mean being the first half and the variance softplus of the second, so that the
    variance stays in [softplus(-1), softplus(1)] = [0.31, 1.31] and the CLUB term's 1 / variance is bounded."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(in_dim, 2 * out_dim, hidden, 3)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.tanh(self.net(x).float())
        return out[..., : self.out_dim], F.softplus(out[..., self.out_dim :]).log()


def _club(algo: ContextRL) -> GaussianHead:
    return typing.cast(GaussianHead, algo.club)


@register_task_loss("csro")
class CSROLoss(TaskLoss):
    def setup(self, algo: ContextRL) -> None:
        d = algo.dims
        algo.club = GaussianHead(d.obs_dim + d.action_dim, algo.cfg.encoder.latent_dim, self.cfg.club_hidden)

    def make_optimizers(self, algo: ContextRL) -> dict[str, torch.optim.Optimizer]:
        return {"club": torch.optim.Adam(_club(algo).parameters(), lr=self.cfg.club_lr)}

    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        c = self.cfg
        obs, act, rew, nxt = buffers.sample_transitions(tasks, algo.cfg.context_size, algo.generator)
        encoder = typing.cast(MLPEncoder, algo.encoder)
        z_t = encoder.transition_embeddings(buffers.make_context(obs, act, rew, nxt))  # (tasks, n, latent)
        z = z_t.mean(1)
        dml = c.dml_weight * dml_loss(z, tasks, c.dml_beta, c.dml_power, c.dml_eps)
        sa = torch.cat([obs, act], -1)  # (tasks, n, obs + action)
        z_t = z_t.float()
        q = _club(algo)
        q_mean, q_log_var = q(sa)
        q_nll = gaussian_nll(q_mean, q_log_var, z_t.detach())  # fits q; reaches only q's parameters
        mean, log_var = functional_call(q, detached_params(q), (sa,))
        club = club_upper_bound(mean, log_var, z_t)  # reaches only the encoder
        loss = dml + c.club_weight * club + q_nll
        return loss, z, {"train/dml_loss": dml.item(), "train/club": club.item(), "train/club_nll": q_nll.item()}


# lambda (club_weight) per suite, merged after the suite's Table 7 settings: the CSRO paper's 25 on the point
# robots and 10 on Cheetah-Vel; it gives none for Ant-Fwd-Back, where we take Cheetah-Vel's (the other MuJoCo suite)
SUITE_SETTINGS = {
    "sparse-point-robot": {"task_loss": {"club_weight": 25.0}},
    "point-robot-wind": {"task_loss": {"club_weight": 25.0}},
    "sparse-cheetah-vel": {"task_loss": {"club_weight": 10.0}},
    "sparse-ant-fwd-back": {"task_loss": {"club_weight": 10.0}},
    # Hopper-Param and Walker-Param: CSRO's paper gives none for these families; its reference repository's
    # configs for them (MoreanP/CSRO configs/hopper_rand_params.json, walker_rand_params.json) set 25, which
    # we take (fixed before any run on these suites)
    "hopper-param": {"task_loss": {"club_weight": 25.0}},
    "walker-param": {"task_loss": {"club_weight": 25.0}},
}


def build(cfg: CSROConfig, dims: Dims, seed: int, device: str) -> ContextRL:
    return ContextRL.with_mlp_encoder(cfg, dims, seed, device, CSROLoss(cfg.task_loss))


register_algorithm(
    AlgorithmSpec(
        name="csro",
        label="CSRO",
        config=CSROConfig,
        build=build,
        provenance=__doc__ or "",
        variants={"csro": {}},
        in_returns=False,
        suite_settings=SUITE_SETTINGS,
    )
)
