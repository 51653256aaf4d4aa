"""User-facing frictions (issue 39, item 5): each bad input is a one-line error that writes nothing, damaged
data is found and rebuilt, Ctrl-C says how to resume, smoke output says it means nothing, and the reference
scores, plots, README and install extras say what the code does."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import checksums
from omrl_bench.cli import SMOKE_NOTE, main
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets.pipeline import WORK
from omrl_bench.datasets.recipe import QUALITIES, load_recipe
from omrl_bench.errors import OmrlError

REPO = Path(__file__).resolve().parents[1]
SPR = "sparse-point-robot"


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _one_line_error(res, pattern: str) -> None:
    assert res.exit_code != 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in res.output


def _run(root: Path, out: Path, *extra: str):
    return _invoke(
        "run", "--algo", "focal", "--suite", SPR, "--preset", "smoke", "--root", str(root), "--out", str(out), *extra
    )


# ----------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "99999999999999999999"], r"seed 99999999999999999999 is out of range: .* 0 to 4294967295"),
        (["--seed", "-1"], r"seed -1 is out of range"),
        (["--seed", "4294967296"], r"seed 4294967296 is out of range"),  # would equal seed 0 bit for bit
        (["--set", "ac.actor_lr=-1"], r"^Error: focal: ac.actor_lr must be > 0, got -1.0$"),
        (["--set", "ac.critic_lr=0"], r"focal: ac.critic_lr must be > 0, got 0"),
        (["--set", "encoder.mlp_hidden=0"], r"focal: encoder.mlp_hidden must be > 0"),
        (["--set", "ac.gamma=1.5"], r"focal: ac.gamma must lie in \[0, 1\]"),
        (["--test-quality", ""], r"--test-quality: give at least one value"),
        (["--test-quality", "expert,,medium"], r"--test-quality 'expert,,medium': an empty item"),
        (["--test-quality", "expert,expert"], r"--test-quality 'expert,expert': 'expert' is given twice"),
        (["--data-preset", "big"], r"unknown data preset 'big' for sparse-point-robot; .*: cpu, paper, smoke$"),
    ],
)
def test_run_bad_input_is_one_line_and_writes_nothing(smoke_root: Path, tmp_path: Path, args, message) -> None:
    res = _run(smoke_root, tmp_path / "runs", *args)
    _one_line_error(res, message)
    assert "generate-data" not in res.output  # not a hint to generate what cannot exist
    assert not (tmp_path / "runs").exists()


def test_learning_rates_are_checked_where_configs_resolve() -> None:
    """The check lives in the config layer, so grids and the Python API get it too (and plug-ins' keys)."""
    with pytest.raises(OmrlError, match="^focalpp: task_loss.lr must be > 0, got -0.001$"):
        resolve_config("focalpp", None, SPR, "smoke", ["task_loss.lr=-1e-3"])
    with pytest.raises(OmrlError, match="sparse-point-robot.smoke.sac.learning_rate must be > 0"):
        load_recipe(SPR, "smoke", overrides=["sac.learning_rate=-1"])
    with pytest.raises(OmrlError, match="sac.checkpoint_every and dataset_episodes must be > 0"):
        load_recipe(SPR, "smoke", overrides=["sac.checkpoint_every=0"])  # was a ZeroDivisionError


def test_run_root_that_is_a_file(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    res = _run(blocked, tmp_path / "runs")
    _one_line_error(res, rf"--root {re.escape(str(blocked))} is a file, not a folder of datasets$")
    assert "generate-data" not in res.output and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seed", ["-3", "4294967296"])
def test_generate_data_bad_seed_touches_nothing(tmp_path: Path, seed: str) -> None:
    root = tmp_path / "new-root"
    res = _invoke("generate-data", "--suite", SPR, "--preset", "smoke", "--root", str(root), "--seed", seed)
    _one_line_error(res, rf"seed {seed} is out of range: seeds are integers from 0 to 4294967295")
    assert not root.exists()  # not even the work folder


@pytest.mark.parametrize(
    "args",
    [
        ["generate-data", "--suite", SPR, "--preset", "smoke", "--ray-address", "127.0.0.1:6379"],
        ["reproduce", "embeddings", "--preset", "smoke", "--ray-address", "127.0.0.1:6379"],
    ],
)
def test_ray_address_without_the_ray_executor(tmp_path: Path, args: list[str]) -> None:
    res = _invoke(*args, "--root", str(tmp_path / "root"))
    _one_line_error(res, r"--ray-address joins a Ray cluster: it needs --executor ray$")
    assert not (tmp_path / "root").exists()


def test_generate_data_lists_without_empty_or_repeated_items(tmp_path: Path) -> None:
    common = ["generate-data", "--suite", SPR, "--preset", "smoke", "--root", str(tmp_path / "root")]
    _one_line_error(_invoke(*common, "--qualities", "expert,,medium"), r"--qualities 'expert,,medium': an empty item")
    _one_line_error(_invoke(*common, "--tasks", "1,1"), r"--tasks '1,1': '1' is given twice")
    assert not (tmp_path / "root").exists()


def test_reproduce_seed_count_keeps_seeds_in_range(tmp_path: Path) -> None:
    res = _invoke("reproduce", "embeddings", "--seeds", "4294967297", "--root", str(tmp_path / "root"))
    _one_line_error(res, r"--seeds 4294967297: seeds 0..N-1 must stay below 2\*\*32")


def test_datasets_list_root_must_be_an_existing_folder(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    _one_line_error(_invoke("datasets", "list", "--root", str(blocked)), "is a file, not a folder of datasets")
    _one_line_error(_invoke("datasets", "list", "--root", str(tmp_path / "nowhere")), "nowhere: no such folder$")
    empty = _invoke("datasets", "list", "--root", str(tmp_path))
    assert empty.exit_code == 0 and "no omrl-bench datasets under" in empty.output


# ------------------------------------------------------------------------------------------ damaged data


def _truncate(root: Path, dataset_id: str) -> Path:
    victim = root / dataset_id / "data" / "main_data.hdf5"
    victim.write_bytes(victim.read_bytes()[:5000])
    return victim


def _rebuild(command: str):
    words = shlex.split(command)
    assert words[:2] == ["omrl-bench", "generate-data"]
    return _invoke(*words[1:])


def test_a_damaged_dataset_is_marked_refused_and_rebuilt_byte_identical(smoke_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(smoke_root, root)
    ds_id = load_recipe(SPR, "smoke").dataset_id(3, "expert")
    _truncate(root, ds_id)

    listed = _invoke("datasets", "list", "--root", str(root))
    assert listed.exit_code == 0
    (line,) = [x for x in listed.output.splitlines() if x.startswith(ds_id)]
    assert "DAMAGED: " in line and "does not match the sha256 its card records" in line
    assert sum("DAMAGED" in x for x in listed.output.splitlines()) == 1

    shown = _invoke("datasets", "show", ds_id, "--root", str(root))
    assert shown.exit_code != 0 and shown.output.splitlines()[0] == ds_id  # the card, then the verdict
    assert shown.output.strip().splitlines()[-1].startswith(f"Error: {ds_id} is DAMAGED: ")

    res = _run(root, tmp_path / "runs", "--train-quality", "expert")
    _one_line_error(res, f"damaged dataset {re.escape(ds_id)}: .*; rebuild it with: omrl-bench generate-data")
    command = res.output.split("rebuild it with: ")[1].strip()
    assert command == shlex.join(
        ["omrl-bench", "generate-data", "--suite", SPR, "--preset", "smoke", "--tasks", "3", "--qualities", "expert"]
        + ["--root", str(root)]
    )
    rebuilt = _rebuild(command)
    assert rebuilt.exit_code == 0, rebuilt.output
    told = [x for x in rebuilt.output.splitlines() if x.startswith("rebuilt ")]
    assert len(told) == 1 and told[0].startswith(f"rebuilt {ds_id}: it was damaged ("), rebuilt.output
    assert checksums(root) == checksums(smoke_root)


def test_generate_data_rebuilds_damaged_datasets_without_the_work_folder(smoke_root: Path, tmp_path: Path) -> None:
    """Without the work folder SAC trains again, and the datasets come out with the same bytes."""
    root = tmp_path / "root"
    shutil.copytree(smoke_root, root)
    shutil.rmtree(root / WORK)
    recipe = load_recipe(SPR, "smoke")
    damaged = [recipe.dataset_id(1, "medium"), recipe.dataset_id(4, "mixed")]
    for ds_id in damaged:
        _truncate(root, ds_id)
    (root / recipe.dataset_id(0, "random") / "data" / "metadata.json").write_text("{broken")
    damaged.insert(0, recipe.dataset_id(0, "random"))
    res = _invoke("generate-data", "--suite", SPR, "--preset", "smoke", "--root", str(root), "--workers", "1")
    assert res.exit_code == 0, res.output
    told = [x.split(":")[0].removeprefix("rebuilt ") for x in res.output.splitlines() if x.startswith("rebuilt ")]
    assert told == damaged
    assert "5 tasks (2 already published)" in res.output
    assert checksums(root) == checksums(smoke_root)


def test_the_work_folder_is_what_the_readme_says(smoke_root: Path) -> None:
    readme = (REPO / "README.md").read_text()
    assert "**The work folder.**" in readme and f"`{WORK}/<suite>-<preset>-<fingerprint>/task-XX/`" in readme
    recipe = load_recipe(SPR, "smoke")
    task = smoke_root / WORK / f"{SPR}-smoke-{recipe.fingerprint}" / "task-00"
    assert (task / "sac").is_dir() and (task / "scores.json").is_file() and (task / "staged").is_dir()
    for name in ("`sac/`", "`scores.json`", "`staged/`", "--archive", "safe to delete"):
        assert name in readme.split("**The work folder.**")[1].split("**")[0], name


# ------------------------------------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_during_run_prints_the_resume_command(smoke_root: Path, tmp_path: Path, monkeypatch) -> None:
    from omrl_bench.core import trainer

    real = trainer.run_training

    def interrupted(algo, *args, **kwargs):
        update, calls = algo.update, [0]

        def update_then_ctrl_c(buffers):
            calls[0] += 1
            if calls[0] == 4:  # after the step-2 checkpoint
                raise KeyboardInterrupt
            return update(buffers)

        algo.update = update_then_ctrl_c
        return real(algo, *args, **kwargs)

    monkeypatch.setattr(trainer, "run_training", interrupted)
    out = tmp_path / "runs"
    res = _run(smoke_root, out, "--test-quality", "expert,random", "--set", "ac.actor_lr=0.002")
    assert res.exit_code == 130, res.output
    assert "Aborted" not in res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("interrupted: ") and "continue the run with:" in lines[0]
    command = lines[1].strip()
    expected = ["omrl-bench", "run", "--algo", "focal", "--suite", SPR, "--test-quality", "expert,random"]
    expected += ["--preset", "smoke", "--set", "ac.actor_lr=0.002", "--out", str(out), "--root", str(smoke_root)]
    assert shlex.split(command) == [*expected, "--resume"]
    monkeypatch.undo()
    resumed = _invoke(*shlex.split(command)[1:])
    assert resumed.exit_code == 0, resumed.output
    straight = _run(smoke_root, tmp_path / "straight", "--test-quality", "expert,random", "--set", "ac.actor_lr=0.002")
    assert straight.exit_code == 0, straight.output
    (run_dir,) = out.iterdir()
    (other,) = (tmp_path / "straight").iterdir()
    finals = [json.loads((d / "final.json").read_text())["test"] for d in (run_dir, other)]
    assert finals[0] == finals[1]  # --resume continued the interrupted run to the uninterrupted one's result
    assert resumed.output.strip().splitlines()[-1] == SMOKE_NOTE  # smoke numbers are said to mean nothing


# ------------------------------------------------------------------------------------- smoke and scores


def test_reproduce_at_the_smoke_preset_says_results_mean_nothing(smoke_root: Path, tmp_path: Path) -> None:
    args = ["reproduce", "embeddings", "--preset", "smoke", "--seeds", "1", "--suites", SPR, "--no-run"]
    res = _invoke(*args, "--root", str(smoke_root), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == SMOKE_NOTE
    assert sum(SMOKE_NOTE in x for x in res.output.splitlines()) == 1


def test_reference_scores_are_never_inverted(smoke_root: Path, tmp_path: Path) -> None:
    recipe = load_recipe(SPR, "smoke")
    fell = []
    for task in range(recipe.config.n_tasks):
        for q in QUALITIES:
            meta = json.loads((smoke_root / recipe.dataset_id(task, q) / "data" / "metadata.json").read_text())
            curve = meta["omrl"]["score_curve"]
            first, last = curve[0]["dense_return"], curve[-1]["dense_return"]
            assert meta["ref_min_score"] <= meta["ref_max_score"]
            assert (meta["ref_min_score"], meta["ref_max_score"]) == (min(first, last), max(first, last))
            assert ("dense_return" in meta["omrl"].get("not_rising", [])) == (last <= first)
            assert "sparse_return" in meta["omrl"]["not_rising"]  # no smoke SAC agent reaches a goal
        fell += [task] if last <= first else []
    assert fell, "the smoke suite has tasks whose dense curve fell (this test needs one)"
    root = tmp_path / "copy"
    shutil.copytree(smoke_root, root)
    res = _invoke("generate-data", "--suite", SPR, "--preset", "smoke", "--root", str(root))
    assert res.exit_code == 0, res.output
    warnings = [x for x in res.output.splitlines() if x.startswith("warning: ")]
    named = ", ".join(map(str, fell))
    assert warnings == [
        "warning: the final SAC checkpoint is no better than step 0 on the sparse return of 5 task(s) "
        "(0, 1, 2, 3, 4): their qualities fall back (see the notes)",
        f"warning: the final SAC checkpoint is no better than step 0 on the dense return of {len(fell)} task(s) "
        f"({named}): Minari's ref_min_score / ref_max_score are the two swapped, to stay in order",
    ]
    shown = _invoke("datasets", "show", recipe.dataset_id(fell[0], "expert"), "--root", str(root))
    assert "the curve did not rise: the final checkpoint's sparse return and dense return are no better" in shown.output


def test_no_committed_cpu_task_has_a_falling_curve() -> None:
    """The committed policy archive's tasks all rose, so their cards get no ``not_rising`` and keep their ref
    scores in the old order: the datasets rebuilt from it stay byte-identical to those their SAC runs published."""
    archived = sorted((REPO / "docs/results/datasets/policies").glob("*/task-*/scores.json"))
    suites = {path.parent.parent.name.rsplit("-cpu-", 1)[0] for path in archived}
    assert {"sparse-cheetah-vel", "sparse-ant-fwd-back"} <= suites  # the archive grows as suites are trained
    for path in archived:
        curve = json.loads(path.read_text())["checkpoints"]
        assert curve[-1]["dense_return"] > curve[0]["dense_return"], path


# ---------------------------------------------------------------------------------------- install extras


def test_install_extras_are_light_and_t_sne_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from omrl_bench.bench import figures

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    assert "scikit-learn" not in base and "scipy" not in base
    extras = project["optional-dependencies"]
    assert any(d.startswith("scikit-learn") for d in extras["figures"])
    assert not any("ray[" in d for d in extras["dev"] + extras["ray"])  # plain ray: no dashboard stack
    assert any(d.startswith("scikit-learn") for d in extras["dev"]) and any(d.startswith("ray") for d in extras["dev"])
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # scikit-learn not installed
    with pytest.raises(OmrlError, match=r"^the t-SNE figure needs scikit-learn: pip install 'omrl-bench\[figures\]'$"):
        figures._project(np.random.default_rng(0).normal(size=(12, 5)), 0)
    assert figures._project(np.ones((4, 5)), 0)[1] == "latent dims 0, 1"  # few points: no t-SNE, no scikit-learn


# ------------------------------------------------------------------------------------------- dataset plots


def test_dataset_plots_have_labels_a_task_legend_and_honest_titles(
    smoke_root: Path, tmp_path: Path, monkeypatch
) -> None:
    import matplotlib.figure

    drawn: dict[str, matplotlib.figure.Figure] = {}
    save = matplotlib.figure.Figure.savefig

    def keep(fig, path, *args, **kwargs):
        drawn[Path(path).name.split("smoke-")[1]] = fig
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    res = _invoke(
        "datasets", "plot", "--suite", SPR, "--preset", "smoke", "--root", str(smoke_root), "--out", str(tmp_path)
    )
    assert res.exit_code == 0, res.output
    assert set(drawn) == {"returns.png", "states.png", "sac-curves.png"}
    for name, fig in drawn.items():
        for ax in fig.axes:
            assert ax.get_xlabel(), name
        assert fig.axes[0].get_ylabel(), name

    # returns: every quality in the legend, expert drawn above the others (it was hidden behind mixed)
    (ax,) = drawn["returns.png"].axes
    assert [t.get_text().split()[0] for t in ax.get_legend().get_texts()] == list(QUALITIES)
    top = max(ax.patches, key=lambda p: p.get_zorder())
    assert top.get_label().startswith("expert")

    # states: the title counts the tasks drawn (2 test tasks at smoke, not the 3 asked for), and a legend names them
    states = drawn["states.png"]
    assert "states of 2 test tasks" in states.texts[0].get_text()
    assert all(len(ax.collections) == 2 for ax in states.axes)
    labels = [t.get_text() for legend in states.legends for t in legend.get_texts()]
    assert labels == ["task 0: goal (1.00, 0.00)", "task 4: goal (-1.00, 0.00)"]

    # SAC curves: step ticks as plain numbers, never "0.05k"; one task line and the median in the legend
    curves = drawn["sac-curves.png"]
    formatter = curves.axes[0].xaxis.get_major_formatter()
    assert [formatter.format_data(x) for x in (50, 400, 1500, 120_000)] == ["50", "400", "1.5k", "120k"]
    assert [t.get_text() for t in curves.axes[0].get_legend().get_texts()] == ["one task", "median of 5 tasks"]
    readme = (REPO / "README.md").read_text()
    assert all(f"`SUITE-PRESET-{k}.png`" in readme for k in ("returns", "states", "sac-curves"))
    assert [ax.get_title() for ax in curves.axes] == ["dense return", "sparse return"]


def test_sac_curves_of_a_suite_without_a_sparse_reward_have_one_panel(
    generate_smoke, tmp_path: Path, monkeypatch
) -> None:
    """Hopper-Param's env gives the dense reward as its sparse one: a second, identical panel said nothing."""
    import matplotlib.figure

    from omrl_bench.bench.figures import sac_curves

    drawn: list[matplotlib.figure.Figure] = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, path, *args, **kwargs):
        drawn.append(fig)
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    root = generate_smoke(tmp_path / "root", "hopper-param")
    sac_curves("hopper-param", "smoke", root, tmp_path / "curves.png")
    assert [ax.get_title() for ax in drawn[0].axes] == ["dense return"]
