"""The distribution-shift grid (the paper's Table 3): FOCAL and FOCAL++ trained on each data quality, each
tested with context of every quality; the drop from the training quality's context, and the attention figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench import paper
from omrl_bench.bench.grids.core import FOCAL, SPR, Grid, Planned, Row, finished, focal_pair, register_grid
from omrl_bench.bench.tables import (
    bootstrap_diff_ci,
    fmt_ci,
    fmt_num,
    fmt_ours,
    label_of,
    markdown_table,
    select_rows,
    stats_row,
)
from omrl_bench.datasets.recipe import QUALITIES


def _per_seed_drops(df: pd.DataFrame, suite: str, label: str, train: str, test: str) -> np.ndarray:
    """Each seed's return with context of its training quality minus its return with ``test`` context."""
    same = select_rows(df, suite=suite, label=label, train=train, test=train, update="soft").set_index("seed")["return"]
    here = select_rows(df, suite=suite, label=label, train=train, test=test, update="soft").set_index("seed")["return"]
    seeds = sorted(set(same.index) & set(here.index))
    return np.array([same[k] - here[k] for k in seeds], dtype=float)


def distribution_shift_table(
    df: pd.DataFrame, suite: str, algos: tuple[Row, ...], baseline: Row = FOCAL
) -> pd.DataFrame:
    """Table 3: every (train, test-context) quality pair; drop = same-quality return minus this one.

    The rows other than the baseline (FOCAL) also carry ``drop_diff``, their drop minus the
    baseline's in the same cell, with a bootstrap 95% interval over seeds (``drop_diff_ci_low`` /
    ``_high``): below 0 means the method loses less than the baseline."""
    rows = []
    focal = label_of(*baseline)
    for algo, variant in algos:
        label = label_of(algo, variant)
        published = paper.DISTRIBUTION_SHIFT.get(label, {}) if suite == "sparse-point-robot" else {}
        for train in QUALITIES:
            same = select_rows(df, suite=suite, label=label, train=train, test=train, update="soft")["return"].mean()
            same_pub = published.get((train, train))
            for test in QUALITIES:
                sel = select_rows(df, suite=suite, label=label, train=train, test=test, update="soft")
                row = stats_row(
                    {"algorithm": label, "train": train, "test": test}, sel["return"], published.get((train, test))
                )
                pub_here = published.get((train, test))
                off = test != train
                row["drop"] = same - row["mean"] if off else math.nan
                row["paper_drop"] = (
                    (same_pub - pub_here) if off and same_pub is not None and pub_here is not None else math.nan
                )
                row["in_paper"] = train != "mixed" and test != "mixed"
                row["drop_diff"] = row["drop_diff_ci_low"] = row["drop_diff_ci_high"] = math.nan
                if off and label != focal:
                    ours, theirs = (_per_seed_drops(df, suite, lab, train, test) for lab in (label, focal))
                    if ours.size and theirs.size:
                        row["drop_diff"] = float(ours.mean() - theirs.mean())
                        row["drop_diff_ci_low"], row["drop_diff_ci_high"] = bootstrap_diff_ci(ours, theirs)
                rows.append(row)
    return pd.DataFrame(rows)


def distribution_shift_claims(table: pd.DataFrame) -> list[str]:
    """One line per claim of the paper's Table 3, saying whether our table supports it (none without both rows)."""
    focalpp = "FOCAL++ batch-wise"
    if not {"FOCAL", focalpp} <= set(table["algorithm"]):
        return []
    t = table.set_index(["algorithm", "train", "test"])
    lines = []
    diag = []
    for q in ("expert", "medium", "random"):
        x = t.loc[(focalpp, q, q)]
        if math.isnan(x["mean"]):
            diag.append(f"{q} pending")
        else:
            ok = abs(x["mean"] - x["paper"]) <= 0.5
            diag.append(f"{q} {x['mean']:.2f} vs {x['paper']:.2f} ({'within' if ok else 'not within'} 0.5)")
    held = all("not within" not in d and "pending" not in d for d in diag)
    lines.append(
        f"- FOCAL++'s diagonal matches the paper (12.60 / 12.54 / 10.81, within 0.5): "
        f"**{'holds' if held else 'does not hold'}**; " + "; ".join(diag) + "."
    )
    cells = table[(table["algorithm"] == focalpp) & (table["train"] != table["test"]) & table["in_paper"]]
    done = cells[cells["drop_diff"].notna()]
    smaller = int((done["drop_diff_ci_high"] < 0).sum())
    larger = int((done["drop_diff_ci_low"] > 0).sum())
    point = int((done["drop_diff"] < 0).sum())
    verdict = "holds" if len(done) == len(cells) and smaller == len(cells) else "does not hold"
    if len(done) < len(cells):
        verdict = f"undecided ({len(done)} of {len(cells)} cells finished)"
    paper3 = table[(table["algorithm"] == focalpp) & table["in_paper"]].set_index(["train", "test"])
    level = float(paper3["paper"].min() / paper3.loc[("expert", "expert"), "paper"])
    if paper3["mean"].notna().all() and paper3.loc[("expert", "expert"), "mean"] > 0:
        ratio = paper3["mean"] / paper3.loc[("expert", "expert"), "mean"]
        (train, test), low = ratio.idxmin(), float(ratio.min())
        lines.append(
            f"- FOCAL++ reaches expert-level returns on every combination of the paper's 3 x 3 (taken as at least "
            f"the paper's own lowest cell over its expert cell, {level:.2f}): "
            f"**{'holds' if low >= level else 'does not hold'}**; lowest {train} data with {test} context, "
            f"{paper3.loc[(train, test), 'mean']:.2f} = {low:.2f} of {paper3.loc[('expert', 'expert'), 'mean']:.2f}."
        )
    lines.append(
        f"- FOCAL++ drops less than FOCAL in every off-diagonal cell of the paper's 3 x 3: **{verdict}**; "
        f"smaller in {smaller} of {len(done)} cells with the 95% interval of the difference below 0, larger in "
        f"{larger} with it above 0, the rest within the seeds' spread (smaller point estimate in {point})."
    )
    return lines


def _drop_diff(x: dict[str, Any]) -> str:
    """The drop difference and its interval; the number alone while a seed is missing for the interval."""
    if math.isnan(x["drop_diff"]):
        return "-"
    lo, hi = x["drop_diff_ci_low"], x["drop_diff_ci_high"]
    return f"{x['drop_diff']:.2f}" + ("" if math.isnan(lo) else f" {fmt_ci(lo, hi)}")


def distribution_shift_columns(
    records: list[dict[str, Any]], seeds: int, baseline: str
) -> tuple[list[str], list[list[str]]]:
    header = ["algorithm", "train", "test context", "seeds", "ours: mean (std)", "95% CI", "drop"]
    header += [f"FOCAL++ drop - {baseline} drop [95% CI]", "paper", "ours - paper", "paper drop"]

    def mark(q: str) -> str:
        return f"{q}*" if q == "mixed" else q

    body = [
        [
            x["algorithm"],
            mark(x["train"]),
            mark(x["test"]),
            f"{x['seeds']}/{seeds}",
            *fmt_ours(x),
            fmt_num(x["drop"]),
            _drop_diff(x),
            fmt_num(x["paper"]),
            fmt_num(x["diff"]),
            fmt_num(x["paper_drop"]),
        ]
        for x in records
    ]
    return header, body


def attention_section(pairs: dict[str, tuple[float, float, list[float]]], figure: str | None) -> str:
    """The paper's Figure 7 claim from FOCAL++ batch-wise runs: the attention pairs per training quality and
    one claim line (judged on medium and random data, where rewarded context transitions are rare)."""
    if not pairs:
        return ""
    text = "Batch-attention weight of FOCAL++ (batch-wise) on rewarded vs unrewarded context transitions of each "
    text += "training task, by training quality (all seeds pooled; per run: rewarded minus unrewarded):\n\n"
    text += markdown_table(
        ["trained on", "runs", "rewarded", "unrewarded", "per run"],
        [
            [q, str(len(d)), f"{on:.3f}", f"{off:.3f}", " / ".join(f"{x:+.3f}" for x in d)]
            for q, (on, off, d) in pairs.items()
        ],
    )
    if figure:
        text += f"\n\n![attention](figures/{figure})"
    judged = [q for q in ("medium", "random") if q in pairs]
    diffs = [x for q in judged for x in pairs[q][2]]
    if judged:
        higher = sum(x > 0 for x in diffs)
        held = higher == len(diffs) and len(judged) == 2
        text += (
            "\n\n- The batch-wise attention gives rewarded transitions larger weights (the paper's Figure 7: "
            f'"perfectly match the sparse reward distribution"), judged on the runs trained on medium and random '
            f"data, every run's difference above 0: **{'holds' if held else 'does not hold'}**; higher in {higher} "
            f"of {len(diffs)} runs."
        )
    return text


def attention_extra(planned: list[Planned], report: Path) -> str:
    """The paper's Figure 7, judged on these runs: the attention figure and its claim line; then, where the
    runs are longer than one budget step, the table and its claims at every budget step."""
    from omrl_bench.bench import figures

    drawn = figures.attention(planned, report / "figures" / "attention.png")
    text = attention_section(figures.attention_by_quality(planned), drawn.name if drawn else None)
    budget = budget_section(planned, report)
    return f"{text}\n\n{budget}" if text and budget else text or budget


def tables_by_step(planned: list[Planned]) -> dict[int, pd.DataFrame]:
    """The distribution-shift table each budget step (8k, 16k, ... up to the runs' steps) would have given,
    from every finished run's ``progress.csv``; empty where the runs are not longer than one step."""
    import json

    from omrl_bench.bench import budget, tables

    done = finished(planned)
    steps = budget.budget_steps([json.loads((p.run_dir / "final.json").read_text())["steps"] for p in done])
    if len(steps) < 2:
        return {}
    collected = tables.collect(planned)
    progress = {p.run_dir.name: pd.read_csv(p.run_dir / "progress.csv") for p in done}  # each read once
    rows = tuple(dict.fromkeys((p.cell.algo, p.cell.variant) for p in planned))
    suite = planned[0].cell.suite
    return {k: distribution_shift_table(budget.progress_frame(collected, progress, k), suite, rows) for k in steps}


def _verdicts(claims: list[str]) -> dict[str, str]:
    """Claim line -> its bold verdict, keyed by the text before the verdict."""
    out = {}
    for line in claims:
        head, _, rest = line.removeprefix("- ").partition(": **")
        out[head] = rest.split("**", 1)[0]
    return out


def budget_section(planned: list[Planned], report: Path) -> str:
    """Does the conclusion depend on the budget? Each cell's mean return and each claim's verdict at every
    budget step, and the curves as a figure."""
    from omrl_bench.bench import figures

    by_step = tables_by_step(planned)
    if not by_step:
        return ""
    steps = list(by_step)
    heads = [f"{k // 1000}k" for k in steps]
    first = by_step[steps[0]]
    cells = []
    for i, x in first.iterrows():
        means = [fmt_num(by_step[k].loc[i, "mean"]) for k in steps]
        cells.append([x["algorithm"], x["train"], x["test"], *means])
    verdicts = {k: _verdicts(distribution_shift_claims(t)) for k, t in by_step.items()}
    claims = list(dict.fromkeys(c for v in verdicts.values() for c in v))
    claim_rows = [[c, *(verdicts[k].get(c, "-") for k in steps)] for c in claims]
    drawn = figures.budget_curves(by_step, report / "figures" / "budget.png")
    return (
        "Does the conclusion depend on the budget? Each cell's mean return over seeds from the runs' evaluations "
        "at every 8k steps (`progress.csv`: one evaluation of each test context, so the last column can differ "
        "from the table above, which is the final test), and each claim's verdict on those numbers:\n\n"
        + markdown_table(["algorithm", "train", "test context", *heads], cells)
        + "\n\n"
        + markdown_table(["claim", *heads], claim_rows)
        + f"\n\n![budget curves](figures/{drawn.name})"
    )


DISTRIBUTION_SHIFT = register_grid(
    Grid(
        "distribution-shift",
        "Distribution shift between dataset qualities on Sparse-Point-Robot (paper Table 3)",
        focal_pair,
        (SPR,),
        lambda df, suites, rows, baseline: distribution_shift_table(df, suites[0], rows, baseline),
        distribution_shift_columns,
        QUALITIES,
        one_suite=True,
        claims=distribution_shift_claims,
        after_table=lambda _t: "\n\n\\* mixed: not in the paper (its Table 3 has expert, medium and random only).",
        note="drop = return with context of the training quality minus this row's return. The paper's FOCAL column "
        "is quoted from the FOCAL paper; FOCAL++ is the batch-wise variant.",
        extra=attention_extra,
    )
)
