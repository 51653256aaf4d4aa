"""Aggregates across suites with rliable (Agarwal et al., NeurIPS 2021): the interquartile mean of normalised
scores and the probability of improvement, each with a stratified-bootstrap 95% interval, and performance
profiles.

Scores are matrices (runs x suites) per algorithm, normalised per suite (``datasets/reference.py``). rliable
is an optional dependency (``pip install 'omrl-bench[figures]'``): its bootstrap needs ``arch``, ``scipy``
and ``statsmodels``. Its stratified bootstrap draws from NumPy's global generator whatever ``random_state``
says, so every call here seeds that generator and restores its state afterwards: a table is the same on
every rewrite and the caller's global stream is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from omrl_bench.errors import OmrlError

REPS = 2000  # bootstrap resamples (rliable's default for performance profiles)
EXTRA = "pip install 'omrl-bench[figures]'"

Interval = tuple[float, float, float]  # point estimate, 95% interval low, high


def _compatible_arch_import() -> None:
    """Import ``arch`` under pandas 3: rliable 1.2.0 pins arch < 8, whose 7.x decorates one method with
    pandas' private ``deprecate_kwarg(old, new)``, which pandas 3 made ``deprecate_kwarg(klass, old, new)``;
    the import is retried once with that call adapted (the decorator only touches arch's GARCH plotting)."""
    try:
        import arch.bootstrap  # noqa: F401
    except TypeError:
        import pandas.util._decorators as decorators

        original = decorators.deprecate_kwarg

        def old_form(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str):  # arch 7's (old, new)
                return original(FutureWarning, *args, **kwargs)
            return original(*args, **kwargs)

        decorators.deprecate_kwarg = old_form
        try:
            import sys

            for name in [m for m in sys.modules if m == "arch" or m.startswith("arch.")]:
                del sys.modules[name]
            import arch.bootstrap  # noqa: F401
        finally:
            decorators.deprecate_kwarg = original


def rliable() -> tuple[Any, Any]:
    """rliable's ``library`` and ``metrics`` modules, or a one-line error naming the extra that installs them."""
    try:
        _compatible_arch_import()
        from rliable import library, metrics
    except ImportError:
        raise OmrlError(f"the aggregates across suites need rliable: {EXTRA}") from None
    return library, metrics


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("rliable")
    except metadata.PackageNotFoundError:
        return "not installed"


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded for rliable's bootstrap, and restored afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _intervals(scores: dict[str, Any], func: Callable[..., Any], reps: int, seed: int) -> dict[str, Interval]:
    library, _ = rliable()
    with seeded(seed):
        points, cis = library.get_interval_estimates(scores, func, reps=reps)
    return {k: (float(points[k][0]), float(cis[k][0, 0]), float(cis[k][1, 0])) for k in scores}


def iqm(scores: dict[str, np.ndarray], reps: int = REPS, seed: int = 0) -> dict[str, Interval]:
    """Interquartile mean over every run and suite (``rliable.metrics.aggregate_iqm``), with its stratified
    bootstrap interval (runs resampled within each suite: ``rliable.library.get_interval_estimates``)."""
    _, metrics = rliable()
    return _intervals(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)


def improvement(scores: dict[str, np.ndarray], baseline: str, reps: int = REPS, seed: int = 0) -> dict[str, Interval]:
    """P(a run of X beats a run of ``baseline`` on the same suite), averaged over the suites
    (``rliable.metrics.probability_of_improvement``), for every X but the baseline, with the interval of
    rliable's independent stratified bootstrap of both score matrices."""
    _, metrics = rliable()
    pairs = {k: (v, scores[baseline]) for k, v in scores.items() if k != baseline}
    return _intervals(pairs, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps, seed)


def profiles(
    scores: dict[str, np.ndarray], taus: np.ndarray, reps: int = REPS, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles (``rliable.library.create_performance_profile``): per algorithm, the fraction of
    its runs over every suite whose score exceeds each tau, and its 95% band."""
    library, _ = rliable()
    with seeded(seed):
        profile: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = library.create_performance_profile(
            scores, taus, reps=reps
        )
    return profile
