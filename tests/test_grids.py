"""Grids are registered objects: a new table is one ``Grid`` in one place, and no grid's name is branched on."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from omrl_bench.bench import grids, tables
from omrl_bench.cli import main
from omrl_bench.errors import OmrlError

SPR = "sparse-point-robot"
BENCH = Path(grids.__file__).resolve().parents[1]


def _toy_table(df: pd.DataFrame, suites: tuple[str, ...], rows: tuple[Any, ...], baseline: Any) -> pd.DataFrame:
    """Mean return per row and test quality: the smallest table a grid can have."""
    out = df.groupby(["label", "test"], sort=False)["return"].mean().reset_index()
    return out.rename(columns={"label": "algorithm"})


def _toy_columns(records: list[dict[str, Any]], seeds: int, baseline: str) -> tuple[list[str], list[list[str]]]:
    return ["algorithm", "test context", "mean"], [[x["algorithm"], x["test"], f"{x['return']:.3f}"] for x in records]


@pytest.fixture
def toy_grid():
    grid = grids.register_grid(
        grids.Grid(
            "toy",
            "A toy table",
            lambda: (("focal", "focal"),),
            (SPR,),
            _toy_table,
            _toy_columns,
            claims=lambda table: [f"- toy claim over {len(table)} rows: **holds**"],
            note="Registered by a test.",
        )
    )
    yield grid
    grids.unregister_grid("toy")


def test_a_registered_toy_grid_gets_its_table_from_reproduce_no_run(
    toy_grid: grids.Grid, smoke_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(smoke_root, root)
    common = ["--preset", "smoke", "--seeds", "1", "--root", str(root), "--workers", "1"]
    common += ["--out", str(tmp_path / "runs"), "--report", str(tmp_path / "report")]
    trained = CliRunner().invoke(main, ["reproduce", "toy", *common])
    assert trained.exit_code == 0, trained.output
    (tmp_path / "report" / "toy.md").unlink()
    res = CliRunner().invoke(main, ["reproduce", "toy", *common, "--no-run"])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "report" / "toy.md").read_text()
    assert text.startswith("# A toy table\n") and "- Registered by a test." in text
    assert "| algorithm | test context | mean |" in text and text.count("| FOCAL | ") == 4  # every test quality
    assert "Claims of the paper:\n\n- toy claim over 4 rows: **holds**" in text
    listed = CliRunner().invoke(main, ["grids"])
    assert listed.exit_code == 0 and "toy" in listed.output and "A toy table" in listed.output


def test_a_grid_without_claims_writes_no_claims_section() -> None:
    grid = grids.Grid("bare", "Bare", lambda: (("focal", "focal"),), (SPR,), _toy_table, _toy_columns)
    df = pd.DataFrame({"label": ["FOCAL"], "test": ["expert"], "return": [1.0]})
    text = tables.body(grid, tables.build(grid, df, (SPR,), grid.rows()), 1)
    assert "Claims" not in text and "| FOCAL | expert | 1.000 |" in text


def test_a_grid_name_is_registered_once() -> None:
    with pytest.raises(OmrlError, match="a grid named 'returns' is already registered"):
        grids.register_grid(grids.Grid("returns", "again", grids.returns_rows, (SPR,)))
    with pytest.raises(OmrlError, match="unknown grid 'nope'; choose one of: returns, distribution-shift"):
        grids.get_grid("nope")


def test_each_grid_names_its_baseline_row_whatever_the_row_order() -> None:
    from omrl_bench.bench.grids.methods import methods_table

    rows = []
    for label, ood in (("FOCAL", 1.0), ("CSRO", 2.0)):
        for seed in range(2):
            for test in ("expert", "medium", "random", "mixed"):
                rows.append(
                    {"label": label, "variant": "v", "suite": SPR, "train": "mixed", "test": test, "update": "soft"}
                    | {"setting": "", "precision": "bf16", "seed": seed, "return": ood + seed, "rms": 1.0, "esr": 1.0}
                    | {"wall_s": 1.0, "machine": ""}
                )
    csro_first = (("csro", "csro"), ("focal", "focal"))
    table = methods_table(pd.DataFrame(rows), (SPR,), csro_first).set_index("algorithm")
    assert table.loc["CSRO", "ood_p_improve"] == pytest.approx(0.875)  # against FOCAL, not against the first row
    assert table.loc["FOCAL", "ood_p_improve"] == pytest.approx(0.5)


def _long_functions(path: Path, limit: int) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_no_function_in_bench_is_longer_than_60_lines() -> None:
    long = [f for path in sorted(BENCH.rglob("*.py")) for f in _long_functions(path, 60)]
    assert not long, f"functions over 60 lines: {long}"


def _is_a_name(node: ast.expr) -> bool:
    """``name`` or ``<something>.name``: what a grid's name is held in."""
    return (isinstance(node, ast.Name) and node.id == "name") or (
        isinstance(node, ast.Attribute) and node.attr == "name"
    )


def test_no_module_in_bench_branches_on_a_grid_name() -> None:
    """A grid's behaviour is in its registered object: outside its own module, code does not compare names
    with a grid's (``name == "methods"``, ``if name in (...)``)."""
    names = set(grids.GRIDS)
    hits = []
    for path in sorted(BENCH.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(_is_a_name(side) for side in [node.left, *node.comparators]):
                consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                hits += [f"{path.name}:{node.lineno} {c!r}" for c in consts if c in names]
    assert not hits, f"grid-name comparisons: {hits}"
