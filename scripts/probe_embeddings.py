"""How much task information a run's embeddings carry, and at what scale: a linear probe of the task parameters.

Usage: python scripts/probe_embeddings.py RUN_DIR [RUN_DIR ...]

For each finished run (``final.json`` and ``embeddings.npz``): the test return with context of the run's
training quality, the RMS of the test tasks' mean embeddings z_k (their spread across tasks, as the run
recorded it: docs/protocol.md section 5), and the R^2 of a least-squares linear map z_k -> task parameters (the goal on
Sparse-Point-Robot, the wind on Point-Robot-Wind, the target velocity or direction on MuJoCo), on the
training tasks and, with the map fitted there, on the held-out test tasks. A method whose embeddings
carry the task (high R^2) at a small scale gives its policy a weak input even though the information is
there (issue 21: CORRO on Sparse-Point-Robot).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from omrl_bench.datasets.recipe import load_recipe
from omrl_bench.envs import get_suite, task_parameters


def _params(kwargs: dict[str, object]) -> np.ndarray:
    """The numeric task parameters of one task's constructor kwargs (not its index)."""
    values = [np.atleast_1d(np.asarray(v, dtype=float)) for k, v in sorted(kwargs.items()) if k != "task"]
    return np.concatenate(values)


def _r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return 1.0 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def probe(run: Path) -> dict[str, object]:
    report = json.loads((run / "final.json").read_text())
    config = report["config"]
    data = np.load(run / "embeddings.npz")
    recipe = load_recipe(config["suite"], config["data_preset"]).config
    kwargs = task_parameters(get_suite(config["suite"]), recipe.n_tasks, recipe.task_seed)
    fit_z, fit_y = data["z_train"], np.stack([_params(kwargs[i]) for i in data["train_tasks"]])
    varies = fit_y.std(0) > 0  # parameters shared by every task (Point-Robot-Wind's goal) carry no task
    fit_y = fit_y[:, varies]
    design = np.c_[fit_z, np.ones(len(fit_z))]
    coef, *_ = np.linalg.lstsq(design, fit_y, rcond=None)
    test_z, test_y = data["z_test"], np.stack([_params(kwargs[i]) for i in data["test_tasks"]])[:, varies]
    quality = config["train_quality"]
    return {
        "run": run.name,
        "return": report["test"][quality]["mean_return"],
        "rms": report["embeddings"]["test"]["rms"],
        "r2_train": _r2(fit_y, design @ coef).round(2).tolist(),
        "r2_test": _r2(test_y, np.c_[test_z, np.ones(len(test_z))] @ coef).round(2).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    print("| run | return (training-quality context) | RMS of the test tasks' z | R^2 train | R^2 test |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        p = probe(run)
        print(f"| {p['run']} | {p['return']:.2f} | {p['rms']:.3f} | {p['r2_train']} | {p['r2_test']} |")


if __name__ == "__main__":
    main()
