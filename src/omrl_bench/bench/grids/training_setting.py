"""The training-setting grid (issue 18; not in the paper): FOCAL, the baseline, on each quality with each way of
keeping the policy near the data. The setting with the best mean over the four qualities (each tested with context
of its own quality) became the cpu preset's, chosen before any run and never tuned on them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from omrl_bench.bench.grids.core import FOCAL, SPR, Grid, Option, Row, register_grid
from omrl_bench.bench.tables import fmt_num, label_of, select_rows, summary
from omrl_bench.datasets.recipe import QUALITIES

TRAINING_SETTINGS: dict[str, tuple[str, ...]] = {
    "bc0": ("ac.bc_weight=0.0", "ac.alpha=0.0", "ac.train_alpha=false"),
    "bc0.4": ("ac.bc_weight=0.4", "ac.alpha=0.0", "ac.train_alpha=false"),  # TD3+BC's alpha = 2.5
    "bc1": ("ac.bc_weight=1.0", "ac.alpha=0.0", "ac.train_alpha=false"),
    # BRAC's adaptive alpha (the paper's MuJoCo mechanism): the divergence critic's KL estimate is held
    # near a target divergence, so the penalty grows on narrow data and fades where the data covers more
    "brac": ("ac.bc_weight=0.0", "ac.alpha=10.0", "ac.train_alpha=true", "ac.target_divergence=0.05"),
    # the MuJoCo suites (issue 20): the paper's Table 7 BRAC (adaptive alpha from 500 on Cheetah-Vel, 1e6 on
    # Ant, toward their target divergences; the suites' defaults), alone or with the behaviour-cloning term.
    # Each names its BC weight, so the runs stay the same when the chosen one becomes the suite's preset.
    "table7": ("ac.bc_weight=0.0",),
    "table7-bc0.4": ("ac.bc_weight=0.4",),
    "table7-bc1": ("ac.bc_weight=1.0",),
}
MUJOCO_SETTINGS = ("table7", "table7-bc0.4", "table7-bc1")
POINT_SETTINGS = tuple(s for s in TRAINING_SETTINGS if s not in MUJOCO_SETTINGS)


def training_settings(suite: str) -> tuple[str, ...]:
    """The training settings the training-setting grid compares on ``suite``."""
    return POINT_SETTINGS if suite in ("sparse-point-robot", "point-robot-wind") else MUJOCO_SETTINGS


def training_setting_table(df: pd.DataFrame, suite: str, baseline: Row = FOCAL) -> pd.DataFrame:
    """The baseline's (FOCAL's) return per training setting and quality (context of the same quality), their
    mean, the choice."""
    rows = []
    label = label_of(*baseline)
    for setting in training_settings(suite):
        row: dict[str, Any] = {"setting": setting, "overrides": " ".join(TRAINING_SETTINGS[setting])}
        for q in QUALITIES:
            sel = select_rows(df, suite=suite, label=label, setting=setting, train=q, test=q)
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


def training_setting_columns(
    records: list[dict[str, Any]], seeds: int, baseline: str
) -> tuple[list[str], list[list[str]]]:
    header = ["setting", "overrides", *(f"{q}" for q in QUALITIES), "mean of the four", "chosen"]
    body = [
        [
            x["setting"],
            f"`{x['overrides']}`",
            *(fmt_num(x[f"{q}_mean"]) if x[f"{q}_seeds"] else "pending" for q in QUALITIES),
            fmt_num(x["mean"]),
            x["chosen"] or "-",
        ]
        for x in records
    ]
    return header, body


def _option(setting: str) -> Option:
    """A point-robot setting applies to the point robots, a MuJoCo setting to every other suite."""
    point_robots = ("sparse-point-robot", "point-robot-wind")
    if setting in MUJOCO_SETTINGS:
        return Option(setting=setting, overrides=TRAINING_SETTINGS[setting], not_suites=point_robots)
    return Option(setting=setting, overrides=TRAINING_SETTINGS[setting], only_suites=point_robots)


TRAINING_SETTING = register_grid(
    Grid(
        "training-setting",
        "Training setting of the cpu preset: FOCAL on each data quality (not in the paper)",
        lambda: (FOCAL,),
        (SPR,),
        lambda df, suites, _rows, baseline: training_setting_table(df, suites[0], baseline),
        training_setting_columns,
        QUALITIES,
        tuple(_option(s) for s in TRAINING_SETTINGS),
        one_suite=True,
        note="FOCAL (the baseline, so the choice cannot favour FOCAL++), trained on each quality and tested with "
        "context of the same quality. Rule, fixed before the runs: the setting with the best mean over the four "
        "qualities becomes the cpu preset's for the suite's family (the point robots; the MuJoCo suites, which "
        "compare the paper's Table 7 BRAC alone and with the behaviour-cloning term), for every table.",
    )
)
