"""The methods grid (not in the paper): FOCAL, FOCAL++, the paper's baselines and the methods that followed
(CSRO, UNICORN, CORRO) trained on the same mixed data of every suite and tested with IID (mixed) and OOD
context. Each method's claim is judged per suite and per family of suites; the aggregates across suites
(rliable: interquartile mean, probability of improvement, performance profiles) are on returns normalised
by each suite's reference scores (``datasets/reference.py``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench import aggregates
from omrl_bench.bench.grids.core import COLLAPSED_RMS, FOCAL, Grid, Planned, Row, register_grid
from omrl_bench.bench.tables import (
    fmt_ci,
    fmt_mean_std,
    fmt_num,
    fmt_ours,
    label_of,
    markdown_table,
    probability_of_improvement,
    select_rows,
    summary,
)
from omrl_bench.datasets import reference
from omrl_bench.envs.suites import SUITES

OOD = ("expert", "medium", "random")  # the methods table's out-of-distribution contexts (training data: mixed)
CONTEXTS = {"iid": "IID (mixed)", "ood": "OOD"}  # the per-seed columns normalised for the aggregates
PROFILE = "methods-performance-profile.png"


def families() -> dict[str, tuple[str, ...]]:
    """The families each claim is judged on: the FOCAL++ paper's four suites (those it publishes returns for)
    and the dynamics-varying ones beyond the paper (Hopper-Param, Walker-Param: REFERENCE section 1b)."""
    paper = tuple(name for name, suite in SUITES.items() if suite.published.get("returns"))
    return {"the paper's suites": paper, "the dynamics-varying suites": tuple(s for s in SUITES if s not in paper)}


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


PENDING, ONE_SEED = "runs pending", "a suite with one seed: no interval"  # why a suite is undecided


def _suite_cell(table: pd.DataFrame, suite: str, label: str) -> tuple[str, bool | str]:
    """One suite's cell of a claim line and whether the method is at least FOCAL there with OOD context (its
    OOD interval not wholly below FOCAL's: the rank rule); while either has fewer than 2 finished seeds, why
    (PENDING, or ONE_SEED for a grid run with one seed: then the cell gives the means)."""
    t = table[table["suite"] == suite].set_index("algorithm")
    if "FOCAL" not in t.index or label not in t.index or t.loc[[label, "FOCAL"], "ood_mean"].isna().any():
        return f"{suite} pending", PENDING
    x, f = t.loc[label], t.loc["FOCAL"]
    if t.loc[[label, "FOCAL"], ["ood_ci_low", "ood_ci_high"]].isna().any(axis=None):  # finished, with one seed
        return f"{suite} {x['ood_mean']:.2f} against {f['ood_mean']:.2f} (one seed: no interval)", ONE_SEED
    below = bool(x["ood_ci_high"] < f["ood_ci_low"])
    above = bool(x["ood_ci_low"] > f["ood_ci_high"])
    where = "below FOCAL" if below else ("above FOCAL" if above else "tied with FOCAL")
    cell = f"{suite} {x['ood_mean']:.2f} against {f['ood_mean']:.2f} ({where}, P(improvement) {x['ood_p_improve']:.2f})"
    return cell, not below


def _verdict(verdicts: list[bool | str]) -> str:
    """Does not hold once one suite of the family is below FOCAL (more runs on other suites cannot change
    that); holds when none is below and every suite has intervals; else undecided, saying why."""
    if False in verdicts:
        return "does not hold"
    reasons = {v for v in verdicts if isinstance(v, str)}
    if not reasons:
        return "holds"
    return f"undecided ({PENDING if reasons == {PENDING} else ONE_SEED})"


def methods_claims(table: pd.DataFrame) -> list[str]:
    """One line per new method and family of suites: whether it is at least FOCAL with OOD context on every
    suite of the family, with each suite's cell."""
    lines = []
    present = set(table["suite"])
    for prefix, claim in METHOD_CLAIMS.items():
        for label in [a for a in dict.fromkeys(table["algorithm"]) if a.startswith(prefix)]:
            for family, suites in families().items():
                cells = [_suite_cell(table, s, label) for s in suites if s in present]
                if cells:
                    verdict = _verdict([v for _, v in cells])
                    lines.append(
                        f"- {label} at least FOCAL with OOD context on {family}, the claim of {claim}: **{verdict}**; "
                        + "; ".join(c for c, _ in cells)
                        + "."
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


def suite_reference(
    df: pd.DataFrame, suite: str, references: dict[str, reference.ReferenceScores]
) -> reference.ReferenceScores | str | None:
    """The reference scores of the datasets ``suite``'s runs trained and were tested on, a one-line message
    saying why there are none, or None without runs. Records that do not name their recipe are taken to be of
    today's (their configs match today's presets: ``plan`` checks it)."""
    sel = df[df["suite"] == suite]
    if not len(sel):
        return None
    if "data" not in sel or not all(sel["data"]):
        return f"{suite}: the run records do not name their datasets' preset"
    presets = sorted(set(sel["data"]))
    if len(presets) > 1:
        return f"{suite}: the runs used datasets of several presets ({', '.join(presets)})"
    recorded = sorted({r for r in sel.get("recipe", pd.Series(dtype=str)) if r})
    if len(recorded) > 1:
        return f"{suite}: the runs used datasets of several recipes ({', '.join(recorded)})"
    if not recorded:
        from omrl_bench.datasets.recipe import load_recipe

        recorded = [load_recipe(suite, presets[0]).fingerprint]
    return reference.find(references, suite, presets[0], recorded[0])


def _normalised(ref: reference.ReferenceScores | str | None, runs: dict[str, pd.Series]) -> dict[str, Any]:
    """The reference scores (or why there are none) and each context's per-seed returns normalised by them
    (``<context>_norm_s<seed>``), with their mean."""
    found = ref if isinstance(ref, reference.ReferenceScores) else None
    out: dict[str, Any] = {
        "ref_untrained": found.untrained if found else math.nan,
        "ref_expert": found.expert if found else math.nan,
        "ref_missing": "" if found else (ref or "runs pending"),
    }
    for ctx, values in runs.items():
        norm = {int(seed): found.normalise(float(v)) for seed, v in values.dropna().items()} if found else {}
        out[f"{ctx}_norm_mean"] = float(np.mean(list(norm.values()))) if norm else math.nan
        out |= {f"{ctx}_norm_s{seed}": v for seed, v in sorted(norm.items())}
    return out


def _method_row(sel: pd.DataFrame, suite: str, label: str, ref: Any) -> dict[str, Any]:
    """One row: IID (mixed context) and OOD (the mean of the other contexts, per seed) statistics."""
    by_test = sel.pivot_table(index="seed", columns="test", values="return") if len(sel) else pd.DataFrame()
    row: dict[str, Any] = {"suite": suite, "algorithm": label}
    iid = by_test["mixed"] if "mixed" in by_test else pd.Series(dtype=float)
    row |= {f"iid_{k}": v for k, v in summary(iid).items()}
    spread = sel.groupby("seed")["rms"].first()  # each seed's test-task embedding spread
    row["collapsed"] = int((spread < COLLAPSED_RMS).sum())
    row["rms_min"] = float(spread.min())  # the least-spread seed (CSV only; NaN while the row is pending)
    ood = by_test[list(OOD)].mean(axis=1) if set(OOD) <= set(by_test.columns) else pd.Series(dtype=float)
    row |= {f"ood_{k}": v for k, v in summary(ood).items()}
    row["_ood_runs"] = ood.dropna().to_numpy(dtype=float)
    for q in OOD:
        row |= {f"{q}_{k}": v for k, v in summary(by_test[q] if q in by_test else pd.Series(dtype=float)).items()}
    return row | _normalised(ref, {"iid": iid, "ood": ood})


def methods_table(
    df: pd.DataFrame,
    suites: tuple[str, ...],
    algos: tuple[Row, ...],
    baseline: Row = FOCAL,
    references: dict[str, reference.ReferenceScores] | None = None,
) -> pd.DataFrame:
    """Trained on mixed data; IID = mixed context, OOD = expert, medium and random contexts (and their mean
    per seed), each with a bootstrap interval and a rank per suite and column (ties where intervals overlap),
    and normalised by the suite's reference scores (the committed ones unless ``references`` is given)."""
    references = reference.load() if references is None else references
    rows = []
    for suite in suites:
        ref = suite_reference(df, suite, references)
        block = [
            _method_row(
                select_rows(df, suite=suite, label=label_of(*r), train="mixed", update="soft"), suite, label_of(*r), ref
            )
            for r in algos
        ]
        base = [r["_ood_runs"] for r in block if r["algorithm"] == label_of(*baseline)]
        for r in block:  # against the baseline row (FOCAL), per suite, on the per-seed OOD means
            r["ood_p_improve"] = probability_of_improvement(r.pop("_ood_runs"), base[0] if base else np.array([]))
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


def _runs(x: pd.Series, ctx: str) -> np.ndarray:
    """A row's finished runs of context ``ctx``, normalised, in seed order."""
    prefix = f"{ctx}_norm_s"
    keys = sorted((k for k in x.index if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :]))
    values = x[keys].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def score_matrices(table: pd.DataFrame) -> tuple[list[str], dict[str, str], dict[str, dict[str, np.ndarray]]]:
    """The suites the aggregates are over (reference scores known, every row with all its runs: as many as
    the most complete row of the table), why each other suite is left out, and per context each algorithm's
    normalised scores, runs x suites (rliable's layout)."""
    if not len(table):
        return [], {}, {}
    full = int(table["iid_seeds"].max())
    included: list[str] = []
    left_out: dict[str, str] = {}
    for suite in dict.fromkeys(table["suite"]):
        block = table[table["suite"] == suite]
        finished = int(block["iid_seeds"].sum())
        if finished < full * len(block):
            left_out[suite] = f"runs pending ({finished} of {full * len(block)} finished)"
        elif block["ref_missing"].iloc[0]:
            left_out[suite] = str(block["ref_missing"].iloc[0])
        elif all(_runs(x, c).size == full for _, x in block.iterrows() for c in CONTEXTS):
            included.append(suite)
        else:
            left_out[suite] = "a run has no return with some context"
    scores: dict[str, dict[str, np.ndarray]] = {c: {} for c in CONTEXTS}
    for algo in dict.fromkeys(table["algorithm"]) if included else ():
        rows = [table[(table["suite"] == s) & (table["algorithm"] == algo)].iloc[0] for s in included]
        for c in CONTEXTS:
            scores[c][algo] = np.column_stack([_runs(x, c) for x in rows])
    return included, left_out, scores


def _reference_line(table: pd.DataFrame, suites: list[str]) -> str:
    refs = table.drop_duplicates("suite").set_index("suite")
    return "; ".join(f"{s} {refs.loc[s, 'ref_untrained']:.2f} / {refs.loc[s, 'ref_expert']:.2f}" for s in suites)


def _aggregate_rows(scores: dict[str, dict[str, np.ndarray]], baseline: str, reps: int) -> list[list[str]]:
    iqm = {c: aggregates.iqm(scores[c], reps) for c in CONTEXTS}
    better = {c: aggregates.improvement(scores[c], baseline, reps) if baseline in scores[c] else {} for c in CONTEXTS}
    rows = []
    for algo in scores["ood"]:
        cells = [algo]
        for c in CONTEXTS:
            point, lo, hi = iqm[c][algo]
            cells += [fmt_num(point), fmt_ci(lo, hi)]
        for c in CONTEXTS:
            p = better[c].get(algo)
            cells += [fmt_num(p[0]), fmt_ci(p[1], p[2])] if p else ["-", "-"]
        rows.append(cells)
    return rows


def aggregates_section(table: pd.DataFrame, baseline: str = "FOCAL", reps: int = aggregates.REPS) -> str:
    """The aggregates across suites (rliable), on the suites where every row has finished and the reference
    scores are known; the others are named with the reason they are left out."""
    included, left_out, scores = score_matrices(table)
    text = "\n\n**Across suites**"
    out = "; ".join(f"{s}: {why}" for s, why in left_out.items())
    if not included:
        return f"{text}: pending; no suite has every row finished with reference scores known ({out})." if out else ""
    seeds, suites = next(iter(scores["ood"].values())).shape
    runs = seeds * suites
    header = ["algorithm", "IQM IID", "95% CI", "IQM OOD", "95% CI", f"P(IID > {baseline})", "95% CI"]
    header += [f"P(OOD > {baseline})", "95% CI"]
    text += (
        f" ({', '.join(included)}; {seeds} seeds on each), returns normalised per suite: 0 = the untrained policy "
        "(SAC step 0), 1 = the expert data's policy (the final SAC checkpoint), on the suite's reported return, "
        f"means over its test tasks (untrained / expert: {_reference_line(table, included)}). Computed with rliable "
        f"{aggregates.version()}, {reps} stratified bootstrap resamples (runs resampled within each suite):\n\n"
        + markdown_table(header, _aggregate_rows(scores, baseline, reps))
        + "\n\nIQM: the interquartile mean of every run's normalised return over the suites (the mean of the middle "
        f"half; `rliable.metrics.aggregate_iqm`). P(X > {baseline}): the probability that a run of X beats a run of "
        f"{baseline} on the same suite, averaged over the suites (`rliable.metrics.probability_of_improvement`)."
    )
    if runs < 4:
        text += f" With {runs} runs in all, the IQM trims none of them: it is their mean."
    text += f" Performance profiles: the figure after the claims ({PROFILE})."
    return text + (f" Left out: {out}." if out else "")


def profile_section(table: pd.DataFrame, report: Path, reps: int = aggregates.REPS) -> str:
    """The performance profiles of the normalised returns (IID and OOD), as a figure under ``report``."""
    from omrl_bench.bench import figures

    included, _, scores = score_matrices(table)
    if not included:
        return ""
    path = figures.performance_profiles({CONTEXTS[c]: scores[c] for c in CONTEXTS}, report / "figures" / PROFILE, reps)
    return (
        f"Performance profiles over {', '.join(included)} (rliable's score distributions: the fraction of a row's "
        "runs, over those suites, whose normalised return exceeds tau, with a 95% stratified-bootstrap band):\n\n"
        f"![performance profiles](figures/{path.name})"
    )


def profile_extra(planned: list[Planned], report: Path) -> str:
    """The figure after the claims, from the grid's finished runs (``Grid.extra``)."""
    from omrl_bench.bench import tables

    rows = tuple(dict.fromkeys((p.cell.algo, p.cell.variant) for p in planned))
    suites = tuple(dict.fromkeys(p.cell.suite for p in planned))
    return profile_section(methods_table(tables.collect(planned), suites, rows), report)


METHODS = register_grid(
    Grid(
        "methods",
        "Context-based offline meta-RL methods on the same data: trained on mixed data, IID and OOD context",
        methods_rows,
        tuple(SUITES),
        methods_table,
        methods_columns,
        ("mixed",),
        claims=methods_claims,
        claims_heading="Claims of the methods' papers, per family of suites (at least FOCAL on a suite: the OOD "
        "interval not wholly below FOCAL's):",
        after_table=aggregates_section,
        after_claims=lambda table: "\n\n" + "\n".join(published_methods_lines()) if len(table) else "",
        extra=profile_extra,
        note="Every method trained on mixed data (the checkpoints of the per-task SAC runs from step 0 to the "
        "final one, every `mixed_every` SAC steps) and tested on the "
        "held-out tasks with context of every quality: IID = mixed, OOD = expert, medium and random (the OOD mean is "
        "taken per seed). Rank: 1 + the number of methods whose 95% interval lies wholly above this one's (overlaps "
        "tie; overlaps are not transitive, so A may tie B and B tie C while C ranks above A), among the rows with "
        "finished runs: provisional while a row is pending. Per-quality OOD columns show mean (std) and rank; their "
        "intervals are in the CSV. Collapsed: seeds whose held-out tasks' mean embeddings have an RMS spread below "
        f"{COLLAPSED_RMS:g} (one embedding for every task, so the policy cannot tell the tasks apart); each row's "
        "least-spread seed is the CSV's `rms_min`. Families of suites: "
        + "; ".join(f"{name}: {', '.join(suites)}" for name, suites in families().items())
        + ". Across suites, returns are normalised by each suite's reference scores "
        "(`src/omrl_bench/datasets/reference-scores.json`, written by `omrl-bench datasets reference-scores`; "
        "docs/protocol.md section 5); the per-seed normalised returns are in the CSV. Published numbers "
        "(UNICORN's Table 2: HalfCheetah-Vel and Ant-Dir, mixed data, "
        "6 seeds) are on other tasks and reward scales than any suite here: they are cited below the table as not "
        "comparable, for their orderings.",
    )
)
