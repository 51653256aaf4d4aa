"""bf16 mixed precision: what stays float32, run names and configs, the parity rule, old run records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from omrl_bench.bench import grids, tables
from omrl_bench.bench.run import RunSpec, run_config
from omrl_bench.cli import main
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.networks import BatchedMLP, TanhGaussianPolicy, mlp
from omrl_bench.core.precision import autocast
from omrl_bench.core.registry import Dims, build_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.core.trainer import migrate_config
from omrl_bench.datasets.loader import TaskData
from omrl_bench.errors import OmrlError
from omrl_bench.focalpp.losses import contrastive_loss

CPU = torch.device("cpu")
BF16 = torch.bfloat16


def _buffers(n_tasks: int = 4, size: int = 64) -> TaskBuffers:
    rng = np.random.default_rng(0)
    tasks = [
        TaskData(
            t,
            {},
            rng.normal(size=(size, 2)),
            rng.uniform(-1, 1, (size, 2)),
            rng.normal(size=size),
            rng.normal(size=size),
            rng.normal(size=(size, 2)),
            np.zeros(size, bool),
        )
        for t in range(n_tasks)
    ]
    return TaskBuffers(tasks, sparse_context=True, next_obs_in_context=False)


def test_hidden_layers_run_in_bf16_and_outputs_stay_float32() -> None:
    torch.manual_seed(0)
    net, batched, policy = mlp(6, 1, 32, 2), BatchedMLP(3, 6, 1, 32, 2), TanhGaussianPolicy(6, 2, 32, 3)
    hidden_dtypes = []
    net[0].register_forward_hook(lambda _m, _i, out: hidden_dtypes.append(out.dtype))
    x = torch.randn(5, 6)
    with autocast(CPU, "bf16"):
        q = net(x)
        qb = batched(x.expand(3, 5, 6))
        action, mean, log_std, log_pi, _ = policy(x, generator=torch.Generator().manual_seed(0))
        logits_loss = contrastive_loss(torch.randn(4, 5), torch.randn(4, 5))
    assert hidden_dtypes == [BF16]  # the hidden matmul is lowered ...
    for out in (q, qb, action, mean, log_std, log_pi, logits_loss):  # ... what comes out of a network is not
        assert out.dtype == torch.float32
    with autocast(CPU, "fp32"):
        assert net(x).dtype == torch.float32
        assert net[0](x).dtype == torch.float32


def test_bf16_update_keeps_float32_weights_and_optimiser_state_and_changes_results() -> None:
    buffers = _buffers()
    metrics = {}
    for precision in ("fp32", "bf16"):
        _, cfg = resolve_config("focalpp", "batch-wise", "sparse-point-robot", "smoke", [f"precision={precision}"])
        algo = build_algorithm("focalpp", cfg, Dims(2, 2, buffers.context_dim, buffers.n_tasks))
        for _ in range(3):
            metrics[precision] = algo.update(buffers)
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics[precision].values())
        assert all(p.dtype == torch.float32 for p in algo.parameters())
        for opt in algo.optimizers().values():
            for state in opt.state.values():
                assert all(v.dtype == torch.float32 for k, v in state.items() if k != "step")
        z = algo.infer_z(buffers.sample_context(torch.arange(4), 8, torch.Generator().manual_seed(0)))
        assert z.dtype == torch.float32 and algo.act(buffers.obs[:, 0], z).dtype == torch.float32
    assert metrics["fp32"]["train/qf_loss"] != metrics["bf16"]["train/qf_loss"]  # bf16 is not a no-op
    # and it is close: the same seed gives the same first steps up to bfloat16 rounding
    assert metrics["bf16"]["train/log_pi"] == pytest.approx(metrics["fp32"]["train/log_pi"], rel=0.05)


def _spec(preset: str, precision: str | None = None, overrides: tuple[str, ...] = ()) -> RunSpec:
    return RunSpec(
        "focal",
        None,
        "sparse-point-robot",
        "expert",
        ("expert",),
        0,
        preset,
        preset,
        overrides=overrides,
        precision=precision,
    )


def test_precision_in_config_and_in_the_run_name_only_when_not_the_presets() -> None:
    name = "focal-focal-sparse-point-robot-expert-s0"
    # smoke (and paper) train in fp32 by default, cpu in bf16 (the parity table's decision)
    for preset, default, other in (("smoke", "fp32", "bf16"), ("cpu", "bf16", "fp32")):
        variant, cfg, config = run_config(_spec(preset))
        assert cfg.precision == default and config["config"]["precision"] == default
        assert _spec(preset).run_name(variant) == name
        assert _spec(preset, default).run_name(variant) == name  # the preset's own precision adds nothing
        assert run_config(_spec(preset, other))[2]["config"]["precision"] == other
        assert _spec(preset, other).run_name(variant) == f"{name}-{other}"
        assert _spec(preset, overrides=(f"precision={other}",)).run_name(variant) == f"{name}-{other}"
    hard = grids.Cell("focalpp", "batch-wise", "sparse-point-robot", "expert", 1, True, "fp32").spec("cpu", "cpu")
    assert hard.run_name("batch-wise") == "focalpp-batch-wise-sparse-point-robot-expert-s1-hard-fp32"
    assert resolve_config("focal", None, "sparse-point-robot", "paper")[1].precision == "fp32"
    with pytest.raises(OmrlError, match="precision must be one of fp32, bf16"):
        resolve_config("focal", None, "sparse-point-robot", "cpu", ["precision=fp16"])


def test_precision_grid_pairs_the_returns_runs_with_runs_in_the_other_precision() -> None:
    cells = grids.expand("precision", 3)
    assert len(cells) == 2 * 2 * 3 and {c.precision for c in cells} == {"fp32", "bf16"}
    names = {c.spec("cpu", "cpu").run_name(c.variant) for c in cells if c.precision == "bf16"}
    returns = {c.spec("cpu", "cpu").run_name(c.variant) for c in grids.expand("returns", 3)}
    assert names <= returns  # the cpu preset's own precision is the returns grid's runs: trained once
    assert all(c.spec("cpu", "cpu").run_name(c.variant).endswith("-fp32") for c in cells if c.precision == "fp32")
    assert {c.precision for c in grids.expand("momentum", 1, precision="fp32")} == {"fp32"}
    with pytest.raises(OmrlError, match="trains both"):
        grids.expand("precision", 3, precision="bf16")


def test_a_per_suite_precision_trains_that_suite_in_it_and_the_header_says_so(tmp_path) -> None:
    from omrl_bench.bench import reproduce

    cheetah = "sparse-cheetah-vel"
    cells = grids.expand("returns", 1, ("sparse-point-robot", cheetah), f"{cheetah}=fp32")
    assert {(c.suite, c.precision) for c in cells} == {("sparse-point-robot", None), (cheetah, "fp32")}
    names = [c.spec("cpu", "cpu").run_name(c.variant) for c in cells]
    assert all(n.endswith("-fp32") == (cheetah in n) for n in names)
    planned = grids.plan(cells, "cpu", "cpu", tmp_path)
    configs = [run_config(p.spec)[2] for p in planned]
    line = reproduce._precision_line(planned, configs)
    bf16, fp32 = reproduce.PRECISION_NAMES["bf16"], reproduce.PRECISION_NAMES["fp32"]
    assert line == f"- Precision: sparse-point-robot: {bf16}; {cheetah}: {fp32}."
    assert reproduce._precision_line(planned[:2], configs[:2]) == f"- Precision: {bf16}."
    assert (
        grids.parse_precision(f" {cheetah} = fp32 , sparse-point-robot=bf16")
        == f"sparse-point-robot=bf16,{cheetah}=fp32"
    )
    assert grids.parse_precision("fp32") == "fp32" and grids.parse_precision(None) is None
    for bad, message in [
        ("fp16", "give fp32 or bf16"),
        ("cheetah=fp32", "unknown suite 'cheetah'"),
        (f"{cheetah}=fp16", f"give {cheetah}=fp32 or bf16"),
        (f"{cheetah}=fp32,{cheetah}=bf16", "twice"),
    ]:
        result = CliRunner().invoke(
            main, ["reproduce", "returns", "--no-run", "--precision", bad, "--out", str(tmp_path)]
        )
        assert result.exit_code != 0 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_parity_rule_and_precision_table() -> None:
    from tests.test_reproduce import _rows

    fp32 = [12.0, 12.4, 12.2]
    df = pd.DataFrame(
        _rows("FOCAL", "expert", "expert", fp32, wall_s=600.0)
        + _rows("FOCAL", "expert", "expert", [11.0, 11.2, 11.1], precision="bf16", wall_s=300.0)
        + _rows("FOCAL++ batch-wise", "expert", "expert", fp32)
        + _rows("FOCAL++ batch-wise", "expert", "expert", [12.3, 12.1, 12.5], precision="bf16")
    )
    table = grids.precision.precision_table(df, "sparse-point-robot", grids.focal_pair()).set_index(
        ["algorithm", "seed"]
    )
    focal = table.loc[("FOCAL", "mean")]
    assert focal["fp32_return"] == pytest.approx(12.2) and focal["bf16_return"] == pytest.approx(11.1)
    assert focal["parity"] == "no" and focal["speedup"] == pytest.approx(2.0)
    assert table.loc[("FOCAL", "1"), "bf16_minus_fp32"] == pytest.approx(11.2 - 12.4)
    assert table.loc[("FOCAL++ batch-wise", "mean"), "parity"] == "yes"
    row = {"fp32_return": 12.2, "fp32_ci_low": 12.0, "fp32_ci_high": 12.4}
    assert grids.precision.parity(row | {"bf16_return": 11.95}) == "no"  # outside the interval and 0.25 below
    assert grids.precision.parity(row | {"bf16_return": 12.01}) == "yes"  # inside the interval
    narrow = row | {"fp32_ci_low": 12.19, "fp32_ci_high": 12.21}
    assert grids.precision.parity(narrow | {"bf16_return": 12.0}) == "yes"  # outside, but within 0.2 of the mean
    assert grids.precision.parity(row | {"bf16_return": math.nan}) == "pending"
    md = tables.to_markdown(
        grids.get_grid("precision"), grids.precision.precision_table(df, "sparse-point-robot", grids.focal_pair()), 3
    )
    assert "| FOCAL | mean | 12.20 (0.20) | 11.10 (0.10) | -1.10 |" in md


def test_precision_table_divides_wall_times_only_of_runs_on_one_machine() -> None:
    """fp32 on an AVX2 machine against bf16 on an AVX-512 one measures the machines, not the precision."""
    import json

    from tests.test_reproduce import _rows

    avx2 = json.dumps({"cpu": "EPYC", "cpu_capability": "AVX2"})
    df = pd.DataFrame(
        _rows("FOCAL", "expert", "expert", [12.0, 12.4], wall_s=600.0, machine=avx2)
        + _rows("FOCAL", "expert", "expert", [12.1, 12.2], precision="bf16", wall_s=300.0, machine=avx2)
        + _rows("FOCAL++ batch-wise", "expert", "expert", [12.0, 12.4], wall_s=600.0, machine=avx2)
        + _rows("FOCAL++ batch-wise", "expert", "expert", [12.1, 12.2], precision="bf16", wall_s=300.0)
        + _rows("FOCAL++ batch-wise", "expert", "expert", [12.1, 12.2, 12.0], precision="bf16")[2:]
    )
    df.loc[(df["label"] == "FOCAL") & (df["seed"] == 1), "machine"] = json.dumps("")  # a record from before
    table = grids.precision.precision_table(df, "sparse-point-robot", grids.focal_pair()).set_index(
        ["algorithm", "seed"]
    )
    assert table.loc[("FOCAL", "0"), "speedup"] == pytest.approx(2.0)
    assert math.isnan(table.loc[("FOCAL", "1"), "speedup"]) and math.isnan(table.loc[("FOCAL", "mean"), "speedup"])
    assert table.loc[("FOCAL", "mean"), "fp32_wall_s"] == pytest.approx(600.0)  # the wall times stay
    assert table["speedup"].loc["FOCAL++ batch-wise"].isna().all()  # seed 2 ran in bf16 only


def test_records_saved_before_precision_and_protocol_v1_existed_are_fp32_v0_runs() -> None:
    _, _, config = run_config(_spec("smoke"))
    assert config["data_protocol"] == 1 and config["config"]["precision"] == "fp32"
    old = {k: v for k, v in config.items() if k != "data_protocol"}
    old["config"] = {k: v for k, v in config["config"].items() if k != "precision"}
    assert migrate_config(old) == config | {"data_protocol": 0}
    assert migrate_config(old)["config"] == run_config(_spec("smoke", "fp32"))[2]["config"]
    assert migrate_config(old)["config"] != run_config(_spec("smoke", "bf16"))[2]["config"]


def test_cli_precision_and_threads(smoke_root, tmp_path) -> None:
    args = ["run", "--algo", "focal", "--suite", "sparse-point-robot", "--preset", "smoke"]
    args += ["--root", str(smoke_root), "--out", str(tmp_path)]
    res = CliRunner().invoke(main, [*args, "--precision", "bf16", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "bf16" in res.output and "1 torch thread(s)" in res.output and torch.get_num_threads() == 1
    assert (tmp_path / "focal-focal-sparse-point-robot-expert-s0-bf16" / "final.json").exists()
    bad = CliRunner().invoke(main, [*args, "--precision", "fp16"])
    assert bad.exit_code != 0 and "'fp16' is not one of 'fp32', 'bf16'" in bad.output


def test_emulated_bf16_is_warned_before_runs_start(smoke_root, tmp_path, monkeypatch) -> None:
    """Where the CPU has no native bfloat16, a bf16 run or grid says so (and how to avoid it) before any work."""
    from omrl_bench.core import precision

    assert precision.bf16_warning(CPU, {"fp32"}) is None
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.bf16_warning(CPU, {"fp32", "bf16"}) is None
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert "--precision fp32" in (precision.bf16_warning(CPU, {"fp32", "bf16"}) or "")
    run = ["run", "--algo", "focal", "--suite", "sparse-point-robot", "--preset", "smoke", "--root", str(smoke_root)]
    res = CliRunner().invoke(main, [*run, "--out", str(tmp_path / "a"), "--precision", "bf16"])
    assert res.exit_code == 0 and res.output.startswith("warning: this CPU") and "add --precision fp32" in res.output
    res = CliRunner().invoke(main, [*run, "--out", str(tmp_path / "a")])  # smoke is fp32
    assert res.exit_code == 0 and "warning" not in res.output
    grid = ["reproduce", "returns", "--algos", "focal", "--suites", "sparse-point-robot", "--seeds", "1"]
    grid += ["--preset", "smoke", "--precision", "bf16", "--root", str(smoke_root), "--workers", "1"]
    grid += ["--out", str(tmp_path / "g"), "--report", str(tmp_path / "report")]
    res = CliRunner().invoke(main, grid)
    assert res.exit_code == 0 and "warning: this CPU" in res.output, res.output
    res = CliRunner().invoke(main, grid)  # every run finished: nothing to warn about
    assert res.exit_code == 0 and "warning" not in res.output, res.output
