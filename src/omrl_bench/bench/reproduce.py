"""``omrl-bench reproduce NAME``: expand a grid, run what is not finished, write its table or figures.

Tables and figures go to ``--report`` (``<name>.md`` and ``<name>.csv``, or ``figures/*.png``), each
Markdown file headed by the command, preset, seeds, package versions and compute time that produced it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omrl_bench.bench import grids
from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.errors import OmrlError

PRECISION_NAMES = {
    "fp32": "fp32 (float32 throughout)",
    "bf16": "bf16 (bfloat16 autocast of the forward passes; float32 weights, optimiser state, output layers and "
    "losses)",
}


@dataclass
class ReproduceResult:
    planned: list[grids.Planned]
    failures: list[dict[str, Any]]
    outputs: list[Path]
    table: str | None  # the Markdown table, for the terminal


def default_report(out: Path) -> Path:
    """Where tables and figures go when ``--report`` is not given."""
    return out / "report"


def command_line(
    name: str,
    preset: str,
    seeds: int,
    suites: tuple[str, ...] | None,
    device: str,
    out: Path,
    report: Path,
    precision: str | None = None,
    algos: tuple[grids.Row, ...] | None = None,
    overrides: tuple[str, ...] = (),
) -> str:
    """The command that rewrites this table: ``--out`` holds the run records read, ``--report`` the output."""
    parts = ["omrl-bench reproduce", name, f"--preset {preset}", f"--seeds {seeds}"]
    if suites:
        parts.append(f"--suites {','.join(suites)}")
    if algos:
        parts.append("--algos " + ",".join(f"{a}:{v}" for a, v in algos))
    parts += [f"--set {o}" for o in overrides]
    if precision:
        parts.append(f"--precision {precision}")
    if device != "cpu":
        parts.append(f"--device {device}")
    parts.append(f"--out {out.as_posix()}")
    if report != default_report(out):
        parts.append(f"--report {report.as_posix()}")
    return " ".join(parts)


def _data_line(planned: list[grids.Planned], configs: list[dict[str, Any]], preset: str) -> str:
    """Which datasets (protocol version, recipe fingerprints) and which training preset the runs use."""
    from omrl_bench.core.train_config import data_preset, preset_fingerprint
    from omrl_bench.datasets.recipe import load_recipe

    protocols = sorted({c["data_protocol"] for c in configs})
    suites = list(dict.fromkeys(p.cell.suite for p in planned))
    data = data_preset(preset)
    recipes = ", ".join(f"{s} {load_recipe(s, data).fingerprint}" for s in suites)
    versions = " and ".join(f"v{v}" for v in protocols)
    return (
        f"- Data: protocol {versions} datasets (`omrl/<suite>-{data}/task-XX/<quality>-v{protocols[-1]}`), "
        f"recipe fingerprints {recipes}; training preset `{preset}` fingerprint {preset_fingerprint(preset)}."
    )


def _precision_line(planned: list[grids.Planned], configs: list[dict[str, Any]]) -> str:
    """The precisions the runs train in; per suite where the suites' differ (``--precision SUITE=...``)."""
    by_suite: dict[str, set[str]] = {}
    for p, c in zip(planned, configs, strict=True):
        by_suite.setdefault(p.cell.suite, set()).add(c["config"]["precision"])

    def names(precisions: set[str]) -> str:
        return " and ".join(PRECISION_NAMES[p] for p in sorted(precisions, key=PRECISIONS.index))

    groups: dict[str, list[str]] = {}
    for suite, precisions in by_suite.items():
        groups.setdefault(names(precisions), []).append(suite)
    if len(groups) == 1:
        return f"- Precision: {next(iter(groups))}."
    return "- Precision: " + "; ".join(f"{', '.join(suites)}: {text}" for text, suites in groups.items()) + "."


def _title(grid: grids.Grid, planned: list[grids.Planned]) -> str:
    """The grid's title, naming the suite a one-suite grid ran on where that is not its own."""
    suites = {p.cell.suite for p in planned}
    if grid.one_suite and len(suites) == 1 and (suite := suites.pop()) != grids.SPR:
        return grid.title.replace("Sparse-Point-Robot", "-".join(w.capitalize() for w in suite.split("-")))
    return grid.title


def _preset_words(preset: str) -> str:
    """``cpu`` (training and datasets), or ``cpu-table7`` (training) on the ``cpu`` datasets."""
    from omrl_bench.core.train_config import data_preset

    data = data_preset(preset)
    return f"`{preset}` (training and datasets)" if data == preset else f"`{preset}` (training), `{data}` datasets"


def provenance(name: str, command: str, preset: str, seeds: int, planned: list[grids.Planned], wall_s: float) -> str:
    """The Markdown header every result file carries."""
    import json

    from omrl_bench.bench.run import run_config
    from omrl_bench.datasets.pipeline import package_versions

    grid = grids.get_grid(name)
    done = grids.finished(planned)
    configs = [p.config or run_config(p.spec)[2] for p in planned]  # as plan() resolved them
    walls: dict[str, float] = {}  # per suite, in the grid's order
    for p in done:
        wall = json.loads((p.run_dir / "final.json").read_text())["train_wall_time_s"]
        walls[p.cell.suite] = walls.get(p.cell.suite, 0.0) + wall
    run_wall = sum(walls.values())
    per_suite = " (" + ", ".join(f"{s} {w / 3600:.2f} h" for s, w in walls.items()) + ")" if len(walls) > 1 else ""
    versions = package_versions()
    import matplotlib
    import pandas

    versions |= {"pandas": pandas.__version__, "matplotlib": matplotlib.__version__}
    lines = [
        f"# {_title(grid, planned)}",
        "",
        f"- Command: `{command}`",
        f"- Preset: {_preset_words(preset)}; seeds 0 to {seeds - 1}; "
        f"{len(done)} of {len(planned)} training runs finished.",
        _precision_line(planned, configs),
        _data_line(planned, configs, preset),
        f"- Compute: {run_wall / 3600:.2f} h of training wall time summed over the finished runs{per_suite}; "
        f"this invocation took {wall_s / 60:.1f} min.",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Written: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    note = grid.note_for(planned)
    lines += [f"- {note}"] if note else []
    if grid.stats_line:
        # with 3 seeds each extreme's all-same resample has probability 1/27 > 2.5%
        extra = " With 3 seeds the percentile interval is the range of the seeds' values." if seeds == 3 else ""
        lines.append(grid.stats_line + (extra if grid.stats_line.startswith("- Ours") else ""))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Context:
    """What a grid's output is written from: the planned runs and the invocation's settings."""

    grid: grids.Grid
    planned: list[grids.Planned]
    preset: str
    seeds: int
    suites: tuple[str, ...]
    device: str
    out: Path
    report: Path
    root: Path
    run: bool
    executor_factory: Callable[[], Any]
    archive: Path | None
    precision: str | None
    command: str
    t0: float

    def header(self) -> str:
        return provenance(self.grid.name, self.command, self.preset, self.seeds, self.planned, time.time() - self.t0)


def _write_table(ctx: Context, rows: tuple[grids.Row, ...]) -> tuple[list[Path], str]:
    from omrl_bench.bench import tables

    table = tables.build(ctx.grid, tables.collect(ctx.planned), ctx.suites, rows)
    header = ctx.header()
    extra = ctx.grid.extra(ctx.planned, ctx.report) if ctx.grid.extra else ""
    csv, md, body = tables.write(
        ctx.grid, table, ctx.seeds, header, ctx.report, extra, report_stem(ctx.grid.name, ctx.suites)
    )
    return [csv, md], body


def _check_device(device: str, run: bool) -> None:
    """A known device, and a CUDA device present where runs will train on one."""
    from omrl_bench.bench.run import check_device

    check_device(device)
    if run and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise OmrlError("--device cuda requested but no CUDA device is available")


def reproduce(
    name: str,
    preset: str,
    seeds: int,
    suites: tuple[str, ...] | None,
    out: Path,
    report: Path,
    root: Path,
    executor_factory: Callable[[], Any],
    run: bool = True,
    device: str = "cpu",
    precision: str | None = None,
    on_plan: Callable[[list[grids.Planned]], None] = lambda _p: None,
    on_done: Callable[[dict[str, Any]], None] = lambda _r: None,
    algos: tuple[grids.Row, ...] | None = None,
    overrides: tuple[str, ...] = (),
    archive: Path | None = None,
) -> ReproduceResult:
    """Run grid ``name`` (unless ``run`` is false) and write its table or figures from the finished runs.

    ``algos`` replaces the grid's (algorithm, variant) rows; ``overrides`` are ``--set`` values, each given
    to the algorithms that read its key; missing datasets are rebuilt from the policy ``archive`` where it
    has their tasks."""
    t0 = time.time()
    _check_device(device, run)
    grid = grids.get_grid(name)
    cells = grids.expand(name, seeds, suites, precision, algos, overrides, preset)
    planned = grids.plan(cells, preset, device, out)
    on_plan(planned)
    failures: list[dict[str, Any]] = []
    if run:
        failures = grids.execute_plan(planned, preset, out, root, executor_factory(), on_done, archive)
        planned = grids.plan(cells, preset, device, out)
    command = command_line(name, preset, seeds, suites, device, out, report, precision, algos, overrides)
    ctx = Context(
        grid,
        planned,
        preset,
        seeds,
        suites or grid.suites,
        device,
        out,
        report,
        root,
        run,
        executor_factory,
        archive,
        precision,
        command,
        t0,
    )
    if grid.report is not None:
        outputs, body = grid.report(ctx)
        return ReproduceResult(planned, failures, outputs, body)
    outputs, body = _write_table(ctx, algos or grid.rows())
    return ReproduceResult(planned, failures, outputs, body)


def report_stem(name: str, suites: tuple[str, ...]) -> str:
    """A table's file name: the grid's, with the suite appended when a one-suite grid ran on another
    suite than its own (the Ant training-setting table does not overwrite Sparse-Point-Robot's)."""
    grid = grids.get_grid(name)
    return f"{name}-{suites[0]}" if grid.one_suite and suites != grid.suites else name
