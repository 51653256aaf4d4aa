"""Experiment grids: each grid is one registered object (``core.Grid``) in its own module, with its rows,
suites, training qualities, table builder, Markdown columns, claims, title and note; ``reproduce``, the CLI
and the tables read them from the registry. The built-in grids are imported here, in the order the CLI
lists them; a new grid is one module that ends with ``register_grid(Grid(...))``, imported here (or by a
plug-in)."""

# ruff: noqa: I001  (the built-in grids are imported after the core, in the order the CLI lists them)

from omrl_bench.bench.grids.core import (
    COLLAPSED_RMS,
    GRIDS,
    POINT_ROBOTS,
    SPR,
    Cell,
    Grid,
    Option,
    Planned,
    Row,
    default_suites,
    ensure_datasets,
    execute_plan,
    expand,
    finished,
    focal_pair,
    focalpp_rows,
    get_grid,
    parse_algos,
    parse_precision,
    parse_suites,
    plan,
    register_grid,
    returns_rows,
    run_cell,
    suite_precision,
    unregister_grid,
)

from omrl_bench.bench.grids import returns
from omrl_bench.bench.grids import distribution_shift
from omrl_bench.bench.grids import momentum
from omrl_bench.bench.grids import embeddings
from omrl_bench.bench.grids import paper_figures
from omrl_bench.bench.grids import precision
from omrl_bench.bench.grids import methods
from omrl_bench.bench.grids import training_setting

__all__ = [
    "COLLAPSED_RMS",
    "GRIDS",
    "POINT_ROBOTS",
    "SPR",
    "Cell",
    "Grid",
    "Option",
    "Planned",
    "Row",
    "default_suites",
    "distribution_shift",
    "embeddings",
    "ensure_datasets",
    "execute_plan",
    "expand",
    "finished",
    "focal_pair",
    "focalpp_rows",
    "get_grid",
    "methods",
    "momentum",
    "paper_figures",
    "parse_algos",
    "parse_precision",
    "parse_suites",
    "plan",
    "precision",
    "register_grid",
    "returns",
    "returns_rows",
    "run_cell",
    "suite_precision",
    "training_setting",
    "unregister_grid",
]
