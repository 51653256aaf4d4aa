"""Aggregation of finished grid runs into the paper's tables (pandas), beside the published numbers.

Per group of seeds: mean, sample standard deviation (ddof 1) and a percentile bootstrap 95% confidence
interval of the mean. ``paper`` is the published mean and ``diff`` is ours minus it. Cells still
running appear with ``seeds`` below the grid's seed count and empty statistics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench import paper
from omrl_bench.bench.grids import COLLAPSED_RMS, Planned, Row, finished
from omrl_bench.core.registry import label as row_label
from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.datasets.recipe import QUALITIES
from omrl_bench.errors import OmrlError

BOOTSTRAP_SAMPLES = 10_000
PARITY_MARGIN = 0.2  # bf16 keeps the results: its mean inside the fp32 95% CI or within this of the fp32 mean


def bootstrap_ci(values: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (resampled with replacement); NaN below 2."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return (math.nan, math.nan)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(samples, x.size))
    means = x[idx].mean(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def bootstrap_diff_ci(
    a: np.ndarray, b: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of mean(a) - mean(b), each resampled on its own; NaN below 2 each."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    diffs = x[rng.integers(0, x.size, (samples, x.size))].mean(1) - y[rng.integers(0, y.size, (samples, y.size))].mean(
        1
    )
    return (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))


def summary(values: pd.Series) -> dict[str, float]:
    """Statistics over seeds; ``seeds`` counts finished runs, even where a value is undefined (NaN)."""
    x = values.dropna().to_numpy(dtype=float)
    lo, hi = bootstrap_ci(x)
    return {
        "seeds": int(values.size),
        "mean": float(x.mean()) if x.size else math.nan,
        "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        "ci_low": lo,
        "ci_high": hi,
    }


def collect(planned: list[Planned]) -> pd.DataFrame:
    """One row per finished run and test-context quality."""
    from omrl_bench.core.trainer import migrate_config

    rows: list[dict[str, Any]] = []
    for p in finished(planned):
        report = json.loads((p.run_dir / "final.json").read_text())
        emb = report["embeddings"]["test"]
        precision = migrate_config(report["config"])["config"]["precision"]
        for q, res in report["test"].items():
            rows.append(
                {
                    "label": p.cell.label,
                    "variant": p.cell.variant,
                    "suite": p.cell.suite,
                    "train": p.cell.train_quality,
                    "test": q,
                    "update": "hard" if p.cell.hard_update else "soft",
                    "setting": p.cell.setting,
                    "precision": precision,
                    "seed": p.cell.seed,
                    "return": res["mean_return"],
                    "rms": emb["rms"],
                    "esr": emb["esr"],
                    "wall_s": report["train_wall_time_s"],
                    # "" for records from before runs recorded it (bench/run.py machine())
                    "machine": json.dumps(report.get("provenance", {}).get("machine") or "", sort_keys=True),
                }
            )
    columns = [
        *("label", "variant", "suite", "train", "test", "update", "setting", "precision", "seed"),
        *("return", "rms", "esr", "wall_s", "machine"),
    ]
    return pd.DataFrame(rows, columns=columns)


def _select(df: pd.DataFrame, **eq: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for col, val in eq.items():
        mask &= (df[col] == val).to_numpy()
    return df[mask]


def _stats_row(keys: dict[str, Any], values: pd.Series, published: float | None) -> dict[str, Any]:
    s = summary(values)
    pub = math.nan if published is None else published
    return {**keys, **s, "paper": pub, "diff": s["mean"] - pub}


def _vs_first(values: pd.Series, first: pd.Series, prefix: str = "") -> dict[str, float]:
    """Mean of ``values`` minus mean of ``first`` (the table's first row, FOCAL), with the bootstrap interval."""
    x, base = values.to_numpy(dtype=float), first.to_numpy(dtype=float)
    lo, hi = bootstrap_diff_ci(x, base)
    diff = float(x.mean() - base.mean()) if x.size and base.size else math.nan
    return {f"{prefix}vs_first": diff, f"{prefix}vs_first_ci_low": lo, f"{prefix}vs_first_ci_high": hi}


def returns_table(df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...]) -> pd.DataFrame:
    """Table 1/5: test return (expert training data, expert context) per suite and algorithm."""
    rows = []
    for suite in suites:
        first = _select(df, suite=suite, label=row_label(*algos[0]), train="expert", test="expert", update="soft")
        for algo, variant in algos:
            label = row_label(algo, variant)
            sel = _select(df, suite=suite, label=label, train="expert", test="expert", update="soft")
            pub = paper.RETURNS.get(suite, {}).get(label)
            row = _stats_row({"suite": suite, "algorithm": label}, sel["return"], pub[0] if pub else None)
            row["paper_std"] = pub[1] if pub else math.nan
            row["wall_s"] = float(sel["wall_s"].mean()) if len(sel) else math.nan  # training, per run
            row |= _vs_first(sel["return"], first["return"])
            rows.append(row)
    return pd.DataFrame(rows)


def _per_seed_drops(df: pd.DataFrame, suite: str, label: str, train: str, test: str) -> np.ndarray:
    """Each seed's return with context of its training quality minus its return with ``test`` context."""
    same = _select(df, suite=suite, label=label, train=train, test=train, update="soft").set_index("seed")["return"]
    here = _select(df, suite=suite, label=label, train=train, test=test, update="soft").set_index("seed")["return"]
    seeds = sorted(set(same.index) & set(here.index))
    return np.array([same[k] - here[k] for k in seeds], dtype=float)


def distribution_shift_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """Table 3: every (train, test-context) quality pair; drop = same-quality return minus this one.

    The rows after the first (the baseline, FOCAL) also carry ``drop_diff``, their drop minus the
    baseline's in the same cell, with a bootstrap 95% interval over seeds (``drop_diff_ci_low`` /
    ``_high``): below 0 means the method loses less than the baseline."""
    rows = []
    focal = row_label(*algos[0])
    for algo, variant in algos:
        label = row_label(algo, variant)
        published = paper.DISTRIBUTION_SHIFT.get(label, {}) if suite == "sparse-point-robot" else {}
        for train in QUALITIES:
            same = _select(df, suite=suite, label=label, train=train, test=train, update="soft")["return"].mean()
            same_pub = published.get((train, train))
            for test in QUALITIES:
                sel = _select(df, suite=suite, label=label, train=train, test=test, update="soft")
                row = _stats_row(
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


def momentum_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """Table 4: soft (momentum) vs hard key-encoder update per attention type, expert data."""
    rows = []
    for algo, variant in algos:
        row: dict[str, Any] = {"variant": variant}
        values = {}
        for update in ("soft", "hard"):
            sel = _select(
                df,
                suite=suite,
                variant=variant,
                label=row_label(algo, variant),
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


def embeddings_table(df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...]) -> pd.DataFrame:
    """Table 2/6: RMS and ESR of the test-task embeddings (expert data and context)."""
    rows = []
    for suite in suites:
        first = _select(df, suite=suite, label=row_label(*algos[0]), train="expert", test="expert", update="soft")
        for algo, variant in algos:
            label = row_label(algo, variant)
            sel = _select(df, suite=suite, label=label, train="expert", test="expert", update="soft")
            pub = paper.EMBEDDINGS.get(suite, {}).get(label)
            row: dict[str, Any] = {"suite": suite, "algorithm": label}
            for i, metric in enumerate(("rms", "esr")):
                s = summary(sel[metric])
                row |= {f"{metric}_{k}": v for k, v in s.items()}
                row[f"{metric}_paper"] = pub[i] if pub else math.nan
                row[f"{metric}_diff"] = s["mean"] - row[f"{metric}_paper"]
                row |= _vs_first(sel[metric], first[metric], f"{metric}_")
            rows.append(row)
    return pd.DataFrame(rows)


def _by_interval(names: pd.Series, rows: pd.DataFrame, key: str) -> tuple[list[str], list[str]]:
    """The names whose difference ``key`` has its 95% interval wholly above 0, and those wholly below."""
    lows, highs = rows[f"{key}_ci_low"], rows[f"{key}_ci_high"]
    return list(names[(lows > 0).to_numpy()]), list(names[(highs < 0).to_numpy()])


def returns_claims(table: pd.DataFrame) -> list[str]:
    """The paper's Table 1/5 claim, per suite: every FOCAL++ variant returns more than FOCAL (the difference of
    means with its bootstrap interval above 0)."""
    lines = []
    for suite in dict.fromkeys(table["suite"]):
        rows = table[(table["suite"] == suite) & table["algorithm"].str.startswith("FOCAL++")]
        if not len(rows):
            continue
        done = rows[rows["vs_first_ci_low"].notna()]
        above, below = _by_interval(done["algorithm"].str.removeprefix("FOCAL++ "), done, "vs_first")
        verdict = "holds" if len(above) == len(rows) else "does not hold"
        if len(done) < len(rows):
            verdict = f"undecided ({len(done)} of {len(rows)} variants with 2 seeds or more)"
        lines.append(
            f"- {suite}: every FOCAL++ variant returns more than FOCAL (the paper's Table 1/5): **{verdict}**; above "
            f"FOCAL with the 95% interval of the difference above 0: {', '.join(above) or 'none'}; below it: "
            f"{', '.join(below) or 'none'}; the rest within the seeds' spread."
        )
    return lines


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
                f"{_ci(lo, x[f'{metric}_vs_first_ci_high'], 3)}"
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


def precision_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """bf16 beside fp32 per seed, then a mean row with the fp32 interval and the parity verdict."""
    rows: list[dict[str, Any]] = []
    for algo, variant in algos:
        label = row_label(algo, variant)
        sel = _select(df, suite=suite, label=label, train="expert", test="expert", update="soft")
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


def training_setting_table(df: pd.DataFrame, suite: str, algos: tuple[Row, ...]) -> pd.DataFrame:
    """The first row's (FOCAL's) return per training setting and quality (context of the same quality), their
    mean, the choice."""
    from omrl_bench.bench.grids import TRAINING_SETTINGS, training_settings

    rows = []
    baseline = row_label(*algos[0])
    for setting in training_settings(suite):
        row: dict[str, Any] = {"setting": setting, "overrides": " ".join(TRAINING_SETTINGS[setting])}
        for q in QUALITIES:
            sel = _select(df, suite=suite, label=baseline, setting=setting, train=q, test=q)
            s = summary(sel["return"])
            row[f"{q}_mean"], row[f"{q}_seeds"] = s["mean"], s["seeds"]
            row[f"{q}_wall_s"] = float(sel["wall_s"].mean()) if len(sel) else math.nan
        means = [row[f"{q}_mean"] for q in QUALITIES]
        row["mean"] = float(np.mean(means)) if not any(math.isnan(m) for m in means) else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    complete = table["mean"].notna()
    table["chosen"] = ""
    if complete.all():
        table.loc[table["mean"].idxmax(), "chosen"] = "yes"
    return table


def parity(mean_row: dict[str, Any]) -> str:
    """ "yes" when the bf16 mean lies inside the fp32 95% CI or within ``PARITY_MARGIN`` of the fp32 mean."""
    fp32, bf16 = mean_row["fp32_return"], mean_row["bf16_return"]
    if math.isnan(fp32) or math.isnan(bf16):
        return "pending"
    inside = mean_row["fp32_ci_low"] <= bf16 <= mean_row["fp32_ci_high"]
    return "yes" if inside or abs(bf16 - fp32) <= PARITY_MARGIN else "no"


# ----------------------------------------------------------------------------------------------- Markdown


def _num(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _mean_std(mean: float, std: float, digits: int = 2, seeds: int = 0) -> str:
    if math.isnan(mean):
        return "n/a" if seeds else "pending"  # n/a: finished, but undefined (e.g. RMS of a single test task)
    return f"{mean:.{digits}f} ({std:.{digits}f})" if not math.isnan(std) else f"{mean:.{digits}f}"


def _ci(lo: float, hi: float, digits: int = 2) -> str:
    return "-" if math.isnan(lo) else f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _pub(mean: float, std: float = math.nan, digits: int = 2) -> str:
    return "-" if math.isnan(mean) else _mean_std(mean, std, digits)


def _ours(x: dict[str, Any], prefix: str = "", digits: int = 2) -> list[str]:
    """Our mean (std) and 95% CI cells from the ``<prefix>mean``, ``std``, ``ci_low``, ``ci_high`` columns."""
    return [
        _mean_std(x[prefix + "mean"], x[prefix + "std"], digits, x[prefix + "seeds"]),
        _ci(x[prefix + "ci_low"], x[prefix + "ci_high"], digits),
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(name: str, table: pd.DataFrame, seeds: int) -> str:
    """The table of grid ``name`` as Markdown: ours mean (std) over seeds, 95% CI, paper, difference."""
    r = table.to_dict("records")
    n = lambda row, key="seeds": f"{row[key]}/{seeds}"  # noqa: E731
    if name == "returns":
        header = [
            "suite",
            "algorithm",
            "seeds",
            "ours: mean (std)",
            "95% CI",
            "paper",
            "ours - paper",
            "wall / run (min)",
        ]
        body = [
            [
                x["suite"],
                x["algorithm"],
                n(x),
                *_ours(x),
                _pub(x["paper"], x["paper_std"]),
                _num(x["diff"]),
                _num(x["wall_s"] / 60, 1),
            ]
            for x in r
        ]
    elif name == "distribution-shift":
        header = [
            "algorithm",
            "train",
            "test context",
            "seeds",
            "ours: mean (std)",
            "95% CI",
            "drop",
            "FOCAL++ drop - FOCAL drop [95% CI]",
            "paper",
            "ours - paper",
            "paper drop",
        ]
        mark = lambda q: f"{q}*" if q == "mixed" else q  # noqa: E731
        body = [
            [
                x["algorithm"],
                mark(x["train"]),
                mark(x["test"]),
                n(x),
                *_ours(x),
                _num(x["drop"]),
                "-"
                if math.isnan(x["drop_diff"])
                else f"{x['drop_diff']:.2f} {_ci(x['drop_diff_ci_low'], x['drop_diff_ci_high'])}",
                _num(x["paper"]),
                _num(x["diff"]),
                _num(x["paper_drop"]),
            ]
            for x in r
        ]
    elif name == "momentum":
        header = [
            "attention (variant)",
            "seeds soft/hard",
            "soft: ours",
            "soft 95% CI",
            "soft: paper",
            "soft: ours - paper",
            "hard: ours",
            "hard 95% CI",
            "hard: paper",
            "hard: ours - paper",
            "soft - hard: ours [95% CI]",
            "soft - hard: paper",
        ]
        body = [
            [
                x["variant"],
                f"{x['soft_seeds']}/{seeds}, {x['hard_seeds']}/{seeds}",
                *_ours(x, "soft_"),
                _pub(x["soft_paper"], x["soft_paper_std"]),
                _num(x["soft_diff"]),
                *_ours(x, "hard_"),
                _pub(x["hard_paper"], x["hard_paper_std"]),
                _num(x["hard_diff"]),
                _num(x["soft_minus_hard"])
                + (
                    ""
                    if math.isnan(x["soft_minus_hard_ci_low"])
                    else " " + _ci(x["soft_minus_hard_ci_low"], x["soft_minus_hard_ci_high"])
                ),
                _num(x["soft_paper"] - x["hard_paper"]),
            ]
            for x in r
        ]
    elif name == "embeddings":
        header = [
            "suite",
            "algorithm",
            "seeds",
            "RMS: ours",
            "RMS 95% CI",
            "RMS: paper",
            "RMS: ours - paper",
            "ESR: ours",
            "ESR 95% CI",
            "ESR: paper",
            "ESR: ours - paper",
        ]
        body = [
            [
                x["suite"],
                x["algorithm"],
                n(x, "rms_seeds"),
                *_ours(x, "rms_", 3),
                _num(x["rms_paper"], 3),
                _num(x["rms_diff"], 3),
                *_ours(x, "esr_", 3),
                _num(x["esr_paper"], 3),
                _num(x["esr_diff"], 3),
            ]
            for x in r
        ]
    elif name == "methods":
        header = ["suite", "algorithm", "seeds", "IID (mixed)", "95% CI", "rank", "OOD mean", "95% CI", "rank"]
        header += [f"OOD {q}" for q in OOD] + [f"P(OOD > {r[0]['algorithm']})" if r else "P(OOD > first)"]
        header += ["collapsed"]
        body = [
            [
                x["suite"],
                x["algorithm"],
                n(x, "iid_seeds"),
                *_ours(x, "iid_"),
                x["iid_rank"],
                *_ours(x, "ood_"),
                x["ood_rank"],
                *(_ranked(x, q) for q in OOD),
                _num(x["ood_p_improve"]),
                f"{x['collapsed']}/{x['iid_seeds']}" if x["iid_seeds"] else "-",
            ]
            for x in r
        ]
    elif name == "training-setting":
        header = ["setting", "overrides", *(f"{q}" for q in QUALITIES), "mean of the four", "chosen"]
        body = [
            [
                x["setting"],
                f"`{x['overrides']}`",
                *(_num(x[f"{q}_mean"]) if x[f"{q}_seeds"] else "pending" for q in QUALITIES),
                _num(x["mean"]),
                x["chosen"] or "-",
            ]
            for x in r
        ]
    elif name == "precision":
        header = [
            "algorithm",
            "seed",
            "fp32 return",
            "bf16 return",
            "bf16 - fp32",
            "fp32 95% CI",
            "parity",
            "fp32 wall (s)",
            "bf16 wall (s)",
            "fp32 / bf16 wall",
        ]
        body = []
        for x in r:
            is_mean = x["seed"] == "mean"
            body.append(
                [
                    x["algorithm"],
                    x["seed"],
                    _mean_std(x["fp32_return"], x["fp32_std"]) if is_mean else _num(x["fp32_return"]),
                    _mean_std(x["bf16_return"], x["bf16_std"]) if is_mean else _num(x["bf16_return"]),
                    _num(x["bf16_minus_fp32"]),
                    _ci(x["fp32_ci_low"], x["fp32_ci_high"]) if is_mean else "-",
                    x["parity"] if is_mean else "-",
                    _num(x["fp32_wall_s"], 0),
                    _num(x["bf16_wall_s"], 0),
                    _num(x["speedup"]),
                ]
            )
    else:
        raise ValueError(name)
    return markdown_table(header, body)


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
    return f"{_mean_std(x[f'{q}_mean'], x[f'{q}_std'], 2, x[f'{q}_seeds'])} (rank {x[f'{q}_rank']})"


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) over every pair of runs (ties count half): the Mann-Whitney statistic over len(x) len(y), as
    rliable defines it on one task; NaN without runs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not x.size or not y.size:
        return math.nan
    diff = x[:, None] - y[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


# each method's claim against FOCAL with OOD context, from its own paper (REFERENCE section 5b)
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


def methods_table(df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...]) -> pd.DataFrame:
    """Trained on mixed data; IID = mixed context, OOD = expert, medium and random contexts (and their mean
    per seed), each with a bootstrap interval and a rank per suite and column (ties where intervals overlap)."""
    rows = []
    for suite in suites:
        block = []
        for algo, variant in algos:
            label = row_label(algo, variant)
            sel = _select(df, suite=suite, label=label, train="mixed", update="soft")
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
        for r in block:  # against the first row (FOCAL), per suite, on the per-seed OOD means
            r["ood_p_improve"] = probability_of_improvement(r["_ood_runs"], block[0]["_ood_runs"])
        for r in block:
            del r["_ood_runs"]
        for col in ("iid", "ood", *OOD):
            ranks = _ranks(*([r[f"{col}_{k}"] for r in block] for k in ("mean", "ci_low", "ci_high")))
            for r, rank in zip(block, ranks, strict=True):
                r[f"{col}_rank"] = rank
        rows += block
    return pd.DataFrame(rows)


TABLES_PER_SUITE = {"returns": returns_table, "embeddings": embeddings_table, "methods": methods_table}
TABLES_ONE_SUITE = {
    "distribution-shift": distribution_shift_table,
    "momentum": momentum_table,
    "precision": precision_table,
    "training-setting": training_setting_table,
}


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


def momentum_claims(table: pd.DataFrame) -> list[str]:
    """The paper's Table 4 claim: the soft (momentum) key-encoder update beats the hard one for every variant."""
    done = table[table["soft_minus_hard_ci_low"].notna()]
    if not len(table):
        return []
    above, below = _by_interval(done["variant"], done, "soft_minus_hard")
    verdict = "holds" if len(above) == len(table) else "does not hold"
    if len(done) < len(table):
        verdict = f"undecided ({len(done)} of {len(table)} variants finished)"
    return [
        f"- Soft momentum beats the hard update for every variant (paper: soft - hard +1.25 to +5.13): "
        f"**{verdict}**; soft above hard with the 95% interval of the difference above 0 for "
        f"{len(above)} of {len(done)} ({', '.join(above) or 'none'}), below for {len(below)} "
        f"({', '.join(below) or 'none'}), the rest within the seeds' spread."
    ]


def build(name: str, df: pd.DataFrame, suites: tuple[str, ...], algos: tuple[Row, ...]) -> pd.DataFrame:
    """The table of grid ``name`` with one row (group) per (algorithm, variant) of ``algos``."""
    if name in TABLES_PER_SUITE:
        return TABLES_PER_SUITE[name](df, suites, algos)
    return TABLES_ONE_SUITE[name](df, suites[0], algos)


def write(
    name: str, table: pd.DataFrame, seeds: int, header: str, report_dir: Path, extra: str = "", stem: str = ""
) -> tuple[Path, Path, str]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (``stem`` defaults to ``name``; with the provenance ``header``,
    and ``extra`` after the table); return paths and the table."""
    csv, md = report_dir / f"{stem or name}.csv", report_dir / f"{stem or name}.md"
    body = to_markdown(name, table, seeds)
    if name == "methods" and len(table):
        mean_p = table.groupby("algorithm", sort=False)["ood_p_improve"].agg(["mean", "count"])
        first = table["algorithm"].iloc[0]
        body += f"\n\nProbability of improvement over {first} with OOD context, averaged over the suites where "
        body += "both have finished runs (rliable's definition: P(a run of the method beats a run of the "
        body += "baseline), ties half): "
        body += "; ".join(
            f"{a} {_num(p['mean'])} ({int(p['count'])} suite{'s' if p['count'] != 1 else ''})"
            for a, p in mean_p.iterrows()
            if a != first
        )
        body += (
            ". The interquartile mean across suites is not given: with 3 seeds on each suite it would be the mean "
            "of the middle half of a handful of runs pooled over suites whose returns are on different scales "
            "(sparse and dense), which needs a normalisation the table does not otherwise make, and it would not "
            "say more than the per-suite ranks and P(improvement)."
        )
        body += "\n\nClaims of the methods' papers, on the point robots:\n\n" + "\n".join(methods_claims(table))
        body += "\n\n" + "\n".join(published_methods_lines())
    if name == "momentum":
        body += "\n\nClaims of the paper:\n\n" + "\n".join(momentum_claims(table))
    if name == "returns":
        body += "\n\nClaims of the paper:\n\n" + "\n".join(returns_claims(table))
    if name == "embeddings":
        body += "\n\nClaims of the paper:\n\n" + "\n".join(embeddings_claims(table))
    if name == "distribution-shift":
        body += "\n\n\\* mixed: not in the paper (its Table 3 has expert, medium and random only).\n\n"
        body += "Claims of the paper:\n\n" + "\n".join(distribution_shift_claims(table))
    if extra:
        body += "\n\n" + extra
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv, index=False, float_format="%.4f")
        md.write_text(header + "\n" + body + "\n")
    except OSError as exc:
        raise OmrlError(f"cannot write the {name} table to {report_dir}: {exc.strerror or exc}") from None
    return csv, md, body
