"""The behaviour-regularised actor-critic (BRAC, as FOCAL uses it), a component every context method shares.

``BRACActorCritic.update(batch, z)`` is one gradient step of twin Q, V (with a Polyak target), a tanh-Gaussian
policy and, when behaviour regularisation is on, the dual-KL divergence critic with BRAC's adaptive alpha,
all conditioned on the task embedding ``z`` (detached: the task-representation loss trains the encoder).
One backward pass trains every network: the actor's terms see Q and the divergence critic through
detached parameters, so each loss reaches only its own network. The task axis is a tensor dimension.
Each loss is a method of its own (``_q_loss``, ``_v_loss``, ``_policy_loss``, ``_divergence``); ``update``
sums them, steps the optimisers, then the target V and alpha (``_after_step``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from omrl_bench.core import losses
from omrl_bench.core.buffers import Batch
from omrl_bench.core.networks import TanhGaussianPolicy, TwinQ, detached_params, mlp


@dataclass(frozen=True)
class ActorCriticCommon:
    """What every actor-critic reads of the shared ``ac`` section (BCQ reads only this)."""

    hidden: int = 256
    depth: int = 3
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    gamma: float = 0.9
    reward_scale: float = 100.0
    target_tau: float = 0.005


@dataclass(frozen=True)
class ActorCriticConfig(ActorCriticCommon):
    """The BRAC actor-critic's ``ac`` section."""

    max_entropy: bool = True
    alpha: float = 0.0  # behaviour-regularisation strength (initial value when trained)
    train_alpha: bool = False
    alpha_lr: float = 1.0
    alpha_max: float = 2000.0
    target_divergence: float = 0.05
    divergence_lr: float = 1e-4
    value_penalty: bool = True
    policy_regularization: bool = True
    gradient_penalty: float = 5.0
    policy_mean_reg: float = 1e-3
    policy_std_reg: float = 1e-3
    bc_weight: float = 0.0  # w * mean|Q| * ||tanh(mean) - a_data||^2 in the policy loss (TD3+BC's form; not in FOCAL)

    @property
    def brac(self) -> bool:
        """The divergence critic is trained only when regularisation can be non-zero."""
        return self.alpha > 0 or self.train_alpha


class _Flat(NamedTuple):
    """A meta-batch with its task axis folded into the batch axis, and the (detached) embedding of each row."""

    s_z: torch.Tensor  # (s, z)
    act: torch.Tensor
    next_obs: torch.Tensor
    zb: torch.Tensor
    rew: torch.Tensor
    term: torch.Tensor


class _PolicySample(NamedTuple):
    """The policy's actions on a batch, its mean and log-std, log pi, and min Q of the actions (frozen Q)."""

    action: torch.Tensor
    mean: torch.Tensor
    log_std: torch.Tensor
    log_pi: torch.Tensor
    q: torch.Tensor


def _flatten(batch: Batch, z: torch.Tensor) -> _Flat:
    m, b = batch.rewards.shape
    zb = z.detach()[:, None, :].expand(m, b, -1).reshape(m * b, -1)
    obs = batch.observations.reshape(m * b, -1)
    act = batch.actions.reshape(m * b, -1)
    next_obs = batch.next_observations.reshape(m * b, -1)
    rew, term = batch.rewards.reshape(-1), batch.terminals.reshape(-1)
    return _Flat(torch.cat([obs, zb], -1), act, next_obs, zb, rew, term)


class BRACActorCritic(nn.Module):
    """Policy, twin Q, V, target V and (with BRAC) the divergence critic, conditioned on (s, z)."""

    alpha: torch.Tensor

    def __init__(
        self,
        cfg: ActorCriticConfig,
        obs_dim: int,
        action_dim: int,
        latent_dim: int,
        generator: torch.Generator,
        autocast: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        """Networks are initialised from torch's global RNG (the caller seeds it); ``generator`` drives sampling."""
        super().__init__()
        self.cfg, self.generator, self.autocast = cfg, generator, autocast
        self.policy = TanhGaussianPolicy(obs_dim + latent_dim, action_dim, cfg.hidden, cfg.depth)
        self.qf = TwinQ(obs_dim + action_dim + latent_dim, cfg.hidden, cfg.depth)
        self.vf = mlp(obs_dim + latent_dim, 1, cfg.hidden, cfg.depth)
        self.target_vf = copy.deepcopy(self.vf).requires_grad_(False)
        self.critic_c = mlp(obs_dim + action_dim + latent_dim, 1, cfg.hidden, cfg.depth) if cfg.brac else None
        self.register_buffer("alpha", torch.tensor(float(cfg.alpha)))

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The component's optimisers (call after the module is on its device)."""
        cfg = self.cfg
        self.opts: dict[str, torch.optim.Optimizer] = {
            "policy": torch.optim.Adam(self.policy.parameters(), lr=cfg.actor_lr),
            "critic": torch.optim.Adam([*self.qf.parameters(), *self.vf.parameters()], lr=cfg.critic_lr),
        }
        if self.critic_c is not None:
            self.opts["c"] = torch.optim.Adam(self.critic_c.parameters(), lr=cfg.divergence_lr)
        return self.opts

    def update(self, batch: Batch, z: torch.Tensor) -> dict[str, float]:
        """One step on ``batch`` (tasks, n, ...) with task embeddings ``z`` (tasks, latent), detached here: the
        Q, V, policy and divergence-critic losses of one forward pass, summed into one backward pass."""
        with self.autocast():  # forward passes; the backward below runs outside autocast
            f = _flatten(batch, z)
            sample = self._sample_policy(f.s_z)
            alpha = float(self.alpha)
            div, c_loss = self._divergence(f, sample.action)
            qf_loss, q1 = self._q_loss(f, div, alpha)
            vf_loss = self._v_loss(f.s_z, sample)
            pi_loss, bc = self._policy_loss(f, sample, div, alpha)
        self._step(qf_loss + vf_loss + pi_loss + c_loss)
        self._after_step(div)
        metrics = {
            "train/qf_loss": qf_loss.item(),
            "train/vf_loss": vf_loss.item(),
            "train/policy_loss": pi_loss.item(),
            "train/q_mean": q1.mean().item(),
            "train/log_pi": sample.log_pi.mean().item(),
            "train/divergence": div.mean().item(),
            "train/alpha": self.alpha.item(),
        }
        if self.critic_c is not None:
            metrics["train/c_loss"] = c_loss.item()
        if bc is not None:
            metrics["train/bc_loss"] = bc.item()
        return metrics

    def _sample_policy(self, s_z: torch.Tensor) -> _PolicySample:
        """Actions of the current policy and their value under the (frozen) twin Q."""
        action, mean, log_std, log_pi, _ = self.policy(s_z, generator=self.generator)
        q = torch.min(*functional_call(self.qf, detached_params(self.qf), (torch.cat([s_z, action], -1),)))
        return _PolicySample(action, mean, log_std, log_pi, q)

    def _divergence(self, f: _Flat, new_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The dual-KL divergence of the policy's actions from the data's (seen by the policy, frozen critic)
        and the divergence critic's own loss; zeros when behaviour regularisation is off."""
        if self.critic_c is None:
            return torch.zeros_like(f.rew), f.rew.sum() * 0.0
        frozen = detached_params(self.critic_c)
        logits_p = functional_call(self.critic_c, frozen, (torch.cat([f.s_z, new_a], -1),)).squeeze(-1)
        logits_b = functional_call(self.critic_c, frozen, (torch.cat([f.s_z, f.act], -1),)).squeeze(-1)
        div = losses.kl_dual_estimate(logits_p, logits_b)
        return div, self._divergence_critic_loss(f.s_z, new_a.detach(), f.act)

    def _q_loss(self, f: _Flat, div: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Twin-Q regression on r + gamma V_target(s') (less alpha times the divergence with a value penalty)."""
        ac = self.cfg
        with torch.no_grad():
            next_v = self.target_vf(torch.cat([f.next_obs, f.zb], -1)).squeeze(-1)
            if self.critic_c is not None and ac.value_penalty:
                next_v = next_v - alpha * div.detach()
            y = losses.q_target(f.rew, f.term, next_v, ac.gamma, ac.reward_scale)
        q1, q2 = self.qf(torch.cat([f.s_z, f.act], -1))
        return ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean(), q1

    def _v_loss(self, s_z: torch.Tensor, sample: _PolicySample) -> torch.Tensor:
        """V regression on the policy's soft value, min Q - log pi (without the entropy term if not max-ent)."""
        v = self.vf(s_z).squeeze(-1)
        v_target = (sample.q - sample.log_pi if self.cfg.max_entropy else sample.q).detach()
        return ((v - v_target) ** 2).mean()

    def _policy_loss(
        self, f: _Flat, sample: _PolicySample, div: torch.Tensor, alpha: float
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """SAC's policy loss plus alpha times the divergence, the mean / log-std penalties and the optional
        behaviour-cloning term; returns the loss and the BC term (None when its weight is 0)."""
        ac = self.cfg
        reg_alpha = alpha if (self.critic_c is not None and ac.policy_regularization) else 0.0
        pi_loss = losses.policy_loss(sample.log_pi, sample.q, div, reg_alpha, ac.max_entropy)
        pi_loss = (
            pi_loss + ac.policy_mean_reg * sample.mean.pow(2).mean() + ac.policy_std_reg * sample.log_std.pow(2).mean()
        )
        bc = losses.bc_loss(torch.tanh(sample.mean), f.act) if ac.bc_weight > 0 else None
        if bc is not None:  # TD3+BC's balance: the weight is relative to the current mean |Q|
            pi_loss = pi_loss + ac.bc_weight * sample.q.abs().mean().detach() * bc
        return pi_loss, bc

    def _step(self, loss: torch.Tensor) -> None:
        """One backward pass and a step of every optimiser (each loss reaches only its own networks)."""
        for opt in self.opts.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.opts.values():
            opt.step()

    @torch.no_grad()
    def _after_step(self, div: torch.Tensor) -> None:
        """Polyak update of the target V and, when trained, BRAC's dual step on alpha toward the target divergence."""
        ac = self.cfg
        for t, s in zip(self.target_vf.parameters(), self.vf.parameters(), strict=True):
            t.lerp_(s, ac.target_tau)
        if ac.train_alpha:
            self.alpha.add_(ac.alpha_lr * (div.mean() - ac.target_divergence)).clamp_(0.0, ac.alpha_max)

    def _divergence_critic_loss(self, s_z: torch.Tensor, a_policy: torch.Tensor, a_data: torch.Tensor) -> torch.Tensor:
        """Dual critic: maximise the KL dual estimate, with a gradient penalty on interpolated actions."""
        assert self.critic_c is not None
        lp = self.critic_c(torch.cat([s_z, a_policy], -1)).squeeze(-1)
        lb = self.critic_c(torch.cat([s_z, a_data], -1)).squeeze(-1)
        loss = -losses.kl_dual_estimate(lp, lb).mean()
        if self.cfg.gradient_penalty > 0:
            u = torch.rand(a_data.shape[0], 1, generator=self.generator, device=a_data.device)
            a_int = (a_policy + u * (a_data - a_policy)).requires_grad_(True)
            c_int = self.critic_c(torch.cat([s_z, a_int], -1)).sum()
            (grad,) = torch.autograd.grad(c_int, a_int, create_graph=True)
            loss = loss + losses.gradient_penalty(grad.norm(dim=-1), self.cfg.gradient_penalty)
        return loss

    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Deterministic actions tanh(mean) for observations (n, obs_dim) and embeddings (n, latent)."""
        with self.autocast():
            action, *_ = self.policy(torch.cat([obs, z], -1), deterministic=True)
        return action
