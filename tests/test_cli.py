"""The CLI through click's CliRunner: end to end on the smoke preset, and one-line errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import generate_command
from omrl_bench.cli import main


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_generate_list_verify_end_to_end(tmp_path: Path) -> None:
    root = str(tmp_path)
    result = _invoke(
        "generate-data",
        "--suite",
        "point-robot-wind",
        "--preset",
        "smoke",
        "--root",
        root,
        "--workers",
        "1",
        "--tasks",
        "0,2",
        "--qualities",
        "expert,random",
    )
    assert result.exit_code == 0, result.output
    assert "2 tasks (0 already published)" in result.output
    assert "expert" in result.output and "random" in result.output and "medium" not in result.output
    listed = _invoke("datasets", "list", "--root", root)
    assert listed.exit_code == 0
    assert "omrl/point-robot-wind-smoke/task-02/random-v1" in listed.output
    assert len(listed.output.strip().splitlines()) == 4
    # verify checks the set the recipe expects (5 tasks x 4 qualities): the 16 not generated are named, and
    # the summary's counts are those of the lines above it
    verified = _invoke("datasets", "verify", "--suite", "point-robot-wind", "--preset", "smoke", "--root", root)
    assert verified.exit_code != 0
    assert "missing: omrl/point-robot-wind-smoke/task-01/expert-v1" in verified.output
    assert "missing: omrl/point-robot-wind-smoke/task-02/mixed-v1" in verified.output
    lines = verified.output.strip().splitlines()
    assert len(lines) == 17 and sum(line.startswith("missing: ") for line in lines) == 16
    assert lines[-1].startswith(
        "Error: point-robot-wind [smoke]: 16 of 20 expected datasets missing, no problems in the 4 present; "
    ), lines[-1]
    assert "run: omrl-bench generate-data --suite point-robot-wind --preset smoke" in lines[-1]
    again = _invoke(
        "generate-data",
        "--suite",
        "point-robot-wind",
        "--preset",
        "smoke",
        "--root",
        root,
        "--workers",
        "1",
        "--tasks",
        "0,2",
        "--qualities",
        "expert,random",
    )
    assert again.exit_code == 0 and "2 tasks (2 already published)" in again.output
    rest = _invoke(
        "generate-data", "--suite", "point-robot-wind", "--preset", "smoke", "--root", root, "--workers", "1"
    )
    assert rest.exit_code == 0, rest.output
    verified = _invoke("datasets", "verify", "--suite", "point-robot-wind", "--preset", "smoke", "--root", root)
    assert verified.exit_code == 0 and "all 20 expected datasets verified: no problems" in verified.output
    # one dataset folder deleted: reported by name, non-zero exit
    shutil.rmtree(tmp_path / "omrl/point-robot-wind-smoke/task-03/medium-v1")
    verified = _invoke("datasets", "verify", "--suite", "point-robot-wind", "--preset", "smoke", "--root", root)
    assert verified.exit_code != 0 and "missing: omrl/point-robot-wind-smoke/task-03/medium-v1" in verified.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "sparse-point-rob"], "unknown suite 'sparse-point-rob'; choose one of: sparse-point-robot"),
        (["--suite", "sparse-point-robot", "--preset", "huge"], "unknown preset 'huge'"),
        (
            ["--suite", "sparse-point-robot", "--preset", "smoke", "--qualities", "expert,great"],
            "unknown quality 'great'; choose from: expert, medium, random, mixed, untrained",
        ),
        (
            ["--suite", "sparse-point-robot", "--preset", "smoke", "--tasks", "0,7"],
            "task index 7 out of range; this preset has tasks 0..4",
        ),
        (["--suite", "sparse-point-robot", "--preset", "smoke", "--tasks", "a"], "comma-separated task indices"),
        (
            ["--suite", "sparse-point-robot", "--preset", "smoke", "--executor", "slurm"],
            "unknown executor 'slurm'; choose one of: local, ray",
        ),
        (
            ["--suite", "sparse-point-robot", "--preset", "smoke", "--set", "sac.learning_rat=1"],
            "unknown key 'learning_rat'; allowed keys: .*learning_rate",
        ),
    ],
)
def test_bad_input_gets_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = _invoke("generate-data", "--root", str(tmp_path), *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "omrl").exists()  # nothing written


def test_verify_without_datasets(tmp_path: Path) -> None:
    result = _invoke("datasets", "verify", "--suite", "sparse-point-robot", "--root", str(tmp_path))
    assert result.exit_code != 0
    assert "no sparse-point-robot datasets of preset 'cpu'" in result.output


def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    cmd = generate_command(tmp_path, "--executor", "ray", "--ray-address", "127.0.0.1:1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot reach a Ray cluster at '127.0.0.1:1'"), proc.stderr[-2000:]


def test_datasets_plot_writes_the_three_figures(smoke_root: Path, tmp_path: Path) -> None:
    import matplotlib.image

    out = tmp_path / "plots"
    args = ("datasets", "plot", "--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(smoke_root))
    result = _invoke(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"sparse-point-robot-smoke-{k}.png" for k in ("returns", "sac-curves", "states")]
    for p in out.glob("*.png"):
        assert matplotlib.image.imread(p).std() > 0  # something was drawn
    missing = _invoke("datasets", "plot", "--suite", "sparse-cheetah-vel", "--preset", "smoke", "--root", str(tmp_path))
    assert missing.exit_code != 0
    assert len(missing.output.strip().splitlines()) == 1, missing.output
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = _invoke(*args, "--out", str(blocked / "plots"))  # a file where the folder goes
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [f"Error: {blocked / 'plots'}: Not a directory"], result.output
