"""The generation pipeline end to end: determinism, resume after kill -9, verify, loading."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import checksums, generate_command
from omrl_bench.datasets import load_suite, verify_suite
from omrl_bench.datasets.loader import list_datasets, verify_dataset
from omrl_bench.datasets.pipeline import generate
from omrl_bench.datasets.recipe import QUALITIES, load_recipe
from omrl_bench.errors import OmrlError
from omrl_bench.executors import LocalExecutor


def test_smoke_generation_publishes_every_dataset(smoke_root: Path) -> None:
    recipe = load_recipe("sparse-point-robot", "smoke")
    for t in range(recipe.config.n_tasks):
        for q in QUALITIES:
            assert (smoke_root / recipe.dataset_id(t, q) / "data" / "main_data.hdf5").exists()
    found = verify_suite("sparse-point-robot", "smoke", smoke_root)
    assert found.checked == found.expected == recipe.config.n_tasks * 4 and found.ok
    assert not any(p.name.endswith(".partial") for p in smoke_root.rglob("*"))
    assert len(list_datasets(smoke_root)) == found.checked


def test_same_seed_identical_files_other_seed_differs(smoke_root: Path, tmp_path: Path, generate_smoke) -> None:
    again = generate_smoke(tmp_path / "again", workers=2)
    assert checksums(again) == checksums(smoke_root)
    other = generate_smoke(tmp_path / "other", seed=1)
    a = load_suite("sparse-point-robot", "expert", "train", "smoke", smoke_root, workers=1)
    b = load_suite("sparse-point-robot", "expert", "train", "smoke", other, workers=1)
    assert not np.array_equal(a.tasks[0].actions, b.tasks[0].actions)


def test_load_suite_arrays(smoke_root: Path) -> None:
    data = load_suite("sparse-point-robot", "medium", "train", "smoke", smoke_root, workers=1)
    recipe = load_recipe("sparse-point-robot", "smoke")
    assert len(data.tasks) == recipe.config.n_tasks - recipe.config.n_test
    task = data.tasks[0]
    n = recipe.config.dataset_episodes * 20
    assert task.observations.shape == (n, 2) and task.next_observations.shape == (n, 2)
    assert task.actions.shape == (n, 2) and task.rewards.shape == (n,) and task.sparse_rewards.shape == (n,)
    # s' = s + 0.1 a on the point robot, and the rewards are those of s'
    np.testing.assert_allclose(
        task.next_observations, task.observations + 0.1 * np.clip(task.actions, -1, 1), atol=1e-5
    )
    goal = np.asarray(task.task_kwargs["goal"])
    np.testing.assert_allclose(task.rewards, -np.linalg.norm(task.next_observations - goal, axis=1), atol=1e-5)
    d = -task.rewards
    np.testing.assert_allclose(task.sparse_rewards, np.where(d <= 0.2, 1 - d, 0.0), atol=1e-6)
    test = load_suite("sparse-point-robot", "medium", "test", "smoke", smoke_root, workers=1)
    assert {t.task for t in test.tasks}.isdisjoint({t.task for t in data.tasks})


def test_load_suite_bad_input(smoke_root: Path, tmp_path: Path) -> None:
    with pytest.raises(OmrlError, match="unknown quality 'good'"):
        load_suite("sparse-point-robot", "good", "train", "smoke", smoke_root)
    with pytest.raises(OmrlError, match="unknown split"):
        load_suite("sparse-point-robot", "expert", "val", "smoke", smoke_root)
    with pytest.raises(OmrlError, match="no point-robot-wind datasets of preset 'smoke'"):
        load_suite("point-robot-wind", "expert", "train", "smoke", smoke_root)


def test_verify_reports_a_corrupted_file_by_name(smoke_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(smoke_root, root)
    recipe = load_recipe("sparse-point-robot", "smoke")
    victim = root / recipe.dataset_id(2, "medium") / "data" / "main_data.hdf5"
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    problems = verify_suite("sparse-point-robot", "smoke", root).problems
    assert len(problems) == 1 and str(victim) in problems[0] and "checksum" in problems[0]
    # a truncated file is caught as well, and so is broken metadata
    victim.write_bytes(bytes(blob[:1000]))
    assert "checksum" in verify_dataset(victim.parent)[0]
    meta = root / recipe.dataset_id(1, "expert") / "data" / "metadata.json"
    meta.write_text("{broken")
    problems = verify_suite("sparse-point-robot", "smoke", root).problems
    assert any(str(meta) in p and "not valid JSON" in p for p in problems)


def test_recipe_mismatch_is_refused(smoke_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(smoke_root, root)
    recipe = load_recipe("sparse-point-robot", "smoke", seed=5)
    with pytest.raises(OmrlError, match="from a different recipe or seed"):
        generate(recipe, root, (0,), QUALITIES, LocalExecutor(1))


def _run_cli(root: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = generate_command(root, "--workers", "2", *extra)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_kill_9_mid_generation_then_resume_gives_identical_datasets(tmp_path: Path) -> None:
    longer = ["--set", "n_tasks=6", "--set", "sac.total_steps=800"]
    reference = tmp_path / "uninterrupted"
    assert _run_cli(reference, longer).wait() == 0
    expected = checksums(reference)
    assert len([k for k in expected if k.endswith(".hdf5")]) == 6 * 4

    root = tmp_path / "killed"
    proc = _run_cli(root, longer)
    deadline = time.time() + 120
    while time.time() < deadline and not list((root / "omrl").rglob("data/metadata.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-way
    proc.wait()
    published = [k for k in checksums(root) if k.endswith(".hdf5")]
    assert 0 < len(published) < 18, "the kill should land mid-way"
    for meta in (root / "omrl").rglob("data/metadata.json"):
        assert verify_dataset(meta.parent) == []  # nothing half-written is visible

    resumed = _run_cli(root, longer)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert checksums(root) == expected


def test_protocol_v0_datasets_are_never_mixed_in(smoke_root: Path, tmp_path: Path) -> None:
    """A root that holds only protocol v0 datasets: training refuses them with one line naming both versions."""
    root = tmp_path / "v0"
    shutil.copytree(smoke_root, root)
    for d in sorted(root.glob("omrl/sparse-point-robot-smoke/task-*/*-v1")):
        d.rename(d.with_name(d.name.replace("-v1", "-v0")))
    with pytest.raises(OmrlError) as err:
        load_suite("sparse-point-robot", "expert", "train", "smoke", root, workers=1)
    message = str(err.value)
    assert "\n" not in message and "protocol v0 datasets (-v0)" in message and "protocol v1 (-v1)" in message
    assert "omrl-bench generate-data --suite sparse-point-robot --preset smoke" in message
    # regenerating writes v1 beside the v0 datasets, which stay untouched and unread
    recipe = load_recipe("sparse-point-robot", "smoke")
    generate(recipe, root, (0, 1, 2, 3), QUALITIES, LocalExecutor(1))
    data = load_suite("sparse-point-robot", "expert", "train", "smoke", root, workers=1)
    assert all(t.metadata["dataset_id"].endswith("-v1") for t in data.tasks)
    assert len(list(root.glob("omrl/sparse-point-robot-smoke/task-*/*-v0"))) == 5 * 4


@pytest.mark.parametrize("suite_name", ["point-robot-wind", "sparse-ant-fwd-back"])
def test_sac_resumed_from_a_snapshot_is_bit_identical(
    suite_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAC stopped after a snapshot mid-task and resumed (other RNG draws in between, a fresh model
    loaded from disk) saves the same checkpoints as one uninterrupted run: the MuJoCo physics (Ant
    falls and resets mid-chunk), the replay buffer, optimisers, counters and RNG states all carry over.
    Neither run leaves a folder of SB3's in the temporary folder (its default logger made one per chunk)."""
    import random
    import tempfile

    import torch

    from omrl_bench.datasets.behaviour import load_policy, train_sac
    from omrl_bench.datasets.recipe import SACConfig
    from omrl_bench.envs import get_suite, task_parameters

    suite = get_suite(suite_name)
    kwargs = task_parameters(suite, 2, 0)[1]
    cfg = SACConfig(total_steps=900, checkpoint_every=150, net_arch=(16, 16), batch_size=32, learning_starts=200)

    def policy_bytes(d: Path) -> dict[str, bytes]:
        return {
            p.name: b"".join(t.numpy().tobytes() for t in load_policy(p).state_dict().values()) for p in d.glob("*.zip")
        }

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    train_sac(suite, kwargs, cfg, 7, tmp_path / "straight")
    stopped = tmp_path / "resumed"
    steps = train_sac(suite, kwargs, cfg, 7, stopped, stop_at=450)
    assert steps[-1] == 450 and (stopped / "resume" / "state.pkl").exists()
    torch.manual_seed(123), np.random.seed(9), random.seed(4)  # the resumed process starts elsewhere
    assert train_sac(suite, kwargs, cfg, 7, stopped) == list(range(0, 901, 150))
    assert not (stopped / "resume").exists()
    assert policy_bytes(stopped) == policy_bytes(tmp_path / "straight")
    assert list(scratch.glob("SB3-*")) == []


def test_a_dense_early_schedule_is_trained_scored_and_resumed(tmp_path: Path) -> None:
    """Checkpoints every 50 steps up to 200, then every 100: SAC saves exactly those, a run stopped inside the
    dense part resumes bit-identically, and the pipeline scores every one of them (the curve the rules read)."""
    import json

    import torch

    from omrl_bench.datasets.behaviour import load_policy, train_sac
    from omrl_bench.datasets.pipeline import work_dir
    from omrl_bench.envs import get_suite, task_parameters

    recipe = load_recipe("sparse-point-robot", "smoke", overrides=["sac.dense_every=50", "sac.dense_until=200"])
    suite, cfg = get_suite("point-robot-wind"), recipe.config.sac
    kwargs = task_parameters(suite, 2, 0)[0]
    expected = [0, 50, 100, 150, 200, 300, 400]
    assert train_sac(suite, kwargs, cfg, 3, tmp_path / "straight") == expected
    assert sorted(p.name for p in (tmp_path / "straight").glob("ckpt-*.zip")) == [f"ckpt-{s:08d}.zip" for s in expected]
    assert train_sac(suite, kwargs, cfg, 3, tmp_path / "resumed", stop_at=150) == [0, 50, 100, 150]
    assert train_sac(suite, kwargs, cfg, 3, tmp_path / "resumed") == expected
    for name in (f"ckpt-{s:08d}.zip" for s in expected):  # the weights: a zip's bytes hold its time of writing
        straight, resumed = (load_policy(tmp_path / run / name).state_dict() for run in ("straight", "resumed"))
        assert all(torch.equal(straight[k], resumed[k]) for k in straight), name

    generate(recipe, tmp_path / "root", (0,), QUALITIES, LocalExecutor(1))
    scores = json.loads((work_dir(recipe, 0, tmp_path / "root") / "scores.json").read_text())
    assert [c["step"] for c in scores["checkpoints"]] == expected


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the parent-death signal is Linux's")
def test_local_workers_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    """A killed grid leaves no worker training on into its run folders (a restart would train them twice)."""
    import sys
    import textwrap

    script = tmp_path / "grid.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            from pathlib import Path
            from omrl_bench.executors import LocalExecutor

            def work(path):
                Path(path).write_text(str(os.getpid()))
                time.sleep(120)

            if __name__ == "__main__":
                list(LocalExecutor(2).map_unordered(work, [(f"{sys.argv[1]}/{i}.pid",) for i in range(2)]))
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    deadline = time.time() + 120
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.2)
    pids = [int(p.read_text() or 0) for p in tmp_path.glob("*.pid")]
    assert len(pids) == 2 and all(pids), "the workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived the killed parent"
