"""FOCAL: fully-offline context-based actor-critic meta-RL.

Paper: Li, Yang, Luo, "FOCAL: Efficient Fully-Offline Meta-Reinforcement
Learning via Distance Metric Learning and Behavior Regularization", ICLR 2021.
Reference code: LanqingLi1993/FOCAL-ICLR (``rlkit/torch/sac/sac.py``).

FOCAL = an MLP context encoder (3x200, tanh output, mean over the context)
trained only by the distance metric loss, and a SAC-style actor-critic with
twin Q, V and target V, conditioned on the detached embedding, with BRAC
behaviour regularisation (dual-KL divergence critic, adaptive alpha).

Deliberate differences (see docs/deviations.md):
- Q, V, policy and divergence critic are updated simultaneously from one
  backward pass (the reference updates Q before computing the V and policy
  targets) and the divergence critic is skipped when alpha is 0 and fixed.
- The divergence critic's gradient penalty is on the action gradient of the
  critic (the reference penalises the critic's output by mistake).
- The DML averages same-task and different-task pairs separately with the
  weight beta on the different-task term (``core.losses.dml_loss``).
- One context draw per test task for evaluation (the reference accumulates
  context 20 transitions at a time and reports the last episode).
- Optional behaviour-cloning term in the policy loss (``ac.bc_weight``, TD3+BC's
  form), used by the ``cpu`` preset on the point robots only: without it the
  unregularised critic extrapolates on narrow expert data at that budget.
"""

from __future__ import annotations

from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.train_config import TrainConfig


def make(
    cfg: TrainConfig, obs_dim: int, action_dim: int, context_dim: int, seed: int, device: str, n_tasks: int
) -> ContextRL:
    """FOCAL with ``cfg`` (its presets set an MLP encoder and the DML loss)."""
    del n_tasks  # one network serves every task
    return ContextRL(cfg, obs_dim, action_dim, context_dim, seed, device)
