"""The per-quality statistics of a suite's published datasets, as the Markdown rows of docs/results/datasets.md.

Usage: python scripts/dataset_table.py SUITE [SUITE ...] [--preset cpu] [--root DIR]

Per quality, over the suite's tasks: mean (std over tasks) sparse and dense dataset return, the dataset's
normalised score (mean, min / median / max over tasks), the rewarded fraction of transitions (mean and
minimum over tasks) and the median chosen checkpoint step(s), all read from the dataset cards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from omrl_bench.datasets import storage
from omrl_bench.datasets.pipeline import default_root
from omrl_bench.datasets.recipe import ALL_QUALITIES, load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    root = Path(args.root) if args.root else default_root()
    print(
        "| suite | tasks | quality | sparse return | dense return | normalised score: mean (min / median / max) "
        "| rewarded transitions: mean (min) | checkpoint step (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for suite in args.suites:
        recipe = load_recipe(suite, args.preset)
        for q in ALL_QUALITIES:
            cards = [
                storage.read_metadata(d)["omrl"]
                for t in range(recipe.config.n_tasks)
                if (d := root / recipe.dataset_id(t, q) / "data").exists()
            ]
            if not cards:
                continue
            sparse = np.array([c["dataset_sparse_return"] for c in cards])
            dense = np.array([c["dataset_dense_return"] for c in cards])
            norm = np.array([c["dataset_normalised_score"] for c in cards])
            rewarded = np.array([c["rewarded_fraction"] for c in cards])
            if q == "mixed":
                first = cards[0]["checkpoint_steps"]
                steps = f"{first[0]} to {first[-1]}, every {first[1] - first[0]}"
            else:
                steps = f"{np.median([c['checkpoint_step'] for c in cards]):.0f}"
            print(
                f"| {suite} | {len(cards)} | {q} | {sparse.mean():.2f} ({sparse.std():.2f}) | "
                f"{dense.mean():.2f} ({dense.std():.2f}) | {norm.mean():.2f} ({norm.min():.2f} / "
                f"{np.median(norm):.2f} / {norm.max():.2f}) | {100 * rewarded.mean():.1f}% "
                f"({100 * rewarded.min():.1f}%) | {steps} |"
            )


if __name__ == "__main__":
    main()
