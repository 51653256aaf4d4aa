"""Context-based offline meta-RL: a context encoder trained by a task-representation loss, and the shared
behaviour-regularised actor-critic conditioned on the detached task embedding.

FOCAL (``baselines/focal.py``), every FOCAL++ variant (``focalpp/``) and the later context methods are
this one shell with another encoder and another ``TaskLoss``. One ``update`` samples a meta-batch of
tasks, trains the encoder on its task loss, and hands an RL batch and the embeddings to the
actor-critic component (``core/actor_critic.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from omrl_bench.core.actor_critic import BRACActorCritic
from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers, sample_tasks
from omrl_bench.core.encoders import MLPEncoder
from omrl_bench.core.registry import Dims
from omrl_bench.core.task_losses import TaskLoss
from omrl_bench.errors import OmrlError

# checkpoints written before the actor-critic became a component held its networks at the top level
_AC_KEYS = ("policy.", "qf.", "vf.", "target_vf.", "critic_c.", "alpha")


class ContextRL(OfflineMetaAlgorithm):
    """Encoder + task loss + BRAC actor-critic; ``update`` is one gradient step."""

    num_updates: torch.Tensor

    def __init__(
        self,
        cfg: Any,
        dims: Dims,
        seed: int,
        device: str | torch.device,
        encoder: Callable[[], nn.Module],
        task_loss: TaskLoss,
    ) -> None:
        """``cfg`` has ``encoder.latent_dim`` and an ``ac`` section; ``encoder`` builds the context encoder."""
        super().__init__()
        self.cfg, self.task_loss, self.dims = cfg, task_loss, dims
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = encoder()
            task_loss.setup(self)
            self.ac = BRACActorCritic(
                cfg.ac, dims.obs_dim, dims.action_dim, cfg.encoder.latent_dim, self.generator, self.autocast
            )
        self.to(self.device)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.task_loss.lr)
        self.task_opts = task_loss.make_optimizers(self)
        self.ac.make_optimizers()
        clash = set(self.task_opts) & {"encoder", *self.ac.opts}
        if clash:
            raise OmrlError(
                f"task loss optimiser name(s) {', '.join(sorted(clash))} taken by the encoder or actor-critic"
            )
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long, device=self.device))

    @classmethod
    def with_mlp_encoder(cls, cfg: Any, dims: Dims, seed: int, device: str, task_loss: TaskLoss) -> ContextRL:
        """FOCAL's MLP encoder (``cfg.encoder``: an MLPEncoderConfig) with ``task_loss``."""
        e = cfg.encoder
        return cls(
            cfg,
            dims,
            seed,
            device,
            lambda: MLPEncoder(dims.context_dim, e.latent_dim, e.mlp_hidden, e.mlp_depth, getattr(e, "output", "tanh")),
            task_loss,
        )

    def update(self, buffers: TaskBuffers) -> dict[str, float]:
        cfg = self.cfg
        self.train()
        with self.autocast():
            distinct = self.task_loss.distinct_tasks  # with fewer tasks than meta_batch: each task once
            m = min(cfg.meta_batch, buffers.n_tasks) if distinct else cfg.meta_batch
            tasks = sample_tasks(buffers.n_tasks, m, not distinct, self.generator)
            enc_loss, z, metrics = self.task_loss(self, buffers, tasks.to(self.device))
            batch = buffers.sample_batch(tasks.to(self.device), cfg.batch_size, self.generator)
        metrics |= self.ac.update(batch, z.detach())
        opts = [self.encoder_opt, *self.task_opts.values()]
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        enc_loss.backward()
        for opt in opts:
            opt.step()
        self.task_loss.after_step(self)
        self.num_updates += 1
        return metrics

    @torch.no_grad()
    def act(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.ac.act(obs.to(self.device), z)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"encoder": self.encoder_opt, **self.task_opts, **self.ac.opts}

    def load_full_state(self, state: dict[str, Any]) -> None:
        model = state["model"]
        if "alpha" in model:  # an older checkpoint: the actor-critic's networks at the top level
            model = {(f"ac.{k}" if k.startswith(_AC_KEYS) else k): v for k, v in model.items()}
        super().load_full_state({**state, "model": model})
