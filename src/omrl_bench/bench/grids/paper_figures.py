"""The figures grid (the paper's Figures 5 to 8): learning curves, t-SNE of the embeddings, attention weight
against reward, and the states of each dataset quality, drawn as PNG files with a Markdown page."""

from __future__ import annotations

from typing import Any

from omrl_bench.bench.grids.core import (
    POINT_ROBOTS,
    SPR,
    Grid,
    ensure_datasets,
    expand,
    finished,
    focal_pair,
    plan,
    register_grid,
)
from omrl_bench.errors import OmrlError


def figures_report(ctx: Any) -> tuple[list[Any], str | None]:
    """Draw every figure from the finished runs (``ctx``: reproduce's ``Context``) and write ``figures.md``."""
    from omrl_bench.bench import figures
    from omrl_bench.bench.grids.distribution_shift import attention_section

    figure_dir = ctx.report / "figures"
    if ctx.run and any(p.cell.suite == SPR for p in ctx.planned):  # Figure 6 draws its datasets
        ensure_datasets([SPR], ctx.preset, ctx.root, ctx.executor_factory(), ctx.archive)
    # learning curves of every algorithm whose returns-grid runs have finished (Figure 8), not only these
    curves = plan(expand("returns", ctx.seeds, ctx.suites, ctx.precision), ctx.preset, ctx.device, ctx.out)
    if not finished(ctx.planned):
        raise OmrlError(f"no finished runs to draw under {ctx.out}; run the figures grid without --no-run first")
    shift = plan(expand("distribution-shift", ctx.seeds, (SPR,), ctx.precision), ctx.preset, ctx.device, ctx.out)
    outputs = figures.draw_all(ctx.planned, curves, ctx.preset, ctx.root, figure_dir, shift)
    body = "\n".join(f"![{p.stem}](figures/{p.name})" for p in outputs)
    section = attention_section(figures.attention_by_quality(shift), None)
    if section:
        body += "\n\nFrom the distribution-shift grid's runs:\n\n" + section
    ctx.report.mkdir(parents=True, exist_ok=True)
    (ctx.report / "figures.md").write_text(ctx.header() + "\n" + body + "\n")
    return [*outputs, ctx.report / "figures.md"], None


FIGURES = register_grid(
    Grid(
        "figures",
        "Figures (paper Figures 5 to 8)",
        focal_pair,
        POINT_ROBOTS,
        stats_line=None,
        report=figures_report,
    )
)
