"""The budget rule: the first evaluated step whose smoothed four-quality mean is within the margin of its best."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from omrl_bench.bench.budget import calibration_markdown, choose_budget, own_quality_curves
from omrl_bench.errors import OmrlError


def _write_run(run_dir: Path, quality: str, returns: list[float]) -> None:
    run_dir.mkdir(parents=True)
    rows = []
    for i, r in enumerate(returns):
        rows.append({"step": 1000 * (2 * i + 1), "train/qf_loss": 1.0})  # a logged step without evaluation
        rows.append({"step": 2000 * (i + 1), "train/qf_loss": 1.0, f"eval/{quality}/return": r, "eval/x/return": -9})
    pd.DataFrame(rows).to_csv(run_dir / "progress.csv", index=False)


def test_the_budget_is_the_first_step_within_the_margin_of_the_smoothed_best(tmp_path: Path) -> None:
    rising = [1.0, 3.0, 5.0, 7.0, 8.0, 8.6, 8.8, 9.0, 9.0, 9.0]
    flat = [9.0] * 10
    dirs = {"expert": tmp_path / "e", "random": tmp_path / "r"}
    _write_run(dirs["expert"], "expert", rising)
    _write_run(dirs["random"], "random", flat)
    curves = own_quality_curves(dirs)
    assert list(curves.index) == [2000 * (i + 1) for i in range(10)] and list(curves.columns) == ["expert", "random"]
    budget, table = choose_budget(curves, margin=0.25, window=3)
    mean = (np.array(rising) + 9.0) / 2
    smoothed = pd.Series(mean).rolling(3, center=True, min_periods=1).mean().to_numpy()
    expected = 2000 * (1 + int(np.flatnonzero(smoothed >= smoothed.max() - 0.25)[0]))
    assert budget == expected == 14000
    np.testing.assert_allclose(table["smoothed"].to_numpy(), smoothed)
    text = calibration_markdown(table, budget)
    assert "**14000 steps**" in text and "| expert | 1.00 | 3.00 |" in text


def test_a_run_without_its_own_quality_evaluated_is_a_one_line_error(tmp_path: Path) -> None:
    _write_run(tmp_path / "e", "medium", [1.0, 2.0])
    with pytest.raises(OmrlError, match="no eval/expert/return column"):
        own_quality_curves({"expert": tmp_path / "e"})
    with pytest.raises(OmrlError, match="no progress.csv"):
        own_quality_curves({"expert": tmp_path / "missing"})
