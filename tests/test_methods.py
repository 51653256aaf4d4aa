"""CSRO, UNICORN and CORRO: their losses against NumPy references written here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from omrl_bench.baselines.corro import corro_infonce
from omrl_bench.baselines.csro import GaussianHead, club_upper_bound
from omrl_bench.baselines.unicorn import recon_nll
from omrl_bench.bench import grids
from omrl_bench.core.losses import gaussian_nll
from omrl_bench.errors import OmrlError


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
    assert {c.train_quality for c in cells} == {"mixed"} and len(cells) == 7 * 6 * 3  # every suite
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
    assert list(table["rms_min"]) == [0.5, 0.5, 0.001]  # each row's least-spread seed, for the CSV
    assert table.loc["CSRO", "ood_p_improve"] == pytest.approx(7 / 9) and table.loc["CORRO cvae", "ood_p_improve"] == 0
    # the published numbers are cited, each environment's line marked not comparable, with its ordering
    lines = grids.methods.published_methods_lines()
    assert "not comparable" in lines[0]
    assert any(x.startswith("- Ant-Dir:") and "CSRO 276 / 233 (OOD above FOCAL)" in x for x in lines)
    assert any(x.startswith("- HalfCheetah-Vel:") and "CORRO -37 / -112 (OOD below FOCAL)" in x for x in lines)
    # one claim line per new method and family (only the paper's here): CSRO ties FOCAL (at least FOCAL:
    # holds), CORRO is wholly below
    claims = grids.methods.methods_claims(table.reset_index())
    assert len(claims) == 2 and claims[0].startswith("- CSRO at least FOCAL with OOD context on the paper's suites")
    assert "**holds**" in claims[0] and "sparse-point-robot 10.10 against 10.00 (tied with FOCAL" in claims[0]
    assert "**does not hold**" in claims[1] and "(below FOCAL, P(improvement) 0.00)" in claims[1]
    both = grids.methods.methods_table(pd.DataFrame(rows), ("sparse-point-robot", "point-robot-wind"), algos)
    pending = grids.methods.methods_claims(both)
    assert "**undecided (runs pending)**" in pending[0] and "point-robot-wind pending" in pending[0]  # no runs yet
    assert "**does not hold**" in pending[1]  # CORRO is below FOCAL on one suite: more runs cannot change it


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


# ------------------------------------------------------------------------ reference scores and aggregates

SPR = "sparse-point-robot"


def _reference(suite: str = SPR, untrained: float = 2.0, expert: float = 12.0, fingerprint: str = "") -> Any:
    from omrl_bench.datasets import reference
    from omrl_bench.datasets.recipe import load_recipe

    return reference.ReferenceScores(
        suite,
        "cpu",
        fingerprint or load_recipe(suite, "cpu").fingerprint,
        "sparse_return",
        untrained,
        expert,
        (0, 1),
        {"0": (untrained, expert), "1": (untrained, expert)},
        50,
        "a test",
    )


def _frame(returns: dict[tuple[str, str], list[float]], iid_bonus: float = 0.0) -> Any:
    """A collect() frame: per (suite, label) one OOD return per seed (every OOD context alike) and IID =
    OOD + ``iid_bonus``."""
    import pandas as pd

    rows = []
    for (suite, label), per_seed in returns.items():
        for seed, value in enumerate(per_seed):
            for q in ("expert", "medium", "random", "mixed"):
                rows.append(
                    {"label": label, "suite": suite, "train": "mixed", "test": q, "update": "soft", "seed": seed}
                    | {"return": value + (iid_bonus if q == "mixed" else 0.0), "rms": 0.5, "data": "cpu", "recipe": ""}
                )
    return pd.DataFrame(rows)


ALGOS = (("focal", "focal"), ("csro", "csro"))


def test_reference_scores_normalise_the_untrained_policy_to_0_and_the_expert_to_1() -> None:
    from omrl_bench.datasets import reference
    from omrl_bench.datasets.recipe import load_recipe

    recipe = load_recipe(SPR, "cpu")
    curve = [{"step": 0, "sparse_return": 0.5, "dense_return": -20.0}, {"step": 100, "sparse_return": 4.0}]
    curves = {3: curve, 8: [{"step": 0, "sparse_return": 1.5}, {"step": 100, "sparse_return": 12.0}]}
    ref = reference.from_curves(recipe, curves, "synthetic curves")
    # the suite's reported return (sparse here), the means over the test tasks of step 0 and the final point
    assert (ref.reported_return, ref.untrained, ref.expert) == ("sparse_return", 1.0, 8.0)
    assert ref.normalise(1.0) == 0.0 and ref.normalise(8.0) == 1.0 and ref.normalise(4.5) == pytest.approx(0.5)
    assert ref.per_task == {"3": (0.5, 4.0), "8": (1.5, 12.0)} and ref.recipe_fingerprint == recipe.fingerprint
    flat = {3: [{"step": 0, "sparse_return": 2.0}, {"step": 100, "sparse_return": 2.0}]}
    with pytest.raises(OmrlError, match="is not above step 0's"):
        reference.from_curves(recipe, flat, "a flat curve")
    # in the table: a run at the untrained return is 0, one at the expert return 1, per seed and in the mean
    df = _frame({(SPR, "FOCAL"): [2.0, 12.0, 7.0], (SPR, "CSRO"): [7.0, 7.0, 7.0]}, iid_bonus=1.0)
    table = grids.methods.methods_table(df, (SPR,), ALGOS, references={"sparse-point-robot-cpu": _reference()})
    focal = table.set_index("algorithm").loc["FOCAL"]
    assert [focal[f"ood_norm_s{k}"] for k in range(3)] == [0.0, 1.0, 0.5] and focal["ood_norm_mean"] == 0.5
    assert focal["iid_norm_s0"] == pytest.approx(0.1) and focal["ref_missing"] == ""


def test_reference_scores_from_the_dataset_cards_through_the_cli(smoke_root: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from click.testing import CliRunner

    from omrl_bench.cli import main
    from omrl_bench.datasets import reference, storage
    from omrl_bench.datasets.recipe import load_recipe
    from omrl_bench.envs import get_suite, train_test_split

    out, root = tmp_path / "reference-scores.json", tmp_path / "data"
    args = ["datasets", "reference-scores", "--suite", SPR, "--preset", "smoke", "--out", str(out), "--root"]
    flat = CliRunner().invoke(main, [*args, str(smoke_root)])  # the smoke SAC runs learn nothing
    assert flat.exit_code != 0 and "is not above step 0's (0.000); no scale to normalise with" in flat.output
    # the test tasks' curves as if SAC had learned: the final point's sparse return raised on each card
    shutil.copytree(smoke_root, root)
    recipe = load_recipe(SPR, "smoke")
    cfg = recipe.config
    test = train_test_split(get_suite(SPR), cfg.n_tasks, cfg.n_test, cfg.split_seed)["test"]
    for task in test:
        path = root / recipe.dataset_id(task, "expert") / "data" / storage.METADATA_FILE
        meta = json.loads(path.read_text())
        meta["omrl"]["score_curve"][-1]["sparse_return"] = 5.0 + task
        path.write_text(json.dumps(meta))
    res = CliRunner().invoke(main, [*args, str(root)])
    assert res.exit_code == 0, res.output
    cards = [storage.read_metadata(root / recipe.dataset_id(t, "expert") / "data")["omrl"] for t in test]
    ref = reference.load(out)["sparse-point-robot-smoke"]
    assert ref.test_tasks == tuple(test) and "the dataset cards" in ref.source and str(out) in res.output
    assert ref.untrained == pytest.approx(np.mean([c["score_curve"][0]["sparse_return"] for c in cards]))
    assert ref.expert == pytest.approx(5.0 + np.mean(test))
    # a suite without datasets (or archive): a one-line error naming what to generate
    res = CliRunner().invoke(
        main,
        [
            "datasets",
            "reference-scores",
            "--suite",
            "point-robot-wind",
            "--preset",
            "smoke",
            "--root",
            str(tmp_path / "empty"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code != 0 and "no reference scores for point-robot-wind [smoke]: test task" in res.output
    assert "generate-data --suite point-robot-wind --preset smoke" in res.output and len(res.output.splitlines()) == 1


def test_the_committed_reference_scores_are_todays_recipes_and_the_archives() -> None:
    from omrl_bench.datasets import reference
    from omrl_bench.datasets.recipe import load_recipe

    committed = reference.load()
    assert {"sparse-point-robot-cpu", "sparse-cheetah-vel-cpu", "sparse-ant-fwd-back-cpu"} <= set(committed)
    for ref in committed.values():
        assert ref.recipe_fingerprint == load_recipe(ref.suite, ref.preset).fingerprint, ref.key
        assert ref.expert > ref.untrained
    archive = Path(__file__).resolve().parents[1] / "docs" / "results" / "datasets" / "policies"
    for suite in ("sparse-cheetah-vel", "sparse-ant-fwd-back"):  # no datasets here: the archive's curves
        assert reference.compute(suite, "cpu", archive / "no-datasets", archive) == committed[f"{suite}-cpu"]


def test_a_suite_without_reference_scores_is_left_out_of_the_aggregates_with_a_message() -> None:
    df = _frame({(s, a): [5.0, 6.0, 7.0] for s in (SPR, "point-robot-wind") for a in ("FOCAL", "CSRO")})
    table = grids.methods.methods_table(df, (SPR, "point-robot-wind"), ALGOS, references={})
    message = (
        "no reference scores for point-robot-wind [cpu] (`omrl-bench datasets reference-scores --suite "
        "point-robot-wind --preset cpu` where its datasets are)"
    )
    assert set(table["ref_missing"]) == {message.replace("point-robot-wind", SPR), message}
    assert table["ood_norm_mean"].isna().all()
    text = grids.methods.aggregates_section(table)
    assert text.startswith("\n\n**Across suites**: pending;") and f"point-robot-wind: {message}" in text
    # a reference of another recipe than the runs' datasets is no reference either
    stale = {"sparse-point-robot-cpu": _reference(fingerprint="0123456789abcdef")}
    df["recipe"] = "fedcba9876543210"
    table = grids.methods.methods_table(df, (SPR,), ALGOS, references=stale)
    assert "are of recipe 0123456789abcdef, the runs' datasets of fedcba9876543210" in table["ref_missing"].iloc[0]


def test_rliable_aggregates_against_hand_computed_values() -> None:
    from omrl_bench.bench import aggregates

    # 8 runs (4 seeds x 2 suites): the IQM is the mean of the middle 4 values
    a = np.array([[0.0, 0.9], [0.2, 0.8], [0.4, 10.0], [0.6, 0.7]])
    b = np.array([[0.1, 0.8], [0.1, 0.8], [0.1, 0.8], [0.1, 0.8]])
    iqm = aggregates.iqm({"A": a, "B": b}, reps=200)
    assert iqm["A"][0] == pytest.approx((0.4 + 0.6 + 0.7 + 0.8) / 4) and iqm["B"][0] == pytest.approx(0.45)
    assert iqm["A"][1] <= iqm["A"][0] <= iqm["A"][2] and iqm["B"][1:] == pytest.approx((0.45, 0.45))
    # P(A > B): suite 0: A beats 0.1 in 3 of 4 runs (0.0 loses) -> 0.75; suite 1: 0.9 and 10.0 beat 0.8, the
    # tie counts half, 0.7 loses -> 2.5 / 4; mean 0.6875
    better = aggregates.improvement({"B": b, "A": a}, "B", reps=200)
    assert set(better) == {"A"} and better["A"][0] == pytest.approx(0.6875)
    assert better["A"][1] <= 0.6875 <= better["A"][2]
    # the same seed, the same intervals; NumPy's global stream is left where it was
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    assert aggregates.iqm({"A": a}, reps=200) == aggregates.iqm({"A": a}, reps=200)
    assert np.random.random() == before


def test_our_probability_of_improvement_is_rliables_on_one_task() -> None:
    from omrl_bench.bench import aggregates
    from omrl_bench.bench.tables import probability_of_improvement

    _, metrics = aggregates.rliable()
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 4, size=rng.integers(1, 6)), rng.integers(0, 4, size=rng.integers(1, 6))  # ties
        ours = probability_of_improvement(x.astype(float), y.astype(float))
        assert ours == pytest.approx(metrics.probability_of_improvement(x[:, None], y[:, None]))


def test_the_aggregates_section_and_the_performance_profile_figure(tmp_path: Path) -> None:
    # FOCAL at 0.5, 0.6, 0.7 of the way, CSRO at 0.8 on both suites; Point-Robot-Wind's scale is another one
    wind = {"point-robot-wind-cpu": _reference("point-robot-wind", -20.0, -5.0), "sparse-point-robot-cpu": _reference()}
    df = _frame(
        {
            (SPR, "FOCAL"): [7.0, 8.0, 9.0],
            (SPR, "CSRO"): [10.0, 10.0, 10.0],
            ("point-robot-wind", "FOCAL"): [-12.5, -11.0, -9.5],
            ("point-robot-wind", "CSRO"): [-8.0, -8.0, -8.0],
            ("hopper-param", "FOCAL"): [1.0, 2.0, 3.0],  # CSRO pending there: Hopper-Param is left out
        }
    )
    suites = (SPR, "point-robot-wind", "hopper-param")
    table = grids.methods.methods_table(df, suites, ALGOS, references=wind)
    included, left_out, scores = grids.methods.score_matrices(table)
    assert included == [SPR, "point-robot-wind"] and left_out == {"hopper-param": "runs pending (3 of 6 finished)"}
    assert scores["ood"]["FOCAL"] == pytest.approx(np.array([[0.5, 0.5], [0.6, 0.6], [0.7, 0.7]]))
    text = grids.methods.aggregates_section(table, reps=200)
    assert "**Across suites** (sparse-point-robot, point-robot-wind; 3 seeds on each)" in text
    assert "| FOCAL | 0.60 | " in text  # IQM of 0.5, 0.5, 0.6, 0.6, 0.7, 0.7: the middle four
    assert "| CSRO | 0.80 | [0.80, 0.80] | 0.80 | [0.80, 0.80] | 1.00 | [1.00, 1.00] | 1.00 | [1.00, 1.00] |" in text
    assert "Left out: hopper-param: runs pending (3 of 6 finished)." in text
    section = grids.methods.profile_section(table, tmp_path, reps=50)
    figure = tmp_path / "figures" / grids.methods.PROFILE
    assert figure.stat().st_size > 10_000 and f"![performance profiles](figures/{figure.name})" in section


def test_per_family_claims_dynamics_varying_csro_below_focal() -> None:
    df = _frame(
        {
            (SPR, "FOCAL"): [10.0, 10.1, 10.2],
            (SPR, "CSRO"): [10.0, 10.1, 10.2],
            ("hopper-param", "FOCAL"): [300.0, 310.0, 320.0],
            ("hopper-param", "CSRO"): [100.0, 110.0, 120.0],
            ("walker-param", "FOCAL"): [200.0, 210.0, 220.0],
            ("walker-param", "CSRO"): [200.0, 210.0, 220.0],
        }
    )
    table = grids.methods.methods_table(df, (SPR, "hopper-param", "walker-param"), ALGOS, references={})
    paper, dynamics = grids.methods.methods_claims(table)
    assert paper.startswith("- CSRO at least FOCAL with OOD context on the paper's suites") and "**holds**" in paper
    assert dynamics.startswith("- CSRO at least FOCAL with OOD context on the dynamics-varying suites")
    assert "**does not hold**; hopper-param 110.00 against 310.00 (below FOCAL" in dynamics
    assert "walker-param 210.00 against 210.00 (tied with FOCAL" in dynamics
    assert grids.methods.families()["the dynamics-varying suites"] == ("hopper-param", "walker-param")


def test_a_claim_with_one_seed_says_so_instead_of_pending() -> None:
    df = _frame(
        {
            ("hopper-param", "FOCAL"): [300.0],
            ("hopper-param", "CSRO"): [100.0],
            ("walker-param", "FOCAL"): [200.0, 210.0, 220.0],  # CSRO not run on Walker-Param yet
        }
    )
    table = grids.methods.methods_table(df, ("hopper-param", "walker-param"), ALGOS, references={})
    (dynamics,) = grids.methods.methods_claims(table)
    assert "**undecided (a suite with one seed: no interval)**" in dynamics
    assert "hopper-param 100.00 against 300.00 (one seed: no interval)" in dynamics
    assert "walker-param pending" in dynamics


def test_the_aggregates_name_the_extra_that_installs_rliable(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from omrl_bench.bench import aggregates

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any(d.startswith("rliable") for d in project["dependencies"])  # arch, statsmodels: not for all
    assert any(d.startswith("rliable") for d in extras["figures"]) and any(
        d.startswith("rliable") for d in extras["dev"]
    )
    monkeypatch.setitem(sys.modules, "rliable", None)
    with pytest.raises(
        OmrlError, match=r"^the aggregates across suites need rliable: pip install 'omrl-bench\[figures\]'$"
    ):
        aggregates.iqm({"A": np.ones((3, 1))})
