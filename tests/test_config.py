"""Recipes and strict config parsing: misspelled keys and bad values are errors."""

from __future__ import annotations

import pytest

from omrl_bench.datasets.recipe import load_recipe, preset_names
from omrl_bench.envs import SUITES
from omrl_bench.errors import OmrlError


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_suite_has_the_three_presets(suite: str) -> None:
    assert set(preset_names(suite)) == {"smoke", "cpu", "paper"}
    for preset in ("smoke", "cpu", "paper"):
        recipe = load_recipe(suite, preset)
        assert recipe.config.sac.total_steps % recipe.config.sac.checkpoint_every == 0


def test_cpu_presets_match_the_issue() -> None:
    assert load_recipe("sparse-point-robot", "cpu").config.n_tasks == 100
    assert load_recipe("point-robot-wind", "cpu").config.n_tasks == 50
    assert load_recipe("sparse-point-robot", "cpu").config.dataset_episodes * 20 == 10_000
    assert load_recipe("sparse-cheetah-vel", "cpu").config.dataset_episodes * 200 == 10_000


def test_overrides_and_fingerprint() -> None:
    base = load_recipe("sparse-point-robot", "smoke")
    changed = load_recipe("sparse-point-robot", "smoke", overrides=["sac.total_steps=600"])
    assert changed.config.sac.total_steps == 600
    assert changed.fingerprint != base.fingerprint
    assert load_recipe("sparse-point-robot", "smoke").fingerprint == base.fingerprint
    assert load_recipe("sparse-point-robot", "smoke", seed=1).fingerprint != base.fingerprint


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["sac.totl_steps=5"], "unknown key 'totl_steps'; allowed keys: .*total_steps"),
        (["n_taks=5"], "unknown key 'n_taks'; allowed keys: .*n_tasks"),
        (["sac.total_steps=abc"], "expected an integer"),
        (["sac.total_steps=450"], "multiple of sac.checkpoint_every"),
        (["sac.dense_every=50"], "sac.dense_until must be a positive multiple of sac.dense_every"),
        (["sac.dense_every=30", "sac.dense_until=90"], "sac.dense_every must divide sac.checkpoint_every"),
        (["sac.dense_every=50", "sac.dense_until=500"], "sac.dense_until be at most sac.total_steps"),
        (["nokey"], "expects key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(OmrlError, match=message):
        load_recipe("sparse-point-robot", "smoke", overrides=overrides)


def test_unknown_preset() -> None:
    with pytest.raises(OmrlError, match="unknown preset 'gpu'.*choose one of: smoke, cpu, paper"):
        load_recipe("sparse-point-robot", "gpu")


def test_override_of_a_key_the_preset_leaves_at_its_default() -> None:
    recipe = load_recipe("sparse-point-robot", "smoke", overrides=["sac.learning_rate=0.01", "rollout_batch=7"])
    assert recipe.config.sac.learning_rate == 0.01 and recipe.config.rollout_batch == 7
    with pytest.raises(OmrlError, match="'n_tasks' is not a section of the config"):
        load_recipe("sparse-point-robot", "smoke", overrides=["n_tasks.x=1"])


def test_a_presets_suite_section_applies_to_that_suite_only() -> None:
    from omrl_bench.core.train_config import resolve_config

    # the point robots' weight (0.4) and the MuJoCo suites' (1.0) come from their own sections
    assert resolve_config("focal", None, "sparse-point-robot", "cpu")[1].ac.bc_weight == 0.4
    assert resolve_config("focal", None, "sparse-ant-fwd-back", "cpu")[1].ac.bc_weight == 1.0
    assert resolve_config("focal", None, "sparse-ant-fwd-back", "smoke")[1].ac.bc_weight == 0
    assert resolve_config("focalpp", None, "sparse-point-robot", "paper")[1].ac.bc_weight == 0
    _, cfg = resolve_config("focal", None, "sparse-point-robot", "cpu", ["ac.bc_weight=0"])
    assert cfg.ac.bc_weight == 0
    with pytest.raises(OmrlError, match="unknown key 'bc_wieght'"):
        resolve_config("focal", None, "sparse-point-robot", "cpu", ["ac.bc_wieght=1"])


def test_the_table7_preset_is_the_cpu_preset_without_the_bc_term_on_the_cpu_datasets() -> None:
    from omrl_bench.bench.grids import expand
    from omrl_bench.core.train_config import data_preset, resolve_config

    for algo in ("focal", "focalpp"):
        _, cpu = resolve_config(algo, None, "sparse-point-robot", "cpu")
        _, t7 = resolve_config(algo, None, "sparse-point-robot", "cpu-table7")
        assert cpu.ac.bc_weight == 0.4 and t7.ac.bc_weight == 0.0 and t7.ac.alpha == 0.0 and not t7.ac.train_alpha
        assert (t7.batch_size, t7.context_size, t7.precision) == (cpu.batch_size, cpu.context_size, cpu.precision)
        assert t7.eval_every == 2000
    _, ant = resolve_config("focal", None, "sparse-ant-fwd-back", "cpu-table7")
    assert ant.ac.bc_weight == 0.0 and ant.ac.train_alpha  # Table 7's BRAC alone
    assert data_preset("cpu-table7") == "cpu" and data_preset("cpu") == "cpu"
    cell = expand("distribution-shift", 1, preset="cpu-table7")[0]
    spec = cell.spec("cpu-table7", "cpu")
    assert (spec.preset, spec.data_preset) == ("cpu-table7", "cpu")
    with pytest.raises(OmrlError, match="unknown preset 'nope'"):
        data_preset("nope")


def test_a_dense_early_schedule_adds_checkpoints_and_leaves_other_fingerprints_alone() -> None:
    """Off (the default), the schedule is every ``checkpoint_every`` steps and the fingerprint is the one the
    recipe had before the option existed (the committed policy archives are named by it)."""
    cpu = load_recipe("walker-param", "cpu")
    assert cpu.fingerprint == "e2a2ef065620bf2c" and "dense_every" not in cpu.as_dict()["config"]["sac"]
    assert cpu.config.sac.checkpoint_steps() == list(range(0, 80_001, 500))
    dense = load_recipe("sparse-point-robot", "smoke", overrides=["sac.dense_every=50", "sac.dense_until=200"])
    assert dense.config.sac.checkpoint_steps() == [0, 50, 100, 150, 200, 300, 400]
    assert dense.config.sac.checkpoint_steps(upto=150) == [0, 50, 100, 150]
    assert dense.fingerprint != load_recipe("sparse-point-robot", "smoke").fingerprint
    paper = load_recipe("hopper-param", "paper").config.sac.checkpoint_steps()
    assert paper[:3] == [0, 500, 1000] and paper[60:62] == [30_000, 40_000] and len(paper) == 61 + 97
