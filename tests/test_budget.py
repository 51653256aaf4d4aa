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


def _fake_runs(tmp_path: Path, steps: int) -> list:
    """Finished distribution-shift runs (2 seeds) whose evaluations follow a known formula."""
    import json

    from omrl_bench.bench import grids
    from omrl_bench.bench.run import run_config
    from omrl_bench.datasets.recipe import QUALITIES

    planned = []
    for cell in grids.expand("distribution-shift", 2, preset="cpu-table7"):
        spec = cell.spec("cpu-table7", "cpu")
        variant, _, config = run_config(spec)
        run_dir = tmp_path / spec.run_name(variant)
        run_dir.mkdir(parents=True)
        value = lambda step, test, c=cell: step / 8000 + (test == c.train_quality) + 0.1 * c.seed  # noqa: E731
        rows = [
            {"step": k, **{f"eval/{q}/return": value(k, q) for q in QUALITIES}} for k in range(2000, steps + 1, 2000)
        ]
        pd.DataFrame(rows).to_csv(run_dir / "progress.csv", index=False)
        report = {
            "config": config,
            "steps": steps,
            "train_wall_time_s": 1.0,
            "test": {q: {"mean_return": value(steps, q)} for q in QUALITIES},
            "embeddings": {"test": {"rms": 1.0, "esr": 1.0}},
        }
        (run_dir / "final.json").write_text(json.dumps(report))
        planned.append(grids.Planned(cell, spec, run_dir, "done", "bf16"))
    return planned


def test_the_budget_section_recomputes_every_cell_and_claim_at_each_8k_steps(tmp_path: Path) -> None:
    from omrl_bench.bench.grids.distribution_shift import budget_section, tables_by_step

    planned = _fake_runs(tmp_path / "runs", 24000)
    by_step = tables_by_step(planned)
    assert list(by_step) == [8000, 16000, 24000]
    for step, table in by_step.items():
        t = table.set_index(["algorithm", "train", "test"])
        assert t.loc[("FOCAL", "medium", "medium"), "mean"] == pytest.approx(step / 8000 + 1 + 0.05)
        assert t.loc[("FOCAL", "medium", "random"), "drop"] == pytest.approx(1.0)
    text = budget_section(planned, tmp_path / "report")
    assert "| algorithm | train | test context | 8k | 16k | 24k |" in text and "| claim | 8k | 16k | 24k |" in text
    assert "| FOCAL | expert | expert | 2.05 | 3.05 | 4.05 |" in text
    assert (tmp_path / "report" / "figures" / "budget.png").exists()


def test_the_budget_steps_end_at_the_budget() -> None:
    from omrl_bench.bench.budget import budget_steps

    assert budget_steps([28000, 30000]) == [8000, 16000, 24000, 28000]
    assert budget_steps([24000]) == [8000, 16000, 24000] and budget_steps([6000]) == []


def test_no_budget_section_for_runs_of_one_budget_step(tmp_path: Path) -> None:
    from omrl_bench.bench.grids.distribution_shift import budget_section

    assert budget_section(_fake_runs(tmp_path / "runs", 8000), tmp_path / "report") == ""
