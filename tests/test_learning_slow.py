"""Slow learning checks (``pytest -m slow``): the cpu presets produce the expected dataset qualities."""

from __future__ import annotations

from pathlib import Path

import pytest

from omrl_bench.datasets.loader import summarise
from omrl_bench.datasets.pipeline import LocalExecutor, generate
from omrl_bench.datasets.recipe import QUALITIES, load_recipe

pytestmark = pytest.mark.slow


def test_sparse_point_robot_cpu_qualities(tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "cpu")
    tasks = (0, 37, 75)
    generate(recipe, tmp_path, tasks, QUALITIES, LocalExecutor(2))
    rows = {r["quality"]: r for r in summarise(tmp_path, recipe, tasks, QUALITIES)}
    assert rows["expert"]["sparse_return"] >= 11.0
    assert rows["random"]["sparse_return"] <= 0.5
    assert rows["random"]["sparse_return"] < rows["medium"]["sparse_return"] < rows["expert"]["sparse_return"] or (
        rows["random"]["dense_return"] < rows["medium"]["dense_return"] < rows["expert"]["dense_return"]
    )


def test_point_robot_wind_cpu_qualities(tmp_path: Path) -> None:
    recipe = load_recipe("point-robot-wind", "cpu")
    tasks = (0, 25)
    generate(recipe, tmp_path, tasks, QUALITIES, LocalExecutor(2))
    rows = {r["quality"]: r for r in summarise(tmp_path, recipe, tasks, QUALITIES)}
    assert rows["random"]["dense_return"] < rows["medium"]["dense_return"] < rows["expert"]["dense_return"]
    assert abs(rows["medium"]["normalised_score"] - 0.5) < 0.25


def test_focal_learns_sparse_point_robot_with_the_cpu_preset(tmp_path: Path) -> None:
    """FOCAL on 20 tasks (16 train / 4 test) of the cpu recipe, 3000 steps of the cpu training preset."""
    from omrl_bench.bench.run import RunSpec, execute

    recipe = load_recipe("sparse-point-robot", "cpu", overrides=["n_tasks=20", "n_test=4"])
    generate(recipe, tmp_path / "data", tuple(range(20)), ("expert",), LocalExecutor(2))
    overrides = ("steps=3000", "eval_every=1000", "checkpoint_every=1000", "eval_episodes=1")
    spec = RunSpec("focal", None, "sparse-point-robot", "expert", ("expert",), 0, "cpu", "cpu", overrides=overrides)
    report = execute(spec, tmp_path / "runs", tmp_path / "data", resume=False, progress=False)
    assert report["test"]["expert"]["mean_return"] >= 8.0
