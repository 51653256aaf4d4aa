"""The momentum grid (the paper's Table 4): the five FOCAL++ variants with the soft (momentum 0.9) and the hard
key-encoder update, expert data, on Sparse-Point-Robot."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from omrl_bench.bench import paper
from omrl_bench.bench.grids.core import SPR, Grid, Option, Row, focalpp_rows, register_grid
from omrl_bench.bench.tables import (
    bootstrap_diff_ci,
    by_interval,
    fmt_ci,
    fmt_num,
    fmt_ours,
    fmt_pub,
    label_of,
    select_rows,
    summary,
)


def momentum_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """Table 4: soft (momentum) vs hard key-encoder update per attention type, expert data."""
    rows = []
    for algo, variant in algos:
        row: dict[str, Any] = {"variant": variant}
        values = {}
        for update in ("soft", "hard"):
            sel = select_rows(
                df,
                suite=suite,
                variant=variant,
                label=label_of(algo, variant),
                train="expert",
                test="expert",
                update=update,
            )
            pub = paper.MOMENTUM.get(variant, {}).get(update) if suite == "sparse-point-robot" else None
            s = summary(sel["return"])
            values[update] = sel["return"].to_numpy(dtype=float)
            row |= {f"{update}_{k}": v for k, v in s.items()}
            row[f"{update}_paper"] = pub[0] if pub else math.nan
            row[f"{update}_paper_std"] = pub[1] if pub else math.nan
            row[f"{update}_diff"] = s["mean"] - row[f"{update}_paper"]
        row["soft_minus_hard"] = row["soft_mean"] - row["hard_mean"]
        row["soft_minus_hard_ci_low"], row["soft_minus_hard_ci_high"] = bootstrap_diff_ci(
            values["soft"], values["hard"]
        )
        rows.append(row)
    return pd.DataFrame(rows)


def momentum_claims(table: pd.DataFrame) -> list[str]:
    """The paper's Table 4 claim: the soft (momentum) key-encoder update beats the hard one for every variant."""
    done = table[table["soft_minus_hard_ci_low"].notna()]
    if not len(table):
        return []
    above, below = by_interval(done["variant"], done, "soft_minus_hard")
    verdict = "holds" if len(above) == len(table) else "does not hold"
    if len(done) < len(table):
        verdict = f"undecided ({len(done)} of {len(table)} variants finished)"
    return [
        f"- Soft momentum beats the hard update for every variant (paper: soft - hard +1.25 to +5.13): "
        f"**{verdict}**; soft above hard with the 95% interval of the difference above 0 for "
        f"{len(above)} of {len(done)} ({', '.join(above) or 'none'}), below for {len(below)} "
        f"({', '.join(below) or 'none'}), the rest within the seeds' spread."
    ]


def momentum_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    header = [
        "attention (variant)",
        "seeds soft/hard",
        "soft: ours",
        "soft 95% CI",
        "soft: paper",
        "soft: ours - paper",
    ]
    header += ["hard: ours", "hard 95% CI", "hard: paper", "hard: ours - paper", "soft - hard: ours [95% CI]"]
    header += ["soft - hard: paper"]
    body = []
    for x in records:
        lo, hi = x["soft_minus_hard_ci_low"], x["soft_minus_hard_ci_high"]
        body.append(
            [
                x["variant"],
                f"{x['soft_seeds']}/{seeds}, {x['hard_seeds']}/{seeds}",
                *fmt_ours(x, "soft_"),
                fmt_pub(x["soft_paper"], x["soft_paper_std"]),
                fmt_num(x["soft_diff"]),
                *fmt_ours(x, "hard_"),
                fmt_pub(x["hard_paper"], x["hard_paper_std"]),
                fmt_num(x["hard_diff"]),
                fmt_num(x["soft_minus_hard"]) + ("" if math.isnan(lo) else " " + fmt_ci(lo, hi)),
                fmt_num(x["soft_paper"] - x["hard_paper"]),
            ]
        )
    return header, body


MOMENTUM = register_grid(
    Grid(
        "momentum",
        "Soft (momentum 0.9) vs hard key-encoder update on Sparse-Point-Robot (paper Table 4)",
        focalpp_rows,
        (SPR,),
        lambda df, suites, rows, _baseline: momentum_table(df, suites[0], rows),
        momentum_columns,
        options=(Option(), Option(hard_update=True)),
        one_suite=True,
        baseline=("focalpp", "contrastive"),  # soft is compared with hard within each row; no row is the baseline
        claims=momentum_claims,
        note="Rows are FOCAL++ variants: contrastive = the paper's 'None' attention, series = 'Serialize'. "
        "Hard update: the key encoder is a copy of the query encoder at every step.",
    )
)
