"""FOCAL++: context-based offline meta-RL with attention and contrastive learning.

Paper: Li, Gao et al., "Improved Context-Based Offline Meta-RL with Attention
and Contrastive Learning" (../shared/paper). No public code exists for its
contrastive part; the attention modules follow the paper's description.

FOCAL++ = FOCAL's actor-critic with another encoder and another encoder loss:
- encoder: FOCAL's MLP, or the attention encoder (batch-wise channel
  attention, sequence-wise self-attention, both in parallel or in series;
  hidden 128, 8 heads, reduction 16, 3 pre-LN blocks with a GELU
  feed-forward sublayer, dropout 0.1);
- task loss: the matrix-form momentum contrast (InfoNCE over a meta-batch of
  distinct tasks, logits ``zq zk^T / tau``, key encoder updated as
  ``theta_k <- m theta_k + (1 - m) theta_q``), the DML, or both.
The named variants (contrastive, batch-wise, sequence-wise, parallel, series)
are presets in ``presets/context_rl.yaml``; ``set`` is our extension.

Deliberate differences (see docs/deviations.md):
- Sequence-wise attention is implemented as the paper states (each
  transition a length-1 sequence), which reduces to the value and output
  projections; attention across a task's transitions is offered separately
  as the ``set`` variant and never mixed into the paper's numbers.
- "Hard update" copies the query encoder into the key encoder every step
  (momentum 0); keys carry no gradient in either mode.
- The FFN sublayer width is 2x the hidden size (the paper does not give it).
"""

from __future__ import annotations

from omrl_bench.core.context_rl import ContextRL
from omrl_bench.core.train_config import TrainConfig


def make(
    cfg: TrainConfig, obs_dim: int, action_dim: int, context_dim: int, seed: int, device: str, n_tasks: int
) -> ContextRL:
    """FOCAL++ with ``cfg`` (encoder type, task loss and momentum come from the variant preset)."""
    del n_tasks  # one network serves every task
    return ContextRL(cfg, obs_dim, action_dim, context_dim, seed, device)
