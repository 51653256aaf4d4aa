"""Shared fixtures: tiny generated suites in temporary Minari roots."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _generate(root: Path, suite: str = "sparse-point-robot", seed: int = 0, workers: int = 1) -> Path:
    from omrl_bench.datasets.pipeline import generate, parse_qualities, parse_tasks
    from omrl_bench.datasets.recipe import load_recipe
    from omrl_bench.executors import LocalExecutor

    recipe = load_recipe(suite, "smoke", seed)
    generate(recipe, root, parse_tasks(None, recipe.config.n_tasks), parse_qualities(None), LocalExecutor(workers))
    return root


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sparse-point-robot smoke preset, generated once per test session (read-only)."""
    return _generate(tmp_path_factory.mktemp("smoke-root"))


@pytest.fixture
def generate_smoke():
    return _generate


def generate_command(root: Path, *extra: str) -> list[str]:
    """``omrl-bench generate-data`` of the sparse-point-robot smoke preset, as a subprocess command."""
    return [
        sys.executable,
        "-m",
        "omrl_bench.cli",
        "generate-data",
        "--suite",
        "sparse-point-robot",
        "--preset",
        "smoke",
        "--root",
        str(root),
        *extra,
    ]


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every published data file, keyed by its path below the root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "omrl").rglob("data/*"))
    }
