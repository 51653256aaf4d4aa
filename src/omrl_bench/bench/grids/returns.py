"""The returns grid (the paper's Table 1/5): every algorithm trained on expert data, expert context, every suite."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from omrl_bench.bench import paper
from omrl_bench.bench.grids.core import FOCAL, Grid, Row, register_grid, returns_rows
from omrl_bench.bench.tables import (
    by_interval,
    expert_cells,
    fmt_num,
    fmt_ours,
    fmt_pub,
    label_of,
    stats_row,
    vs_first,
)
from omrl_bench.envs.suites import SUITES


def returns_table(
    df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...], baseline: Row = FOCAL
) -> pd.DataFrame:
    """Table 1/5: test return (expert training data, expert context) per suite and algorithm."""
    rows = []
    for suite in suites:
        first = expert_cells(df, suite, label_of(*baseline))
        for algo, variant in algos:
            label = label_of(algo, variant)
            sel = expert_cells(df, suite, label)
            pub = paper.RETURNS.get(suite, {}).get(label)
            row = stats_row({"suite": suite, "algorithm": label}, sel["return"], pub[0] if pub else None)
            row["paper_std"] = pub[1] if pub else math.nan
            row["wall_s"] = float(sel["wall_s"].mean()) if len(sel) else math.nan  # training, per run
            row |= vs_first(sel["return"], first["return"])
            rows.append(row)
    return pd.DataFrame(rows)


def returns_claims(table: pd.DataFrame) -> list[str]:
    """The paper's Table 1/5 claim, per suite: every FOCAL++ variant returns more than FOCAL (the difference of
    means with its bootstrap interval above 0)."""
    lines = []
    for suite in dict.fromkeys(table["suite"]):
        rows = table[(table["suite"] == suite) & table["algorithm"].str.startswith("FOCAL++")]
        if not len(rows):
            continue
        done = rows[rows["vs_first_ci_low"].notna()]
        above, below = by_interval(done["algorithm"].str.removeprefix("FOCAL++ "), done, "vs_first")
        verdict = "holds" if len(above) == len(rows) else "does not hold"
        if len(done) < len(rows):
            verdict = f"undecided ({len(done)} of {len(rows)} variants with 2 seeds or more)"
        lines.append(
            f"- {suite}: every FOCAL++ variant returns more than FOCAL (the paper's Table 1/5): **{verdict}**; above "
            f"FOCAL with the 95% interval of the difference above 0: {', '.join(above) or 'none'}; below it: "
            f"{', '.join(below) or 'none'}; the rest within the seeds' spread."
        )
    return lines


def returns_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    header = ["suite", "algorithm", "seeds", "ours: mean (std)", "95% CI", "paper", "ours - paper", "wall / run (min)"]
    body = [
        [
            x["suite"],
            x["algorithm"],
            f"{x['seeds']}/{seeds}",
            *fmt_ours(x),
            fmt_pub(x["paper"], x["paper_std"]),
            fmt_num(x["diff"]),
            fmt_num(x["wall_s"] / 60, 1),
        ]
        for x in records
    ]
    return header, body


RETURNS = register_grid(
    Grid(
        "returns",
        "Average test return (paper Table 1/5)",
        returns_rows,
        tuple(name for name, suite in SUITES.items() if suite.published.get("returns")),  # the paper's suites
        returns_table,
        returns_columns,
        claims=returns_claims,
        note="Trained on expert data, tested with expert context on the held-out tasks. The paper gives no "
        "numbers for contextual BCQ and MBML (only learning curves, its Figure 8). Wall / run: the mean training "
        "wall time of the row's runs as each recorded it (runs that shared the machine with others took longer).",
    )
)
