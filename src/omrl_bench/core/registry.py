"""The algorithm registry: every algorithm module registers itself; the CLI, grids, tables and tests read it.

An algorithm is one module that ends with ``register_algorithm(AlgorithmSpec(...))``: its name and
table label, its frozen config dataclass (only the keys it reads), its named variants (presets over
that config), its settings per suite (the method's own hyper-parameters, beside the suite's Table 7 ones),
a builder and its provenance. The built-in modules (``BUILT_IN``, an explicit list) are imported on the first lookup;
installed packages add theirs through the ``omrl_bench.algorithms`` entry-point group (an entry point
names a module that registers itself, or an ``AlgorithmSpec`` object). Nothing else keeps a list of
algorithm names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from omrl_bench.core.config_schema import RunConfig, check_shared_keys, plain
from omrl_bench.errors import OmrlError

if TYPE_CHECKING:
    from omrl_bench.core.algorithm import OfflineMetaAlgorithm

ENTRY_POINT_GROUP = "omrl_bench.algorithms"
BUILT_IN_PACKAGES = ("omrl_bench.baselines", "omrl_bench.focalpp")
# The built-in algorithm modules, imported in this order: the order of every table's rows and of
# `omrl-bench algorithms` (FOCAL is also every grid's baseline row, which each grid names itself).
BUILT_IN = (
    "omrl_bench.baselines.focal",
    "omrl_bench.focalpp.algorithm",
    "omrl_bench.baselines.cbcq",
    "omrl_bench.baselines.corro",
    "omrl_bench.baselines.csro",
    "omrl_bench.baselines.mbml",
    "omrl_bench.baselines.unicorn",
)


@dataclass(frozen=True)
class Dims:
    """What a builder gets to know about the data: sizes only, never env objects."""

    obs_dim: int
    action_dim: int
    context_dim: int
    n_tasks: int


Builder = Callable[[Any, Dims, int, str], "OfflineMetaAlgorithm"]  # (config, dims, seed, device)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One registered algorithm.

    ``variants`` maps each variant name to its overrides of ``config`` (a nested mapping, as in the
    presets); ``table_variants`` are the ones the ``returns`` grid trains (default: every variant), for
    the algorithms with ``in_returns`` (the methods after the paper are compared in the ``methods`` grid).
    ``check`` (optional) rejects a resolved config the algorithm cannot run, with a one-line error.
    ``suite_settings`` maps a suite's name to the method's own settings there (a nested mapping of its config's
    keys, e.g. CSRO's ``{"task_loss": {"club_weight": 25.0}}``), merged right after the suite's Table 7
    settings; a suite not listed keeps the config's defaults.
    ``legacy_fixed`` and ``migrate`` read run records saved before the algorithm's config changed
    (``core/trainer.py``'s ``migrate_config`` calls them): ``legacy_fixed`` maps each dotted key the config no
    longer has to the only value its runs can have had (a record with another value was made with a setting
    the algorithm cannot express now, and never equals a new run); ``migrate`` rewrites a saved training
    config (a dict, before it is cut to the config's keys) into today's keys.
    """

    name: str
    label: str
    config: type
    build: Builder
    provenance: str
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({"default": {}}))
    default_variant: str = ""
    table_variants: tuple[str, ...] = ()
    check: Callable[[Any], None] = lambda _cfg: None
    in_returns: bool = True  # trained by the returns grid (the paper's Table 1 and its baselines) by default
    suite_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    legacy_fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    migrate: Callable[[dict[str, Any]], dict[str, Any]] = lambda config: config

    def __post_init__(self) -> None:

        if not (isinstance(self.config, type) and issubclass(self.config, RunConfig)):
            raise OmrlError(f"algorithm {self.name!r}: its config must be a dataclass deriving from RunConfig")
        if not self.variants:
            raise OmrlError(f"algorithm {self.name!r} registers no variant")
        if not self.default_variant:
            object.__setattr__(self, "default_variant", next(iter(self.variants)))
        if not self.table_variants:
            object.__setattr__(self, "table_variants", tuple(self.variants))
        unknown = [v for v in (self.default_variant, *self.table_variants) if v not in self.variants]
        if unknown:
            raise OmrlError(f"algorithm {self.name!r}: {unknown[0]!r} is not one of its variants")
        self._check_suite_settings()

    def _check_suite_settings(self) -> None:
        """Every suite named must exist and every key must be one of the config's (a misspelling is an error)."""
        from omrl_bench.envs.suites import SUITES

        for suite, settings in self.suite_settings.items():
            if suite not in SUITES:
                raise OmrlError(
                    f"algorithm {self.name!r}: suite_settings name an unknown suite {suite!r}; "
                    f"choose from: {', '.join(SUITES)}"
                )
            check_shared_keys(plain(settings), [self.config], f"{self.name}.suite_settings.{suite}")

    def variant_label(self, variant: str) -> str:
        """The row label of every table: the algorithm's label, with the variant where it has several."""
        return self.label if len(self.variants) == 1 else f"{self.label} {variant}"


_REGISTRY: dict[str, AlgorithmSpec] = {}
_loaded = False
_generation = [0]  # bumped on every change of the registry: resolved configs are cached per generation


def registry_generation() -> int:
    """A number that changes whenever an algorithm is registered or removed (a cache key)."""
    return _generation[0]


def register_algorithm(spec: AlgorithmSpec) -> AlgorithmSpec:
    """Add ``spec`` (a module calls this once, at import); registering a name twice is an error."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old.build is not spec.build:
        raise OmrlError(f"algorithm {spec.name!r} is registered twice")
    if old is not spec:
        _generation[0] += 1
    _REGISTRY[spec.name] = spec
    return spec


def unregister_algorithm(name: str) -> None:
    """Remove ``name`` (tests that register a temporary algorithm)."""
    if _REGISTRY.pop(name, None) is not None:
        _generation[0] += 1


def load_entry_point(ep: metadata.EntryPoint) -> None:
    """Import an ``omrl_bench.algorithms`` entry point: a module that registers itself, or an AlgorithmSpec."""
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plug-in must not take the CLI down with a traceback
        raise OmrlError(f"algorithm plug-in {ep.name!r} ({ep.value}) failed to load: {exc}") from None
    if isinstance(obj, AlgorithmSpec):
        register_algorithm(obj)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILT_IN:
        importlib.import_module(module)
    # a module imported directly before this (as a test does) registered early: put the built-ins in order once
    rank = {module: i for i, module in enumerate(BUILT_IN)}
    ordered = sorted(_REGISTRY.items(), key=lambda kv: rank.get(kv[1].build.__module__, len(BUILT_IN)))
    _REGISTRY.clear()
    _REGISTRY.update(ordered)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        load_entry_point(ep)


def algorithms() -> Mapping[str, AlgorithmSpec]:
    """Every registered algorithm: the built-in ones in ``BUILT_IN``'s order (whichever module was imported
    first, e.g. by a test importing one directly), then the plug-ins in the order they registered."""
    _load()
    return MappingProxyType(_REGISTRY)


def plugin_modules() -> tuple[str, ...]:
    """The modules that registered the algorithms beyond the built-in ones (worker processes import them)."""
    return tuple(
        dict.fromkeys(
            s.build.__module__
            for s in algorithms().values()
            if not s.build.__module__.startswith(tuple(p + "." for p in BUILT_IN_PACKAGES))
        )
    )


def import_plugins(modules: tuple[str, ...]) -> None:
    """Import plug-in modules in a worker process, so that the algorithms they register exist there too."""
    _load()
    for module in modules:
        importlib.import_module(module)


def get_algorithm(name: str) -> AlgorithmSpec:
    registry = algorithms()
    if name not in registry:
        raise OmrlError(f"unknown algorithm {name!r}; choose one of: {', '.join(registry)}")
    return registry[name]


def check_variant(spec: AlgorithmSpec, variant: str | None) -> str:
    """``variant`` or the default, or a one-line error naming the variants."""
    chosen = variant or spec.default_variant
    if chosen not in spec.variants:
        raise OmrlError(f"unknown variant {chosen!r} for {spec.name}; choose one of: {', '.join(spec.variants)}")
    return chosen


def label(algo: str, variant: str) -> str:
    return get_algorithm(algo).variant_label(variant)


def build_algorithm(name: str, cfg: Any, dims: Dims, seed: int = 0, device: str = "cpu") -> OfflineMetaAlgorithm:
    """An instance of registered algorithm ``name`` (``cfg`` from ``resolve_config(name, ...)``)."""
    return get_algorithm(name).build(cfg, dims, seed, device)
