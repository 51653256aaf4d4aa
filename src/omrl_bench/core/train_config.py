"""Typed training configs of the context-based algorithms, resolved from ``presets/context_rl.yaml``.

Resolution order: dataclass defaults <- the suite's section (paper Table 7) <- the
preset (``smoke``/``cpu``/``paper``) <- the preset's section for that suite (its
``suites`` key) <- the algorithm variant <- ``--set`` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from omrl_bench.config import apply_overrides, from_dict, load_yaml
from omrl_bench.errors import OmrlError

PRECISIONS = ("fp32", "bf16")  # core/precision.py says what each keeps in float32


@dataclass(frozen=True)
class EncoderConfig:
    type: str = "mlp"  # mlp (FOCAL) | attention (FOCAL++) | probabilistic (contextual BCQ, MBML)
    attention: str = "batch"  # batch | sequence | parallel | series | set (extension)
    mlp_hidden: int = 200
    mlp_depth: int = 3
    hidden: int = 128
    heads: int = 8
    reduction: int = 16
    blocks: int = 3
    dropout: float = 0.1
    latent_dim: int = 5
    next_obs_in_context: bool = False


@dataclass(frozen=True)
class TaskLossConfig:
    loss: str = "dml"  # dml | contrastive | both
    lr: float = 1e-3
    dml_weight: float = 1.0  # beta
    dml_power: float = 2.0  # n: 2 = inverse-square
    dml_eps: float = 0.1
    temperature: float = 0.5  # tau
    momentum: float = 0.9  # m of the key encoder
    hard_update: bool = False  # key encoder = query encoder (m = 0)


@dataclass(frozen=True)
class ActorCriticConfig:
    hidden: int = 256
    depth: int = 3
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    gamma: float = 0.9
    reward_scale: float = 100.0
    target_tau: float = 0.005
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


@dataclass(frozen=True)
class BCQConfig:
    """BCQ's pieces (Fujimoto et al. 2019), used by contextual BCQ and MBML."""

    vae_hidden: int = 750
    vae_depth: int = 2
    vae_latent_factor: int = 2  # VAE latent size = factor * action dim
    vae_kl_weight: float = 0.5
    vae_lr: float = 1e-3
    perturbation: float = 0.05  # phi: the actor moves a VAE action by at most phi per dimension
    lmbda: float = 0.75  # soft clipped double Q
    n_actions: int = 10  # VAE actions scored by Q for the target and for acting
    kl_weight: float = 0.1  # KL(q(z | c) || N(0, I)) on the probabilistic context encoder


@dataclass(frozen=True)
class MBMLConfig:
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
class TrainConfig:
    steps: int
    eval_every: int
    checkpoint_every: int
    meta_batch: int = 16
    batch_size: int = 256
    context_size: int = 1024
    log_every: int = 100
    eval_context_size: int = 400
    eval_episodes: int = 3
    embedding_draws: int = 8  # context draws averaged per task for embedding statistics
    precision: str = "fp32"  # fp32 | bf16 (bfloat16 autocast of the forward passes; core/precision.py)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    task_loss: TaskLossConfig = field(default_factory=TaskLossConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    bcq: BCQConfig = field(default_factory=BCQConfig)
    mbml: MBMLConfig = field(default_factory=MBMLConfig)


def _presets_path() -> Path:
    return Path(str(resources.files("omrl_bench") / "presets" / "context_rl.yaml"))


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def preset_fingerprint(preset: str) -> str:
    """A hash of everything in ``presets/context_rl.yaml`` that a run of ``preset`` resolves from."""
    import hashlib
    import json

    data = load_yaml(_presets_path())
    if preset not in data["presets"]:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(data['presets'])}")
    blob = {"suites": data["suites"], "preset": data["presets"][preset], "algorithms": data["algorithms"]}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def variants(algo: str) -> list[str]:
    data = load_yaml(_presets_path())
    if algo not in data["algorithms"]:
        raise OmrlError(f"unknown algorithm {algo!r}; choose one of: {', '.join(data['algorithms'])}")
    return list(data["algorithms"][algo]["variants"])


def resolve_config(
    algo: str, variant: str | None, suite: str, preset: str, overrides: list[str] | None = None
) -> tuple[str, TrainConfig]:
    """The resolved (variant name, config) of one run; every key is checked."""
    data = load_yaml(_presets_path())
    algos = data["algorithms"]
    if algo not in algos:
        raise OmrlError(f"unknown algorithm {algo!r}; choose one of: {', '.join(algos)}")
    names = list(algos[algo]["variants"])
    variant = variant or algos[algo]["default"]
    if variant not in names:
        raise OmrlError(f"unknown variant {variant!r} for {algo}; choose one of: {', '.join(names)}")
    if suite not in data["suites"]:
        raise OmrlError(f"unknown suite {suite!r}; choose one of: {', '.join(data['suites'])}")
    if preset not in data["presets"]:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(data['presets'])}")
    preset_cfg = dict(data["presets"][preset])
    per_suite = preset_cfg.pop("suites", {})  # a preset's settings for one suite only
    merged = _merge(data["suites"][suite], preset_cfg)
    merged = _merge(_merge(merged, per_suite.get(suite, {})), algos[algo]["variants"][variant])
    full = _merge(_defaults_dict(), merged)
    full = apply_overrides(full, overrides or [], TrainConfig)
    cfg = from_dict(TrainConfig, full, where=f"{algo}.{variant}")
    _validate(cfg)
    return variant, cfg


def _defaults_dict() -> dict[str, Any]:
    from omrl_bench.config import to_dict

    return to_dict(TrainConfig(steps=0, eval_every=1, checkpoint_every=1))


def _validate(cfg: TrainConfig) -> None:
    from omrl_bench.core.encoders import ATTENTIONS, ENCODER_TYPES

    if cfg.encoder.type not in ENCODER_TYPES:
        raise OmrlError(f"encoder.type must be one of {', '.join(ENCODER_TYPES)}, got {cfg.encoder.type!r}")
    if cfg.encoder.attention not in ATTENTIONS:
        raise OmrlError(f"encoder.attention must be one of {', '.join(ATTENTIONS)}, got {cfg.encoder.attention!r}")
    if cfg.precision not in PRECISIONS:
        raise OmrlError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if cfg.task_loss.loss not in ("dml", "contrastive", "both"):
        raise OmrlError(f"task_loss.loss must be dml, contrastive or both, got {cfg.task_loss.loss!r}")
    if min(cfg.steps, cfg.eval_every, cfg.checkpoint_every, cfg.meta_batch, cfg.batch_size, cfg.context_size) <= 0:
        raise OmrlError("steps, eval_every, checkpoint_every, meta_batch, batch_size and context_size must be > 0")
    if cfg.encoder.hidden % cfg.encoder.heads:
        raise OmrlError("encoder.hidden must be divisible by encoder.heads")
