"""``omrl-bench run`` through click's CliRunner: tiny end to end, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from omrl_bench.cli import main
from omrl_bench.core.train_config import RunConfig

RUN_KEYS = {f.name for f in dataclasses.fields(RunConfig)}


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_generate_then_run_end_to_end(tmp_path: Path) -> None:
    root, out = str(tmp_path / "data"), str(tmp_path / "runs")
    gen = _invoke("generate-data", "--suite", "point-robot-wind", "--preset", "smoke", "--root", root, "--workers", "1")
    assert gen.exit_code == 0, gen.output
    res = _invoke(
        "run",
        "--algo",
        "focal",
        "--suite",
        "point-robot-wind",
        "--preset",
        "smoke",
        "--root",
        root,
        "--out",
        out,
        "--train-quality",
        "medium",
        "--test-quality",
        "expert,medium,random",
    )
    assert res.exit_code == 0, res.output
    assert re.search(r"^expert\s+-?\d+\.\d+", res.output, re.M) and re.search(r"^random\s", res.output, re.M)
    run_dir = Path(out) / "focal-focal-point-robot-wind-medium-s0"
    final = json.loads((run_dir / "final.json").read_text())
    assert set(final["test"]) == {"expert", "medium", "random"}
    assert final["config"]["config"]["next_obs_in_context"] is True
    assert (run_dir / "config.yaml").exists() and (run_dir / "embeddings.npz").exists()
    again = _invoke(
        "run",
        "--algo",
        "focal",
        "--suite",
        "point-robot-wind",
        "--preset",
        "smoke",
        "--root",
        root,
        "--out",
        out,
        "--train-quality",
        "medium",
        "--test-quality",
        "expert,medium,random",
        "--resume",
    )
    assert again.exit_code == 0, again.output


def test_cbcq_through_the_cli(smoke_root: Path, tmp_path: Path) -> None:
    args = ["run", "--algo", "cbcq", "--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(smoke_root)]
    res = _invoke(*args, "--out", str(tmp_path), "--train-quality", "expert", "--test-quality", "expert,random")
    assert res.exit_code == 0, res.output
    assert re.search(r"^expert\s+-?\d+\.\d+", res.output, re.M) and re.search(r"^random\s", res.output, re.M)
    final = json.loads((tmp_path / "cbcq-cbcq-sparse-point-robot-expert-s0" / "final.json").read_text())
    assert set(final["config"]["config"]) == {*RUN_KEYS, "encoder", "task_loss", "ac", "bcq"}  # only what it reads
    assert "alpha" not in final["config"]["config"]["ac"]
    assert final["steps"] == 6 and set(final["test"]) == {"expert", "random"}
    assert "context_free" not in final["embeddings"] and re.search(r"^test embeddings: RMS \d", res.output, re.M)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "pearl"], "unknown algorithm 'pearl'; choose one of: focal, focalpp"),
        (["--algo", "focalpp", "--variant", "batchwise"], "unknown variant 'batchwise' for focalpp; choose one of:"),
        (["--algo", "focal", "--set", "ac.actr_lr=1"], "unknown key 'actr_lr'; allowed keys: .*actor_lr"),
        (["--algo", "focalpp", "--set", "encoder.type=rnn"], "encoder.type must be one of mlp, attention, got 'rnn'"),
        (
            ["--algo", "focal", "--set", "encoder.type=mlp"],
            "focal: --set encoder.type: unknown key 'type'",
        ),  # not FOCAL's
        (["--algo", "focal", "--set", "bcq.vae_hidden=8"], "focal: --set bcq.vae_hidden: unknown key 'bcq'"),
        (["--algo", "focal", "--device", "gpu"], "unknown device 'gpu'; choose cpu, cuda or cuda:N"),
        (["--algo", "focal", "--device", "tpu"], "unknown device 'tpu'"),
        (["--algo", "focal", "--resume"], "--resume: no run to resume at .*; drop --resume to start it"),
        (["--algo", "focal", "--train-quality", "great"], "unknown quality 'great'"),
        (["--algo", "focal", "--preset", "huge"], "unknown preset 'huge'"),
    ],
)
def test_run_bad_input_one_line(smoke_root: Path, tmp_path: Path, args: list[str], message: str) -> None:
    res = _invoke(
        "run",
        "--suite",
        "sparse-point-robot",
        "--preset",
        "smoke",
        "--root",
        str(smoke_root),
        "--out",
        str(tmp_path),
        *args,
    )
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), res.output


def test_missing_and_mismatched_datasets(smoke_root: Path, tmp_path: Path) -> None:
    res = _invoke(
        "run",
        "--algo",
        "focal",
        "--suite",
        "sparse-cheetah-vel",
        "--preset",
        "smoke",
        "--root",
        str(smoke_root),
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code != 0 and "no sparse-cheetah-vel datasets of preset 'smoke'" in res.output
    fake = tmp_path / "fake"
    shutil.copytree(smoke_root / "omrl" / "sparse-point-robot-smoke", fake / "omrl" / "sparse-cheetah-vel-smoke")
    res = _invoke(
        "run",
        "--algo",
        "focal",
        "--suite",
        "sparse-cheetah-vel",
        "--preset",
        "smoke",
        "--root",
        str(fake),
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code != 0
    assert len(res.output.strip().splitlines()) == 1
    assert "do not match sparse-cheetah-vel's env" in res.output


@pytest.mark.parametrize("suite", ["point-robot-wind", "sparse-cheetah-vel", "sparse-ant-fwd-back"])
def test_focalpp_runs_at_smoke_on_every_suite(suite: str, generate_smoke, tmp_path: Path) -> None:
    # Ant-Fwd-Back has 2 training tasks, fewer than the meta-batch: FOCAL++ then contrasts each task once
    root = generate_smoke(tmp_path / "root", suite)
    args = ["run", "--algo", "focalpp", "--suite", suite, "--preset", "smoke", "--root", str(root)]
    res = _invoke(*args, "--out", str(tmp_path / "runs"), "--test-quality", "expert,random")
    assert res.exit_code == 0, res.output
    final = json.loads(next((tmp_path / "runs").iterdir()).joinpath("final.json").read_text())
    assert all(isinstance(v, float) for v in final["embeddings"]["test"].values())  # two test tasks: defined


@pytest.mark.parametrize("suite", ["sparse-cheetah-vel", "sparse-ant-fwd-back", "hopper-param", "walker-param"])
def test_every_registered_algorithm_runs_at_smoke_on_the_mujoco_suites(
    suite: str, generate_smoke, tmp_path: Path
) -> None:
    """Each algorithm and table variant of the registry (plug-ins added later included) trains and is
    tested on MuJoCo smoke data: Table 7's BRAC settings, Ant's 2 tasks, the 27-D and 17-D contexts, and
    the -param families' contexts with s' and episodes that terminate early."""
    from omrl_bench.core.registry import algorithms

    root = generate_smoke(tmp_path / "root", suite)
    for name, spec in algorithms().items():
        for variant in spec.table_variants:
            out = tmp_path / "runs" / f"{name}-{variant}"
            args = ["run", "--algo", name, "--variant", variant, "--suite", suite, "--preset", "smoke"]
            res = _invoke(*args, "--root", str(root), "--out", str(out), "--test-quality", "expert")
            assert res.exit_code == 0, f"{name}:{variant}: {res.output}"
            final = json.loads(next(out.iterdir()).joinpath("final.json").read_text())
            assert np.isfinite(final["test"]["expert"]["mean_return"]), f"{name}:{variant}"


def test_a_run_resolves_its_config_once_and_reads_the_presets_file_once(smoke_root: Path, tmp_path: Path) -> None:
    from omrl_bench.core import train_config

    train_config._presets_file.cache_clear()
    train_config._checked_presets.cache_clear()
    train_config._resolve.cache_clear()
    args = ["run", "--algo", "focal", "--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(smoke_root)]
    res = _invoke(*args, "--out", str(tmp_path / "runs"), "--test-quality", "expert,random")
    assert res.exit_code == 0, res.output
    assert train_config._presets_file.cache_info().misses == 1  # the YAML file is parsed once
    assert train_config._checked_presets.cache_info().misses == 1  # and checked once
    assert train_config._resolve.cache_info().misses == 1  # one config, computed once, however often it is read
