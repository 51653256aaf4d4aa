"""What every config is made of, below the registry: the fields the harness reads for every algorithm
(``RunConfig``), the shared sections, and the key checks of shared YAML sections against config classes.
``core/registry.py`` and ``core/train_config.py`` both build on it (neither imports the other's module
at import time for it)."""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Any

from omrl_bench.errors import OmrlError

PRECISIONS = ("fp32", "bf16")  # core/precision.py says what each keeps in float32


@dataclass(frozen=True)
class RunConfig:
    """The keys the harness reads for every algorithm: budget, sampling sizes, evaluation, precision."""

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
    next_obs_in_context: bool = False  # context transitions are (s, a, r, s') instead of (s, a, r) (Table 7)


@dataclass(frozen=True)
class MLPEncoderConfig:
    """A per-transition MLP context encoder (FOCAL's; the probabilistic one of the BCQ baselines)."""

    mlp_hidden: int = 200
    mlp_depth: int = 3
    latent_dim: int = 5


@dataclass(frozen=True)
class EncoderOptConfig:
    """The encoder's optimiser, for algorithms whose encoder is trained through their RL losses."""

    lr: float = 1e-3


def plain(data: Any) -> Any:
    """Nested mappings (read-only ones included) as plain dicts."""
    return {k: plain(v) for k, v in data.items()} if isinstance(data, typing.Mapping) else data


@functools.cache  # a class's fields never change; type hints are slow to evaluate (every config resolve)
def _sections(cls: type) -> typing.Mapping[str, Any]:
    """Field name -> the sub-dataclass type of each section field (None for a plain key)."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name] if dataclasses.is_dataclass(hints[f.name]) else None) for f in dataclasses.fields(cls)
    }


def check_shared_keys(data: dict[str, Any], classes: list[type], where: str) -> None:
    """Every key of ``data`` must be a field of at least one of ``classes`` (recursively in sections)."""
    schemas = [_sections(c) for c in classes]
    for key, value in data.items():
        holders = [s for s in schemas if key in s]
        if not holders:
            allowed = sorted({k for s in schemas for k in s})
            raise OmrlError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(allowed)}")
        subs = [s[key] for s in holders if s[key] is not None]
        if isinstance(value, dict) and subs:
            check_shared_keys(value, subs, f"{where}.{key}")


def has_key(cls: type, dotted: str) -> bool:
    """Whether config class ``cls`` has the (dotted) key."""
    *parents, last = dotted.split(".")
    for part in parents:
        sub = _sections(cls).get(part)
        if sub is None:
            return False
        cls = sub
    return last in _sections(cls)


def project(data: dict[str, Any], cls: type) -> dict[str, Any]:
    """The part of ``data`` that ``cls`` reads (keys it has no field for are left out)."""
    out: dict[str, Any] = {}
    for key, sub in _sections(cls).items():
        if key in data:
            out[key] = project(data[key], sub) if sub is not None and isinstance(data[key], dict) else data[key]
    return out
