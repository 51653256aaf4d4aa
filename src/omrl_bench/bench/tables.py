"""Aggregation of finished grid runs (pandas): the statistics and Markdown cells every grid's table uses, and
writing a registered grid's table beside its provenance header.

Per group of seeds: mean, sample standard deviation (ddof 1) and a percentile bootstrap 95% confidence
interval of the mean. ``paper`` is the published mean and ``diff`` is ours minus it. Cells still
running appear with ``seeds`` below the grid's seed count and empty statistics. Each grid's own table
builder, columns and claims live in its module under ``bench/grids/``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench.grids.core import Grid, Planned, Row, finished
from omrl_bench.core.registry import label as label_of
from omrl_bench.errors import OmrlError

BOOTSTRAP_SAMPLES = 10_000


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


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) over every pair of runs (ties count half): the Mann-Whitney statistic over len(x) len(y), as
    rliable defines it on one task; NaN without runs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not x.size or not y.size:
        return math.nan
    diff = x[:, None] - y[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def collect(planned: list[Planned]) -> pd.DataFrame:
    """One row per finished run and test-context quality."""
    from omrl_bench.core.trainer import migrate_config

    rows: list[dict[str, Any]] = []
    for p in finished(planned):
        report = json.loads((p.run_dir / "final.json").read_text())
        emb = report["embeddings"]["test"]
        config = migrate_config(report["config"])
        precision = config["config"]["precision"]
        datasets = report.get("provenance", {}).get("datasets", {})
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
                    "data": config.get("data_preset", ""),  # the datasets' preset and recipe ("": not recorded)
                    "recipe": datasets.get("train", {}).get("recipe_fingerprint") or "",
                    "seed": p.cell.seed,
                    "return": res["mean_return"],
                    "rms": emb["rms"],
                    "esr": emb["esr"],
                    "wall_s": report["train_wall_time_s"],
                    # "" for records from before runs recorded it (bench/run.py machine())
                    "machine": json.dumps(report.get("provenance", {}).get("machine") or "", sort_keys=True),
                    "run": p.run_dir.name,
                }
            )
    columns = [
        *("label", "variant", "suite", "train", "test", "update", "setting", "precision", "data", "recipe", "seed"),
        *("return", "rms", "esr", "wall_s", "machine", "run"),
    ]
    return pd.DataFrame(rows, columns=columns)


def select_rows(df: pd.DataFrame, **eq: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for col, val in eq.items():
        mask &= (df[col] == val).to_numpy()
    return df[mask]


def expert_cells(df: pd.DataFrame, suite: str, label: str) -> pd.DataFrame:
    """A row's runs trained on expert data and tested with expert context (soft key-encoder update)."""
    return select_rows(df, suite=suite, label=label, train="expert", test="expert", update="soft")


def stats_row(keys: dict[str, Any], values: pd.Series, published: float | None) -> dict[str, Any]:
    s = summary(values)
    pub = math.nan if published is None else published
    return {**keys, **s, "paper": pub, "diff": s["mean"] - pub}


def vs_first(values: pd.Series, first: pd.Series, prefix: str = "") -> dict[str, float]:
    """Mean of ``values`` minus mean of ``first`` (the baseline row's), with the bootstrap interval."""
    x, base = values.to_numpy(dtype=float), first.to_numpy(dtype=float)
    lo, hi = bootstrap_diff_ci(x, base)
    diff = float(x.mean() - base.mean()) if x.size and base.size else math.nan
    return {f"{prefix}vs_first": diff, f"{prefix}vs_first_ci_low": lo, f"{prefix}vs_first_ci_high": hi}


def by_interval(names: pd.Series, rows: pd.DataFrame, key: str) -> tuple[list[str], list[str]]:
    """The names whose difference ``key`` has its 95% interval wholly above 0, and those wholly below."""
    lows, highs = rows[f"{key}_ci_low"], rows[f"{key}_ci_high"]
    return list(names[(lows > 0).to_numpy()]), list(names[(highs < 0).to_numpy()])


# ----------------------------------------------------------------------------------------------- Markdown


def fmt_num(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_mean_std(mean: float, std: float, digits: int = 2, seeds: int = 0) -> str:
    if math.isnan(mean):
        return "n/a" if seeds else "pending"  # n/a: finished, but undefined (e.g. RMS of a single test task)
    return f"{mean:.{digits}f} ({std:.{digits}f})" if not math.isnan(std) else f"{mean:.{digits}f}"


def fmt_ci(lo: float, hi: float, digits: int = 2) -> str:
    return "-" if math.isnan(lo) else f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_pub(mean: float, std: float = math.nan, digits: int = 2) -> str:
    return "-" if math.isnan(mean) else fmt_mean_std(mean, std, digits)


def fmt_ours(x: dict[str, Any], prefix: str = "", digits: int = 2) -> list[str]:
    """Our mean (std) and 95% CI cells from the ``<prefix>mean``, ``std``, ``ci_low``, ``ci_high`` columns."""
    return [
        fmt_mean_std(x[prefix + "mean"], x[prefix + "std"], digits, x[prefix + "seeds"]),
        fmt_ci(x[prefix + "ci_low"], x[prefix + "ci_high"], digits),
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def build(grid: Grid, df: pd.DataFrame, suites: tuple[str, ...], rows: tuple[Row, ...]) -> pd.DataFrame:
    """The table of ``grid`` with one row (group) per (algorithm, variant) of ``rows``."""
    if grid.table is None:
        raise OmrlError(f"the {grid.name} grid draws figures, not a table")
    return grid.table(df, suites, rows, grid.baseline)


def to_markdown(grid: Grid, table: pd.DataFrame, seeds: int) -> str:
    """The table of ``grid`` as Markdown: the grid's columns of each row of ``table``."""
    assert grid.columns is not None
    header, body = grid.columns(table.to_dict("records"), seeds, label_of(*grid.baseline))
    return markdown_table(header, body)


def body(grid: Grid, table: pd.DataFrame, seeds: int, extra: str = "") -> str:
    """The Markdown table, the grid's text after it, its claims (a section only where it has any) and ``extra``."""
    text = to_markdown(grid, table, seeds) + grid.after_table(table)
    claims = grid.claims(table)
    if claims:
        text += f"\n\n{grid.claims_heading}\n\n" + "\n".join(claims)
    text += grid.after_claims(table)
    return text + (f"\n\n{extra}" if extra else "")


def write(
    grid: Grid, table: pd.DataFrame, seeds: int, header: str, report_dir: Path, extra: str = "", stem: str = ""
) -> tuple[Path, Path, str]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (``stem`` defaults to the grid's name; with the provenance
    ``header``, and ``extra`` after the claims); return paths and the Markdown body."""
    csv, md = report_dir / f"{stem or grid.name}.csv", report_dir / f"{stem or grid.name}.md"
    text = body(grid, table, seeds, extra)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv, index=False, float_format="%.4f")
        md.write_text(header + "\n" + text + "\n")
    except OSError as exc:
        raise OmrlError(f"cannot write the {grid.name} table to {report_dir}: {exc.strerror or exc}") from None
    return csv, md, text
