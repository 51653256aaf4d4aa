"""The run records committed under ``docs/results/<preset>/runs`` still match what the code runs today.

The tables in ``docs/results`` are written from these records, and ``omrl-bench reproduce`` continues a
grid from them. A record whose config the current preset no longer produces would be refused by the
grid (or, worse, cited beside runs of another config), so a change to a preset fails here first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omrl_bench.bench import grids, tables

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
ARCHIVES = sorted(p for p in RESULTS.glob("*/runs") if p.is_dir())


def _cells_by_name(preset: str, seeds: int) -> dict[str, grids.Cell]:
    """Every cell of every grid over seeds 0..seeds-1, by the run directory name it trains into."""
    cells = {}
    for name in grids.GRIDS:
        for cell in grids.expand(name, seeds):
            cells[cell.spec(preset, "cpu").run_name(cell.variant)] = cell
    return cells


def test_there_is_a_committed_archive() -> None:
    assert ARCHIVES, f"no run records under {RESULTS}/*/runs"
    assert any((run / "final.json").exists() for archive in ARCHIVES for run in archive.iterdir())


@pytest.mark.parametrize("archive", ARCHIVES, ids=lambda p: p.parent.name)
def test_every_finished_record_is_a_grid_run_with_todays_config(archive: Path) -> None:
    preset = archive.parent.name
    runs = sorted(p.parent for p in archive.glob("*/final.json"))  # a run still training has none yet
    seeds = [int(m.group(1)) for p in runs if (m := re.search(r"-s(\d+)(-[a-z0-9.]+)*$", p.name))]
    known = _cells_by_name(preset, 1 + max(seeds, default=0))
    unknown = [p.name for p in runs if p.name not in known]
    assert not unknown, f"records that no grid trains: {unknown}"
    # plan() resolves each cell's config with today's presets and raises if a finished run differs
    planned = grids.plan([known[p.name] for p in runs], preset, "cpu", archive)
    assert [p.status for p in planned] == ["done"] * len(runs)
    frame = tables.collect(planned)
    assert len(frame) == 3 * len(runs)  # every record was tested with context of all three qualities
    for p in planned:
        report = json.loads((p.run_dir / "final.json").read_text())
        assert report["steps"] == report["config"]["config"]["steps"], f"{p.run_dir.name} stopped early"
        assert (p.run_dir / "progress.csv").exists() and (p.run_dir / "embeddings.npz").exists()
