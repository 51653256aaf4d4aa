"""Command line: ``omrl-bench generate-data``, ``run``, ``reproduce``, ``grids``, ``algorithms`` and
``datasets list|show|plot|reference-scores|verify``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.errors import OmrlError

SMOKE_NOTE = (
    "note: the smoke preset only checks that everything runs; its returns, RMS and ESR are not meaningful "
    "(--preset cpu is the real budget)"
)


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OmrlError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # a path that cannot be written or read (a file where a folder goes, no space)
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None

    return wrapper


class _RegistryHelp(click.Option):
    """An option whose help lists the registered algorithms (read when the help is shown, not at import)."""

    def __init__(self, *args: Any, registry_help: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry_help = registry_help

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.registry_help()
        return super().get_help_record(ctx)


def _suite_help() -> str:
    from omrl_bench.envs.suites import SUITES

    return "one of: " + ", ".join(SUITES)


def _algo_help() -> str:
    from omrl_bench.core.registry import algorithms

    return "one of: " + ", ".join(algorithms()) + " (omrl-bench algorithms lists them)"


def _variant_help() -> str:
    from omrl_bench.core.registry import algorithms

    many = [f"{name}: {', '.join(spec.variants)}" for name, spec in algorithms().items() if len(spec.variants) > 1]
    return "default: the algorithm's; " + "; ".join(many)


def _algos_help() -> str:
    return "NAME[:VARIANT],... instead of the grid's rows; " + _algo_help()


def _root(root: str | None, must_exist: bool = False) -> Path:
    """The dataset root (``--root`` or Minari's default); a file there, or a missing folder where one must
    exist, is a one-line error (not a hint to generate into it)."""
    from omrl_bench.datasets.pipeline import default_root

    path = Path(root) if root else default_root()
    what = "--root" if root else "the dataset root ($MINARI_DATASETS_PATH)"
    if path.exists() and not path.is_dir():
        raise OmrlError(f"{what} {path} is a file, not a folder of datasets")
    if must_exist and not path.exists():
        raise OmrlError(f"{what} {path}: no such folder")
    return path


def _items(text: str, option: str) -> tuple[str, ...]:
    """A comma-separated option value: at least one item, no empty item, none twice."""
    items = tuple(item.strip() for item in text.split(","))
    if not text.strip():
        raise OmrlError(f"{option}: give at least one value (comma-separated)")
    if "" in items:
        raise OmrlError(f"{option} {text!r}: an empty item between commas; give comma-separated values")
    twice = [item for i, item in enumerate(items) if item in items[:i]]
    if twice:
        raise OmrlError(f"{option} {text!r}: {twice[0]!r} is given twice")
    return items


def _check_executor(executor: str, ray_address: str | None) -> None:
    if executor not in ("local", "ray"):
        raise OmrlError(f"unknown executor {executor!r}; choose one of: local, ray")
    if ray_address and executor != "ray":
        raise OmrlError("--ray-address joins a Ray cluster: it needs --executor ray")


def _command(ctx: click.Context, *extra: str) -> str:
    """The command line that invoked ``ctx``'s command (the options the user gave), plus ``extra``."""
    import shlex

    words = ["omrl-bench", *(ctx.command_path.split()[1:])]
    for param in ctx.command.params:
        if param.name is None or ctx.get_parameter_source(param.name) in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words.append(str(value))
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            words += [flag] if value else []
        else:
            words += [w for v in (value if param.multiple else (value,)) for w in (flag, str(v))]
    return shlex.join([*words, *extra])


def _warn_bf16(device: str, precisions: set[str]) -> None:
    """Say before any work when the runs' bf16 would be emulated on this device (many times slower)."""
    import torch

    from omrl_bench.core.precision import bf16_warning

    message = bf16_warning(torch.device(device), precisions)
    if message:
        click.echo(f"warning: {message}", err=True)


@click.group()
@click.version_option(package_name="omrl-bench")
def main() -> None:
    """omrl-bench: offline meta-RL benchmark suite."""


@main.command("generate-data")
@click.option("--suite", required=True, cls=_RegistryHelp, registry_help=_suite_help)
@click.option("--preset", default="cpu", show_default=True, help="smoke, cpu or paper")
@click.option("--tasks", default=None, help="comma-separated task indices (default: all)")
@click.option(
    "--qualities", default=None, help="comma-separated subset of expert,medium,random,mixed (or add untrained)"
)
@click.option("--executor", default="local", show_default=True, help="local or ray")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--ray-address", default=None, help="join this Ray cluster (with --executor ray)")
@click.option("--seed", default=0, show_default=True, type=int, help="base seed, 0 to 2**32 - 1")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@click.option("--set", "overrides", multiple=True, help="override a preset key, e.g. sac.total_steps=2000")
@click.option(
    "--archive",
    default=None,
    help="policy archive folder: tasks found there are rebuilt without SAC, finished ones are added "
    "(docs/results/datasets/policies holds the cpu MuJoCo suites')",
)
@_one_line_errors
def generate_data(
    suite: str,
    preset: str,
    tasks: str | None,
    qualities: str | None,
    executor: str,
    workers: int,
    ray_address: str | None,
    seed: int,
    root: str | None,
    overrides: tuple[str, ...],
    archive: str | None,
) -> None:
    """Train one SAC agent per task and publish expert/medium/random/mixed Minari datasets (protocol v1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omrl_bench.datasets.pipeline import generate, parse_qualities, parse_tasks
    from omrl_bench.datasets.recipe import load_recipe
    from omrl_bench.executors import make_executor

    # every check before any work touches the root
    recipe = load_recipe(suite, preset, seed, list(overrides))
    task_list = parse_tasks(",".join(_items(tasks, "--tasks")) if tasks is not None else None, recipe.config.n_tasks)
    quality_list = parse_qualities(",".join(_items(qualities, "--qualities")) if qualities is not None else None)
    base = _root(root)
    _check_executor(executor, ray_address)
    ex = make_executor(executor, workers, ray_address)
    with Progress(
        TextColumn(f"{suite} [{preset}]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
        disable=not sys.stderr.isatty(),
    ) as progress:
        bar = progress.add_task("tasks", total=len(task_list))
        result = generate(
            recipe,
            base,
            task_list,
            quality_list,
            ex,
            lambda _t: progress.advance(bar),
            Path(archive) if archive else None,
        )
        progress.update(bar, completed=len(task_list))
    for ds_id, why in result.rebuilt:
        click.echo(f"rebuilt {ds_id}: it was damaged ({why})")
    _print_summary(base, recipe, task_list, quality_list, result.wall_time_s, result.skipped)
    if archive:
        click.echo(
            f"policy archive {archive}: {len(result.restored)} tasks rebuilt from it, {len(result.archived)} added"
            + (f"; not archived (no work folder): {result.unarchived}" if result.unarchived else "")
        )


def _print_summary(
    root: Path, recipe: Any, tasks: tuple[int, ...], qualities: tuple[str, ...], wall: float, skipped: int
) -> None:
    from omrl_bench.datasets.loader import curve_warnings, summarise

    rows = summarise(root, recipe, tasks, qualities)
    click.echo(
        f"{recipe.suite} preset {recipe.preset} seed {recipe.seed}: {len(tasks)} tasks "
        f"({skipped} already published), wall time {wall:.1f} s, root {root}"
    )
    click.echo(
        f"{'quality':<10}{'datasets':>8}{'sparse return':>14}{'dense return':>13}{'norm. score':>12}"
        f"{'checkpoint score min/med/max':>30}{'rewarded (min)':>16}"
    )
    for r in rows:
        spread = f"{r['score_min']:.2f} / {r['score_median']:.2f} / {r['score_max']:.2f}"
        rewarded = f"{100 * r['rewarded_fraction']:.1f}% ({100 * r['rewarded_fraction_min']:.1f}%)"
        click.echo(
            f"{r['quality']:<10}{r['datasets']:>8}{r['sparse_return']:>14.2f}{r['dense_return']:>13.2f}"
            f"{r['normalised_score']:>12.2f}{spread:>30}{rewarded:>16}"
        )
    for message in (m for r in rows for m in r["messages"]):
        click.echo(f"note: {message} (each dataset's card: omrl-bench datasets show ID)", err=True)
    for message in curve_warnings(root, recipe, tasks, qualities):
        click.echo(f"warning: {message}", err=True)


@main.command("algorithms")
@_one_line_errors
def algorithms_command() -> None:
    """List the registered algorithms (built-in and installed plug-ins) with their variants and provenance."""
    from omrl_bench.core.registry import algorithms

    for name, spec in algorithms().items():
        first = next((line for line in spec.provenance.strip().splitlines() if line.strip()), "")
        click.echo(f"{name:<10}{spec.label:<18}variants: {', '.join(spec.variants)} (default {spec.default_variant})")
        click.echo(f"{'':<10}{first}")


@main.command("grids")
@_one_line_errors
def grids_command() -> None:
    """List the registered grids (what `omrl-bench reproduce NAME` runs): title, rows, suites, training data."""
    from omrl_bench.bench.grids import GRIDS
    from omrl_bench.core.registry import algorithms, label

    algorithms()  # plug-ins load with the algorithm registry, and may register grids of their own
    for name, grid in list(GRIDS.items()):
        rows = ", ".join(dict.fromkeys(label(a, v) for a, v in grid.rows()))
        click.echo(f"{name:<20}{grid.title}")
        click.echo(
            f"{'':<20}rows: {rows}; suites: {', '.join(grid.suites)}; trained on {', '.join(grid.train_qualities)}"
        )


@main.command("run")
@click.option("--algo", required=True, cls=_RegistryHelp, registry_help=_algo_help)
@click.option("--variant", default=None, cls=_RegistryHelp, registry_help=_variant_help)
@click.option("--suite", required=True)
@click.option("--train-quality", default="expert", show_default=True)
@click.option("--test-quality", default="expert", show_default=True, help="one or more, comma-separated")
@click.option("--seed", default=0, show_default=True, type=int, help="0 to 2**32 - 1")
@click.option("--preset", default="cpu", show_default=True, help="smoke, cpu, cpu-table7 or paper")
@click.option("--data-preset", default=None, help="dataset preset (default: the one --preset trains on)")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None, help="default: the preset's")
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="torch threads (one is fastest at these sizes on a 2-core machine)",
)
@click.option("--set", "overrides", multiple=True, help="override a config key, e.g. ac.actor_lr=3e-4")
@click.option("--out", default="runs", show_default=True, help="directory of run directories")
@click.option("--name", default="", help="a tag for the run directory's name (default: a hash of the --set values)")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@_one_line_errors
def run(
    algo: str,
    variant: str | None,
    suite: str,
    train_quality: str,
    test_quality: str,
    seed: int,
    preset: str,
    data_preset: str | None,
    device: str,
    precision: str | None,
    threads: int,
    overrides: tuple[str, ...],
    out: str,
    name: str,
    root: str | None,
    resume: bool,
) -> None:
    """Train an algorithm on a suite's datasets and evaluate it on the held-out tasks."""
    import torch

    from omrl_bench.bench.run import RunSpec, execute, run_config
    from omrl_bench.core.train_config import data_preset as preset_data

    torch.set_num_threads(threads)
    qualities = _items(test_quality, "--test-quality")
    root_dir = _root(root) if root else None
    spec = RunSpec(
        algo,
        variant,
        suite,
        train_quality,
        qualities,
        seed,
        preset,
        data_preset or preset_data(preset),
        device,
        overrides,
        name,
        precision,
    )
    resolved = run_config(spec)  # once: the directory, the warning and the run read it
    variant_name, _, config = resolved
    run_dir = Path(out) / spec.run_name(variant_name)
    if resume and not (run_dir / "config.yaml").exists():
        raise OmrlError(f"--resume: no run to resume at {run_dir}; drop --resume to start it")
    _warn_bf16(device, {config["config"]["precision"]})
    try:
        report = execute(spec, Path(out), root_dir, resume, progress=sys.stderr.isatty(), resolved=resolved)
    except KeyboardInterrupt:
        ctx = click.get_current_context()
        if (run_dir / "config.yaml").exists():  # training started: its last checkpoint (or step 0) resumes
            again = _command(ctx) if resume else _command(ctx, "--resume")
            click.echo(f"interrupted: {run_dir} keeps its last checkpoint; continue the run with:\n  {again}", err=True)
        else:
            click.echo(
                f"interrupted before training started; nothing was saved: run again with:\n  {_command(ctx)}", err=True
            )
        ctx.exit(130)
    cfg = report["config"]
    click.echo(
        f"{algo} [{cfg['variant']}] on {suite}, trained on {train_quality}, seed {seed}, {cfg['config']['precision']}, "
        f"{report['steps']} steps in {report['train_wall_time_s']:.0f} s ({threads} torch thread(s))"
    )
    click.echo(f"{'test quality':<14}{'mean return':>12}{'dense':>10}{'sparse':>10}")
    for q, res in report["test"].items():
        click.echo(
            f"{q:<14}{res['mean_return']:>12.2f}{res['mean_dense_return']:>10.2f}{res['mean_sparse_return']:>10.2f}"
        )
    emb = report["embeddings"]["test"]
    if report["embeddings"].get("context_free"):
        click.echo(f"test embeddings: none ({algo} gives every context the same z: it infers no task)")
    else:
        rms, esr = (f"{emb[k]:.3f}" if emb[k] is not None else "undefined (one test task)" for k in ("rms", "esr"))
        click.echo(f"test embeddings: RMS {rms}, ESR {esr}")
    click.echo(f"run directory: {run_dir}")
    if preset == "smoke":
        click.echo(SMOKE_NOTE, err=True)


@main.command("reproduce")
@click.argument("name")
@click.option("--preset", default="cpu", show_default=True, help="smoke, cpu, cpu-table7 or paper")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="seeds 0..N-1")
@click.option("--suites", default=None, help="comma-separated suites instead of the grid's default")
@click.option("--algos", default=None, cls=_RegistryHelp, registry_help=_algos_help)
@click.option("--set", "overrides", multiple=True, help="override a config key of the algorithms that read it")
@click.option("--executor", default="local", show_default=True, help="local or ray")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="runs at a time (local)")
@click.option("--ray-address", default=None, help="join this Ray cluster (with --executor ray)")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N")
@click.option(
    "--precision", default=None, help="fp32 or bf16, or SUITE=fp32|bf16,... for those suites (default: the preset's)"
)
@click.option("--out", default=None, help="directory of run directories (default: runs/PRESET)")
@click.option("--report", default=None, help="where tables and figures go (default: OUT/report)")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@click.option("--no-run", is_flag=True, help="only write the table or figures from the finished runs")
@click.option("--archive", default=None, help="policy archive to rebuild missing datasets from (see generate-data)")
@_one_line_errors
def reproduce(
    name: str,
    preset: str,
    seeds: int,
    suites: str | None,
    algos: str | None,
    overrides: tuple[str, ...],
    executor: str,
    workers: int,
    ray_address: str | None,
    device: str,
    precision: str | None,
    out: str | None,
    report: str | None,
    root: str | None,
    no_run: bool,
    archive: str | None,
) -> None:
    """Run the registered grid NAME (`omrl-bench grids` lists them) and write its table or figures."""
    from omrl_bench.bench.grids import parse_algos, parse_precision, parse_suites
    from omrl_bench.bench.reproduce import default_report
    from omrl_bench.bench.reproduce import reproduce as run_grid
    from omrl_bench.config import SEED_MAX
    from omrl_bench.executors import make_executor

    _check_executor(executor, ray_address)
    if seeds > SEED_MAX + 1:
        raise OmrlError(f"--seeds {seeds}: seeds 0..N-1 must stay below 2**32 (N at most {SEED_MAX + 1})")
    out_dir = Path(out) if out else Path("runs") / preset
    report_dir = Path(report) if report else default_report(out_dir)
    done_count = [0]

    def on_plan(planned: list[Any]) -> None:
        counts = {s: sum(p.status == s for p in planned) for s in ("done", "partial", "new")}
        if not no_run:
            _warn_bf16(device, {p.precision for p in planned if p.status != "done"})
        done_count[0] = counts["done"]
        click.echo(
            f"{name} [{preset}]: {len(planned)} runs: {counts['done']} finished, {counts['partial']} to resume, "
            f"{counts['new']} to start" + ("" if not no_run else " (--no-run: tables from the finished runs only)")
        )

    def on_done(result: dict[str, Any]) -> None:
        done_count[0] += 1
        if "error" in result:
            click.echo(f"  failed {result['run']}: {result['error']}", err=True)
        else:
            click.echo(f"  [{done_count[0]}] {result['run']}: return {result['return']:.2f} ({result['wall_s']:.0f} s)")

    result = run_grid(
        name,
        preset,
        seeds,
        parse_suites(suites),
        out_dir,
        report_dir,
        _root(root),
        lambda: make_executor(executor, workers, ray_address, gpus_per_task=1.0 if device.startswith("cuda") else 0.0),
        run=not no_run,
        device=device,
        precision=parse_precision(precision),
        on_plan=on_plan,
        on_done=on_done,
        algos=parse_algos(algos),
        overrides=overrides,
        archive=Path(archive) if archive else None,
    )
    if result.table:
        click.echo(result.table)
    for path in result.outputs:
        click.echo(f"wrote {path}")
    if preset == "smoke":
        click.echo(SMOKE_NOTE, err=True)
    if result.failures:
        raise click.ClickException(
            f"{len(result.failures)} run(s) failed (first: {result.failures[0]['run']}: "
            f"{result.failures[0]['error']}); rerun the command to retry them"
        )


@main.group()
def datasets() -> None:
    """Inspect and check published datasets."""


@datasets.command("list")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@_one_line_errors
def datasets_list(root: str | None) -> None:
    """List the published omrl-bench datasets."""
    from omrl_bench.datasets.loader import list_datasets

    base = _root(root, must_exist=True)
    rows = list_datasets(base)
    if not rows:
        click.echo(f"no omrl-bench datasets under {base}")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['dataset_id']}  {r['error']}")
        else:
            click.echo(
                f"{r['dataset_id']}  {r['episodes']} episodes, {r['steps']} steps, {r['size_mb']} MB, "
                f"normalised score {r['normalised_score']:.2f}"
            )


@datasets.command("show")
@click.argument("dataset_id")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@_one_line_errors
def datasets_show(dataset_id: str, root: str | None) -> None:
    """Print a dataset's card: rule, checkpoints, achieved score, score curve, rewarded fraction."""
    from omrl_bench.datasets.loader import damage_message, show_dataset

    base = _root(root)
    for line in show_dataset(dataset_id, base):
        click.echo(line)
    damaged = damage_message(dataset_id, base)  # the card reads, but the data is not what it describes
    if damaged:
        raise OmrlError(damaged)


@datasets.command("plot")
@click.option("--suite", required=True)
@click.option("--preset", default="cpu", show_default=True)
@click.option("--out", default="dataset-plots", show_default=True, help="directory for the PNGs")
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@_one_line_errors
def datasets_plot(suite: str, preset: str, out: str, root: str | None) -> None:
    """PNGs of each quality's episode returns and visited states (the paper's Figure 6), and the SAC curves."""
    from omrl_bench.bench.figures import dataset_returns, sac_curves, state_distribution

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in (
        dataset_returns(suite, preset, _root(root), out_dir / f"{suite}-{preset}-returns.png"),
        state_distribution(suite, preset, _root(root), out_dir / f"{suite}-{preset}-states.png"),
        sac_curves(suite, preset, _root(root), out_dir / f"{suite}-{preset}-sac-curves.png"),
    ):
        click.echo(f"wrote {path}")


@datasets.command("reference-scores")
@click.option("--suite", required=True)
@click.option("--preset", default="cpu", show_default=True)
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@click.option("--archive", default=None, help="policy archive for the test tasks whose datasets are not under the root")
@click.option("--out", default=None, help="the reference-scores file to update (default: the one in the package)")
@_one_line_errors
def datasets_reference_scores(suite: str, preset: str, root: str | None, archive: str | None, out: str | None) -> None:
    """Write a suite's reference scores (normalised 0 and 1 of tables across suites) from its test tasks' cards."""
    from omrl_bench.datasets import reference

    scores = reference.compute(suite, preset, _root(root), Path(archive) if archive else None)
    path = reference.save(scores, Path(out) if out else reference.REFERENCE_FILE)
    click.echo(
        f"{suite} [{preset}]: untrained {scores.untrained:.3f}, expert {scores.expert:.3f} "
        f"({scores.reported_return.replace('_', ' ')}, mean over {len(scores.test_tasks)} test tasks, from "
        f"{scores.source}); wrote {path}"
    )


@datasets.command("verify")
@click.option("--suite", required=True)
@click.option("--preset", default="cpu", show_default=True)
@click.option("--root", default=None, help="Minari dataset root (default: $MINARI_DATASETS_PATH)")
@_one_line_errors
def datasets_verify(suite: str, preset: str, root: str | None) -> None:
    """Check that every dataset the recipe expects is there, with sound spaces, values, counts and checksums."""
    from omrl_bench.datasets.loader import verify_suite

    found = verify_suite(suite, preset, _root(root))
    for ds_id in found.missing:
        click.echo(f"missing: {ds_id}", err=True)
    for p in found.problems:
        click.echo(p, err=True)
    if not found.ok:
        raise OmrlError(found.summary(suite, preset))
    click.echo(found.summary(suite, preset))


if __name__ == "__main__":
    main()
