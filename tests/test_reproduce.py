"""``omrl-bench reproduce``: grid expansion, resume, aggregation against hand-computed values, end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from omrl_bench.bench import grids, tables
from omrl_bench.bench.reproduce import reproduce
from omrl_bench.cli import main
from omrl_bench.errors import OmrlError
from omrl_bench.executors import LocalExecutor

SPR = "sparse-point-robot"


# ------------------------------------------------------------------------------------------ grid expansion


def test_returns_grid_covers_every_algorithm_variant_suite_and_seed() -> None:
    cells = grids.expand("returns", 3, (SPR, "point-robot-wind"))
    assert len(cells) == 2 * 8 * 3
    labels = {c.label for c in cells}
    assert labels == {"FOCAL", "contextual BCQ", "MBML", *(f"FOCAL++ {v}" for _, v in grids.focalpp_rows())}
    assert {c.train_quality for c in cells} == {"expert"} and not any(c.hard_update for c in cells)
    assert len({c.spec("cpu", "cpu").run_name(c.variant) for c in cells}) == len(cells)  # one directory per run
    assert {c.suite for c in grids.expand("returns", 1)} == set(grids.GRIDS["returns"].suites)


def test_distribution_shift_momentum_and_embedding_grids() -> None:
    shift = grids.expand("distribution-shift", 2)
    assert len(shift) == 2 * 4 * 2 and {c.suite for c in shift} == {SPR}
    assert {(c.label, c.train_quality) for c in shift} == {
        (label, q) for label in ("FOCAL", "FOCAL++ batch-wise") for q in ("expert", "medium", "random", "mixed")
    }
    momentum = grids.expand("momentum", 3)
    assert len(momentum) == 5 * 2 * 3
    hard = [c for c in momentum if c.hard_update]
    assert len(hard) == 15
    spec = hard[0].spec("cpu", "cpu")
    assert spec.tag_overrides == ("task_loss.hard_update=true",) and spec.run_name(hard[0].variant).endswith("-hard")
    soft_names = {c.spec("cpu", "cpu").run_name(c.variant) for c in momentum if not c.hard_update}
    assert soft_names <= {c.spec("cpu", "cpu").run_name(c.variant) for c in grids.expand("returns", 3)}
    assert len(grids.expand("embeddings", 1, (SPR,))) == 2
    assert all(c.spec("cpu", "cpu").test_qualities == ("expert", "medium", "random", "mixed") for c in shift)


def test_bad_grid_name_suite_and_seeds_are_one_line_errors() -> None:
    with pytest.raises(OmrlError, match="unknown grid 'table9'; choose one of: returns"):
        grids.expand("table9", 3)
    with pytest.raises(OmrlError, match="unknown suite sparse-point-robbot"):
        grids.parse_suites("sparse-point-robbot")
    assert grids.parse_suites(f"{SPR}, {SPR}") == (SPR,)  # a repeated suite must not count its runs twice
    with pytest.raises(OmrlError, match="grid momentum compares runs on one suite"):
        grids.expand("momentum", 3, (SPR, "point-robot-wind"))
    with pytest.raises(OmrlError, match="at least 1"):
        grids.expand("returns", 0)
    res = CliRunner().invoke(main, ["reproduce", "table9"])
    assert res.exit_code != 0 and "unknown grid 'table9'" in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------------------------------ aggregation


def _rows(
    label: str,
    train: str,
    test: str,
    values: list[float],
    update: str = "soft",
    suite: str = SPR,
    precision: str = "fp32",
    wall_s: float = 10.0,
    machine: str = json.dumps({"cpu": "test CPU", "cpu_capability": "AVX512"}),
) -> list:
    variant = {"FOCAL": "focal"}.get(label, label.removeprefix("FOCAL++ "))
    return [
        {
            "label": label,
            "variant": variant,
            "suite": suite,
            "train": train,
            "test": test,
            "update": update,
            "precision": precision,
            "seed": k,
            "return": v,
            "rms": 1.0 + k,
            "esr": 0.25 * k,
            "wall_s": wall_s,
            "machine": machine,
        }
        for k, v in enumerate(values)
    ]


def test_summary_mean_std_and_bootstrap_interval() -> None:
    s = tables.summary(pd.Series([12.0, 12.5, 13.0]))
    assert s["seeds"] == 3 and s["mean"] == pytest.approx(12.5) and s["std"] == pytest.approx(0.5)
    assert 12.0 <= s["ci_low"] < 12.5 < s["ci_high"] <= 13.0
    # the interval is the 2.5/97.5 percentiles of means of resamples drawn with replacement
    x = np.array([12.0, 12.5, 13.0])
    idx = np.random.default_rng(0).integers(0, 3, size=(tables.BOOTSTRAP_SAMPLES, 3))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(tuple(np.percentile(x[idx].mean(1), [2.5, 97.5])))
    one = tables.summary(pd.Series([4.0]))
    assert one["mean"] == 4.0 and np.isnan(one["std"]) and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])
    assert tables.summary(pd.Series([], dtype=float))["seeds"] == 0


def test_returns_and_embedding_tables_against_hand_computed_values() -> None:
    df = pd.DataFrame(
        _rows("FOCAL", "expert", "expert", [12.0, 12.5, 13.0]) + _rows("FOCAL", "expert", "medium", [1.0])
    )
    ret = grids.returns.returns_table(df, (SPR,), grids.returns_rows()).set_index("algorithm")
    assert ret.loc["FOCAL", "mean"] == pytest.approx(12.5) and ret.loc["FOCAL", "std"] == pytest.approx(0.5)
    assert ret.loc["FOCAL", "paper"] == 12.25 and ret.loc["FOCAL", "diff"] == pytest.approx(0.25)
    assert ret.loc["MBML", "seeds"] == 0 and np.isnan(ret.loc["MBML", "paper"])
    emb = grids.embeddings.embeddings_table(df, (SPR,), grids.focal_pair()).set_index("algorithm")
    assert emb.loc["FOCAL", "rms_mean"] == pytest.approx(2.0) and emb.loc["FOCAL", "esr_mean"] == pytest.approx(0.25)
    assert emb.loc["FOCAL", "rms_std"] == pytest.approx(1.0) and emb.loc["FOCAL", "rms_paper"] == 1.283
    assert "RMS pending; sparse-point-robot ESR pending" in grids.embeddings.embeddings_claims(emb.reset_index())[0]
    more = pd.concat(
        [df, pd.DataFrame(_rows("FOCAL++ batch-wise", "expert", "expert", [12.0, 12.0, 12.0]))], ignore_index=True
    )
    more.loc[more["label"] == "FOCAL++ batch-wise", ["rms", "esr"]] = [3.5, 0.1]
    claim = grids.embeddings.embeddings_claims(grids.embeddings.embeddings_table(more, (SPR,), grids.focal_pair()))[0]
    assert "**does not hold**" in claim and "RMS +1.500" in claim and "ESR -0.150" in claim
    better = pd.concat([df, pd.DataFrame(_rows("FOCAL++ batch-wise", "expert", "expert", [13.5, 14.0]))])
    claim = grids.returns.returns_claims(grids.returns.returns_table(better, (SPR,), grids.returns_rows()))
    assert claim == [
        "- sparse-point-robot: every FOCAL++ variant returns more than FOCAL (the paper's Table 1/5): **undecided "
        "(1 of 5 variants with 2 seeds or more)**; above FOCAL with the 95% interval of the difference above 0: "
        "batch-wise; below it: none; the rest within the seeds' spread."
    ]
    md = tables.to_markdown(grids.get_grid("returns"), grids.returns.returns_table(df, (SPR,), grids.returns_rows()), 3)
    assert "| sparse-point-robot | FOCAL | 3/3 | 12.50 (0.50) |" in md and "| MBML | 0/3 | pending |" in md
    assert "| 12.25 (0.47) | 0.25 | 0.2 |" in md  # the training wall time per run: 10 s


def test_distribution_shift_drop_and_momentum_difference() -> None:
    df = pd.DataFrame(
        _rows("FOCAL++ batch-wise", "expert", "expert", [10.0, 12.0])
        + _rows("FOCAL++ batch-wise", "expert", "random", [7.0, 8.0])
        + _rows("FOCAL++ batch-wise", "expert", "expert", [9.0, 9.0], update="hard")
    )
    shift = grids.distribution_shift.distribution_shift_table(df, SPR, grids.focal_pair()).set_index(
        ["algorithm", "train", "test"]
    )
    row = shift.loc[("FOCAL++ batch-wise", "expert", "random")]
    assert row["mean"] == pytest.approx(7.5) and row["drop"] == pytest.approx(11.0 - 7.5)
    assert row["paper"] == 10.17 and row["paper_drop"] == pytest.approx(12.60 - 10.17)
    assert np.isnan(shift.loc[("FOCAL++ batch-wise", "expert", "expert"), "drop"])
    assert shift.loc[("FOCAL", "random", "expert"), "seeds"] == 0  # pending cells keep their row
    mom = grids.momentum.momentum_table(df, SPR, grids.focalpp_rows()).set_index("variant")
    assert mom.loc["batch-wise", "soft_mean"] == pytest.approx(11.0)
    assert mom.loc["batch-wise", "hard_mean"] == pytest.approx(9.0)  # hard runs never mix into the soft column
    assert mom.loc["batch-wise", "soft_minus_hard"] == pytest.approx(2.0)
    assert mom.loc["batch-wise", "hard_paper"] == 11.41
    # soft 10 / 12 against hard 9 / 9: the difference's resamples are 1, 2 and 3 (weights 1/4, 1/2, 1/4)
    assert (mom.loc["batch-wise", "soft_minus_hard_ci_low"], mom.loc["batch-wise", "soft_minus_hard_ci_high"]) == (
        1.0,
        3.0,
    )
    claim = grids.momentum.momentum_claims(mom.reset_index())
    assert (
        len(claim) == 1 and "undecided (1 of 5 variants finished)" in claim[0] and "for 1 of 1 (batch-wise)" in claim[0]
    )
    full = pd.DataFrame(
        [
            row
            for v, soft, hard in [
                ("contrastive", [12.0, 12.2], [11.0, 11.1]),
                ("batch-wise", [12.0, 12.4], [12.1, 12.3]),
            ]
            + [(v, [12.0, 12.1], [10.0, 10.5]) for v in ("sequence-wise", "parallel", "series")]
            for row in _rows(f"FOCAL++ {v}", "expert", "expert", soft)
            + _rows(f"FOCAL++ {v}", "expert", "expert", hard, update="hard")
        ]
    )
    claim = grids.momentum.momentum_claims(grids.momentum.momentum_table(full, SPR, grids.focalpp_rows()))
    assert "**does not hold**" in claim[0] and "for 4 of 5" in claim[0] and "below for 0 (none)" in claim[0]


# ------------------------------------------------------------------------------------------ end to end, resume


@pytest.fixture
def data_root(smoke_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(smoke_root, root)
    return root


def _grid(name: str, tmp_path: Path, root: Path, done: list[str], **kw):
    return reproduce(
        name,
        "smoke",
        1,
        (SPR,),
        tmp_path / "runs",
        tmp_path / "report",
        root,
        lambda: LocalExecutor(1),
        on_done=lambda r: done.append(r["run"]),
        **kw,
    )


def test_a_stopped_grid_resumes_without_rerunning_finished_cells(tmp_path: Path, data_root: Path) -> None:
    first: list[str] = []
    result = _grid("distribution-shift", tmp_path, data_root, first)
    assert not result.failures and len(first) == 8
    runs = sorted(p.run_dir for p in result.planned)
    stamps = {r: (r / "final.json").stat().st_mtime_ns for r in runs}
    # "kill" the grid: one run lost its report (checkpoint kept), one never started
    (runs[0] / "final.json").unlink()
    shutil.rmtree(runs[1])
    planned = grids.plan(grids.expand("distribution-shift", 1, (SPR,)), "smoke", "cpu", tmp_path / "runs")
    assert sorted(p.status for p in planned) == ["done"] * 6 + ["new", "partial"]
    second: list[str] = []
    result = _grid("distribution-shift", tmp_path, data_root, second)
    assert sorted(second) == sorted([runs[0].name, runs[1].name])
    for r in runs[2:]:
        assert (r / "final.json").stat().st_mtime_ns == stamps[r]  # finished cells untouched
    table = pd.read_csv(tmp_path / "report" / "distribution-shift.csv")
    assert len(table) == 2 * 4 * 4 and (table["seeds"] == 1).all() and table["mean"].notna().all()
    # each run's report lands in its (train, test) cell, and the drop is computed from those cells
    focal = json.loads((tmp_path / "runs" / f"focal-focal-{SPR}-expert-s0" / "final.json").read_text())["test"]
    row = table.set_index(["algorithm", "train", "test"]).loc[("FOCAL", "expert", "random")]
    assert row["mean"] == pytest.approx(focal["random"]["mean_return"], abs=1e-4)
    assert row["drop"] == pytest.approx(focal["expert"]["mean_return"] - focal["random"]["mean_return"], abs=1e-3)
    # a finished run made with another config is refused, not silently mixed in
    report = json.loads((runs[2] / "final.json").read_text())
    report["config"]["config"]["steps"] += 1
    (runs[2] / "final.json").write_text(json.dumps(report))
    with pytest.raises(OmrlError, match="1 run\\(s\\) under .* another config"):
        _grid("distribution-shift", tmp_path, data_root, [])
    # so is a partial run: its checkpoint would only resume under the identical config
    report["config"]["config"]["steps"] -= 1
    (runs[2] / "final.json").write_text(json.dumps(report))
    (runs[3] / "final.json").unlink()
    saved = (runs[3] / "config.yaml").read_text()
    (runs[3] / "config.yaml").write_text(saved.replace("seed: 0", "seed: 5", 1))
    with pytest.raises(OmrlError, match=f"1 run\\(s\\) under .* another config .*first: {runs[3].name}"):
        _grid("distribution-shift", tmp_path, data_root, [])


def test_reproduce_cli_generates_data_then_writes_a_table_and_figures(tmp_path: Path) -> None:
    data_root = tmp_path / "empty-root"  # the grid generates its datasets on demand
    common = ["--preset", "smoke", "--seeds", "1", "--suites", SPR, "--root", str(data_root), "--workers", "1"]
    common += ["--out", str(tmp_path / "runs"), "--report", str(tmp_path / "report")]
    res = CliRunner().invoke(main, ["reproduce", "embeddings", *common])
    assert res.exit_code == 0, res.output
    assert len(list((data_root / "omrl" / "sparse-point-robot-smoke").glob("task-*/*-v1"))) == 5 * 4
    md = (tmp_path / "report" / "embeddings.md").read_text()
    command = f"omrl-bench reproduce embeddings --preset smoke --seeds 1 --suites {SPR} --out {tmp_path / 'runs'}"
    command += f" --report {tmp_path / 'report'}"
    assert f"- Command: `{command}`" in md
    assert "2 of 2 training runs finished" in md and "torch" in md
    # the smoke preset has two test tasks, so RMS and ESR are defined
    assert re.search(r"\| sparse-point-robot \| FOCAL \| 1/1 \| \d\.\d{3} \|", md)
    assert "pending" not in md.split("Claims of the paper")[0] and "fewer than 2 seeds" in md
    res = CliRunner().invoke(main, ["reproduce", "figures", *common])
    assert res.exit_code == 0, res.output
    assert "2 finished, 0 to resume, 0 to start" in res.output  # the embeddings grid's runs serve the figures
    assert not (tmp_path / "report" / "figures" / "attention.png").exists()  # drawn from medium/random training
    shift = CliRunner().invoke(main, ["reproduce", "distribution-shift", *common])
    assert shift.exit_code == 0, shift.output
    shift_md = (tmp_path / "report" / "distribution-shift.md").read_text()
    assert "Claims of the paper:" in shift_md
    assert "The batch-wise attention gives rewarded transitions larger weights" in shift_md
    assert (tmp_path / "report" / "figures" / "attention.png").exists()  # Figure 7 beside Table 3
    res = CliRunner().invoke(main, ["reproduce", "figures", *common])
    assert res.exit_code == 0, res.output
    for name in ("learning-curves", "tsne", "attention", "state-distribution"):
        png = tmp_path / "report" / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    figures_md = (tmp_path / "report" / "figures.md").read_text()
    for q in ("expert", "medium", "random", "mixed"):  # the rewarded / unrewarded weight pair per training quality
        assert f"| {q} | 1 | " in figures_md
    again = CliRunner().invoke(main, ["reproduce", "embeddings", "--no-run", *common])
    assert again.exit_code == 0 and "2 finished" in again.output


def test_keys_an_algorithm_never_reads_do_not_invalidate_its_finished_runs(tmp_path: Path) -> None:
    from omrl_bench.bench.run import run_config

    cell = grids.Cell("cbcq", "cbcq", "point-robot-wind", "expert", 0)
    spec = cell.spec("cpu", "cpu")
    variant, _, config = run_config(spec)
    run_dir = tmp_path / spec.run_name(variant)
    run_dir.mkdir()

    def finished_with(key: str, value: float) -> str:
        saved = json.loads(json.dumps(config))
        saved["config"]["ac"][key] = value
        (run_dir / "final.json").write_text(json.dumps({"config": saved, "test": {}, "embeddings": {}}))
        return grids.plan([cell], "cpu", "cpu", tmp_path)[0].status

    assert finished_with("bc_weight", 0.0) == "done"  # BCQ has no BC term: the run still counts
    with pytest.raises(OmrlError, match="another config"):
        finished_with("gamma", 0.5)  # BCQ's critic reads gamma
    (run_dir / "final.json").write_text("[1, 2]")
    with pytest.raises(OmrlError, match="final.json is not a run report"):
        grids.plan([cell], "cpu", "cpu", tmp_path)
    focal = grids.Cell("focal", "focal", "point-robot-wind", "expert", 0)
    assert grids.core._comparable(run_config(focal.spec("cpu", "cpu"))[2])["config"]["ac"]["bc_weight"] == 0.4


def test_a_failing_cell_is_reported_and_the_others_still_finish(tmp_path: Path, data_root: Path, monkeypatch) -> None:
    from omrl_bench.bench import run as run_module

    real = run_module.execute

    def flaky(spec, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if spec.algo == "focal":
            raise RuntimeError("disk full\nsecond line")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(run_module, "execute", flaky)
    done: list[str] = []
    result = _grid("embeddings", tmp_path, data_root, done)
    assert [f["error"] for f in result.failures] == ["RuntimeError: disk full"]
    assert sorted(done) == sorted(p.run_dir.name for p in result.planned)
    table = pd.read_csv(tmp_path / "report" / "embeddings.csv").set_index("algorithm")
    assert table.loc["FOCAL", "rms_seeds"] == 0 and table.loc["FOCAL++ batch-wise", "rms_seeds"] == 1


def test_training_setting_grid_cells_and_the_choice_rule() -> None:
    from omrl_bench.bench.run import run_config

    cells = grids.expand("training-setting", 1)
    assert len(cells) == len(grids.training_setting.training_settings(SPR)) * 4 == 16 and {c.algo for c in cells} == {
        "focal"
    }
    names = {c.spec("cpu", "cpu").run_name(c.variant) for c in cells}
    assert len(names) == len(cells) and "focal-focal-sparse-point-robot-random-s0-bc0.4" in names
    brac = next(c for c in cells if c.setting == "brac").spec("cpu", "cpu")
    _, cfg, _ = run_config(brac)
    assert cfg.ac.train_alpha and cfg.ac.brac and cfg.ac.bc_weight == 0.0  # the overrides reach the config
    # on MuJoCo: the paper's Table 7 BRAC alone or with the behaviour-cloning term
    mujoco = grids.expand("training-setting", 1, suites=("sparse-cheetah-vel",))
    assert sorted({c.setting for c in mujoco}) == ["table7", "table7-bc0.4", "table7-bc1"] and len(mujoco) == 12
    configs = {c.setting: run_config(c.spec("cpu", "cpu"))[1].ac for c in mujoco if c.train_quality == "expert"}
    assert all(ac.brac and ac.alpha == 500.0 and ac.target_divergence == 0.05 for ac in configs.values())
    assert [configs[s].bc_weight for s in ("table7", "table7-bc0.4", "table7-bc1")] == [0.0, 0.4, 1.0]
    rows = []
    means = {"bc0": 5.0, "bc0.4": 7.0, "bc1": 6.0, "brac": 6.5}
    for setting, mean in means.items():
        for q in ("expert", "medium", "random", "mixed"):
            for row in _rows("FOCAL", q, q, [mean + (1.0 if q == "expert" else 0.0)]):
                rows.append(row | {"setting": setting})
    table = grids.training_setting.training_setting_table(pd.DataFrame(rows), SPR).set_index("setting")
    assert table.loc["bc0.4", "mean"] == pytest.approx(7.25) and table.loc["bc0.4", "chosen"] == "yes"
    assert (table["chosen"] == "yes").sum() == 1
    partial = grids.training_setting.training_setting_table(
        pd.DataFrame(rows[:-1]), SPR
    )  # brac's mixed cell still running
    assert (partial["chosen"] == "").all() and np.isnan(partial.set_index("setting").loc["brac", "mean"])
    # a one-suite grid's table on another suite gets its own file; the default suite keeps the grid's name
    from omrl_bench.bench.reproduce import report_stem

    assert report_stem("training-setting", (SPR,)) == "training-setting"
    assert report_stem("training-setting", ("sparse-ant-fwd-back",)) == "training-setting-sparse-ant-fwd-back"
    assert report_stem("returns", ("sparse-ant-fwd-back",)) == "returns"  # a many-suite grid: one table


def test_distribution_shift_drop_difference_interval_and_claims() -> None:
    rows = []
    for label, expert, medium in (
        ("FOCAL", [12.0, 12.2, 12.4], [8.0, 8.5, 9.0]),
        ("FOCAL++ batch-wise", [12.5, 12.6, 12.7], [12.4, 12.5, 12.6]),
    ):
        rows += _rows(label, "expert", "expert", expert) + _rows(label, "expert", "medium", medium)
    table = grids.distribution_shift.distribution_shift_table(pd.DataFrame(rows), SPR, grids.focal_pair())
    t = table.set_index(["algorithm", "train", "test"])
    cell = t.loc[("FOCAL++ batch-wise", "expert", "medium")]
    # per-seed drops: FOCAL 4.0 / 3.7 / 3.4, FOCAL++ 0.1 / 0.1 / 0.1
    assert cell["drop_diff"] == pytest.approx(0.1 - 3.7)
    x, y = np.array([0.1, 0.1, 0.1]), np.array([4.0, 3.7, 3.4])
    rng = np.random.default_rng(0)
    diffs = x[rng.integers(0, 3, (tables.BOOTSTRAP_SAMPLES, 3))].mean(1) - y[
        rng.integers(0, 3, (tables.BOOTSTRAP_SAMPLES, 3))
    ].mean(1)
    assert (cell["drop_diff_ci_low"], cell["drop_diff_ci_high"]) == pytest.approx(
        tuple(np.percentile(diffs, [2.5, 97.5]))
    )
    assert np.isnan(t.loc[("FOCAL", "expert", "medium"), "drop_diff"])  # carried on FOCAL++'s rows only
    assert not t.loc[("FOCAL", "mixed", "expert"), "in_paper"] and t.loc[("FOCAL", "medium", "random"), "in_paper"]
    claims = grids.distribution_shift.distribution_shift_claims(table)
    assert "expert 12.60 vs 12.60 (within 0.5)" in claims[0] and "medium pending" in claims[0]
    assert "**does not hold**" in claims[0]
    assert "undecided (1 of 6 cells finished)" in claims[1] and "smaller in 1 of 1" in claims[1]
    _, body = grids.distribution_shift.distribution_shift_columns(table.to_dict("records"), 3, "FOCAL")
    assert [r[7] for r in body if r[:3] == ["FOCAL++ batch-wise", "expert", "medium"]] == [
        f"{0.1 - 3.7:.2f} {tables.fmt_ci(cell['drop_diff_ci_low'], cell['drop_diff_ci_high'])}"
    ]
    one_seed = [r for r in rows if r["seed"] == 0]  # no interval: the number alone, not "-3.60 -"
    table = grids.distribution_shift.distribution_shift_table(pd.DataFrame(one_seed), SPR, grids.focal_pair())
    _, body = grids.distribution_shift.distribution_shift_columns(table.to_dict("records"), 3, "FOCAL")
    assert [r[7] for r in body if r[:3] == ["FOCAL++ batch-wise", "expert", "medium"]] == [f"{0.1 - 4.0:.2f}"]


def test_expert_level_and_attention_claims() -> None:
    rows = []
    for train in ("expert", "medium", "random"):
        for test in ("expert", "medium", "random"):
            rows += _rows("FOCAL", train, test, [10.0, 10.0, 10.0])
            value = 9.0 if (train, test) == ("random", "medium") else 12.0  # 0.75 of the expert cell
            rows += _rows("FOCAL++ batch-wise", train, test, [value, value + 0.1, value - 0.1])
    table = grids.distribution_shift.distribution_shift_table(pd.DataFrame(rows), SPR, grids.focal_pair())
    level = [c for c in grids.distribution_shift.distribution_shift_claims(table) if "expert-level" in c]
    # the paper's own lowest cell over its expert cell: 10.04 / 12.60
    assert len(level) == 1 and "0.80" in level[0] and "**does not hold**" in level[0]
    assert "lowest random data with medium context, 9.00 = 0.75 of 12.00" in level[0]
    rows = [r for r in rows if not (r["train"] == "random" and r["test"] == "medium")]
    rows += _rows("FOCAL++ batch-wise", "random", "medium", [11.0, 11.0, 11.0])  # 0.92
    table = grids.distribution_shift.distribution_shift_table(pd.DataFrame(rows), SPR, grids.focal_pair())
    assert (
        "**holds**" in [c for c in grids.distribution_shift.distribution_shift_claims(table) if "expert-level" in c][0]
    )

    pairs = {"expert": (0.6, 0.5, [0.1, 0.1]), "medium": (0.6, 0.5, [0.2, 0.05]), "random": (0.7, 0.5, [0.1, 0.3])}
    text = grids.distribution_shift.attention_section(pairs, "attention.png")
    assert "| medium | 2 | 0.600 | 0.500 | +0.200 / +0.050 |" in text and "(figures/attention.png)" in text
    assert "**holds**; higher in 4 of 4 runs" in text  # expert runs are not judged
    pairs["random"] = (0.7, 0.5, [0.1, -0.01])
    assert "**does not hold**; higher in 3 of 4 runs" in grids.distribution_shift.attention_section(pairs, None)
    assert "**does not hold**" in grids.distribution_shift.attention_section(
        {"medium": pairs["medium"]}, None
    )  # random missing
    assert grids.distribution_shift.attention_section({}, None) == ""
