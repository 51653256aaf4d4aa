"""The policy archive: byte-identical datasets without SAC, added after the fact, corrupt entries refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import checksums
from omrl_bench.datasets import archive as policy_archive
from omrl_bench.datasets.behaviour import checkpoint_name, load_policy
from omrl_bench.datasets.pipeline import generate, work_dir
from omrl_bench.datasets.recipe import QUALITIES, load_recipe
from omrl_bench.errors import OmrlError
from omrl_bench.executors import LocalExecutor


@pytest.fixture(scope="module")
def archived(smoke_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite's archive, written after the fact from a copy of the published root."""
    root = tmp_path_factory.mktemp("archived-root")
    shutil.copytree(smoke_root, root, dirs_exist_ok=True)
    out = tmp_path_factory.mktemp("archive")
    recipe = load_recipe("sparse-point-robot", "smoke")
    tasks = tuple(range(recipe.config.n_tasks))
    result = generate(recipe, root, tasks, QUALITIES, LocalExecutor(1), archive=out)
    assert result.skipped == len(tasks) and result.archived == list(tasks) and result.unarchived == []
    return out


def test_datasets_rebuilt_from_the_archive_are_byte_identical(archived: Path, smoke_root: Path, tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    root = tmp_path / "rebuilt"
    tasks = tuple(range(recipe.config.n_tasks))
    result = generate(recipe, root, tasks, QUALITIES, LocalExecutor(2), archive=archived)
    assert result.restored == list(tasks) and result.archived == []
    assert checksums(root) == checksums(smoke_root)
    sac = work_dir(recipe, 0, root) / "sac"
    full = work_dir(recipe, 0, smoke_root) / "sac"
    # SAC did not run: only the archived checkpoints are there, fewer than it saves
    manifest = json.loads(next(archived.glob("*/task-00/manifest.json")).read_text())
    assert sorted(p.name for p in sac.glob("*.zip")) == [checkpoint_name(s) for s in manifest["steps"]]
    assert len([p for p in sac.iterdir() if p.suffix == ".zip"]) < len(list(full.glob("*.zip")))
    assert json.loads((sac / "wall.json").read_text())["sac_wall_s"] == manifest["sac_wall_s"]


def test_actor_only_file_acts_like_the_whole_checkpoint(smoke_root: Path, tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    ckpt = work_dir(recipe, 1, smoke_root) / "sac" / checkpoint_name(recipe.config.sac.total_steps)
    small = tmp_path / "actor.pt"
    small.write_bytes(policy_archive.actor_only(ckpt.read_bytes()))
    assert small.stat().st_size < ckpt.stat().st_size / 2
    x = torch.randn(16, 2)
    whole, actor = load_policy(ckpt), load_policy(small)
    for a, b in zip(whole.actor.get_action_dist_params(x)[:2], actor.actor.get_action_dist_params(x)[:2], strict=True):
        assert torch.equal(a, b)


def test_freshly_generated_tasks_are_archived_as_they_finish(tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    out = tmp_path / "archive"
    result = generate(recipe, tmp_path / "root", (2, 3), QUALITIES, LocalExecutor(2), archive=out)
    assert sorted(result.archived) == [2, 3] and result.restored == []
    for task in (2, 3):
        folder = policy_archive.task_dir(out, recipe.suite, recipe.preset, recipe.fingerprint, task)
        files = policy_archive.read(folder, recipe.fingerprint)
        assert files is not None and 0 in policy_archive.steps_of(files)  # mixed starts at step 0
        wall = json.loads(files[policy_archive.MANIFEST])["sac_wall_s"]
        assert (
            wall
            == json.loads((work_dir(recipe, task, tmp_path / "root") / "sac" / "wall.json").read_text())["sac_wall_s"]
        )
        assert wall > 0


def _copy(archived: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "archive"
    shutil.copytree(archived, out)
    return out, next(out.glob("*/task-01"))


def test_a_corrupt_archive_is_refused_in_one_line_before_any_work(archived: Path, tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    out, task1 = _copy(archived, tmp_path)
    victim = sorted(task1.glob("actor-*.pt"))[-1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    root = tmp_path / "root"
    with pytest.raises(OmrlError, match="does not match its sha256") as err:
        generate(recipe, root, tuple(range(recipe.config.n_tasks)), QUALITIES, LocalExecutor(1), archive=out)
    assert "\n" not in str(err.value) and str(task1) in str(err.value)
    assert not list(root.glob("omrl/*/task-*/*"))  # nothing was generated or published
    victim.unlink()
    with pytest.raises(OmrlError, match="missing from the archive"):
        generate(recipe, root, (1,), QUALITIES, LocalExecutor(1), archive=out)
    (task1 / "manifest.json").write_text("{broken")
    with pytest.raises(OmrlError, match="not a valid archive manifest"):
        generate(recipe, root, (1,), QUALITIES, LocalExecutor(1), archive=out)


def test_an_entry_of_another_recipe_is_refused(archived: Path, tmp_path: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    out, task1 = _copy(archived, tmp_path)
    manifest = json.loads((task1 / "manifest.json").read_text())
    (task1 / "manifest.json").write_text(json.dumps(manifest | {"fingerprint": "0123456789abcdef"}))
    with pytest.raises(OmrlError, match="was archived from recipe 0123456789abcdef"):
        generate(recipe, tmp_path / "root", (1,), QUALITIES, LocalExecutor(1), archive=out)


def test_a_folder_without_manifest_is_not_an_entry(archived: Path, tmp_path: Path) -> None:
    """A write killed before its rename leaves no manifest: the task is trained again, not refused."""
    recipe = load_recipe("sparse-point-robot", "smoke")
    out, task1 = _copy(archived, tmp_path)
    (task1 / "manifest.json").unlink()
    result = generate(recipe, tmp_path / "root", (1,), QUALITIES, LocalExecutor(1), archive=out)
    assert result.restored == [] and result.archived == [1]
    assert policy_archive.read(task1, recipe.fingerprint) is not None
