"""SAC learning curves of the tasks generated so far under a dataset root, as a Markdown table.

Usage: python scripts/sac_curves.py ROOT SUITE [--preset cpu] [--every 10000] [--figure PNG]

Reads each task's score curve (``ROOT/.omrl-work/<suite>-<preset>-<fingerprint>/task-XX/scores.json``: the
mean dense return of the recipe's scoring episodes at every checkpoint) and its SAC wall time
(``pipeline.sac_wall``, as the policy archive records it). Used to size a recipe's SAC budget from a few
tasks before generating a whole suite:
``omrl-bench generate-data --suite S --tasks 0,1 --set sac.total_steps=N --root ROOT`` first. ``--figure``
also draws the curves of the tasks whose expert datasets are published under ROOT (``datasets plot`` wants
the whole suite).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from omrl_bench.datasets.pipeline import WORK, sac_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("suite")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--every", type=int, default=10000, help="SAC steps between the table's rows")
    parser.add_argument("--figure", help="PNG of the curves, from the expert datasets' cards")
    args = parser.parse_args()
    if args.figure:
        from omrl_bench.bench.figures import sac_curves

        print(f"wrote {sac_curves(args.suite, args.preset, Path(args.root), Path(args.figure))}")
    for recipe_dir in sorted((Path(args.root) / WORK).glob(f"{args.suite}-{args.preset}-*")):
        tasks = {p.parent.name: p for p in sorted(recipe_dir.glob("task-*/scores.json"))}
        if not tasks:
            continue
        curves = {
            t: {c["step"]: c["dense_return"] for c in json.loads(p.read_text())["checkpoints"]}
            for t, p in tasks.items()
        }
        steps = sorted(set.intersection(*(set(c) for c in curves.values())))
        print(f"{recipe_dir.name}: dense return (mean of the scoring episodes) at each checkpoint step\n")
        print("| step | " + " | ".join(tasks) + " | mean |")
        print("|---" * (len(tasks) + 2) + "|")
        for step in [s for s in steps if s % args.every == 0 or s == steps[-1]]:
            values = [curves[t][step] for t in tasks]
            print(f"| {step} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {np.mean(values):.1f} |")
        walls = [sac_wall(p.parent) for p in tasks.values()]
        print("\nSAC wall time per task (s): " + ", ".join(f"{t} {w}" for t, w in zip(tasks, walls, strict=True)))
        last = [s for s in steps if s >= steps[-1] - 20000]
        tail = {t: np.mean([curves[t][s] for s in last]) for t in tasks}
        print("Mean over the last 20k steps' checkpoints: " + ", ".join(f"{t} {v:.1f}" for t, v in tail.items()) + "\n")


if __name__ == "__main__":
    main()
