"""Write the budget calibration table of a training preset from FOCAL's seed-0 calibration runs.

    python scripts/budget_calibration.py docs/results/cpu-table7/calibration/runs \
        > docs/results/cpu-table7/calibration.md

The rule (``omrl_bench.bench.budget``, fixed before the runs) picks the budget; this prints the curve table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omrl_bench.bench.budget import calibration_markdown, choose_budget, own_quality_curves
from omrl_bench.datasets.recipe import QUALITIES


def main(runs: Path) -> None:
    dirs = {q: runs / f"focal-focal-sparse-point-robot-{q}-s0" for q in QUALITIES}
    budget, table = choose_budget(own_quality_curves(dirs))
    print("Return tested with context of the training quality (20 held-out tasks x 3 episodes per evaluation).\n")
    print(calibration_markdown(table, budget))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
