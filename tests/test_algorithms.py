"""Contract battery run on every algorithm variant, plus determinism and the BRAC path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omrl_bench.bench.run import RunSpec, execute
from omrl_bench.core.algorithm import OfflineMetaAlgorithm
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.registry import Dims, algorithms, build_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets.loader import TaskData

# every registered algorithm's every variant, in both precisions: a new algorithm module joins with no edit here
VARIANTS = [(a, v) for a, spec in algorithms().items() for v in spec.variants]
CONTRACT = [(a, v, p) for a, v in VARIANTS for p in ("fp32", "bf16")]


def _spec(
    algo: str, variant: str, seed: int = 0, overrides: tuple[str, ...] = (), precision: str | None = None
) -> RunSpec:
    return RunSpec(
        algo,
        variant,
        "sparse-point-robot",
        "expert",
        ("expert", "random"),
        seed,
        "smoke",
        "smoke",
        overrides=overrides,
        precision=precision,
    )


def _built(algo: str, variant: str) -> OfflineMetaAlgorithm:
    """The class ``execute`` builds for ``algo`` (an instance at the smoke sizes)."""
    _, cfg = resolve_config(algo, variant, "sparse-point-robot", "smoke")
    return build_algorithm(algo, cfg, Dims(2, 2, 5, 4))


def test_the_battery_covers_every_registered_algorithm() -> None:
    assert {a for a, _ in VARIANTS} == set(algorithms()) and len(algorithms()) >= 4
    assert all(isinstance(_built(a, v), OfflineMetaAlgorithm) for a, v in VARIANTS)


def _model(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=False)["algo"]["model"]


@pytest.mark.parametrize(("algo", "variant", "precision"), CONTRACT, ids=[f"{a}-{v}-{p}" for a, v, p in CONTRACT])
def test_contract(algo: str, variant: str, precision: str, smoke_root: Path, tmp_path: Path, monkeypatch) -> None:
    # trains, logs float metrics, evaluates on every test quality
    spec = _spec(algo, variant, precision=precision)
    report = execute(spec, tmp_path / "a", smoke_root, resume=False, progress=False)
    suffix = "" if precision == "fp32" else f"-{precision}"  # the smoke preset's default is fp32
    run_a = tmp_path / "a" / f"{algo}-{variant}-sparse-point-robot-expert-s0{suffix}"
    assert report["config"]["config"]["precision"] == precision
    for q in ("expert", "random"):
        res = report["test"][q]
        assert isinstance(res["mean_return"], float) and np.isfinite(res["mean_return"])
        assert len(res["per_task_return"]) == 2  # the smoke preset has two test tasks
    progress = (run_a / "progress.csv").read_text().splitlines()
    header = progress[0].split(",")
    assert "eval/expert/return" in header and any(h.startswith("train/") for h in header)
    assert len(progress) == 1 + 6
    assert json.loads((run_a / "final.json").read_text())["steps"] == 6

    # killed after step 3 (checkpoint at step 2), resumed: identical parameters and results
    cls = type(_built(algo, variant))
    original = cls.update
    calls = {"n": 0}

    def dying_update(self, buffers):  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, buffers)

    monkeypatch.setattr(cls, "update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        execute(spec, tmp_path / "b", smoke_root, resume=False, progress=False)
    monkeypatch.setattr(cls, "update", original)
    run_b = tmp_path / "b" / run_a.name
    killed_state = torch.load(run_b / "checkpoints/last.pt", weights_only=False)
    assert killed_state["step"] == 2
    resumed = execute(spec, tmp_path / "b", smoke_root, resume=True, progress=False)
    a, b = _model(run_a), _model(run_b)
    assert a.keys() == b.keys()
    for k in a:
        assert not a[k].is_floating_point() or a[k].dtype == torch.float32  # float32 master weights in bf16 too
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert resumed["test"]["expert"]["mean_return"] == report["test"]["expert"]["mean_return"]
    assert (run_b / "progress.csv").read_text().count("\n") == 7
    assert resumed["train_wall_time_s"] >= round(killed_state["wall_time_s"], 1)  # time before the kill counts


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_seed_same_metrics_other_seed_differs(precision: str, smoke_root: Path, tmp_path: Path) -> None:
    runs = [
        execute(_spec("focalpp", "batch-wise", seed, precision=precision), tmp_path / str(i), smoke_root, False, False)
        for i, seed in enumerate([0, 0, 1])
    ]
    suffix = "" if precision == "fp32" else "-bf16"
    rows = [
        (tmp_path / str(i) / f"focalpp-batch-wise-sparse-point-robot-expert-s{s}{suffix}" / "progress.csv").read_text()
        for i, s in enumerate([0, 0, 1])
    ]
    strip = [[",".join(c for j, c in enumerate(line.split(",")) if j != 1) for line in r.splitlines()] for r in rows]
    assert strip[0] == strip[1]  # identical apart from the wall-time column
    assert strip[0] != strip[2]
    assert runs[0]["test"] == runs[1]["test"]


def test_resume_refuses_a_different_config(smoke_root: Path, tmp_path: Path) -> None:
    from omrl_bench.errors import OmrlError

    execute(_spec("focal", "focal"), tmp_path, smoke_root, False, False)
    with pytest.raises(OmrlError, match="already holds a run"):
        execute(_spec("focal", "focal"), tmp_path, smoke_root, False, False)
    # other --set values name another run; under one --name, a resume with other values is refused
    other = execute(_spec("focal", "focal", overrides=("ac.actor_lr=3e-4",)), tmp_path, smoke_root, False, False)
    assert other["config"]["config"]["ac"]["actor_lr"] == 3e-4
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1].startswith("focal-focal-sparse-point-robot-expert-s0-set")
    execute(dataclasses.replace(_spec("focal", "focal"), tag="mine"), tmp_path, smoke_root, False, False)
    with pytest.raises(OmrlError, match="differs from this command's"):
        spec = dataclasses.replace(_spec("focal", "focal", overrides=("ac.actor_lr=0.5",)), tag="mine")
        execute(spec, tmp_path, smoke_root, True, False)


def test_a_run_being_trained_elsewhere_is_refused_and_resumes_after(smoke_root: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from omrl_bench.core.trainer import LOCK
    from omrl_bench.errors import OmrlError

    run_dir = tmp_path / "focal-focal-sparse-point-robot-expert-s0"
    (run_dir / LOCK).parent.mkdir(parents=True)
    hold = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "f.write('4242'); f.flush(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run_dir / LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(OmrlError, match=r"being trained by another process \(pid 4242\)"):
            execute(_spec("focal", "focal"), tmp_path, smoke_root, True, False)
        assert not (run_dir / "final.json").exists() and not (run_dir / "progress.csv").exists()
    finally:
        holder.kill()  # a killed holder leaves no lock behind
        holder.wait()
    report = execute(_spec("focal", "focal"), tmp_path, smoke_root, True, False)
    assert (run_dir / "final.json").exists() and report["steps"] > 0


def _random_buffers(
    n_tasks: int, size: int, obs_dim: int, action_dim: int, action: np.ndarray | None = None
) -> TaskBuffers:
    """Buffers of random transitions (every action ``action`` when given)."""
    rng = np.random.default_rng(0)
    tasks = [
        TaskData(
            t,
            {},
            rng.normal(size=(size, obs_dim)),
            rng.uniform(-1, 1, (size, action_dim)) if action is None else np.tile(action, (size, 1)),
            rng.normal(size=size),
            rng.normal(size=size),
            rng.normal(size=(size, obs_dim)),
            np.zeros(size, bool),
        )
        for t in range(n_tasks)
    ]
    return TaskBuffers(tasks, sparse_context=True, next_obs_in_context=False)


def test_brac_path_trains_divergence_critic_and_alpha() -> None:
    _, cfg = resolve_config("focal", None, "sparse-cheetah-vel", "smoke")
    assert cfg.ac.brac and cfg.ac.train_alpha
    buffers = _random_buffers(4, 50, 17, 6)
    algo = build_algorithm("focal", cfg, Dims(17, 6, buffers.context_dim, 4))
    c_before = [p.clone() for p in algo.ac.critic_c.parameters()]
    alpha_before = algo.ac.alpha.item()
    m = algo.update(buffers)
    assert {"train/c_loss", "train/divergence", "train/alpha"} <= set(m)
    assert all(isinstance(v, float) and np.isfinite(v) for v in m.values())
    assert any(not torch.equal(a, b) for a, b in zip(c_before, algo.ac.critic_c.parameters(), strict=True))
    assert algo.ac.alpha.item() != alpha_before


def test_bc_term_pulls_the_policy_to_the_data_actions() -> None:
    data_action = np.array([0.5, -0.5])
    buffers = _random_buffers(3, 40, 2, 2, data_action)

    def distance_after_training(bc_weight: float) -> float:
        _, cfg = resolve_config("focal", None, "sparse-point-robot", "smoke", [f"ac.bc_weight={bc_weight}"])
        algo = build_algorithm("focal", cfg, Dims(2, 2, buffers.context_dim, 3))
        for _ in range(150):
            metrics = algo.update(buffers)
        assert ("train/bc_loss" in metrics) == (bc_weight > 0)
        z = algo.infer_z(buffers.sample_context(torch.arange(3), 16, torch.Generator().manual_seed(0)))
        actions = algo.act(buffers.obs[:, :10].reshape(-1, 2), z.repeat_interleave(10, 0))
        return float((actions - torch.tensor(data_action, dtype=torch.float32)).norm(dim=-1).mean())

    with_bc = distance_after_training(100.0)
    assert with_bc < 0.1
    assert distance_after_training(0.0) > 2 * with_bc


def test_batched_mlp_members_are_independent_networks() -> None:
    from omrl_bench.core.networks import BatchedMLP

    torch.manual_seed(0)
    net = BatchedMLP(4, 3, 2, 8, 2)
    x = torch.randn(4, 5, 3)
    out = net(x)
    for m in range(4):  # member m alone, as a plain MLP with its own weights
        h = x[m]
        for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[m] + b[m]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[m], h)
    torch.testing.assert_close(net(x[[2, 0]], torch.tensor([2, 0])), out[[2, 0]])


def test_mbml_stages_train_their_own_networks_in_order() -> None:
    _, cfg = resolve_config("mbml", None, "sparse-point-robot", "smoke")
    buffers = _random_buffers(4, 40, 2, 2)
    algo = build_algorithm("mbml", cfg, Dims(2, 2, buffers.context_dim, 4))
    groups = {"teachers": algo.teachers, "rewards": algo.rewards, "student": algo.student, "encoder": algo.encoder}

    def snapshot() -> dict[str, list[torch.Tensor]]:
        return {k: [p.detach().clone() for p in g.parameters()] for k, g in groups.items()}

    stages = []
    for _ in range(cfg.steps):
        before, stage = snapshot(), algo.stage()
        metrics = algo.update(buffers)
        assert all(np.isfinite(v) for v in metrics.values())
        after = snapshot()
        changed = {k for k in groups if any(not torch.equal(a, b) for a, b in zip(before[k], after[k], strict=True))}
        expected = {"teachers": {"teachers"}, "rewards": {"rewards"}, "student": {"student", "encoder"}}[stage]
        assert changed == expected, (stage, changed)
        stages.append(stage)
    assert stages == ["teachers"] * 2 + ["rewards"] * 2 + ["student"] * (cfg.steps - 4)
    assert "train/triplet_loss" in metrics and 0.0 <= metrics["train/relabel_kept"] <= 1.0


def test_checkpoints_from_before_the_actor_critic_component_still_load() -> None:
    # until 2026-12-01 the actor-critic's networks and alpha sat at the top level of ContextRL's state dict
    _, cfg = resolve_config("focalpp", "batch-wise", "sparse-point-robot", "smoke")
    saved = build_algorithm("focalpp", cfg, Dims(2, 2, 5, 4), seed=1)
    state = saved.full_state()
    state["model"] = {k.removeprefix("ac."): v for k, v in state["model"].items()}
    assert "alpha" in state["model"] and any(k.startswith("policy.") for k in state["model"])
    loaded = build_algorithm("focalpp", cfg, Dims(2, 2, 5, 4), seed=2)
    loaded.load_full_state(state)
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
