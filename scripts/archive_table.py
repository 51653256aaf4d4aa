"""What the policy archive holds for a suite's recipe: per task its parameter, split, scored returns and SAC wall time.

Usage: python scripts/archive_table.py SUITE [SUITE ...] [--preset cpu] [--archive docs/results/datasets/policies]

Reads only the archive (no datasets needed): each task's score curve (the dense return of its step-0 and
final checkpoints, mean of the recipe's scoring episodes) and the SAC wall time its run recorded, then the
suite's totals: tasks archived of the recipe's, and the SAC core-hours they took.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from omrl_bench.datasets import archive as policy_archive
from omrl_bench.datasets.recipe import load_recipe
from omrl_bench.envs import get_suite, task_parameters, train_test_split

ARCHIVE = Path(__file__).resolve().parents[1] / "docs" / "results" / "datasets" / "policies"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--archive", default=str(ARCHIVE))
    args = parser.parse_args()
    for name in args.suites:
        recipe = load_recipe(name, args.preset)
        cfg, suite = recipe.config, get_suite(name)
        params = task_parameters(suite, cfg.n_tasks, cfg.task_seed)
        test = set(train_test_split(suite, cfg.n_tasks, cfg.n_test, cfg.split_seed)["test"])
        print(f"\n{name} [{args.preset}], recipe {recipe.fingerprint}\n")
        rows, finals, walls = [], [], []
        for task in range(cfg.n_tasks):
            folder = policy_archive.task_dir(Path(args.archive), name, args.preset, recipe.fingerprint, task)
            files = policy_archive.read(folder, recipe.fingerprint)
            if files is None:
                continue
            curve = json.loads(files[policy_archive.SCORES])["checkpoints"]
            wall = json.loads(files[policy_archive.MANIFEST]).get("sac_wall_s")
            lo, hi = curve[0]["dense_return"], curve[-1]["dense_return"]
            finals.append(hi)
            walls.append(wall or 0.0)
            param = ", ".join(f"{k} {v:.2f}" for k, v in params[task].items() if isinstance(v, float))
            split = "test" if task in test else "train"
            minutes = "-" if wall is None else f"{wall / 60:.1f}"
            rows.append(f"| {task} | {param} | {split} | {lo:.1f} | {hi:.1f} | {hi - lo:.1f} | {minutes} |")
        if not rows:
            print(f"no task of {cfg.n_tasks} archived")
            continue
        print("| task | parameter | split | step 0 | final (expert) | final - step 0 | SAC wall (min) |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        spread = f"mean {np.mean(finals):.1f}, min {np.min(finals):.1f}, max {np.max(finals):.1f}"
        cost = f"{sum(walls) / 3600:.2f} core-hours ({np.mean(walls) / 60:.1f} min per task)"
        print(f"\n{len(rows)} of {cfg.n_tasks} tasks archived; final-checkpoint dense return: {spread}; SAC {cost}")


if __name__ == "__main__":
    main()
