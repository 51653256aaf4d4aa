"""Ray executor on a real local runtime, and Minari reading our datasets in a clean process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omrl_bench.executors import RayExecutor


def _checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "omrl").rglob("data/*"))
    }


# The Ray drivers run in their own processes (the CLI), as a user runs them: a Ray runtime started and shut
# down twice in one long-lived process can crash it at exit (ray-project/ray#31145; one full run of this
# suite ended with a segfault in a native thread after every test had passed).
def _on_ray(*args: str) -> None:
    cmd = [sys.executable, "-m", "omrl_bench.cli", *args, "--executor", "ray", "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # a private runtime, never a cluster
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_ray_executor_matches_local(smoke_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    _on_ray("generate-data", "--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(tmp_path))
    assert len(list((tmp_path / "omrl").rglob("main_data.hdf5"))) == 20
    assert _checksums(tmp_path) == _checksums(smoke_root)


def test_minari_alone_loads_dataset_and_recovers_the_task_env(smoke_root: Path) -> None:
    script = (
        "import minari, numpy as np\n"
        "ds = minari.load_dataset('omrl/sparse-point-robot-smoke/task-03/medium-v1')\n"
        "ep = next(iter(ds.iterate_episodes()))\n"
        "env = ds.recover_environment()\n"
        "meta = ds.storage.metadata['omrl']\n"
        "assert env.spec.max_episode_steps == 20\n"
        "assert np.allclose(env.unwrapped.goal, meta['task_kwargs']['goal'])\n"
        "assert env.unwrapped.task == 3 == meta['task']\n"
        "print(ds.total_episodes, ep.observations.shape, env.spec.id, meta['quality'])\n"
        # the card, through plain Minari: rule, steps, the 0/1 returns, curve, rewarded fraction, ref scores
        "assert meta['protocol'] == 1 and meta['rule'].startswith('checkpoint closest to normalised 0.5')\n"
        "assert meta['checkpoint_steps'] == [meta['checkpoint_step']] and meta['checkpoint_episodes'] == [10]\n"
        "curve = meta['score_curve']\n"
        "assert [c['step'] for c in curve] == [0, 100, 200, 300, 400] and curve[-1]['normalised_score'] in (0, 1)\n"
        "assert {'dense_return', 'sparse_return'} <= set(curve[0])\n"
        "assert meta['score_zero'] == curve[0]['sparse_return'] and meta['score_one'] == curve[-1]['sparse_return']\n"
        "rewarded = np.mean(np.concatenate([e.infos['sparse_reward'][1:] != 0 for e in ds.iterate_episodes()]))\n"
        "assert abs(meta['rewarded_fraction'] - rewarded) < 1e-12\n"
        "lo, hi = ds.storage.metadata['ref_min_score'], ds.storage.metadata['ref_max_score']\n"
        "assert (lo, hi) == (curve[0]['dense_return'], curve[-1]['dense_return'])\n"
        "assert np.allclose(minari.get_normalized_score(ds, np.array([lo, hi])), [0.0, 1.0])\n"
    )
    env = {**os.environ, "MINARI_DATASETS_PATH": str(smoke_root)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10", "(21,", "2)", "omrl/SparsePointRobot-v0", "medium"]


def test_reproduce_grid_on_ray_matches_local_workers(smoke_root: Path, tmp_path: Path) -> None:
    """The same grid on a real Ray runtime and on local workers gives identical run reports."""
    import json
    import shutil

    pytest.importorskip("ray")
    from omrl_bench.bench.reproduce import reproduce
    from omrl_bench.executors import LocalExecutor

    root = tmp_path / "data"
    shutil.copytree(smoke_root, root)

    def tests(out: Path) -> dict[str, dict]:
        return {p.parent.name: json.loads(p.read_text())["test"] for p in sorted(out.rglob("final.json"))}

    local = tmp_path / "local"
    res = reproduce(
        "embeddings", "smoke", 1, ("sparse-point-robot",), local, local / "report", root, lambda: LocalExecutor(1)
    )
    assert not res.failures and len(res.planned) == 2
    on_ray = tmp_path / "ray"
    _on_ray(
        "reproduce",
        "embeddings",
        "--preset",
        "smoke",
        "--seeds",
        "1",
        "--suites",
        "sparse-point-robot",
        "--out",
        str(on_ray),
        "--report",
        str(on_ray / "report"),
        "--root",
        str(root),
    )
    ray_tests = tests(on_ray)
    assert len(ray_tests) == 2 and ray_tests == tests(local)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_join_a_cluster_with_token_authentication(tmp_path: Path) -> None:
    """A head on 127.0.0.1 with RAY_AUTH_MODE=token: the driver joins with the token in its environment
    (the workers get it from the head's raylet); without it, the CLI says how to pass it, in one line."""
    pytest.importorskip("ray")
    import secrets
    import shutil
    import tempfile

    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_bin is not None
    port = _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(tmp_path / "home")}
    head = [ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay under 108 bytes
    head += ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)]
    # --block: this process owns the head's processes and stops them, and only them, when it is terminated
    # (`ray stop` would stop every Ray cluster of this user on the machine)
    log = tmp_path / "ray-head.log"
    with open(log, "w") as out:
        started = subprocess.Popen(head, env=base | auth, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, started, log)
        cmd = [sys.executable, "-m", "omrl_bench.cli", "generate-data", "--suite", "sparse-point-robot"]
        cmd += ["--preset", "smoke", "--tasks", "0", "--qualities", "expert", "--root", str(tmp_path / "data")]
        cmd += ["--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]
        joined = subprocess.run(cmd, env=base | auth, capture_output=True, text=True, timeout=600)
        assert joined.returncode == 0, joined.stderr[-2000:]
        assert (tmp_path / "data/omrl/sparse-point-robot-smoke/task-00/expert-v1/data/main_data.hdf5").exists()
        refused = subprocess.run(cmd, env=base, capture_output=True, text=True, timeout=600)
        assert refused.returncode != 0
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith(f"Error: cannot join the Ray cluster at '127.0.0.1:{port}'") and "RAY_AUTH_TOKEN" in last
    finally:
        started.terminate()
        try:
            started.wait(timeout=120)
        except subprocess.TimeoutExpired:
            started.kill()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, head: subprocess.Popen[bytes], log: Path, timeout_s: float = 180.0) -> None:
    """Until the head's GCS port accepts connections (or the head exits)."""
    import socket
    import time

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert head.poll() is None, log.read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the Ray head did not listen on port {port} within {timeout_s:.0f} s")


def test_without_an_address_ray_starts_a_private_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """``address=None`` (``--executor ray`` without ``--ray-address``) must not join a cluster that happens to be
    running on the machine (``ray.init(address=None)`` would): it starts its own, of ``workers`` CPUs."""
    ray = pytest.importorskip("ray")
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    RayExecutor(address=None, workers=3)
    assert calls[0]["address"] == "local" and calls[0]["num_cpus"] == 3
