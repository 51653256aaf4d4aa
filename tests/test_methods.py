"""CSRO, UNICORN and CORRO: their losses against NumPy references written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omrl_bench.baselines.corro import corro_infonce
from omrl_bench.baselines.csro import GaussianHead, club_upper_bound
from omrl_bench.baselines.unicorn import recon_nll
from omrl_bench.core.losses import gaussian_nll


def _np_log_normal(x: np.ndarray, mean: np.ndarray, log_var: np.ndarray) -> float:
    return float(np.sum(-0.5 * ((x - mean) ** 2 / np.exp(log_var) + log_var + math.log(2 * math.pi))))


def test_club_upper_bound_matches_the_pairwise_definition_within_each_task() -> None:
    rng = np.random.default_rng(0)
    tasks, n, d = 3, 7, 5  # d != 2: the log-density scale differs from CSRO's by 2 / d
    mean, log_var = rng.normal(size=(tasks, n, d)), rng.normal(scale=0.5, size=(tasks, n, d))
    z = rng.normal(size=(tasks, n, d))
    var = np.exp(log_var)
    # CSRO's scale: per-dimension squared errors over q's variance, negative pairs (i, j) inside a task
    positive = np.mean([(z[t, i] - mean[t, i]) ** 2 / var[t, i] for t in range(tasks) for i in range(n)])
    negative = np.mean(
        [(z[t, j] - mean[t, i]) ** 2 / var[t, i] for t in range(tasks) for i in range(n) for j in range(n)]
    )
    ours = club_upper_bound(*(torch.tensor(x) for x in (mean, log_var, z))).item()
    assert ours == pytest.approx(negative - positive, rel=1e-10)
    # 2 / d times the log-density CLUB of each task, averaged over tasks
    log_ratio = np.mean(
        [
            _np_log_normal(z[t, i], mean[t, i], log_var[t, i]) - _np_log_normal(z[t, j], mean[t, i], log_var[t, i])
            for t in range(tasks)
            for i in range(n)
            for j in range(n)
        ]
    )
    assert ours == pytest.approx(2 / d * log_ratio, rel=1e-10)
    # z a function of (s, a) within a task (q fits it): clearly positive
    fixed_var = torch.full((tasks, n, d), -4.0, dtype=torch.float64)
    assert club_upper_bound(torch.tensor(z), fixed_var, torch.tensor(z)).item() > 10
    # z constant within each task but different across tasks, even where q predicts it exactly: 0, so the
    # bound leaves the task information alone
    per_task = np.repeat(rng.normal(size=(tasks, 1, d)), n, axis=1)
    assert club_upper_bound(torch.tensor(per_task), fixed_var, torch.tensor(per_task)).item() == pytest.approx(0.0)
    # q as the reference builds it: whatever its input, variance in [softplus(-1), softplus(1)]
    q_mean, q_log_var = GaussianHead(4, d, 16)(1e4 * torch.randn(64, 4, generator=torch.Generator().manual_seed(0)))
    assert q_mean.abs().max() <= 1.0 and math.log(0.313) <= q_log_var.min() <= q_log_var.max() <= math.log(1.314)


def test_gaussian_nll_of_one_head_and_of_an_ensemble() -> None:
    rng = np.random.default_rng(1)
    mean, log_var, target = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    expected = -np.mean([_np_log_normal(target[i], mean[i], log_var[i]) for i in range(5)])
    assert gaussian_nll(*(torch.tensor(x) for x in (mean, log_var, target))).item() == pytest.approx(expected)


def test_unicorn_reconstruction_nll_of_an_ensemble_on_the_reference_scale() -> None:
    rng = np.random.default_rng(1)
    members, n, obs_dim = 3, 5, 4  # rows: (s' - s) of obs_dim dimensions, then r
    target = rng.normal(size=(n, obs_dim + 1))
    mean, log_var = rng.normal(size=(members, n, obs_dim + 1)), rng.normal(size=(members, n, obs_dim + 1))

    def term(e: int, i: int, k: int) -> float:  # -2 log N(target | mean, var) less its constant
        return float((target[i, k] - mean[e, i, k]) ** 2 / np.exp(log_var[e, i, k]) + log_var[e, i, k])

    expected = np.mean(
        [
            np.mean([term(e, i, k) for k in range(obs_dim)]) + term(e, i, obs_dim)
            for e in range(members)
            for i in range(n)
        ]
    )
    ours = recon_nll(torch.tensor(mean), torch.tensor(log_var), torch.tensor(target))
    assert ours.item() == pytest.approx(expected, rel=1e-10)
    # the reward weighs as much as all the state dimensions together, whatever obs_dim is
    exact = torch.zeros(1, 1, obs_dim + 1, dtype=torch.float64)
    off_reward, off_state = exact.clone(), exact.clone()
    off_reward[..., -1], off_state[..., :-1] = 1.0, 1.0
    assert recon_nll(off_reward, exact[0], exact[0]).item() == pytest.approx(1.0)
    assert recon_nll(off_state, exact[0], exact[0]).item() == pytest.approx(1.0)


def test_corro_infonce_with_generated_negatives() -> None:
    rng = np.random.default_rng(2)
    n, k, d, tau = 6, 4, 3, 0.1
    anchor, positive, negatives = rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, k, d))

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    losses = []
    for i in range(n):
        a = unit(anchor[i])
        logits = np.concatenate([[a @ unit(positive[i])], unit(negatives[i]) @ a]) / tau
        losses.append(-(logits[0] - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()))
    ours = corro_infonce(*(torch.tensor(x) for x in (anchor, positive, negatives)), tau)
    assert ours.item() == pytest.approx(float(np.mean(losses)), rel=1e-6)
    # cosine similarity: scaling an embedding changes nothing
    scaled = corro_infonce(*(torch.tensor(x) for x in (3.0 * anchor, positive, 0.5 * negatives)), tau)
    assert scaled.item() == pytest.approx(ours.item(), rel=1e-6)
    # the positive pointing with the anchor and every negative against it: near-zero loss
    easy = corro_infonce(torch.ones(2, 3), 2 * torch.ones(2, 3), -torch.ones(2, 5, 3), tau)
    assert easy.item() < 1e-6


def test_methods_grid_and_table_ranks_with_ties() -> None:
    import pandas as pd

    from omrl_bench.bench import grids, tables

    cells = grids.expand("methods", 3)
    assert {c.train_quality for c in cells} == {"mixed"} and len(cells) == 7 * 2 * 3
    assert {c.label for c in cells} >= {"CSRO", "UNICORN ss", "CORRO cvae", "FOCAL", "FOCAL++ batch-wise"}
    rows = []
    for label, base in [("FOCAL", 10.0), ("CSRO", 10.1), ("CORRO cvae", 5.0)]:
        for seed, noise in enumerate((-0.1, 0.0, 0.1)):
            for q in ("expert", "medium", "random", "mixed"):
                rows.append(
                    {"label": label, "suite": "sparse-point-robot", "train": "mixed", "test": q, "update": "soft"}
                    | {"seed": seed, "return": base + noise + (1.0 if q == "mixed" else 0.0)}
                    | {"rms": 0.001 if (label, seed) == ("CORRO cvae", 0) else 0.5}
                )
    algos = (("focal", "focal"), ("csro", "csro"), ("corro", "cvae"))
    table = grids.methods.methods_table(pd.DataFrame(rows), ("sparse-point-robot",), algos).set_index("algorithm")
    assert table.loc["FOCAL", "iid_mean"] == pytest.approx(11.0) and table.loc["FOCAL", "ood_mean"] == pytest.approx(10)
    assert list(table["ood_rank"]) == ["1", "1", "3"]  # FOCAL and CSRO overlap: a tie; CORRO below both
    markdown = tables.to_markdown(grids.get_grid("methods"), table.reset_index(), 3)
    assert "| sparse-point-robot | CORRO cvae | 3/3 |" in markdown
    # the seed whose test-task embeddings are one point is counted as collapsed
    assert list(table["collapsed"]) == [0, 0, 1] and markdown.splitlines()[-1].endswith("| 1/3 |")
    assert table.loc["CSRO", "ood_p_improve"] == pytest.approx(7 / 9) and table.loc["CORRO cvae", "ood_p_improve"] == 0
    # the published numbers are cited, each environment's line marked not comparable, with its ordering
    lines = grids.methods.published_methods_lines()
    assert "not comparable" in lines[0]
    assert any(x.startswith("- Ant-Dir:") and "CSRO 276 / 233 (OOD above FOCAL)" in x for x in lines)
    assert any(x.startswith("- HalfCheetah-Vel:") and "CORRO -37 / -112 (OOD below FOCAL)" in x for x in lines)
    # one claim line per new method: CSRO ties FOCAL (at least FOCAL: holds), CORRO is wholly below
    claims = grids.methods.methods_claims(table.reset_index())
    assert len(claims) == 2 and claims[0].startswith("- CSRO at least FOCAL")
    assert "**holds**" in claims[0] and "sparse-point-robot 10.10 against 10.00 (tied with FOCAL" in claims[0]
    assert "**does not hold**" in claims[1] and "(below FOCAL, P(improvement) 0.00)" in claims[1]
    both = grids.methods.methods_table(pd.DataFrame(rows), ("sparse-point-robot", "point-robot-wind"), algos)
    assert "**undecided (runs pending)**" in grids.methods.methods_claims(both)[0]  # no Point-Robot-Wind runs yet


def test_probability_of_improvement_against_a_pairwise_count() -> None:
    from omrl_bench.bench.tables import probability_of_improvement

    x, y = np.array([3.0, 1.0, 2.0]), np.array([2.0, 0.5])
    wins = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    assert probability_of_improvement(x, y) == pytest.approx(wins / 6)
    assert probability_of_improvement(x, x) == pytest.approx(0.5) and math.isnan(probability_of_improvement(x, []))


def test_corro_embeds_transitions_on_the_unit_sphere_as_its_reference() -> None:
    from omrl_bench.core.encoders import MLPEncoder
    from omrl_bench.core.train_config import resolve_config
    from omrl_bench.errors import OmrlError

    assert resolve_config("corro", "cvae", "sparse-point-robot", "cpu")[1].encoder.output == "l2"
    assert not hasattr(resolve_config("focal", None, "sparse-point-robot", "cpu")[1].encoder, "output")
    context = 10 * torch.randn(3, 7, 6, generator=torch.Generator().manual_seed(0))
    z_t = MLPEncoder(6, 5, 16, 2, output="l2").transition_embeddings(context)
    assert torch.allclose(z_t.norm(dim=-1), torch.ones(3, 7), atol=1e-5)
    assert MLPEncoder(6, 5, 16, 2).transition_embeddings(context).abs().max() < 1.0  # FOCAL's tanh
    with pytest.raises(OmrlError, match="encoder output must be one of"):
        MLPEncoder(6, 5, 16, 2, output="relu")
