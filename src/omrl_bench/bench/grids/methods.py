"""The methods grid (not in the paper): FOCAL, FOCAL++, the paper's baselines and the methods that followed
(CSRO, UNICORN, CORRO) trained on the same mixed data and tested with IID (mixed) and OOD context."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench.grids.core import COLLAPSED_RMS, POINT_ROBOTS, Grid, Row, register_grid
from omrl_bench.bench.tables import (
    fmt_mean_std,
    fmt_num,
    fmt_ours,
    label_of,
    probability_of_improvement,
    select_rows,
    summary,
)

FOCAL: Row = ("focal", "focal")

OOD = ("expert", "medium", "random")  # the methods table's out-of-distribution contexts (training data: mixed)


def _ranks(means: list[float], lows: list[float], highs: list[float]) -> list[str]:
    """1 + the number of rows whose 95% interval lies wholly above this row's: overlapping rows tie."""
    ranks = []
    for m, hi in zip(means, highs, strict=True):
        if math.isnan(m):
            ranks.append("-")
            continue
        upper = hi if not math.isnan(hi) else m
        ranks.append(str(1 + sum(lo > upper for lo, mm in zip(lows, means, strict=True) if not math.isnan(mm))))
    return ranks


def _ranked(x: dict[str, Any], q: str) -> str:
    return f"{fmt_mean_std(x[f'{q}_mean'], x[f'{q}_std'], 2, x[f'{q}_seeds'])} (rank {x[f'{q}_rank']})"


METHOD_CLAIMS = {
    "CSRO": "CSRO (its paper: better than FOCAL with OOD context)",
    "UNICORN": "UNICORN (its paper: better than FOCAL, CORRO and CSRO with OOD context)",
    "CORRO": "CORRO (its paper: better than FOCAL with OOD context)",
}


def methods_claims(table: pd.DataFrame) -> list[str]:
    """One line per new method: whether it is at least FOCAL with OOD context on every point robot, where
    "at least" means its OOD interval is not wholly below FOCAL's (the rank rule)."""
    lines = []
    point_robots = [s for s in ("sparse-point-robot", "point-robot-wind") if s in set(table["suite"])]
    for prefix, claim in METHOD_CLAIMS.items():
        for label in [a for a in dict.fromkeys(table["algorithm"]) if a.startswith(prefix)]:
            cells: list[str] = []
            verdicts: list[bool | None] = []
            for suite in point_robots:
                t = table[table["suite"] == suite].set_index("algorithm")
                if (
                    "FOCAL" not in t.index
                    or math.isnan(t.loc[label, "ood_mean"])
                    or math.isnan(t.loc["FOCAL", "ood_mean"])
                ):
                    cells.append(f"{suite} pending")
                    verdicts.append(None)
                    continue
                x, f = t.loc[label], t.loc["FOCAL"]
                below = x["ood_ci_high"] < f["ood_ci_low"]
                above = x["ood_ci_low"] > f["ood_ci_high"]
                where = "below FOCAL" if below else ("above FOCAL" if above else "tied with FOCAL")
                cells.append(
                    f"{suite} {x['ood_mean']:.2f} against {f['ood_mean']:.2f} ({where}, P(improvement) "
                    f"{x['ood_p_improve']:.2f})"
                )
                verdicts.append(not below)
            verdict = "holds" if all(verdicts) else "does not hold"
            if None in verdicts:
                verdict = "undecided (runs pending)"
            lines.append(
                f"- {label} at least FOCAL with OOD context on the point robots, the claim of {claim}: "
                f"**{verdict}**; " + "; ".join(cells) + "."
            )
    return lines


def published_methods_lines() -> list[str]:
    """UNICORN's Table 2, each line marked as not comparable (other tasks and reward scales), with its
    ordering against FOCAL, which is what our table can be compared with."""
    from omrl_bench.bench.paper import METHODS_PUBLISHED

    lines = ["Published (UNICORN's Table 2, IID / OOD; **not comparable**: other tasks and reward scales):", ""]
    for env, methods in METHODS_PUBLISHED.items():
        focal_ood = methods["FOCAL"][1]
        cells = []
        for m, (iid, ood) in methods.items():
            order = "" if m == "FOCAL" else (" (OOD above FOCAL)" if ood > focal_ood else " (OOD below FOCAL)")
            cells.append(f"{m} {iid:g} / {ood:g}{order}")
        lines.append(f"- {env}: " + "; ".join(cells))
    return lines


def methods_table(
    df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...], baseline: Row = FOCAL
) -> pd.DataFrame:
    """Trained on mixed data; IID = mixed context, OOD = expert, medium and random contexts (and their mean
    per seed), each with a bootstrap interval and a rank per suite and column (ties where intervals overlap)."""
    rows = []
    for suite in suites:
        block = []
        for algo, variant in algos:
            label = label_of(algo, variant)
            sel = select_rows(df, suite=suite, label=label, train="mixed", update="soft")
            by_test = sel.pivot_table(index="seed", columns="test", values="return") if len(sel) else pd.DataFrame()
            row: dict[str, Any] = {"suite": suite, "algorithm": label}
            iid = by_test["mixed"] if "mixed" in by_test else pd.Series(dtype=float)
            row |= {f"iid_{k}": v for k, v in summary(iid).items()}
            row["collapsed"] = int((sel.groupby("seed")["rms"].first() < COLLAPSED_RMS).sum()) if len(sel) else 0
            ood = by_test[list(OOD)].mean(axis=1) if set(OOD) <= set(by_test.columns) else pd.Series(dtype=float)
            row |= {f"ood_{k}": v for k, v in summary(ood).items()}
            row["_ood_runs"] = ood.dropna().to_numpy(dtype=float)
            for q in OOD:
                row |= {
                    f"{q}_{k}": v for k, v in summary(by_test[q] if q in by_test else pd.Series(dtype=float)).items()
                }
            block.append(row)
        base = [r["_ood_runs"] for r in block if r["algorithm"] == label_of(*baseline)]
        for r in block:  # against the baseline row (FOCAL), per suite, on the per-seed OOD means
            r["ood_p_improve"] = probability_of_improvement(r["_ood_runs"], base[0] if base else np.array([]))
        for r in block:
            del r["_ood_runs"]
        for col in ("iid", "ood", *OOD):
            ranks = _ranks(*([r[f"{col}_{k}"] for r in block] for k in ("mean", "ci_low", "ci_high")))
            for r, rank in zip(block, ranks, strict=True):
                r[f"{col}_rank"] = rank
        rows += block
    return pd.DataFrame(rows)


def methods_rows() -> tuple[Row, ...]:
    """The like-for-like comparison (issue 21): FOCAL, FOCAL++, the paper's baselines and the later methods."""
    return (
        ("focal", "focal"),
        ("focalpp", "batch-wise"),
        ("cbcq", "cbcq"),
        ("mbml", "mbml"),
        ("csro", "csro"),
        ("unicorn", "ss"),
        ("corro", "cvae"),
    )


def methods_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    header = ["suite", "algorithm", "seeds", "IID (mixed)", "95% CI", "rank", "OOD mean", "95% CI", "rank"]
    header += [f"OOD {q}" for q in OOD] + [f"P(OOD > {baseline})", "collapsed"]
    body = [
        [
            x["suite"],
            x["algorithm"],
            f"{x['iid_seeds']}/{seeds}",
            *fmt_ours(x, "iid_"),
            x["iid_rank"],
            *fmt_ours(x, "ood_"),
            x["ood_rank"],
            *(_ranked(x, q) for q in OOD),
            fmt_num(x["ood_p_improve"]),
            f"{x['collapsed']}/{x['iid_seeds']}" if x["iid_seeds"] else "-",
        ]
        for x in records
    ]
    return header, body


def improvement_paragraph(table: pd.DataFrame, baseline: str = "FOCAL") -> str:
    """P(improvement) over the baseline with OOD context, averaged over the suites."""
    if not len(table):
        return ""
    mean_p = table.groupby("algorithm", sort=False)["ood_p_improve"].agg(["mean", "count"])
    text = f"\n\nProbability of improvement over {baseline} with OOD context, averaged over the suites where "
    text += "both have finished runs (rliable's definition: P(a run of the method beats a run of the "
    text += "baseline), ties half): "
    text += "; ".join(
        f"{a} {fmt_num(p['mean'])} ({int(p['count'])} suite{'s' if p['count'] != 1 else ''})"
        for a, p in mean_p.iterrows()
        if a != baseline
    )
    return text + (
        ". The interquartile mean across suites is not given: with 3 seeds on each suite it would be the mean "
        "of the middle half of a handful of runs pooled over suites whose returns are on different scales "
        "(sparse and dense), which needs a normalisation the table does not otherwise make, and it would not "
        "say more than the per-suite ranks and P(improvement)."
    )


METHODS = register_grid(
    Grid(
        "methods",
        "Context-based offline meta-RL methods on the same data: trained on mixed data, IID and OOD context",
        methods_rows,
        POINT_ROBOTS,
        methods_table,
        methods_columns,
        ("mixed",),
        claims=methods_claims,
        claims_heading="Claims of the methods' papers, on the point robots:",
        after_table=improvement_paragraph,
        after_claims=lambda table: "\n\n" + "\n".join(published_methods_lines()) if len(table) else "",
        note="Every method trained on mixed data (the checkpoints of the per-task SAC runs from step 0 to the "
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
    )
)
