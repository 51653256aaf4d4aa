"""Data protocol v1's quality rules on synthetic score curves (datasets/qualities.py)."""

from __future__ import annotations

import pytest

from omrl_bench.datasets.qualities import QUALITIES, QualityRules, even_counts, normalised, select


def _curve(values: list[float], every: int = 100, key: str = "sparse_return") -> list[dict]:
    return [{"step": i * every, key: v, "dense_return": -v} for i, v in enumerate(values)]


# a learning curve like Sparse-Point-Robot's: flat, a fast rise, a plateau (final = 12)
RISE = [0.0, 0.1, 0.2, 0.9, 1.3, 2.0, 3.5, 5.8, 6.3, 8.0, 10.5, 11.0, 12.0]


def test_normalised_on_the_reported_return() -> None:
    curve = _curve(RISE)
    score = normalised(curve, "sparse_return")
    assert score[0] == 0.0 and score[-1] == 1.0
    assert score[6] == pytest.approx(3.5 / 12)
    assert normalised(_curve([2.0, 2.0, 1.0]), "sparse_return") == [0.0, 0.0, 0.0]  # no learning


def test_expert_medium_random_untrained() -> None:
    choices = select(_curve(RISE), "sparse_return", QualityRules(), 500, (*QUALITIES, "untrained"))
    assert choices["expert"].steps == (1200,) and choices["expert"].normalised_score == 1.0
    assert choices["untrained"].steps == (0,)
    # medium: the checkpoint closest to 0.5 (5.8 / 12 = 0.483 at step 700, against 6.3 / 12 = 0.525 at 800)
    assert choices["medium"].steps == (700,) and choices["medium"].normalised_score == pytest.approx(5.8 / 12)
    # random: the EARLIEST checkpoint reaching 0.1 (1.3 / 12 = 0.108 at step 400), not the closest to it
    assert choices["random"].steps == (400,) and choices["random"].normalised_score == pytest.approx(1.3 / 12)
    assert all(c.fallback is None for c in choices.values())
    assert all(c.episodes == (500,) for q, c in choices.items() if q != "mixed")


def test_thresholds_are_settings() -> None:
    rules = QualityRules(medium_target=0.25, random_threshold=0.05)
    choices = select(_curve(RISE), "sparse_return", rules, 500, ("medium", "random"))
    assert choices["medium"].steps == (600,)  # 3.5 / 12 = 0.29
    assert choices["random"].steps == (300,)  # 0.9 / 12 = 0.075: the first >= 0.05


def test_mixed_splits_the_episodes_evenly_over_regular_checkpoints() -> None:
    rules = QualityRules(mixed_every=300)
    mixed = select(_curve(RISE), "sparse_return", rules, 500, ("mixed",))["mixed"]
    assert mixed.steps == (0, 300, 600, 900, 1200)  # every 300 steps, step 0 and the final included
    assert sum(mixed.episodes) == 500 and max(mixed.episodes) - min(mixed.episodes) == 0
    expected = sum(v / 12 for v in (0.0, 0.9, 3.5, 8.0, 12.0)) / 5
    assert mixed.normalised_score == pytest.approx(expected)
    odd = select(_curve(RISE), "sparse_return", QualityRules(mixed_every=500), 11, ("mixed",))["mixed"]
    assert odd.steps == (0, 500, 1000, 1200)  # the final checkpoint joins even off the 500-step grid
    assert sum(odd.episodes) == 11 and sorted(odd.episodes) == [2, 3, 3, 3]


def test_even_counts() -> None:
    assert even_counts(10, 4) == [2, 3, 2, 3]
    assert even_counts(3, 5) == [0, 1, 0, 1, 1]  # the larger counts are spread out, not bunched at the start
    for total in range(0, 40):
        for parts in range(1, 9):
            counts = even_counts(total, parts)
            assert sum(counts) == total and max(counts) - min(counts) <= 1
    with pytest.raises(ValueError):
        even_counts(3, 0)


def test_no_checkpoint_reaches_the_threshold_falls_back_and_says_so() -> None:
    flat = _curve([1.0, 1.0, 0.5, 0.8, 1.0])  # the final checkpoint is no better than step 0
    choices = select(flat, "sparse_return", QualityRules(), 100, ("expert", "medium", "random"))
    assert choices["random"].steps == (100,) and "no checkpoint reached normalised 0.1" in choices["random"].fallback
    assert choices["medium"].fallback and choices["expert"].fallback is None
    # a curve that jumps past the medium target gets a note, not a silent choice
    jump = select(_curve([0.0, 0.05, 11.0, 12.0]), "sparse_return", QualityRules(), 100, ("medium",))["medium"]
    assert jump.fallback is None and jump.notes and "0.92" in jump.notes[0]
    # random: a jump past the threshold, or a curve that reaches it only at its end, gets a note too
    leap = select(_curve([0.0, 0.5, 5.0, 12.0]), "sparse_return", QualityRules(), 100, ("random",))["random"]
    assert leap.steps == (200,) and leap.fallback is None and "scored 0.42" in leap.notes[0]
    late = select(_curve([0.0, 0.2, 0.5, 12.0]), "sparse_return", QualityRules(), 100, ("random",))["random"]
    assert late.steps == (300,) and "random is the expert policy" in late.notes[0]
    assert not select(_curve(RISE), "sparse_return", QualityRules(), 100, ("random",))["random"].notes


def test_the_curve_must_start_at_step_zero() -> None:
    with pytest.raises(ValueError):
        select(_curve(RISE)[1:], "sparse_return", QualityRules(), 10, ("expert",))
