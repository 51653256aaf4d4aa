"""The step budget of a training preset, chosen from calibration runs by a rule fixed before they ran.

Calibration (``docs/results/cpu-table7/README.md``): FOCAL, the baseline (so the choice cannot favour
FOCAL++), seed 0, trained on each data quality and evaluated every ``eval_every`` steps with context of its
own quality. The curve is the mean over the qualities of those returns at each evaluated step; it is smoothed
over three consecutive evaluations (one evaluation of a few test tasks is noisy), and the budget is the first
step at which the smoothed curve comes within ``margin`` of its best.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from omrl_bench.errors import OmrlError

MARGIN = 0.25  # return units: about 2% of the paper's Sparse-Point-Robot returns, half the 0.5 goal tolerance
WINDOW = 3  # evaluations in the centred moving average (s - 2k, s, s + 2k at eval_every 2k)


def own_quality_curves(run_dirs: dict[str, Path]) -> pd.DataFrame:
    """Return at every evaluated step of each quality's run, tested with its own quality: index = step,
    one column per quality (the ``eval/<quality>/return`` column of each run's ``progress.csv``)."""
    columns = {}
    for quality, run_dir in run_dirs.items():
        path = run_dir / "progress.csv"
        if not path.exists():
            raise OmrlError(f"no progress.csv in {run_dir}: train the calibration run first")
        frame = pd.read_csv(path)
        key = f"eval/{quality}/return"
        if key not in frame:
            raise OmrlError(f"{path} has no {key} column: the run was not tested with {quality} context")
        rows = frame.dropna(subset=[key])
        columns[quality] = pd.Series(rows[key].to_numpy(), index=rows["step"].astype(int).to_numpy())
    curves = pd.DataFrame(columns).sort_index()
    if curves.isna().any().any():
        raise OmrlError("the calibration runs were not evaluated at the same steps; they cannot be averaged")
    return curves


def choose_budget(curves: pd.DataFrame, margin: float = MARGIN, window: int = WINDOW) -> tuple[int, pd.DataFrame]:
    """(budget, table): the table adds the mean over the qualities and its centred moving average; the budget
    is the first step whose smoothed mean is within ``margin`` of the smoothed curve's maximum."""
    if curves.empty:
        raise OmrlError("no evaluated steps to choose a budget from")
    table = curves.copy()
    table["mean"] = curves.mean(axis=1)
    table["smoothed"] = table["mean"].rolling(window, center=True, min_periods=1).mean()
    best = float(table["smoothed"].max())
    budget = int(table.index[table["smoothed"] >= best - margin][0])
    return budget, table


def calibration_markdown(table: pd.DataFrame, budget: int, margin: float = MARGIN) -> str:
    """The calibration curve as a Markdown table (steps in thousands as columns), with the budget it gives."""
    steps = [f"{s // 1000}k" if s % 1000 == 0 else str(s) for s in table.index]
    names = {"mean": "mean of the four", "smoothed": f"moving average ({WINDOW})"}
    lines = ["| FOCAL, seed 0 | " + " | ".join(steps) + " |", "|---" * (len(steps) + 1) + "|"]
    for column in table.columns:
        cells = [f"**{v:.2f}**" if s == budget else f"{v:.2f}" for s, v in zip(table.index, table[column], strict=True)]
        lines.append(f"| {names.get(column, column)} | " + " | ".join(cells) + " |")
    best = float(table["smoothed"].max())
    lines += [
        "",
        f"Best smoothed mean {best:.2f}; the first step within {margin:g} of it ({best - margin:.2f}): "
        f"**{budget} steps** (bold column).",
    ]
    return "\n".join(lines) + "\n"


BUDGET_EVERY = 8000  # the steps at which a grid's tables are recomputed from its runs' progress.csv


def budget_steps(final_steps: list[int], every: int = BUDGET_EVERY) -> list[int]:
    """``every``, ``2 every``, ... up to the shortest finished run's steps, and those steps (the budget)."""
    last = min(final_steps, default=0)
    steps = list(range(every, last + 1, every))
    return steps + [last] if steps and steps[-1] != last else steps


def progress_frame(collected: pd.DataFrame, progress: dict[str, pd.DataFrame], step: int) -> pd.DataFrame:
    """``collected`` (``tables.collect``'s rows, with a ``run`` column naming each row's run) with each return
    replaced by the run's evaluation at ``step`` (``eval/<test>/return`` in its ``progress`` frame, read once
    per run by the caller): the table those runs would have given, had the budget been ``step``. Rows without
    an evaluation at ``step`` drop."""
    values = {}
    for run, frame in progress.items():
        at = frame[frame["step"] == step]
        if len(at):
            row = at.iloc[-1]  # a resumed run may log a step twice: its last row is the one kept
            values[run] = {
                k.split("/")[1]: row[k] for k in frame.columns if k.startswith("eval/") and k.endswith("/return")
            }
    out = collected[collected["run"].isin(values)].copy()
    out["return"] = [values[r].get(t, float("nan")) for r, t in zip(out["run"], out["test"], strict=True)]
    return out.dropna(subset=["return"])
