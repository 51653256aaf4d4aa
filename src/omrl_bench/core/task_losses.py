"""Task-representation losses: the registered pieces that make context methods differ.

A ``TaskLoss`` trains the context encoder of a ``ContextRL``: it may add modules of its own to the
algorithm (``setup``, e.g. FOCAL++'s key encoder), computes the loss and the meta-batch's embeddings
(``__call__``), and may act after each optimiser step (``after_step``, e.g. the momentum update). The
losses register themselves by name (FOCAL's ``dml`` in ``baselines/focal.py``; FOCAL++'s
``contrastive`` and ``both`` in ``focalpp/losses.py``), and a method's config names the one it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from omrl_bench.errors import OmrlError

if TYPE_CHECKING:
    from omrl_bench.core.buffers import TaskBuffers
    from omrl_bench.core.context_rl import ContextRL


class TaskLoss:
    """Base class: ``cfg`` is the algorithm's ``task_loss`` section."""

    distinct_tasks = False  # meta-batches of distinct tasks (contrastive losses) instead of with replacement

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def setup(self, algo: ContextRL) -> None:
        """Add the loss's own modules to ``algo`` (called right after the encoder, with the seeded RNG)."""

    def make_optimizers(self, algo: ContextRL) -> dict[str, torch.optim.Optimizer]:
        """Optimisers of the loss's own modules (called once they are on the device). Each takes its step
        with the encoder's, after one backward pass over the loss: a term that must not train a module
        sees it through detached parameters."""
        return {}

    def __call__(
        self, algo: ContextRL, buffers: TaskBuffers, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """(loss, embeddings of the meta-batch's tasks (tasks, latent), metrics)."""
        raise NotImplementedError

    def after_step(self, algo: ContextRL) -> None:
        """Called after every optimiser step."""


TASK_LOSSES: dict[str, Callable[[Any], TaskLoss]] = {}


def register_task_loss(name: str) -> Callable[[type[TaskLoss]], type[TaskLoss]]:
    def add(cls: type[TaskLoss]) -> type[TaskLoss]:
        if name in TASK_LOSSES and TASK_LOSSES[name] is not cls:
            raise OmrlError(f"task loss {name!r} is registered twice")
        TASK_LOSSES[name] = cls
        return cls

    return add


def make_task_loss(name: str, cfg: Any) -> TaskLoss:
    if name not in TASK_LOSSES:
        raise OmrlError(f"unknown task loss {name!r}; choose one of: {', '.join(TASK_LOSSES)}")
    return TASK_LOSSES[name](cfg)
