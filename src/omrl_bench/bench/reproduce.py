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
from omrl_bench.bench.grids import COLLAPSED_RMS
from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.errors import OmrlError

TITLES = {
    "returns": "Average test return (paper Table 1/5)",
    "distribution-shift": "Distribution shift between dataset qualities on Sparse-Point-Robot (paper Table 3)",
    "momentum": "Soft (momentum 0.9) vs hard key-encoder update on Sparse-Point-Robot (paper Table 4)",
    "embeddings": "Embedding statistics of the test tasks (paper Table 2/6)",
    "figures": "Figures (paper Figures 5 to 8)",
    "precision": "Learning parity of bf16 mixed precision against fp32 on Sparse-Point-Robot (not in the paper)",
    "training-setting": "Training setting of the cpu preset: FOCAL on each data quality (not in the paper)",
    "methods": "Context-based offline meta-RL methods on the same data: trained on mixed data, IID and OOD context",
}
NOTES = {
    "methods": "Every method trained on mixed data (the checkpoints of the per-task SAC runs from step 0 to the "
    "final one, every `mixed_every` SAC steps) and tested on the "
    "held-out tasks with context of every quality: IID = mixed, OOD = expert, medium and random (the OOD mean is "
    "taken per seed). Rank: 1 + the number of methods whose 95% interval lies wholly above this one's (overlaps "
    "tie; overlaps are not transitive, so A may tie B and B tie C while C ranks above A), among the rows with "
    "finished runs: provisional while a row is pending. Per-quality OOD columns show mean (std) and rank; their "
    "intervals are in the CSV. Collapsed: seeds whose held-out tasks' mean embeddings have an RMS spread below "
    f"{COLLAPSED_RMS:g} (one embedding for every task, so the policy cannot tell the tasks apart; a threshold far "
    "below the spread of every other committed run, RMS 0.18 to 1.39). Published numbers "
    "(UNICORN's Table 2: HalfCheetah-Vel and Ant-Dir, mixed data, "
    "6 seeds) are on other tasks and reward scales than any suite here: they are cited below the table as not "
    "comparable, for their orderings.",
    "returns": "Trained on expert data, tested with expert context on the held-out tasks. The paper gives no "
    "numbers for contextual BCQ and MBML (only learning curves, its Figure 8). Wall / run: the mean training "
    "wall time of the row's runs as each recorded it (runs that shared the machine with others took longer).",
    "distribution-shift": "drop = return with context of the training quality minus this row's return. The "
    "paper's FOCAL column is quoted from the FOCAL paper; FOCAL++ is the batch-wise variant.",
    "momentum": "Rows are FOCAL++ variants: contrastive = the paper's 'None' attention, series = 'Serialize'. "
    "Hard update: the key encoder is a copy of the query encoder at every step.",
    "embeddings": "RMS and ESR of the per-task mean embeddings of the test tasks (expert data and context; "
    "docs/protocol.md section 5). FOCAL++ is the batch-wise variant. The paper's Table 6 lists other wind values "
    "(FOCAL 0.907 / 0.203, FOCAL++ 1.060 / 0.254). Sparse-Ant-Fwd-Back has 2 test tasks, one pair, so a "
    "run's ESR there is 0 or 1.",
    "precision": "Trained on expert data, tested with expert context. The same seeds in fp32 and in bf16; "
    "the {preset_precision} runs (the preset's precision) are the returns grid's. Parity: the bf16 mean lies "
    "inside the fp32 runs' 95% bootstrap interval or within 0.2 of their mean. Wall time: training only, as "
    "each run recorded it (two runs at a time on two cores); fp32 / bf16 wall only where both runs recorded the "
    "same machine (CPU model and torch's CPU capability), since bf16's speed depends on the CPU.",
    "training-setting": "FOCAL (the baseline, so the choice cannot favour FOCAL++), trained on each quality and "
    "tested with context of the same quality. Rule, fixed before the runs: the setting with the best mean over "
    "the four qualities becomes the cpu preset's for the suite's family (the point robots; the MuJoCo suites, which "
    "compare the paper's Table 7 BRAC alone and with the behaviour-cloning term), for every table.",
}
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


def _title(name: str, planned: list[grids.Planned]) -> str:
    """The grid's title, naming the suite a one-suite grid ran on where that is not its own."""
    suites = {p.cell.suite for p in planned}
    if grids.GRIDS[name].one_suite and len(suites) == 1 and (suite := suites.pop()) != grids.SPR:
        return TITLES[name].replace("Sparse-Point-Robot", "-".join(w.capitalize() for w in suite.split("-")))
    return TITLES[name]


def _preset_precision(p: grids.Planned) -> str:
    """The precision the preset gives ``p``'s run (the returns grid's), whatever the grid's option asks."""
    from omrl_bench.core.train_config import resolve_config

    _, cfg = resolve_config(p.spec.algo, p.cell.variant, p.spec.suite, p.spec.preset, [*p.spec.tag_overrides])
    return str(cfg.precision)


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

    done = grids.finished(planned)
    configs = [run_config(p.spec)[2] for p in planned]  # resolved once, for both lines below
    run_wall = sum(json.loads((p.run_dir / "final.json").read_text())["train_wall_time_s"] for p in done)
    versions = package_versions()
    import matplotlib
    import pandas

    versions |= {"pandas": pandas.__version__, "matplotlib": matplotlib.__version__}
    lines = [
        f"# {_title(name, planned)}",
        "",
        f"- Command: `{command}`",
        f"- Preset: {_preset_words(preset)}; seeds 0 to {seeds - 1}; "
        f"{len(done)} of {len(planned)} training runs finished.",
        _precision_line(planned, configs),
        _data_line(planned, configs, preset),
        f"- Compute: {run_wall / 3600:.2f} h of training wall time summed over the finished runs; "
        f"this invocation took {wall_s / 60:.1f} min.",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Written: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    if name in NOTES:
        note = NOTES[name]
        if name == "precision":
            note = note.format(preset_precision=_preset_precision(planned[0]))
        lines.append(f"- {note}")
    if name == "precision":
        lines.append("- Mean rows: mean (sample std) over seeds; the fp32 runs' bootstrap 95% CI of the mean.")
    elif name != "figures":
        line = "- Ours: mean (sample std) over seeds and a bootstrap 95% CI of the mean; paper: mean (std)."
        if seeds == 3:  # each extreme's all-same resample has probability 1/27 > 2.5%
            line += " With 3 seeds the percentile interval is the range of the seeds' values."
        lines.append(line)
    return "\n".join(lines) + "\n"


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
    from omrl_bench.bench import figures, tables
    from omrl_bench.bench.run import check_device

    t0 = time.time()
    check_device(device)
    if run and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise OmrlError("--device cuda requested but no CUDA device is available")
    cells = grids.expand(name, seeds, suites, precision, algos, overrides, preset)
    rows = algos or grids.GRIDS[name].rows()
    planned = grids.plan(cells, preset, device, out)
    on_plan(planned)
    failures: list[dict[str, Any]] = []
    if run:
        failures = grids.execute_plan(planned, preset, out, root, executor_factory(), on_done, archive)
        planned = grids.plan(cells, preset, device, out)
    chosen = suites or grids.GRIDS[name].suites
    command = command_line(name, preset, seeds, suites, device, out, report, precision, algos, overrides)
    if grids.GRIDS[name].draws == "figures":
        figure_dir = report / "figures"
        if run and any(p.cell.suite == grids.SPR for p in planned):  # Figure 6 draws its datasets
            grids.ensure_datasets([grids.SPR], preset, root, executor_factory(), archive)
        # learning curves of every algorithm whose returns-grid runs have finished (Figure 8), not only these
        curves = grids.plan(grids.expand("returns", seeds, tuple(chosen), precision), preset, device, out)
        if not grids.finished(planned):
            raise OmrlError(f"no finished runs to draw under {out}; run the figures grid without --no-run first")
        shift = grids.plan(grids.expand("distribution-shift", seeds, (grids.SPR,), precision), preset, device, out)
        outputs = figures.draw_all(planned, curves, preset, root, figure_dir, shift)
        header = provenance(name, command, preset, seeds, planned, time.time() - t0)
        body = "\n".join(f"![{p.stem}](figures/{p.name})" for p in outputs)
        section = tables.attention_section(figures.attention_by_quality(shift), None)
        if section:
            body += "\n\nFrom the distribution-shift grid's runs:\n\n" + section
        report.mkdir(parents=True, exist_ok=True)
        (report / "figures.md").write_text(header + "\n" + body + "\n")
        return ReproduceResult(planned, failures, [*outputs, report / "figures.md"], None)
    table = tables.build(name, tables.collect(planned), tuple(chosen), rows)
    header = provenance(name, command, preset, seeds, planned, time.time() - t0)
    extra = ""
    if name == "distribution-shift":  # the paper's Figure 7 is judged on these runs
        drawn = figures.attention(planned, report / "figures" / "attention.png")
        extra = tables.attention_section(figures.attention_by_quality(planned), drawn.name if drawn else None)
    csv, md, body = tables.write(name, table, seeds, header, report, extra, report_stem(name, tuple(chosen)))
    return ReproduceResult(planned, failures, [csv, md], body)


def report_stem(name: str, suites: tuple[str, ...]) -> str:
    """A table's file name: the grid's, with the suite appended when a one-suite grid ran on another
    suite than its own (the Ant training-setting table does not overwrite Sparse-Point-Robot's)."""
    grid = grids.GRIDS[name]
    return f"{name}-{suites[0]}" if grid.one_suite and suites != grid.suites else name
