"""The embeddings grid (the paper's Table 2/6): RMS and ESR of FOCAL's and FOCAL++'s test-task embeddings."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from omrl_bench.bench import paper
from omrl_bench.bench.grids.core import FOCAL, POINT_ROBOTS, Grid, Row, focal_pair, register_grid
from omrl_bench.bench.tables import expert_cells, fmt_ci, fmt_num, fmt_ours, label_of, summary, vs_first


def embeddings_table(
    df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...], baseline: Row = FOCAL
) -> pd.DataFrame:
    """Table 2/6: RMS and ESR of the test-task embeddings (expert data and context)."""
    rows = []
    for suite in suites:
        first = expert_cells(df, suite, label_of(*baseline))
        for algo, variant in algos:
            label = label_of(algo, variant)
            sel = expert_cells(df, suite, label)
            pub = paper.EMBEDDINGS.get(suite, {}).get(label)
            row: dict[str, Any] = {"suite": suite, "algorithm": label}
            for i, metric in enumerate(("rms", "esr")):
                s = summary(sel[metric])
                row |= {f"{metric}_{k}": v for k, v in s.items()}
                row[f"{metric}_paper"] = pub[i] if pub else math.nan
                row[f"{metric}_diff"] = s["mean"] - row[f"{metric}_paper"]
                row |= vs_first(sel[metric], first[metric], f"{metric}_")
            rows.append(row)
    return pd.DataFrame(rows)


def embeddings_claims(table: pd.DataFrame) -> list[str]:
    """The paper's Table 2/6 claim: FOCAL++'s test-task embeddings spread more (RMS) and separate more task
    pairs (ESR) than FOCAL's, on every suite (difference of means with its bootstrap interval above 0)."""
    rows = table[table["algorithm"] != "FOCAL"]
    parts: list[str] = []
    verdicts: list[bool | None] = []
    for _, x in rows.iterrows():
        for metric in ("rms", "esr"):
            lo = x[f"{metric}_vs_first_ci_low"]
            if math.isnan(lo):  # no runs yet, or one seed of either: no interval
                diff = x[f"{metric}_vs_first"]
                parts.append(f"{x['suite']} {metric.upper()} " + ("pending" if math.isnan(diff) else f"{diff:+.3f}"))
                verdicts.append(None)
                continue
            verdicts.append(bool(lo > 0))
            parts.append(
                f"{x['suite']} {metric.upper()} {x[f'{metric}_vs_first']:+.3f} "
                f"{fmt_ci(lo, x[f'{metric}_vs_first_ci_high'], 3)}"
            )
    if not parts:
        return []
    verdict = "holds" if all(verdicts) else "does not hold"
    if None in verdicts:
        verdict = "undecided (runs pending or fewer than 2 seeds)"
    return [
        f"- FOCAL++ spreads (RMS) and separates (ESR) the test tasks more than FOCAL on every suite: **{verdict}**; "
        "FOCAL++ minus FOCAL [95% interval of the difference]: " + "; ".join(parts) + "."
    ]


def embeddings_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    header = ["suite", "algorithm", "seeds", "RMS: ours", "RMS 95% CI", "RMS: paper", "RMS: ours - paper"]
    header += ["ESR: ours", "ESR 95% CI", "ESR: paper", "ESR: ours - paper"]
    body = [
        [
            x["suite"],
            x["algorithm"],
            f"{x['rms_seeds']}/{seeds}",
            *fmt_ours(x, "rms_", 3),
            fmt_num(x["rms_paper"], 3),
            fmt_num(x["rms_diff"], 3),
            *fmt_ours(x, "esr_", 3),
            fmt_num(x["esr_paper"], 3),
            fmt_num(x["esr_diff"], 3),
        ]
        for x in records
    ]
    return header, body


EMBEDDINGS = register_grid(
    Grid(
        "embeddings",
        "Embedding statistics of the test tasks (paper Table 2/6)",
        focal_pair,
        (*POINT_ROBOTS, "sparse-ant-fwd-back"),
        embeddings_table,
        embeddings_columns,
        claims=embeddings_claims,
        note="RMS and ESR of the per-task mean embeddings of the test tasks (expert data and context; "
        "docs/protocol.md section 5). FOCAL++ is the batch-wise variant. The paper's Table 6 lists other wind values "
        "(FOCAL 0.907 / 0.203, FOCAL++ 1.060 / 0.254). Sparse-Ant-Fwd-Back has 2 test tasks, one pair, so a "
        "run's ESR there is 0 or 1.",
    )
)
