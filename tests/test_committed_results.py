"""The run records committed under ``docs/results/<preset>/runs`` still match what the code runs today.

The tables in ``docs/results`` are written from these records, and ``omrl-bench reproduce`` continues a
grid from them. A record whose config the current preset no longer produces would be refused by the
grid (or, worse, cited beside runs of another config), so a change to a preset fails here first.
Records of an earlier data protocol are kept, frozen, under ``docs/results/protocol-vN/<preset>/runs``:
they must still read as run reports of that protocol.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omrl_bench.bench import grids, tables
from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.datasets.recipe import QUALITIES
from omrl_bench.envs.suites import SUITES

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
ARCHIVES = sorted(p for p in RESULTS.glob("*/runs") if p.is_dir() and not p.parent.name.startswith("protocol-v"))
FROZEN = sorted(p for p in RESULTS.glob("protocol-v*/*/runs") if p.is_dir())


def _cells_by_name(preset: str, seeds: int) -> dict[str, grids.Cell]:
    """Every cell of every grid over seeds 0..seeds-1, on any suite ``--suites`` can choose and in any
    precision ``--precision`` can give, by the run directory name it trains into (one suite at a time
    for the grids that compare runs on one)."""
    cells = {}
    for name, grid in grids.GRIDS.items():
        choices = [(s,) for s in SUITES] if grid.one_suite else [tuple(SUITES)]
        precisions = [None] if any(o.precision for o in grid.options) else [None, *PRECISIONS]
        for suites in choices:
            for precision in precisions:
                for cell in grids.expand(name, seeds, suites, precision):
                    cells[cell.spec(preset, "cpu").run_name(cell.variant)] = cell
    return cells


def test_there_is_a_committed_archive() -> None:
    assert ARCHIVES or FROZEN, f"no run records under {RESULTS}"
    assert any((run / "final.json").exists() for archive in ARCHIVES + FROZEN for run in archive.iterdir())


@pytest.mark.parametrize("archive", FROZEN, ids=lambda p: p.parent.parent.name + "-" + p.parent.name)
def test_frozen_records_read_as_reports_of_their_protocol(archive: Path) -> None:
    from omrl_bench.core.trainer import migrate_config

    version = int(archive.parent.parent.name.removeprefix("protocol-v"))
    runs = sorted(p.parent for p in archive.glob("*/final.json"))
    assert runs, f"no finished records under {archive}"
    for run in runs:
        report = json.loads((run / "final.json").read_text())
        config = migrate_config(report["config"])
        assert config["data_protocol"] == version, run.name
        assert config["config"]["precision"] in ("fp32", "bf16") and report["steps"] == config["config"]["steps"]
        assert set(report["test"]) == set(config["test_qualities"]) and "rms" in report["embeddings"]["test"]


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
    assert len(frame) == len(QUALITIES) * len(runs)  # every record was tested with context of every quality
    for p in planned:
        report = json.loads((p.run_dir / "final.json").read_text())
        assert report["steps"] == report["config"]["config"]["steps"], f"{p.run_dir.name} stopped early"
        assert (p.run_dir / "progress.csv").exists() and (p.run_dir / "embeddings.npz").exists()


def test_only_finished_runs_are_committed() -> None:
    """Every run directory in git's index has its final.json there too: a run still training is not
    archived (a partial record would be cited by nothing, and confuse what the archive holds)."""
    import subprocess

    root = RESULTS.parents[1]
    listed = subprocess.run(["git", "ls-files", "docs/results"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist): nothing is committed to check")
    files = [Path(f) for f in listed.stdout.splitlines()]
    runs = {Path(*f.parts[: f.parts.index("runs") + 2]) for f in files if "runs" in f.parts[:-2]}
    unfinished = sorted(str(r) for r in runs if r / "final.json" not in set(files))
    assert runs and not unfinished, f"committed run directories without final.json: {unfinished}"


def test_a_grid_report_gives_the_training_wall_time_of_each_suite() -> None:
    """The methods grid's committed point-robot records: the compute line sums each suite's runs."""
    from omrl_bench.bench.reproduce import provenance

    suites = ("sparse-point-robot", "point-robot-wind")
    planned = grids.plan(grids.expand("methods", 3, suites, None), "cpu", "cpu", RESULTS / "cpu" / "runs")
    done = grids.finished(planned)
    assert {p.cell.suite for p in done} == set(suites)
    walls = {s: 0.0 for s in suites}
    for p in done:
        walls[p.cell.suite] += json.loads((p.run_dir / "final.json").read_text())["train_wall_time_s"]
    text = provenance("methods", "omrl-bench reproduce methods", "cpu", 3, planned, 60.0)
    line = next(x for x in text.splitlines() if x.startswith("- Compute:"))
    each = f"(sparse-point-robot {walls[suites[0]] / 3600:.2f} h, point-robot-wind {walls[suites[1]] / 3600:.2f} h)"
    assert line.startswith(f"- Compute: {sum(walls.values()) / 3600:.2f} h of training wall time") and each in line
