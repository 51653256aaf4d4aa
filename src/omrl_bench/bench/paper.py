"""Published numbers, keyed like our tables: the FOCAL++ paper's (its Tables 1 to 6 and appendix C; each
the paper's mean, and standard deviation where it gives one, over 3 seeds) and UNICORN's Table 2 (IID / OOD
returns of FOCAL, CORRO, CSRO and UNICORN-SS, cited beside the methods table as not comparable).
"""

from __future__ import annotations

from omrl_bench.envs.suites import SUITES

# Table 1/5 (average test return, trained and tested on expert data) and Tables 2 and 6 (test-task embedding
# RMS and ESR), by suite and table label: defined with each suite (envs/suites.py).
RETURNS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(suite.published["returns"]) for name, suite in SUITES.items() if "returns" in suite.published
}
EMBEDDINGS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(suite.published["embeddings"]) for name, suite in SUITES.items() if "embeddings" in suite.published
}

# Table 3 (Sparse-Point-Robot): (train quality, test-context quality) -> return. The paper's FOCAL
# column is copied from the FOCAL paper; FOCAL++ is the batch-wise variant.
DISTRIBUTION_SHIFT: dict[str, dict[tuple[str, str], float]] = {
    "FOCAL": {
        ("expert", "expert"): 8.16,
        ("medium", "medium"): 8.44,
        ("random", "random"): 2.34,
        ("expert", "medium"): 7.12,
        ("expert", "random"): 4.43,
        ("medium", "expert"): 8.25,
        ("medium", "random"): 6.76,
    },
    "FOCAL++ batch-wise": {
        ("expert", "expert"): 12.60,
        ("medium", "medium"): 12.54,
        ("random", "random"): 10.81,
        ("expert", "medium"): 12.47,
        ("expert", "random"): 10.17,
        ("medium", "expert"): 12.44,
        ("medium", "random"): 10.49,
        ("random", "expert"): 10.35,
        ("random", "medium"): 10.04,
    },
}

# Table 4 (Sparse-Point-Robot): FOCAL++ variant -> {"soft" | "hard": (mean, std)}; "None" attention is
# the contrastive variant (FOCAL's MLP encoder), "Serialize" the series variant.
MOMENTUM: dict[str, dict[str, tuple[float, float]]] = {
    "contrastive": {"soft": (12.78, 0.09), "hard": (11.53, 1.42)},
    "batch-wise": {"soft": (13.15, 0.06), "hard": (11.41, 0.48)},
    "sequence-wise": {"soft": (12.83, 0.08), "hard": (10.10, 2.26)},
    "parallel": {"soft": (12.83, 0.08), "hard": (8.78, 0.92)},
    "series": {"soft": (12.20, 0.22), "hard": (7.07, 0.42)},
}

# UNICORN's Table 2 (Li et al., NeurIPS 2024; mixed data, 6 seeds): env -> method -> (IID, OOD) return. Other
# tasks and reward scales than every suite here (HalfCheetah-Vel with its own velocity range and episode
# length, Ant-Dir): the methods table cites them as not comparable, for the orderings only.
METHODS_PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "HalfCheetah-Vel": {"FOCAL": (-22, -97), "CORRO": (-37, -112), "CSRO": (-28, -102), "UNICORN-SS": (-22, -94)},
    "Ant-Dir": {"FOCAL": (217, 173), "CORRO": (148, 120), "CSRO": (276, 233), "UNICORN-SS": (267, 236)},
}
