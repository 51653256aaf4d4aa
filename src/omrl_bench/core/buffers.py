"""Per-task buffers as flat tensors, and the RL-batch and context samplers.

All tasks' transitions sit in one (tasks, N, dim) tensor per field, so a
meta-batch is one gather: the task axis is a tensor dimension, never a
Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from omrl_bench.errors import OmrlError


@dataclass
class Batch:
    """A meta-batch: every field is (tasks, batch, dim) (rewards and terminals (tasks, batch))."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_observations: torch.Tensor
    terminals: torch.Tensor


class TaskBuffers:
    """The offline data of several tasks, sampled with an explicit ``torch.Generator``."""

    def __init__(
        self, tasks: list, sparse_context: bool, next_obs_in_context: bool, device: str | torch.device = "cpu"
    ) -> None:
        if not tasks:
            raise OmrlError("no tasks to train on")
        n = min(len(t) for t in tasks)
        if n == 0:
            raise OmrlError("a task dataset is empty")
        self.task_ids = [t.task for t in tasks]
        self.size = n

        def stack(field: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            arr = np.stack([np.asarray(getattr(t, field))[:n] for t in tasks])
            return torch.as_tensor(arr, dtype=dtype, device=device)

        self.obs = stack("observations")
        self.actions = stack("actions")
        self.rewards = stack("rewards")
        self.sparse_rewards = stack("sparse_rewards")
        self.next_obs = stack("next_observations")
        self.terminals = stack("terminations")
        self.sparse_context = sparse_context
        self.next_obs_in_context = next_obs_in_context
        self.device = torch.device(device)

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[-1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[-1])

    @property
    def context_dim(self) -> int:
        return self.obs_dim * (2 if self.next_obs_in_context else 1) + self.action_dim + 1

    def _index(self, tasks: torch.Tensor, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, self.size, (len(tasks), size), generator=generator, device=self.device)
        return tasks.to(self.device)[:, None].expand(-1, size), idx

    def sample_batch(self, tasks: torch.Tensor, size: int, generator: torch.Generator) -> Batch:
        """RL batch of ``size`` transitions from each of ``tasks`` (dense rewards)."""
        t, i = self._index(tasks, size, generator)
        return Batch(self.obs[t, i], self.actions[t, i], self.rewards[t, i], self.next_obs[t, i], self.terminals[t, i])

    def sample_context(self, tasks: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
        """Context (tasks, size, context_dim): (s, a, r[, s']) with sparse rewards where the suite is sparse."""
        t, i = self._index(tasks, size, generator)
        return self.context_of(t, i)

    def context_of(self, t: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        rewards = (self.sparse_rewards if self.sparse_context else self.rewards)[t, i]
        return self.make_context(self.obs[t, i], self.actions[t, i], rewards, self.next_obs[t, i])

    def make_context(
        self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """Context rows (s, a, r[, s']) from their parts (e.g. with relabelled rewards)."""
        parts = [obs, actions, rewards[..., None]] + ([next_obs] if self.next_obs_in_context else [])
        return torch.cat(parts, dim=-1)

    def sample_transitions(
        self, tasks: torch.Tensor, size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(s, a, r, s') of ``size`` transitions per task, r being the context's reward (sparse where sparse)."""
        t, i = self._index(tasks, size, generator)
        rewards = (self.sparse_rewards if self.sparse_context else self.rewards)[t, i]
        return self.obs[t, i], self.actions[t, i], rewards, self.next_obs[t, i]


def sample_tasks(n_tasks: int, meta_batch: int, replace: bool, generator: torch.Generator) -> torch.Tensor:
    """Task indices of a meta-batch: with replacement (DML needs same-task pairs) or distinct (contrastive)."""
    device = generator.device
    if replace:
        return torch.randint(0, n_tasks, (meta_batch,), generator=generator, device=device)
    if meta_batch > n_tasks:
        raise OmrlError(f"meta_batch {meta_batch} exceeds the {n_tasks} training tasks for distinct sampling")
    return torch.randperm(n_tasks, generator=generator, device=device)[:meta_batch]
