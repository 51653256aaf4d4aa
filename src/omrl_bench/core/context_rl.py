"""Context-based offline meta-RL: a context encoder with its own task loss, and a
behaviour-regularised actor-critic conditioned on the detached task embedding.

FOCAL and every FOCAL++ variant are this one algorithm with different encoder,
task-loss and momentum settings (see ``baselines/focal.py`` and
``focalpp/__init__.py`` for provenance and presets).

One update (``update``) samples a meta-batch of tasks, trains the encoder on
its task loss, and trains Q, V, the policy and (when behaviour
regularisation is on) the divergence critic from a single backward pass: the
actor's terms see Q and the divergence critic through detached parameters, so
each loss reaches only its own network. The task axis is a tensor dimension.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from omrl_bench.core import losses
from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.encoders import AttentionEncoder, MLPEncoder, ProbabilisticEncoder
from omrl_bench.core.networks import TanhGaussianPolicy, TwinQ, detached_params, mlp
from omrl_bench.core.train_config import TrainConfig


def build_encoder(cfg: TrainConfig, context_dim: int) -> nn.Module:
    e = cfg.encoder
    if e.type == "mlp":
        return MLPEncoder(context_dim, e.latent_dim, e.mlp_hidden, e.mlp_depth)
    if e.type == "probabilistic":
        return ProbabilisticEncoder(context_dim, e.latent_dim, e.mlp_hidden, e.mlp_depth)
    return AttentionEncoder(context_dim, e.latent_dim, e.attention, e.hidden, e.heads, e.reduction, e.blocks, e.dropout)


class ContextRL(OfflineMetaAlgorithm):
    """Encoder + task loss + BRAC actor-critic; ``update`` is one gradient step."""

    alpha: torch.Tensor
    num_updates: torch.Tensor

    def __init__(
        self,
        cfg: TrainConfig,
        obs_dim: int,
        action_dim: int,
        context_dim: int,
        seed: int,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.obs_dim, self.action_dim, self.context_dim = obs_dim, action_dim, context_dim
        ac, latent = cfg.ac, cfg.encoder.latent_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = build_encoder(cfg, context_dim)
            self.key_encoder = copy.deepcopy(self.encoder) if self.uses_contrastive else None
            self.policy = TanhGaussianPolicy(obs_dim + latent, action_dim, ac.hidden, ac.depth)
            self.qf = TwinQ(obs_dim + action_dim + latent, ac.hidden, ac.depth)
            self.vf = mlp(obs_dim + latent, 1, ac.hidden, ac.depth)
            self.target_vf = copy.deepcopy(self.vf)
            self.critic_c = mlp(obs_dim + action_dim + latent, 1, ac.hidden, ac.depth) if ac.brac else None
        if self.key_encoder is not None:
            self.key_encoder.requires_grad_(False)
        self.target_vf.requires_grad_(False)
        self.to(device)
        self.device = torch.device(device)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.task_loss.lr)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=ac.actor_lr)
        self.critic_opt = torch.optim.Adam([*self.qf.parameters(), *self.vf.parameters()], lr=ac.critic_lr)
        self.c_opt = (
            torch.optim.Adam(self.critic_c.parameters(), lr=ac.divergence_lr) if self.critic_c is not None else None
        )
        self.register_buffer("alpha", torch.tensor(float(ac.alpha), device=self.device))
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long, device=self.device))
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    @property
    def uses_contrastive(self) -> bool:
        return self.cfg.task_loss.loss in ("contrastive", "both")

    # ----- task representation -----
    def encoder_loss(self, buffers: TaskBuffers, tasks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Encoder loss on the meta-batch; returns (loss, z of each meta-batch entry, metrics)."""
        cfg = self.cfg.task_loss
        context = buffers.sample_context(tasks, self.cfg.context_size, self.generator)
        z = self.encoder(context)
        metrics: dict[str, float] = {}
        loss = z.sum() * 0.0
        if cfg.loss in ("contrastive", "both"):
            assert self.key_encoder is not None
            keys = buffers.sample_context(tasks, self.cfg.context_size, self.generator)
            with torch.no_grad():
                z_key = (self.encoder if cfg.hard_update else self.key_encoder)(keys)
            c_loss = losses.contrastive_loss(z, z_key, cfg.temperature)
            loss = loss + c_loss
            metrics["train/contrastive_loss"] = c_loss.item()
            if cfg.loss == "both":
                both = torch.cat([z, z_key])
                d_loss = cfg.dml_weight * losses.dml_loss(
                    both, torch.cat([tasks, tasks]), 1.0, cfg.dml_power, cfg.dml_eps
                )
                loss = loss + d_loss
                metrics["train/dml_loss"] = d_loss.item()
        else:
            d_loss = losses.dml_loss(z, tasks, cfg.dml_weight, cfg.dml_power, cfg.dml_eps)
            loss = loss + d_loss
            metrics["train/dml_loss"] = d_loss.item()
        return loss, z, metrics

    @torch.no_grad()
    def _momentum_update(self) -> None:
        if self.key_encoder is None:
            return
        m = 0.0 if self.cfg.task_loss.hard_update else self.cfg.task_loss.momentum
        for k, q in zip(self.key_encoder.parameters(), self.encoder.parameters(), strict=True):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)

    # ----- one gradient step -----
    def update(self, buffers: TaskBuffers) -> dict[str, float]:
        cfg, ac = self.cfg, self.cfg.ac
        self.train()
        with self.autocast():  # forward passes; the backward below runs outside autocast
            replace = not self.uses_contrastive
            tasks = sample_tasks(buffers.n_tasks, cfg.meta_batch, replace, self.generator).to(self.device)
            enc_loss, z, metrics = self.encoder_loss(buffers, tasks)

            batch = buffers.sample_batch(tasks, cfg.batch_size, self.generator)
            m, b = batch.rewards.shape
            zb = z.detach()[:, None, :].expand(m, b, -1).reshape(m * b, -1)
            obs = batch.observations.reshape(m * b, -1)
            act = batch.actions.reshape(m * b, -1)
            next_obs = batch.next_observations.reshape(m * b, -1)
            rew, term = batch.rewards.reshape(-1), batch.terminals.reshape(-1)
            s_z = torch.cat([obs, zb], -1)

            new_a, mean, log_std, log_pi, pre = self.policy(s_z, generator=self.generator)
            q_new = torch.min(*functional_call(self.qf, detached_params(self.qf), (torch.cat([s_z, new_a], -1),)))
            alpha = float(self.alpha)

            div = torch.zeros_like(rew)
            c_loss = rew.sum() * 0.0
            if self.critic_c is not None:
                frozen = detached_params(self.critic_c)
                logits_p = functional_call(self.critic_c, frozen, (torch.cat([s_z, new_a], -1),)).squeeze(-1)
                logits_b = functional_call(self.critic_c, frozen, (torch.cat([s_z, act], -1),)).squeeze(-1)
                div = losses.kl_dual_estimate(logits_p, logits_b)
                c_loss = self._divergence_critic_loss(s_z, new_a.detach(), act)

            with torch.no_grad():
                next_v = self.target_vf(torch.cat([next_obs, zb], -1)).squeeze(-1)
                if self.critic_c is not None and ac.value_penalty:
                    next_v = next_v - alpha * div.detach()
                y = losses.q_target(rew, term, next_v, ac.gamma, ac.reward_scale)
            q1, q2 = self.qf(torch.cat([s_z, act], -1))
            qf_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
            v = self.vf(s_z).squeeze(-1)
            v_target = (q_new - log_pi if ac.max_entropy else q_new).detach()
            vf_loss = ((v - v_target) ** 2).mean()
            reg_alpha = alpha if (self.critic_c is not None and ac.policy_regularization) else 0.0
            pi_loss = losses.policy_loss(log_pi, q_new, div, reg_alpha, ac.max_entropy)
            pi_loss = pi_loss + ac.policy_mean_reg * mean.pow(2).mean() + ac.policy_std_reg * log_std.pow(2).mean()
            bc = losses.bc_loss(torch.tanh(mean), act) if ac.bc_weight > 0 else None
            if bc is not None:  # TD3+BC's balance: the weight is relative to the current mean |Q|
                pi_loss = pi_loss + ac.bc_weight * q_new.abs().mean().detach() * bc

        opts = list(self.optimizers().values())
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        (enc_loss + qf_loss + vf_loss + pi_loss + c_loss).backward()
        for opt in opts:
            opt.step()
        self._momentum_update()
        with torch.no_grad():
            for t, s in zip(self.target_vf.parameters(), self.vf.parameters(), strict=True):
                t.lerp_(s, ac.target_tau)
            if ac.train_alpha:
                self.alpha.add_(ac.alpha_lr * (div.mean() - ac.target_divergence)).clamp_(0.0, ac.alpha_max)
            self.num_updates += 1
        metrics.update(
            {
                "train/qf_loss": qf_loss.item(),
                "train/vf_loss": vf_loss.item(),
                "train/policy_loss": pi_loss.item(),
                "train/q_mean": q1.mean().item(),
                "train/log_pi": log_pi.mean().item(),
                "train/divergence": div.mean().item(),
                "train/alpha": self.alpha.item(),
            }
        )
        if self.critic_c is not None:
            metrics["train/c_loss"] = c_loss.item()
        if bc is not None:
            metrics["train/bc_loss"] = bc.item()
        return metrics

    def _divergence_critic_loss(self, s_z: torch.Tensor, a_policy: torch.Tensor, a_data: torch.Tensor) -> torch.Tensor:
        """Dual critic: maximise the KL dual estimate, with a gradient penalty on interpolated actions."""
        assert self.critic_c is not None
        lp = self.critic_c(torch.cat([s_z, a_policy], -1)).squeeze(-1)
        lb = self.critic_c(torch.cat([s_z, a_data], -1)).squeeze(-1)
        loss = -losses.kl_dual_estimate(lp, lb).mean()
        if self.cfg.ac.gradient_penalty > 0:
            u = torch.rand(a_data.shape[0], 1, generator=self.generator, device=a_data.device)
            a_int = (a_policy + u * (a_data - a_policy)).requires_grad_(True)
            c_int = self.critic_c(torch.cat([s_z, a_int], -1)).sum()
            (grad,) = torch.autograd.grad(c_int, a_int, create_graph=True)
            loss = loss + losses.gradient_penalty(grad.norm(dim=-1), self.cfg.ac.gradient_penalty)
        return loss

    # ----- inference -----
    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Deterministic actions tanh(mean) for observations (n, obs_dim) and embeddings (n, latent)."""
        with self.autocast():
            action, *_ = self.policy(torch.cat([obs.to(self.device), z], -1), deterministic=True)
        return action

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts: dict[str, torch.optim.Optimizer] = {
            "encoder": self.encoder_opt,
            "policy": self.policy_opt,
            "critic": self.critic_opt,
        }
        if self.c_opt is not None:
            opts["c"] = self.c_opt
        return opts
