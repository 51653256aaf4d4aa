"""The precision grid (not in the paper): FOCAL and FOCAL++ (batch-wise) on expert data in fp32 and in bf16, seed
by seed: the learning-parity table of bf16 mixed precision."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from omrl_bench.bench.grids.core import SPR, Grid, Option, Planned, Row, focal_pair, register_grid
from omrl_bench.bench.tables import expert_cells, fmt_ci, fmt_mean_std, fmt_num, label_of, summary
from omrl_bench.core.train_config import PRECISIONS

PARITY_MARGIN = 0.2  # bf16 keeps the results: its mean inside the fp32 95% CI or within this of the fp32 mean


def precision_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """bf16 beside fp32 per seed, then a mean row with the fp32 interval and the parity verdict."""
    rows: list[dict[str, Any]] = []
    for algo, variant in algos:
        label = label_of(algo, variant)
        sel = expert_cells(df, suite, label)
        by = {p: sel[sel["precision"] == p].set_index("seed") for p in PRECISIONS}
        for seed in sorted(set(by["fp32"].index) | set(by["bf16"].index)):
            row: dict[str, Any] = {"algorithm": label, "seed": str(seed)}
            machines = []
            for p in PRECISIONS:
                hit = by[p].loc[seed] if seed in by[p].index else None
                row[f"{p}_return"] = math.nan if hit is None else float(hit["return"])
                row[f"{p}_wall_s"] = math.nan if hit is None else float(hit["wall_s"])
                machines += [] if hit is None else [hit["machine"]]
            row["same_machine"] = len(machines) == len(PRECISIONS) and _one_known_machine(machines)
            rows.append(row)
        mean: dict[str, Any] = {"algorithm": label, "seed": "mean"}
        for p in PRECISIONS:
            s = summary(by[p]["return"])
            mean |= {f"{p}_return": s["mean"], f"{p}_std": s["std"], f"{p}_seeds": s["seeds"]}
            mean |= {f"{p}_ci_low": s["ci_low"], f"{p}_ci_high": s["ci_high"]}
            mean[f"{p}_wall_s"] = float(by[p]["wall_s"].mean()) if len(by[p]) else math.nan
        mean["parity"] = parity(mean)
        both = all(len(by[p]) for p in PRECISIONS)
        mean["same_machine"] = both and _one_known_machine(pd.concat([by[p]["machine"] for p in PRECISIONS]))
        rows.append(mean)
    table = pd.DataFrame(rows)
    table["bf16_minus_fp32"] = table["bf16_return"] - table["fp32_return"]
    # a wall-time ratio of runs on different CPUs measures the machines, not the precision
    table["speedup"] = (table["fp32_wall_s"] / table["bf16_wall_s"]).where(table["same_machine"].astype(bool))
    return table.drop(columns="same_machine")


def _one_known_machine(machines: Iterable[str]) -> bool:
    """Whether every run recorded the same machine (records from before runs recorded it name none)."""
    names = set(machines)
    return len(names) == 1 and names != {json.dumps("")}


def parity(mean_row: dict[str, Any]) -> str:
    """ "yes" when the bf16 mean lies inside the fp32 95% CI or within ``PARITY_MARGIN`` of the fp32 mean."""
    fp32, bf16 = mean_row["fp32_return"], mean_row["bf16_return"]
    if math.isnan(fp32) or math.isnan(bf16):
        return "pending"
    inside = mean_row["fp32_ci_low"] <= bf16 <= mean_row["fp32_ci_high"]
    return "yes" if inside or abs(bf16 - fp32) <= PARITY_MARGIN else "no"


def _return_cells(x: dict[str, Any]) -> list[str]:
    if x["seed"] != "mean":
        return [fmt_num(x["fp32_return"]), fmt_num(x["bf16_return"]), fmt_num(x["bf16_minus_fp32"]), "-", "-"]
    return [
        fmt_mean_std(x["fp32_return"], x["fp32_std"]),
        fmt_mean_std(x["bf16_return"], x["bf16_std"]),
        fmt_num(x["bf16_minus_fp32"]),
        fmt_ci(x["fp32_ci_low"], x["fp32_ci_high"]),
        x["parity"],
    ]


def precision_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    header = ["algorithm", "seed", "fp32 return", "bf16 return", "bf16 - fp32", "fp32 95% CI", "parity"]
    header += ["fp32 wall (s)", "bf16 wall (s)", "fp32 / bf16 wall"]
    body = [
        [
            x["algorithm"],
            x["seed"],
            *_return_cells(x),
            fmt_num(x["fp32_wall_s"], 0),
            fmt_num(x["bf16_wall_s"], 0),
            fmt_num(x["speedup"]),
        ]
        for x in records
    ]
    return header, body


def _preset_precision(p: Planned) -> str:
    """The precision the preset gives ``p``'s run (the returns grid's), whatever the grid's option asks."""
    from omrl_bench.core.train_config import resolve_config

    _, cfg = resolve_config(p.spec.algo, p.cell.variant, p.spec.suite, p.spec.preset, [*p.spec.tag_overrides])
    return str(cfg.precision)


def precision_note(planned: list[Planned]) -> str:
    return (
        "Trained on expert data, tested with expert context. The same seeds in fp32 and in bf16; "
        f"the {_preset_precision(planned[0])} runs (the preset's precision) are the returns grid's. Parity: the bf16 "
        "mean lies inside the fp32 runs' 95% bootstrap interval or within 0.2 of their mean. Wall time: training "
        "only, as each run recorded it (two runs at a time on two cores); fp32 / bf16 wall only where both runs "
        "recorded the same machine (CPU model and torch's CPU capability), since bf16's speed depends on the CPU."
    )


PRECISION = register_grid(
    Grid(
        "precision",
        "Learning parity of bf16 mixed precision against fp32 on Sparse-Point-Robot (not in the paper)",
        focal_pair,
        (SPR,),
        lambda df, suites, rows, _baseline: precision_table(df, suites[0], rows),
        precision_columns,
        options=tuple(Option(precision=p) for p in PRECISIONS),
        one_suite=True,
        note=precision_note,
        stats_line="- Mean rows: mean (sample std) over seeds; the fp32 runs' bootstrap 95% CI of the mean.",
    )
)
