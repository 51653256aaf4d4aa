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

import functools
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from omrl_bench.config import apply_overrides, check_ranges, from_dict, load_yaml, to_dict
from omrl_bench.core.config_schema import PRECISIONS as PRECISIONS
from omrl_bench.core.config_schema import EncoderOptConfig as EncoderOptConfig
from omrl_bench.core.config_schema import MLPEncoderConfig as MLPEncoderConfig
from omrl_bench.core.config_schema import RunConfig as RunConfig
from omrl_bench.core.config_schema import check_shared_keys as check_shared_keys
from omrl_bench.core.config_schema import has_key as has_key
from omrl_bench.core.config_schema import plain as plain
from omrl_bench.core.config_schema import project as project
from omrl_bench.core.registry import algorithms, check_variant, get_algorithm, registry_generation
from omrl_bench.errors import OmrlError


def _presets_path() -> Path:
    return Path(str(resources.files("omrl_bench") / "presets" / "context_rl.yaml"))


def _merge(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    out = dict(base)
    for k, v in dict(extra).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict | typing.Mapping) and isinstance(out.get(k), dict) else v
    return out


@functools.cache
def _presets_file() -> Any:
    """The presets YAML, read once per process (it is part of the installed package)."""
    return load_yaml(_presets_path())


def _load_presets() -> dict[str, Any]:
    """The presets and the suites' Table 7 settings, every key checked against the registered configs; computed
    once per state of the registry. Callers must not modify what it returns."""

    algorithms()  # the built-in algorithms are registered on first use
    return _checked_presets(registry_generation())


@functools.lru_cache(maxsize=4)
def _checked_presets(generation: int) -> dict[str, Any]:
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

    data = _load_presets()
    if preset not in data["presets"]:
        raise OmrlError(f"unknown preset {preset!r}; choose one of: {', '.join(data['presets'])}")
    variants = {name: plain(spec.variants) for name, spec in algorithms().items()}
    settings = {name: plain(spec.suite_settings) for name, spec in algorithms().items() if spec.suite_settings}
    blob = {"suites": data["suites"], "preset": data["presets"][preset], "algorithms": variants}
    blob["suite_settings"] = settings
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def variants(algo: str) -> list[str]:

    return list(get_algorithm(algo).variants)


def resolve_config(
    algo: str, variant: str | None, suite: str, preset: str, overrides: list[str] | None = None
) -> tuple[str, Any]:
    """The resolved (variant name, config) of one run; every key is checked. Cached per state of the
    registry: the config is frozen, and the same arguments always resolve to the same one."""

    variant = check_variant(get_algorithm(algo), variant)  # the default variant and its name: one cache entry
    return _resolve(algo, variant, suite, preset, tuple(overrides or ()), registry_generation())


@functools.lru_cache(maxsize=8192)
def _resolve(
    algo: str, variant: str, suite: str, preset: str, overrides: tuple[str, ...], generation: int
) -> tuple[str, Any]:

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
