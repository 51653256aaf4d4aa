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
