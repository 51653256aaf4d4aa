"""Typed training configs, resolved from ``presets/context_rl.yaml`` and the algorithm's registered variant.

Every algorithm has its own frozen config dataclass (a ``RunConfig`` with the sections it reads).
Resolution order: dataclass defaults <- the suite's Table 7 settings (``envs/suites.py``) <- the
algorithm's own settings for that suite (its registered ``suite_settings``) <- the preset
(``smoke``/``cpu``/``paper``) <- the preset's section for that suite (its ``suites`` key) <- the
algorithm's variant <- ``--set`` overrides.
The YAML sections are shared by every algorithm: each key in them must be read by at least
one registered algorithm (a misspelled key is an error), and each algorithm keeps only the keys its own
config has. ``--set`` keys are checked against the algorithm's own config.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from omrl_bench.config import apply_overrides, check_ranges, from_dict, load_yaml, to_dict
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


def _presets_path() -> Path:
    return Path(str(resources.files("omrl_bench") / "presets" / "context_rl.yaml"))


def _merge(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    out = dict(base)
    for k, v in dict(extra).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict | typing.Mapping) and isinstance(out.get(k), dict) else v
    return out


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


@functools.cache
def _presets_file() -> Any:
    """The presets YAML, read once per process (it is part of the installed package)."""
    return load_yaml(_presets_path())


def _load_presets() -> dict[str, Any]:
    """The presets and the suites' Table 7 settings, every key checked against the registered configs; computed
    once per state of the registry. Callers must not modify what it returns."""
    from omrl_bench.core.registry import algorithms, registry_generation

    algorithms()  # the built-in algorithms are registered on first use
    return _checked_presets(registry_generation())


@functools.lru_cache(maxsize=4)
def _checked_presets(generation: int) -> dict[str, Any]:
    from omrl_bench.core.registry import algorithms
    from omrl_bench.envs.suites import SUITES

    del generation  # the cache key: the registry's state
    data = {**_presets_file(), "suites": {name: plain(s.training) for name, s in SUITES.items()}}
    classes = [RunConfig, *(spec.config for spec in algorithms().values())]
    for suite, section in data["suites"].items():
        check_shared_keys(section, classes, f"suites.{suite}")
    for preset, section in data["presets"].items():
        body = dict(section)
        datasets = body.pop("datasets", preset)
        if not isinstance(datasets, str):
            raise OmrlError(f"presets.{preset}.datasets: expected a dataset preset's name, got {datasets!r}")
        for suite, per_suite in body.pop("suites", {}).items():
            if suite not in data["suites"]:
                raise OmrlError(
                    f"presets.{preset}.suites: unknown suite {suite!r}; choose from: {', '.join(data['suites'])}"
                )
            check_shared_keys(per_suite, classes, f"presets.{preset}.suites.{suite}")
        check_shared_keys(body, classes, f"presets.{preset}")
    return typing.cast(dict[str, Any], data)


def preset_names() -> list[str]:
    return list(_presets_file()["presets"])


def data_preset(preset: str) -> str:
    """The dataset recipe preset that training preset ``preset`` trains on: its ``datasets`` key, else its own
    name (``cpu-table7`` trains on the ``cpu`` datasets)."""
    presets = _presets_file()["presets"]
    if preset not in presets:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
    return str(presets[preset].get("datasets", preset))


def preset_fingerprint(preset: str) -> str:
    """A hash of everything a run of ``preset`` resolves from: the suites' Table 7 settings, the YAML preset,
    and every registered algorithm's variants and per-suite settings."""
    import hashlib
    import json

    from omrl_bench.core.registry import algorithms

    data = _load_presets()
    if preset not in data["presets"]:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(data['presets'])}")
    variants = {name: plain(spec.variants) for name, spec in algorithms().items()}
    settings = {name: plain(spec.suite_settings) for name, spec in algorithms().items() if spec.suite_settings}
    blob = {"suites": data["suites"], "preset": data["presets"][preset], "algorithms": variants}
    blob["suite_settings"] = settings
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def variants(algo: str) -> list[str]:
    from omrl_bench.core.registry import get_algorithm

    return list(get_algorithm(algo).variants)


def resolve_config(
    algo: str, variant: str | None, suite: str, preset: str, overrides: list[str] | None = None
) -> tuple[str, Any]:
    """The resolved (variant name, config) of one run; every key is checked. Cached per state of the
    registry: the config is frozen, and the same arguments always resolve to the same one."""
    from omrl_bench.core.registry import check_variant, get_algorithm, registry_generation

    variant = check_variant(get_algorithm(algo), variant)  # the default variant and its name: one cache entry
    return _resolve(algo, variant, suite, preset, tuple(overrides or ()), registry_generation())


@functools.lru_cache(maxsize=8192)
def _resolve(
    algo: str, variant: str, suite: str, preset: str, overrides: tuple[str, ...], generation: int
) -> tuple[str, Any]:
    from omrl_bench.core.registry import get_algorithm

    del generation  # the cache key: the registry's state
    spec = get_algorithm(algo)
    data = _load_presets()
    if suite not in data["suites"]:
        raise OmrlError(f"unknown suite {suite!r}; choose one of: {', '.join(data['suites'])}")
    if preset not in data["presets"]:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(data['presets'])}")
    preset_cfg = dict(data["presets"][preset])
    preset_cfg.pop("datasets", None)  # which recipe's datasets it trains on (data_preset), not a training key
    per_suite = preset_cfg.pop("suites", {})  # a preset's settings for one suite only
    suite_cfg = _merge(data["suites"][suite], plain(spec.suite_settings.get(suite, {})))  # Table 7, then the method's
    merged = _merge(_merge(suite_cfg, preset_cfg), per_suite.get(suite, {}))
    merged = _merge(project(merged, spec.config), plain(spec.variants[variant]))
    full = _merge(to_dict(spec.config(steps=0, eval_every=1, checkpoint_every=1)), merged)
    try:
        full = apply_overrides(full, list(overrides), spec.config)
    except OmrlError as exc:
        raise OmrlError(f"{algo}: {exc}") from None
    cfg: Any = from_dict(spec.config, full, where=f"{algo}.{variant}")
    try:
        _validate(cfg)
    except OmrlError as exc:
        raise OmrlError(f"{algo}: {exc}") from None
    spec.check(cfg)
    return variant, cfg


def _validate(cfg: RunConfig) -> None:
    if cfg.precision not in PRECISIONS:
        raise OmrlError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if min(cfg.steps, cfg.eval_every, cfg.checkpoint_every, cfg.meta_batch, cfg.batch_size, cfg.context_size) <= 0:
        raise OmrlError("steps, eval_every, checkpoint_every, meta_batch, batch_size and context_size must be > 0")
    check_ranges(cfg)  # learning rates, widths and batch sizes > 0 (plug-ins' keys too), discounts in [0, 1]
