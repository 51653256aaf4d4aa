"""The paper's experiment grids, expanded into training runs, planned against finished runs and executed.

A grid is a list of cells (algorithm, variant, suite, train quality, seed, momentum update). Every
cell is one ``omrl-bench run`` with all three test-context qualities, in the same run directory an
``omrl-bench run --out`` of the same settings would use, so one training run serves every table that
needs it and a killed grid resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omrl_bench.bench.run import RunSpec, run_config
from omrl_bench.core.registry import algorithms, check_variant, get_algorithm, label
from omrl_bench.core.train_config import PRECISIONS, data_preset, resolve_config
from omrl_bench.datasets.recipe import QUALITIES
from omrl_bench.envs.suites import SUITES
from omrl_bench.errors import OmrlError

COLLAPSED_RMS = 0.01  # a run whose test tasks' mean embeddings spread less than this (RMS) has one embedding

SPR = "sparse-point-robot"
POINT_ROBOTS = (SPR, "point-robot-wind")
Row = tuple[str, str]  # (algorithm, variant): one row of a table
FOCAL: Row = ("focal", "focal")  # the baseline row of every built-in grid


@dataclass(frozen=True)
class Option:
    """What a grid varies besides algorithm, suite, quality and seed."""

    hard_update: bool = False  # FOCAL++'s key encoder copied every step instead of the momentum update
    precision: str | None = None  # fp32 | bf16; None: the preset's (or --precision)
    setting: str = ""  # a named training setting: the run's tag
    overrides: tuple[str, ...] = ()  # what the setting stands for (config overrides)
    only_suites: tuple[str, ...] = ()  # the suites the option applies to (empty: every suite) ...
    not_suites: tuple[str, ...] = ()  # ... except these


def returns_rows() -> tuple[Row, ...]:
    """Every registered algorithm with each of its table variants (plug-ins included)."""
    return tuple((a, v) for a, spec in algorithms().items() if spec.in_returns for v in spec.table_variants)


def focal_pair() -> tuple[Row, ...]:
    return (("focal", "focal"), ("focalpp", get_algorithm("focalpp").default_variant))  # Tables 2 and 3


def focalpp_rows() -> tuple[Row, ...]:
    return tuple(("focalpp", v) for v in get_algorithm("focalpp").table_variants)


Frame = Any  # a pandas DataFrame (pandas is imported where tables are built, not to plan a grid)


@dataclass(frozen=True)
class Grid:
    """One experiment grid and its table: everything ``reproduce``, the CLI and the tables read.

    The cells are rows x suites x training qualities x options x seeds. ``table`` aggregates the finished
    runs (``tables.collect``'s frame) into a frame, ``columns`` turns its records into Markdown cells,
    ``claims`` judges the claims the table tests (none: no claims section). ``baseline`` is the row the
    others are compared with (differences, P(improvement)), whether or not it is first. A grid whose
    ``report`` is set writes its own output (the figures) instead of a table."""

    name: str
    title: str
    rows: Callable[[], tuple[Row, ...]]
    suites: tuple[str, ...]
    table: Callable[[Frame, tuple[str, ...], tuple[Row, ...], Row], Frame] | None = None
    columns: Callable[[list[dict[str, Any]], int, str], tuple[list[str], list[list[str]]]] | None = None
    train_qualities: tuple[str, ...] = ("expert",)
    options: tuple[Option, ...] = (Option(),)
    one_suite: bool = False  # compares runs on one suite
    baseline: Row = ("focal", "focal")
    claims: Callable[[Frame], list[str]] = lambda _table: []
    claims_heading: str = "Claims of the paper:"
    after_table: Callable[[Frame], str] = lambda _table: ""  # text between the table and the claims
    after_claims: Callable[[Frame], str] = lambda _table: ""
    note: str | Callable[[list[Planned]], str] = ""  # the header's note (a callable reads the planned runs)
    stats_line: str | None = (
        "- Ours: mean (sample std) over seeds and a bootstrap 95% CI of the mean; paper: mean (std)."
    )
    extra: Callable[[list[Planned], Path], str] | None = None  # a section after the claims (e.g. a figure's)
    report: Callable[[Any], Any] | None = None  # writes the grid's own output instead of a table

    def note_for(self, planned: list[Planned]) -> str:
        return self.note(planned) if callable(self.note) else self.note

    def options_for(self, suite: str) -> tuple[Option, ...]:
        return tuple(
            o for o in self.options if (not o.only_suites or suite in o.only_suites) and suite not in o.not_suites
        )


GRIDS: dict[str, Grid] = {}  # filled by register_grid (the built-in grids: bench/grids/__init__.py)


def register_grid(grid: Grid) -> Grid:
    """Add ``grid`` to the registry; a second grid of the same name is an error."""
    if grid.name in GRIDS and GRIDS[grid.name] is not grid:
        raise OmrlError(f"a grid named {grid.name!r} is already registered")
    GRIDS[grid.name] = grid
    return grid


def unregister_grid(name: str) -> None:
    GRIDS.pop(name, None)


def get_grid(name: str) -> Grid:
    """The registered grid ``name``, or a one-line error listing them."""
    algorithms()  # plug-ins load with the algorithm registry, and may register grids of their own
    try:
        return GRIDS[name]
    except KeyError:
        raise OmrlError(f"unknown grid {name!r}; choose one of: {', '.join(GRIDS)}") from None


@dataclass(frozen=True)
class Cell:
    """One training run of a grid; it is tested with context of every quality."""

    algo: str
    variant: str
    suite: str
    train_quality: str
    seed: int
    hard_update: bool = False
    precision: str | None = None
    setting: str = ""
    overrides: tuple[str, ...] = ()  # reproduce --set: applied where the algorithm reads the key
    setting_overrides: tuple[str, ...] = ()  # what ``setting`` stands for

    @property
    def label(self) -> str:
        return label(self.algo, self.variant)

    def spec(self, preset: str, device: str) -> RunSpec:
        implied: tuple[str, ...] = ("task_loss.hard_update=true",) if self.hard_update else ()
        implied += self.setting_overrides
        tag = "-".join(t for t in ("hard" if self.hard_update else "", self.setting) if t)
        return RunSpec(
            self.algo,
            self.variant,
            self.suite,
            self.train_quality,
            QUALITIES,
            self.seed,
            preset,
            data_preset(preset),
            device,
            self.overrides,
            tag,
            self.precision,
            implied,
        )


def parse_suites(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))  # a repeat is one suite
    bad = [s for s in names if s not in SUITES]
    if bad or not names:
        raise OmrlError(f"unknown suite {', '.join(bad) or repr(text)}; choose from: {', '.join(SUITES)}")
    return names


def parse_precision(text: str | None) -> str | None:
    """``--precision``: ``fp32`` or ``bf16`` for every run, or ``SUITE=PRECISION,...`` for those suites' runs
    (the other suites train in the preset's); returned in a canonical form, checked here before any work."""
    if text is None or "=" not in text:
        if text is not None and text not in PRECISIONS:
            raise OmrlError(f"--precision {text!r}: give {' or '.join(PRECISIONS)}, or SUITE=PRECISION,...")
        return text
    items: dict[str, str] = {}
    for item in (s.strip() for s in text.split(",") if s.strip()):
        suite, _, value = (part.strip() for part in item.partition("="))
        if suite not in SUITES:
            raise OmrlError(f"--precision: unknown suite {suite!r}; choose from: {', '.join(SUITES)}")
        if value not in PRECISIONS:
            raise OmrlError(f"--precision {item!r}: give {suite}={' or '.join(PRECISIONS)}")
        if items.get(suite, value) != value:
            raise OmrlError(f"--precision names {suite} twice with different precisions")
        items[suite] = value
    return ",".join(f"{s}={items[s]}" for s in SUITES if s in items)


def suite_precision(precision: str | None, suite: str) -> str | None:
    """The precision ``--precision`` (:func:`parse_precision`'s form) gives ``suite``'s runs; None: the preset's."""
    if precision is None or "=" not in precision:
        return precision
    return dict(item.split("=", 1) for item in precision.split(",")).get(suite)


def parse_algos(text: str | None) -> tuple[Row, ...] | None:
    """``--algos NAME[:VARIANT],...``: a name alone means its table variants (every one in the returns table)."""
    if text is None:
        return None
    rows: list[Row] = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name, _, variant = item.partition(":")
        spec = get_algorithm(name)
        rows += [(name, check_variant(spec, variant))] if variant else [(name, v) for v in spec.table_variants]
    if not rows:
        raise OmrlError(f"--algos: no algorithm in {text!r}; choose from: {', '.join(algorithms())}")
    return tuple(dict.fromkeys(rows))


def _set_for(row: Row, suite: str, preset: str, overrides: tuple[str, ...]) -> tuple[str, ...]:
    """The ``--set`` overrides that ``row``'s algorithm reads (each is checked against its config)."""
    from omrl_bench.core.train_config import has_key

    config = get_algorithm(row[0]).config
    mine = tuple(item for item in overrides if has_key(config, item.split("=", 1)[0]))
    resolve_config(row[0], row[1], suite, preset, list(mine))  # a bad value for a key it reads: the error
    return mine


def expand(
    name: str,
    seeds: int,
    suites: tuple[str, ...] | None = None,
    precision: str | None = None,
    rows: tuple[Row, ...] | None = None,
    overrides: tuple[str, ...] = (),
    preset: str = "cpu",
) -> list[Cell]:
    """The cells of grid ``name`` over seeds 0..seeds-1: ``suites`` and ``rows`` replace the grid's own,
    ``precision`` the preset's (for every suite, or per suite: see :func:`parse_precision`; not in the
    precision grid, which trains both), ``overrides`` (``--set``) go to every algorithm that reads their key."""
    grid = get_grid(name)
    if seeds < 1:
        raise OmrlError("--seeds must be at least 1")
    chosen = suites or grid.suites
    if grid.one_suite and len(chosen) != 1:
        raise OmrlError(f"grid {name} compares runs on one suite; give one with --suites")
    precision = parse_precision(precision)
    if precision is not None and any(o.precision for o in grid.options):
        raise OmrlError(f"the {name} grid trains both fp32 and bf16; drop --precision")
    chosen_rows = rows or grid.rows()
    for item in overrides:
        if not any(_set_for(r, chosen[0], preset, (item,)) for r in chosen_rows):
            resolve_config(chosen_rows[0][0], chosen_rows[0][1], chosen[0], preset, [item])  # its one-line error
    return [
        Cell(
            a,
            v,
            s,
            q,
            k,
            o.hard_update,
            o.precision or suite_precision(precision, s),
            o.setting,
            _set_for((a, v), s, preset, overrides),
            o.overrides,
        )
        for s in chosen
        for a, v in chosen_rows
        for o in grid.options_for(s)
        for q in grid.train_qualities
        for k in range(seeds)
    ]


def default_suites(name: str) -> tuple[str, ...]:
    return get_grid(name).suites


@dataclass(frozen=True)
class Planned:
    cell: Cell
    spec: RunSpec
    run_dir: Path
    status: str  # "done", "partial" (a checkpoint to resume) or "new"
    precision: str  # the resolved fp32 | bf16 the run trains in
    config: dict[str, Any] = field(default_factory=dict)  # the run's resolved config (what config.yaml holds)


def _comparable(config: dict[str, Any]) -> Any:
    """``config`` as JSON would return it, in today's shape (only the keys its algorithm reads)."""
    from omrl_bench.core.trainer import migrate_config

    return json.loads(json.dumps(migrate_config(config)))


def _saved_config(final: Path) -> dict[str, Any]:
    """The config inside a finished run's report; a damaged report is a one-line error."""
    try:
        report = json.loads(final.read_text())
        if not isinstance(report, dict) or not {"config", "test", "embeddings"} <= report.keys():
            raise ValueError
        config: dict[str, Any] = report["config"]
        return config
    except (ValueError, OSError):  # JSONDecodeError is a ValueError
        raise OmrlError(f"{final} is not a run report; remove it to rerun that cell") from None


def plan(cells: list[Cell], preset: str, device: str, out: Path) -> list[Planned]:
    """Resolve every cell's config (bad keys fail here, before any work) and find its finished or partial run."""
    from omrl_bench.core.trainer import CHECKPOINT, migrate_config, same_config

    planned, mismatched, old_protocol = [], [], []
    for cell in cells:
        spec = cell.spec(preset, device)
        variant, _, config = run_config(spec)
        run_dir = out / spec.run_name(variant)
        final = run_dir / "final.json"
        if final.exists():
            saved = _saved_config(final)
            if _comparable(saved) != _comparable(config):
                mismatched.append(run_dir)
                if migrate_config(saved)["data_protocol"] != config["data_protocol"]:
                    old_protocol.append(run_dir)
            status = "done"
        elif (run_dir / CHECKPOINT).exists():
            if not same_config(run_dir, config):  # the trainer would refuse to resume it: say so before any work
                mismatched.append(run_dir)
            status = "partial"
        else:
            status = "new"
        planned.append(Planned(cell, spec, run_dir, status, config["config"]["precision"], config))
    if old_protocol:
        raise OmrlError(
            f"{len(old_protocol)} run(s) under {out} were trained on data protocol "
            f"v{migrate_config(_saved_config(old_protocol[0] / 'final.json'))['data_protocol']} datasets, this "
            f"grid trains on v{config['data_protocol']} (first: {old_protocol[0].name}); move them away or "
            "choose another --out"
        )
    if mismatched:
        raise OmrlError(
            f"{len(mismatched)} run(s) under {out} were made with another config than this grid's "
            f"(first: {mismatched[0].name}); move them away or choose another --out"
        )
    return planned


def finished(planned: list[Planned]) -> list[Planned]:
    """The planned runs that have a final report (status "done")."""
    return [p for p in planned if p.status == "done"]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def run_cell(spec: RunSpec, out: str, root: str | None, name: str, plugins: tuple[str, ...] = ()) -> dict[str, Any]:
    """Worker entry point: train and evaluate one cell (resuming its checkpoint); never raises."""
    import torch

    from omrl_bench.bench.run import execute
    from omrl_bench.core.registry import import_plugins

    torch.set_num_threads(1)
    try:
        import_plugins(plugins)
        report = execute(spec, Path(out), Path(root) if root else None, resume=True, progress=False)
    except Exception as exc:  # one failed cell must not stop the others; the grid reports it at the end
        return {"run": name, "error": _one_line(exc)}
    test = report["test"]
    return {"run": name, "return": test[spec.train_quality]["mean_return"], "wall_s": report["train_wall_time_s"]}


def ensure_datasets(suites: Iterable[str], preset: str, root: Path, executor: Any, archive: Path | None = None) -> None:
    """Generate (idempotently) every dataset a suite's cells need; published ones are kept, and tasks in
    the policy ``archive`` are rebuilt from it."""
    from omrl_bench.datasets.pipeline import generate
    from omrl_bench.datasets.recipe import load_recipe

    for suite in dict.fromkeys(suites):
        recipe = load_recipe(suite, data_preset(preset), 0, [])
        generate(recipe, root, tuple(range(recipe.config.n_tasks)), QUALITIES, executor, archive=archive)


def execute_plan(
    planned: list[Planned],
    preset: str,
    out: Path,
    root: Path,
    executor: Any,
    on_done: Callable[[dict[str, Any]], None],
    archive: Path | None = None,
) -> list[dict[str, Any]]:
    """Run every unfinished cell on ``executor`` (datasets generated first); return the failures."""
    todo = [p for p in planned if p.status != "done"]
    if not todo:
        return []
    ensure_datasets((p.cell.suite for p in todo), preset, root, executor, archive)
    failures = []
    from omrl_bench.core.registry import plugin_modules

    calls = [(p.spec, str(out), str(root), p.run_dir.name, plugin_modules()) for p in todo]
    try:
        for result in executor.map_unordered(run_cell, calls):
            on_done(result)
            if "error" in result:
                failures.append(result)
    except Exception as exc:  # a worker process died (out of memory, a crash): keep what finished
        failures.append({"run": "a worker", "error": _one_line(exc)})
    return failures
