"""MBML: multi-task batch RL with metric learning, distilled into one z-conditioned BCQ.

Paper: Li, Vuong, Liu, Liu, Zhang, Ermon, Christensen, Su, "Multi-Task Batch
Reinforcement Learning with Metric Learning", NeurIPS 2020 (compared against in
the FOCAL++ paper, appendix C, Figure 8).
Reference code: Ji4chenLi/Multi-Task-Batch-RL (``full_model/trainer.py``,
``full_model/prob_context_encoder.py``).

Three stages, run one after another inside one training run (the step counter
says which; every stage is checkpointed and resumes like any run):

1. **Teachers**: one BCQ per training task on that task's data (all tasks in
   one batched update: every network is a ``BatchedMLP`` over tasks).
2. **Reward ensembles**: per task, ``mbml.ensemble`` reward models
   r(s, a, s') fitted to the task's context reward (sparse where the suite is).
3. **Student**: a probabilistic context encoder and a z-conditioned BCQ
   (Q, VAE decoder, perturbation actor) distilled from the teachers. For each
   task i of a meta-batch and one other task j, task j's transitions are
   relabelled with task i's reward ensemble, kept where its members agree
   (std < ``mbml.std_threshold``); the triplet loss (margin ``mbml.margin``,
   distances = KL between posteriors) pulls the relabelled context (anchor)
   toward task i's own (positive) and away from task j's original (negative).
   z_i is inferred from task i's context plus its kept relabelled transitions;
   the student's Q regresses teacher i's Q1 (gradients reach the encoder, with
   a KL prior term), its decoder and actor regress teacher i's decoder and
   perturbation outputs (z detached).

Deliberate differences (see docs/deviations.md):
- One negative task j per anchor task i per step (the reference uses all
  ordered pairs of the meta-batch): M triplets instead of M(M-1), same loss.
- The positive context takes task i's transitions at the positions kept for
  the anchor, so the three contexts have the same size (the reference draws
  a random subset of the same size).
- Reward models see (s, a, s') so that rewards defined on the next state are
  predictable; the stages run inside one run directory instead of separate
  scripts with files in between.
- Acting, as in contextual BCQ, scores ``bcq.n_actions`` decoder actions from
  latents fixed at construction; z is the posterior mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from omrl_bench.baselines.bcq import (
    BCQ,
    BCQConfig,
    ProbabilisticEncoder,
    kl_diagonal_gaussians,
    kl_to_standard_normal,
    probabilistic_encoder,
    product_of_gaussians,
)
from omrl_bench.core.actor_critic import ActorCriticCommon
from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.networks import BatchedMLP, detached_params
from omrl_bench.core.registry import AlgorithmSpec, Dims, register_algorithm
from omrl_bench.core.train_config import EncoderOptConfig, MLPEncoderConfig, RunConfig
from omrl_bench.errors import OmrlError


@dataclass(frozen=True)
class MBMLStagesConfig:
    """MBML's stages: per-task BCQ teachers, per-task reward ensembles, then the student (the rest of ``steps``)."""

    teacher_steps: int = 2000
    teacher_batch: int = 64  # per task: every task's teacher trains at every step
    teacher_hidden: int = 256  # width of every teacher network (one BCQ per task)
    reward_steps: int = 1000
    reward_batch: int = 64
    ensemble: int = 3  # reward models per task
    reward_hidden: int = 64
    reward_depth: int = 2
    reward_lr: float = 1e-3
    std_threshold: float = 0.1  # a relabelled reward is kept where the ensemble's std is below this
    margin: float = 2.0  # triplet margin


@dataclass(frozen=True)
class MBMLConfig(RunConfig):
    encoder: MLPEncoderConfig = field(default_factory=MLPEncoderConfig)  # the probabilistic encoder's MLP
    task_loss: EncoderOptConfig = field(default_factory=EncoderOptConfig)  # the triplet loss's optimiser
    ac: ActorCriticCommon = field(default_factory=ActorCriticCommon)
    bcq: BCQConfig = field(default_factory=BCQConfig)
    mbml: MBMLStagesConfig = field(default_factory=MBMLStagesConfig)


def triplet_loss(d_positive: torch.Tensor, d_negative: torch.Tensor, margin: float = 2.0) -> torch.Tensor:
    """MBML's triplet loss: ``max(0, d(anchor, positive) - d(anchor, negative) + margin)``, averaged."""
    return F.relu(d_positive - d_negative + margin).mean()


def _members(module: nn.Module, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """The parameters of the selected members of a batched module (frozen)."""
    return {k: v[idx] for k, v in detached_params(module).items()}


class MBML(OfflineMetaAlgorithm):
    """Teachers, reward ensembles and the distilled student of MBML; ``update`` runs the current stage."""

    act_latents: torch.Tensor
    num_updates: torch.Tensor
    encoder: ProbabilisticEncoder

    def __init__(
        self,
        cfg: MBMLConfig,
        dims: Dims,
        seed: int,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        obs_dim, action_dim, context_dim, n_tasks = dims.obs_dim, dims.action_dim, dims.context_dim, dims.n_tasks
        mb = cfg.mbml
        check(cfg)
        self.cfg, self.n_tasks = cfg, n_tasks
        latent = cfg.encoder.latent_dim
        reward_in = 2 * obs_dim + action_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.teachers = BCQ(cfg, obs_dim, action_dim, members=n_tasks, hidden=mb.teacher_hidden)
            self.rewards = BatchedMLP(n_tasks * mb.ensemble, reward_in, 1, mb.reward_hidden, mb.reward_depth)
            self.encoder = probabilistic_encoder(cfg, context_dim)
            self.student = BCQ(cfg, obs_dim + latent, action_dim)  # distilled: its VAE encoder and targets stay unused
        self.to(device)
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.register_buffer("act_latents", self.student.vae.sample_latent((cfg.bcq.n_actions,), self.generator))
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long, device=self.device))
        t = self.teachers
        self.teacher_opt = torch.optim.Adam(
            [
                {"params": t.vae.parameters(), "lr": cfg.bcq.vae_lr},
                {"params": t.actor.parameters(), "lr": cfg.ac.actor_lr},
                {"params": t.qf.parameters(), "lr": cfg.ac.critic_lr},
            ]
        )
        self.reward_opt = torch.optim.Adam(self.rewards.parameters(), lr=mb.reward_lr)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.task_loss.lr)
        s = self.student
        self.student_opt = torch.optim.Adam(
            [
                {"params": s.vae.dec.parameters(), "lr": cfg.bcq.vae_lr},
                {"params": s.actor.parameters(), "lr": cfg.ac.actor_lr},
                {"params": s.qf.parameters(), "lr": cfg.ac.critic_lr},
            ]
        )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "teacher": self.teacher_opt,
            "reward": self.reward_opt,
            "encoder": self.encoder_opt,
            "student": self.student_opt,
        }

    def stage(self) -> str:
        """The stage the next update trains: teachers, rewards or student."""
        n, mb = int(self.num_updates), self.cfg.mbml
        return (
            "teachers" if n < mb.teacher_steps else "rewards" if n < mb.teacher_steps + mb.reward_steps else "student"
        )

    def update(self, buffers: TaskBuffers) -> dict[str, float]:
        if buffers.n_tasks != self.n_tasks:
            raise OmrlError(f"MBML was built for {self.n_tasks} tasks, the buffers hold {buffers.n_tasks}")
        self.train()
        step = {"teachers": self._teacher_step, "rewards": self._reward_step, "student": self._student_step}
        metrics = step[self.stage()](buffers)
        with torch.no_grad():
            self.num_updates += 1
        return metrics

    def _optimise(self, loss: torch.Tensor, *opts: torch.optim.Optimizer) -> None:
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in opts:
            opt.step()

    # ----- stage 1: one BCQ per task -----
    def _teacher_step(self, buffers: TaskBuffers) -> dict[str, float]:
        tasks = torch.arange(self.n_tasks, device=self.device)
        with self.autocast():
            b = buffers.sample_batch(tasks, self.cfg.mbml.teacher_batch, self.generator)
            vae_loss, qf_loss, actor_loss, q_mean = self.teachers.losses(
                b.observations, b.actions, b.rewards, b.next_observations, b.terminals, self.generator
            )
        self._optimise(vae_loss + qf_loss + actor_loss, self.teacher_opt)
        self.teachers.soft_update()
        return {
            "train/teacher_vae_loss": vae_loss.item(),
            "train/teacher_qf_loss": qf_loss.item(),
            "train/teacher_actor_loss": actor_loss.item(),
            "train/teacher_q_mean": q_mean.item(),
        }

    # ----- stage 2: reward ensembles -----
    def _reward_inputs(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return torch.cat([obs, act, next_obs], -1)

    def _reward_step(self, buffers: TaskBuffers) -> dict[str, float]:
        k = self.cfg.mbml.ensemble
        tasks = torch.arange(self.n_tasks, device=self.device).repeat_interleave(k)  # own draw per member
        with self.autocast():
            obs, act, rew, next_obs = buffers.sample_transitions(tasks, self.cfg.mbml.reward_batch, self.generator)
            pred = self.rewards(self._reward_inputs(obs, act, next_obs)).squeeze(-1)
            loss = ((pred - rew) ** 2).mean()
        self._optimise(loss, self.reward_opt)
        return {"train/reward_loss": loss.item()}

    # ----- stage 3: metric learning and distillation -----
    def _relabel(
        self, tasks: torch.Tensor, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Task i's ensemble on task j's transitions, j = the next task of the meta-batch: (mean, std)."""
        k = self.cfg.mbml.ensemble
        members = (tasks[:, None] * k + torch.arange(k, device=self.device)).reshape(-1)
        x = self._reward_inputs(obs, act, next_obs).roll(-1, dims=0)  # row i holds task j = tasks[i + 1]
        with torch.no_grad():
            pred = self.rewards(x.repeat_interleave(k, 0), members).squeeze(-1).unflatten(0, (-1, k))
        return pred.mean(1), pred.std(1)

    def _student_step(self, buffers: TaskBuffers) -> dict[str, float]:
        cfg, mb = self.cfg, self.cfg.mbml
        with self.autocast():
            tasks = sample_tasks(buffers.n_tasks, cfg.meta_batch, cfg.meta_batch > buffers.n_tasks, self.generator)
            obs, act, rew, next_obs = buffers.sample_transitions(tasks, cfg.context_size, self.generator)
            relabelled, std = self._relabel(tasks, obs, act, next_obs)
            keep = std < mb.std_threshold  # (M, N): task i's ensemble agrees on task j's transition
            own = buffers.make_context(obs, act, rew, next_obs)
            roll = (obs.roll(-1, 0), act.roll(-1, 0), next_obs.roll(-1, 0))
            anchor = buffers.make_context(roll[0], roll[1], relabelled, roll[2])
            negative = own.roll(-1, 0)

            mu, var = self.encoder.factors(torch.cat([own, anchor, negative]))
            mu_own, mu_a, mu_n = mu.chunk(3)
            var_own, var_a, var_n = var.chunk(3)
            post = {
                "anchor": product_of_gaussians(mu_a, var_a, keep),
                "positive": product_of_gaussians(mu_own, var_own, keep),
                "negative": product_of_gaussians(mu_n, var_n, keep),
            }
            valid = keep.any(1)
            d_pos = kl_diagonal_gaussians(*post["anchor"], *post["positive"])[valid]
            d_neg = kl_diagonal_gaussians(*post["anchor"], *post["negative"])[valid]
            triplet = triplet_loss(d_pos, d_neg, mb.margin) if bool(valid.any()) else mu.sum() * 0.0

            # z_i from task i's context plus the relabelled transitions its ensemble kept
            all_keep = torch.cat([torch.ones_like(keep), keep], 1)
            z_mu, z_var = product_of_gaussians(torch.cat([mu_own, mu_a], 1), torch.cat([var_own, var_a], 1), all_keep)
            noise = torch.randn(z_mu.shape, generator=self.generator, device=self.device, dtype=z_mu.dtype)
            z = z_mu + z_var.sqrt() * noise
            kl = kl_to_standard_normal(z_mu, z_var).mean()

            b = buffers.sample_batch(tasks, cfg.batch_size, self.generator)
            with torch.no_grad():  # teacher i's outputs on task i's batch
                t = self.teachers
                q_t, _ = functional_call(t.qf, _members(t.qf, tasks), (torch.cat([b.observations, b.actions], -1),))
                latent = t.vae.sample_latent(b.actions.shape[:-1], self.generator)
                dec_in = torch.cat([b.observations, latent], -1)
                cand_t = torch.tanh(functional_call(t.vae.dec, _members(t.vae.dec, tasks), (dec_in,)))  # = decode
                pert_t = functional_call(t.actor, _members(t.actor, tasks), (b.observations, cand_t))
            zb = z[:, None, :].expand(-1, b.actions.shape[1], -1)
            s = self.student
            q1, q2 = s.qf(torch.cat([b.observations, zb, b.actions], -1))
            q_loss = ((q1 - q_t) ** 2).mean() + ((q2 - q_t) ** 2).mean()
            cond = torch.cat([b.observations, zb.detach()], -1)
            dec_loss = ((s.vae.decode(cond, latent) - cand_t) ** 2).mean()
            pert_loss = ((s.actor(cond, cand_t) - pert_t) ** 2).mean()
            loss = triplet + cfg.bcq.kl_weight * kl + q_loss + dec_loss + pert_loss
        self._optimise(loss, self.encoder_opt, self.student_opt)
        return {
            "train/triplet_loss": triplet.item(),
            "train/kl": kl.item(),
            "train/student_q_loss": q_loss.item(),
            "train/student_decoder_loss": dec_loss.item(),
            "train/student_actor_loss": pert_loss.item(),
            "train/relabel_kept": keep.float().mean().item(),
        }

    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The student's best of ``n`` perturbed decoder actions by Q1 (latents fixed at construction)."""
        with self.autocast():
            return self.student.act(torch.cat([obs.to(self.device), z], -1), self.act_latents).float()


def check(cfg: MBMLConfig) -> None:
    """The stages must leave steps for the student (checked when the config resolves, before any work)."""
    mb = cfg.mbml
    if cfg.steps <= mb.teacher_steps + mb.reward_steps:
        raise OmrlError(
            f"steps ({cfg.steps}) must exceed mbml.teacher_steps + mbml.reward_steps "
            f"({mb.teacher_steps} + {mb.reward_steps}): the rest trains the student"
        )


register_algorithm(
    AlgorithmSpec(
        name="mbml",
        label="MBML",
        config=MBMLConfig,
        build=lambda cfg, dims, seed, device: MBML(cfg, dims, seed, device),
        provenance=__doc__ or "",
        variants={"mbml": {}},
        legacy_fixed={"encoder.type": "probabilistic"},  # its encoder type, a key before the registry
        check=check,
    )
)
