"""Published numbers of the FOCAL++ paper (../shared/paper; REFERENCE section 7), keyed like our tables.

Every value is the paper's mean (and standard deviation where it gives one) over 3 seeds.
"""

from __future__ import annotations

# Table 1/5: average test return, trained and tested on expert data.
RETURNS: dict[str, dict[str, tuple[float, float]]] = {
    "sparse-point-robot": {
        "FOCAL": (12.25, 0.47),
        "FOCAL++ contrastive": (12.53, 0.31),
        "FOCAL++ batch-wise": (12.54, 0.23),
        "FOCAL++ sequence-wise": (12.64, 0.14),
        "FOCAL++ parallel": (12.90, 0.02),
        "FOCAL++ series": (13.02, 0.30),
    },
    "point-robot-wind": {
        "FOCAL": (-5.67, 0.30),
        "FOCAL++ contrastive": (-5.55, 0.63),
        "FOCAL++ batch-wise": (-5.89, 0.34),
        "FOCAL++ sequence-wise": (-4.90, 0.04),
        "FOCAL++ parallel": (-5.77, 0.19),
        "FOCAL++ series": (-5.49, 0.47),
    },
    "sparse-cheetah-vel": {
        "FOCAL": (-201.8, 37.4),
        "FOCAL++ sequence-wise": (-199.8, 32.9),
        "FOCAL++ parallel": (-166.7, 16.9),
    },
    "sparse-ant-fwd-back": {
        "FOCAL": (142.8, 156.0),
        "FOCAL++ contrastive": (166.7, 4.9),
        "FOCAL++ batch-wise": (167.8, 122.2),
        "FOCAL++ sequence-wise": (177.4, 103.2),
        "FOCAL++ parallel": (281.9, 182.1),
        "FOCAL++ series": (278.5, 161.7),
    },
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

# Table 2 (point robots) and Table 6 (ant): test-task embedding RMS and ESR. Table 6 repeats the
# point robots with different wind values (FOCAL 0.907 / 0.203, FOCAL++ 1.060 / 0.254); we cite Table 2.
EMBEDDINGS: dict[str, dict[str, tuple[float, float]]] = {
    "sparse-point-robot": {"FOCAL": (1.283, 0.226), "FOCAL++ batch-wise": (1.288, 0.281)},
    "point-robot-wind": {"FOCAL": (0.892, 0.077), "FOCAL++ batch-wise": (1.065, 0.100)},
    "sparse-ant-fwd-back": {"FOCAL": (0.758, 0.5), "FOCAL++ batch-wise": (0.763, 0.5)},
}
