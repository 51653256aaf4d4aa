"""The algorithm registry: plug-ins through the entry-point group, per-algorithm configs, run names, records."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from omrl_bench.bench import grids
from omrl_bench.cli import main
from omrl_bench.core import registry
from omrl_bench.core.train_config import check_shared_keys, project, resolve_config
from omrl_bench.core.trainer import migrate_config
from omrl_bench.errors import OmrlError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom-algorithm"


@pytest.fixture
def bc_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example package, loaded as an installed plug-in is: through its entry point, by the registry."""
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    registry.algorithms()  # the built-in ones first, as in a fresh process
    ep = metadata.EntryPoint(name="bc", value="omrl_bench_bc", group=registry.ENTRY_POINT_GROUP)
    registry.load_entry_point(ep)
    yield "bc"
    registry.unregister_algorithm("bc")
    sys.modules.pop("omrl_bench_bc", None)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_plugin_runs_through_run_and_a_reproduce_grid(bc_plugin: str, smoke_root: Path, tmp_path: Path) -> None:
    assert bc_plugin in registry.algorithms() and (bc_plugin, "bc") in grids.returns_rows()
    listing = CliRunner().invoke(main, ["algorithms"])
    assert listing.exit_code == 0 and "BC (no context)" in listing.output
    common = ["--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(smoke_root)]
    res = CliRunner().invoke(
        main, ["run", "--algo", "bc", *common, "--out", str(tmp_path / "a"), "--set", "bc.hidden=8"]
    )
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "a").iterdir())
    assert run_dir.name.startswith("bc-bc-sparse-point-robot-expert-s0-set")  # its own key, its own name
    final = json.loads((run_dir / "final.json").read_text())
    assert final["config"]["config"]["bc"]["hidden"] == 8 and "ac" not in final["config"]["config"]
    # a context-free algorithm has no embeddings to measure: said so, not "RMS 0.000, ESR 0.000"
    assert "test embeddings: none (bc gives every context the same z: it infers no task)" in res.output
    assert "RMS 0" not in res.output and final["embeddings"]["context_free"] is True
    bad = CliRunner().invoke(main, ["run", "--algo", "bc", *common, "--set", "ac.alpha=1"])
    assert bad.exit_code != 0 and "bc: --set ac.alpha: unknown key 'ac'" in bad.output

    out, report = tmp_path / "grid", tmp_path / "report"
    grid = ["reproduce", "returns", "--algos", "bc", "--suites", "sparse-point-robot", "--seeds", "2"]
    res = CliRunner().invoke(
        main, [*grid, "--preset", "smoke", "--root", str(smoke_root), "--out", str(out), "--report", str(report)]
    )
    assert res.exit_code == 0, res.output
    assert "2 runs: 0 finished" in res.output and "BC (no context)" in (report / "returns.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == [f"bc-bc-sparse-point-robot-expert-s{k}" for k in (0, 1)]


def test_removing_an_algorithm_removes_it_everywhere(bc_plugin: str) -> None:
    registry.unregister_algorithm(bc_plugin)
    assert all(a != "bc" for a, _ in grids.returns_rows())
    left = list(registry.algorithms())
    assert "bc" not in left and {"focal", "focalpp"} <= set(left)
    with pytest.raises(OmrlError, match=f"unknown algorithm .bc.; choose one of: {', '.join(left)}$"):
        resolve_config("bc", None, "sparse-point-robot", "smoke")


def test_a_broken_plugin_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_algo.py").write_text("raise ImportError('needs jax')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(name="broken", value="broken_algo", group=registry.ENTRY_POINT_GROUP)
    with pytest.raises(OmrlError, match="algorithm plug-in 'broken' .* failed to load: needs jax"):
        registry.load_entry_point(ep)


def test_each_algorithm_holds_only_the_keys_it_reads() -> None:
    sections = {a: set(vars(resolve_config(a, None, "sparse-point-robot", "cpu")[1])) for a in registry.algorithms()}
    assert "bcq" not in sections["focal"] and "mbml" not in sections["cbcq"] and "mbml" in sections["mbml"]
    _, focal = resolve_config("focal", None, "sparse-point-robot", "cpu")
    assert not hasattr(focal.encoder, "attention") and not hasattr(focal.task_loss, "temperature")
    assert focal.task_loss.dml_beta == 1.0  # beta (Table 7); FOCAL++'s "both" weighs the DML with dml_weight
    _, both = resolve_config("focalpp", None, "sparse-point-robot", "cpu", ["task_loss.loss=both"])
    assert both.task_loss.dml_weight == 1.0 and both.task_loss.dml_beta == 1.0


def test_a_methods_own_settings_per_suite_are_registered_with_it() -> None:
    import dataclasses

    from omrl_bench.envs.suites import SUITES

    def task_loss(algo: str, suite: str) -> Any:
        return resolve_config(algo, None, suite, "paper")[1].task_loss

    assert [task_loss("csro", s).club_weight for s in SUITES] == [25.0, 25.0, 10.0, 10.0, 25.0, 25.0]
    assert [task_loss("unicorn", s).focal_weight for s in SUITES] == [1.0, 1.0, 0.15, 0.15, 1.5, 1.5]
    cvae = [(task_loss("corro", s).cvae_latent, task_loss("corro", s).cvae_hidden) for s in SUITES]
    assert cvae == [(5, 64), (5, 64), (5, 64), (64, 128), (64, 128), (64, 128)]
    assert {(task_loss("focalpp", s).temperature, task_loss("focalpp", s).momentum) for s in SUITES} == {(0.5, 0.9)}
    assert all(set(s.training["task_loss"]) == {"lr", "dml_beta"} for s in SUITES.values())  # Table 7's only
    csro = registry.get_algorithm("csro")
    with pytest.raises(OmrlError, match="csro.: suite_settings name an unknown suite 'sparse-point-robbot'"):
        dataclasses.replace(csro, suite_settings={"sparse-point-robbot": {}})
    with pytest.raises(OmrlError, match="csro.suite_settings.sparse-point-robot.task_loss: unknown key 'club_wieght'"):
        dataclasses.replace(csro, suite_settings={"sparse-point-robot": {"task_loss": {"club_wieght": 1.0}}})


def test_shared_preset_keys_must_be_read_by_some_algorithm() -> None:
    classes = [spec.config for spec in registry.algorithms().values()]
    check_shared_keys({"ac": {"alpha": 1.0}, "bcq": {"vae_hidden": 3}}, classes, "presets.x")
    with pytest.raises(OmrlError, match=r"presets.x.ac: unknown key 'alpah'"):
        check_shared_keys({"ac": {"alpah": 1.0}}, classes, "presets.x")
    cbcq = registry.algorithms()["cbcq"].config  # by name: the registry's order depends on what loaded first
    assert project({"ac": {"alpha": 1.0, "hidden": 8}, "mbml": {}}, cbcq) == {"ac": {"hidden": 8}}


def test_records_saved_before_the_registry_read_as_todays_configs() -> None:
    from omrl_bench.bench.run import RunSpec, run_config

    spec = RunSpec("focal", None, "sparse-point-robot", "expert", ("expert",), 0, "cpu", "cpu")
    today = run_config(spec)[2]
    old = json.loads(json.dumps(today))
    old["config"]["task_loss"] = {"loss": "dml", "lr": 0.001, "dml_weight": 1.0, "dml_power": 2.0, "dml_eps": 0.1}
    old["config"]["task_loss"] |= {"temperature": 0.5, "momentum": 0.9, "hard_update": False}
    old["config"]["encoder"] |= {"type": "mlp", "attention": "batch", "hidden": 128, "heads": 8}
    old["config"]["encoder"]["next_obs_in_context"] = old["config"].pop("next_obs_in_context")
    old["config"]["bcq"] = {"vae_hidden": 256}
    assert migrate_config(old) == migrate_config(today)


def test_an_algorithms_own_migration_reads_its_old_records() -> None:
    import dataclasses

    from omrl_bench.config import to_dict

    def renamed(config: dict[str, Any]) -> dict[str, Any]:  # a key renamed since the record was saved
        task_loss = {("dml_beta" if k == "beta" else k): v for k, v in config["task_loss"].items()}
        return {**config, "task_loss": task_loss}

    focal = registry.get_algorithm("focal")
    spec = dataclasses.replace(focal, name="focal-x", legacy_fixed={"encoder.kind": "mlp"}, migrate=renamed)
    registry.register_algorithm(spec)
    try:
        today = {"algo": "focal-x", "config": to_dict(resolve_config("focal-x", None, "sparse-point-robot", "cpu")[1])}
        old = json.loads(json.dumps(today))
        old["config"]["task_loss"]["beta"] = old["config"]["task_loss"].pop("dml_beta")
        assert migrate_config(old) == migrate_config(today) and "beta" not in migrate_config(old)["config"]["task_loss"]
        old["config"]["encoder"]["kind"] = "attention"  # a setting this algorithm no longer has
        assert migrate_config(old)["unsupported_settings"] == {"encoder.kind": "attention"}
    finally:
        registry.unregister_algorithm("focal-x")


def test_set_parses_numbers_in_exponent_notation() -> None:
    _, cfg = resolve_config("focal", None, "sparse-point-robot", "smoke", ["ac.actor_lr=3e-4", "ac.critic_lr=1E-3"])
    assert cfg.ac.actor_lr == 3e-4 and cfg.ac.critic_lr == 1e-3
    from omrl_bench.datasets.recipe import load_recipe

    assert load_recipe("sparse-point-robot", "smoke", 0, ["sac.learning_rate=1e-3"]).config.sac.learning_rate == 1e-3


def test_final_json_is_strict_and_records_provenance(smoke_root: Path, tmp_path: Path) -> None:
    from omrl_bench.bench.run import RunSpec, execute

    spec = RunSpec("focal", None, "sparse-point-robot", "expert", ("expert", "random"), 0, "smoke", "smoke")
    execute(spec, tmp_path, smoke_root, False, False)
    text = next(tmp_path.iterdir()).joinpath("final.json").read_text()

    def no_constants(name: str) -> float:
        raise AssertionError(f"bare {name} in final.json")

    report = json.loads(text, parse_constant=no_constants)
    prov = report["provenance"]
    assert prov["versions"]["torch"] and prov["versions"]["omrl-bench"]
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    assert prov["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and prov["machine"]["cores"]
    train = prov["datasets"]["train"]
    assert train["dataset_ids"][0].startswith("omrl/sparse-point-robot-smoke/task-") and len(train["sha256"]) == 64
    assert set(prov["datasets"]) == {"train", "test/expert", "test/random"}
    assert all(v is None or math.isfinite(v) for v in report["embeddings"]["test"].values())


def test_review_findings_stay_fixed(tmp_path: Path) -> None:
    from omrl_bench.bench.run import RunSpec, run_config

    # CORRO's InfoNCE temperature is its own key, not FOCAL++'s tau from the suites' Table 7 settings
    assert resolve_config("corro", None, "sparse-point-robot", "cpu")[1].task_loss.nce_temperature == 0.1
    # a grid tag ("hard") plus other --set values still gets its own directory
    hard = grids.expand("momentum", 1, overrides=("task_loss.temperature=0.2",))[1]
    assert hard.hard_update and hard.spec("cpu", "cpu").run_name(hard.variant).startswith(
        "focalpp-contrastive-sparse-point-robot-expert-s0-hard-set"
    )
    # a FOCAL run saved with a setting today's FOCAL cannot express never equals a plain FOCAL run
    spec = RunSpec("focal", None, "sparse-point-robot", "expert", ("expert",), 0, "cpu", "cpu")
    today = run_config(spec)[2]
    old = json.loads(json.dumps(today))
    old["config"]["encoder"]["type"] = "attention"
    assert migrate_config(old) != migrate_config(today)
    # a UNICORN run saved before its reconstruction was brought to the reference never equals today's
    spec = RunSpec("unicorn", "ss", "sparse-point-robot", "mixed", ("mixed",), 0, "cpu", "cpu")
    today = run_config(spec)[2]
    old = json.loads(json.dumps(today))
    old["config"]["task_loss"]["recon_transitions"] = 64
    assert migrate_config(old) != migrate_config(today) and migrate_config(today) == today
    # bad --set values and names are one-line errors
    with pytest.raises(OmrlError, match="is not a value"):
        resolve_config("focal", None, "sparse-point-robot", "smoke", ["ac.alpha=["])
    with pytest.raises(OmrlError, match="not a finite number"):
        resolve_config("focal", None, "sparse-point-robot", "smoke", ["ac.alpha=1e400"])
    with pytest.raises(OmrlError, match="--name '../x'"):
        RunSpec("focal", None, "sparse-point-robot", "expert", ("expert",), 0, "smoke", "smoke", tag="../x").run_name(
            "focal"
        )
    # a plug-in's config must derive from RunConfig; MBML's stage budget is checked when its config resolves
    with pytest.raises(OmrlError, match="deriving from RunConfig"):
        registry.AlgorithmSpec("x", "X", dict, lambda *a: None, "")  # type: ignore[arg-type, misc, return-value]
    with pytest.raises(OmrlError, match="must exceed mbml.teacher_steps"):
        resolve_config("mbml", None, "sparse-point-robot", "cpu", ["steps=2000"])


def test_the_built_in_algorithms_are_an_explicit_list_in_table_order() -> None:
    """Every built-in module in ``BUILT_IN`` registers one algorithm, in that order (no folder is scanned)."""
    from omrl_bench.core.registry import BUILT_IN, algorithms

    built_in = [name for name, spec in algorithms().items() if spec.build.__module__ in BUILT_IN]
    assert built_in == ["focal", "focalpp", "cbcq", "corro", "csro", "mbml", "unicorn"]
    assert [algorithms()[n].build.__module__ for n in built_in] == list(BUILT_IN)


def test_the_registry_and_the_config_resolution_import_without_a_cycle() -> None:
    """core/registry.py builds on core/config_schema.py, never on core/train_config.py."""
    import ast

    from omrl_bench.core import registry

    tree = ast.parse(Path(registry.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "omrl_bench.core.train_config" not in imported and "omrl_bench.core.config_schema" in imported


def test_the_table_order_does_not_depend_on_which_module_was_imported_first() -> None:
    """A module imported directly (as a test does with CORRO's loss) registers before the others load; the
    rows still come in ``BUILT_IN``'s order."""
    code = (
        "import omrl_bench.baselines.unicorn, omrl_bench.baselines.corro\n"
        "from omrl_bench.core.registry import algorithms\n"
        "print(','.join(algorithms()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1].split(",")[:7] == ["focal", "focalpp", "cbcq", "corro", "csro", "mbml", "unicorn"]
