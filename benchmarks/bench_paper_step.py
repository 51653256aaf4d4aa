"""Seconds per gradient step of every algorithm at the ``paper`` preset's shapes, and one paper run's projected time.

Shapes: the ``paper`` training preset resolved per suite (meta-batch 16, 4 on Ant; batch 256; context 1024
on the point robots, 512 on MuJoCo; networks 3x256; float32) on synthetic data in the shapes of the paper
recipe's datasets (training tasks x 10^4 transitions each; ``omrl_bench/bench/step_time.py``).

Baseline (named, measured in the same run, on the same suite and data): FOCAL's update, the baseline row of
every table. ``x FOCAL`` is an algorithm's seconds per step over FOCAL's; a step's time is the median of
``--steps`` timed updates after a warm-up. MBML's stages cost differently: each
is timed on its own (the update counter set to the stage's first step) and the run's mean is printed.

The projection is the updates alone of one ``paper`` run (100k steps): evaluation (every 2000 steps) and data
loading come on top. No goal: the numbers say what the preset costs, on this machine and thread count.

    python benchmarks/bench_paper_step.py [--steps 5] [--threads 1] [--device cpu|cuda]
        [--suites sparse-point-robot,...] [--algos focal,focalpp:batch-wise,...]
"""

from __future__ import annotations

import argparse
from functools import cache

import torch

from omrl_bench.bench import step_time
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.registry import algorithms, check_variant, get_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.envs.suites import SUITES

BASELINE = "focal"


def default_rows() -> list[tuple[str, str]]:
    """FOCAL (the baseline) first, then every registered algorithm's default variant."""
    rows = [(name, spec.default_variant) for name, spec in algorithms().items()]
    return sorted(rows, key=lambda r: r[0] != BASELINE)


def parse_rows(text: str | None) -> list[tuple[str, str]]:
    if not text:
        return default_rows()
    rows = []
    for item in text.split(","):
        name, _, variant = item.strip().partition(":")
        rows.append((name, check_variant(get_algorithm(name), variant or None)))
    return sorted(rows, key=lambda r: r[0] != BASELINE)


@cache
def buffers_of(suite: str, next_obs_in_context: bool, device: str) -> TaskBuffers:
    return step_time.synthetic_buffers(suite, "paper", next_obs_in_context, device)


def measure(algo: str, variant: str, suite: str, steps: int, device: str) -> tuple[float, float, str]:
    """(mean seconds per step over a paper run, projected seconds of the run's updates, per-phase detail)."""
    _, cfg = resolve_config(algo, variant, suite, "paper")
    buffers = buffers_of(suite, cfg.next_obs_in_context, device)
    model = step_time.build(algo, cfg, buffers, device)
    run_phases = step_time.phases(cfg)
    times = {p.name: step_time.time_phase(model, buffers, p, steps)[0] for p in run_phases}
    total = step_time.projected_seconds(times, run_phases)
    detail = ", ".join(f"{p.name} {p.steps} x {times[p.name]:.3f} s" for p in run_phases) if len(run_phases) > 1 else ""
    return total / cfg.steps, total, detail


def shapes_line(suite: str, device: str) -> str:
    _, cfg = resolve_config(BASELINE, None, suite, "paper")
    buffers = buffers_of(suite, cfg.next_obs_in_context, device)
    return (
        f"{suite}: {buffers.n_tasks} training tasks x {buffers.size} transitions; meta-batch {cfg.meta_batch}, "
        f"batch {cfg.batch_size}, context {cfg.context_size}, networks {cfg.ac.depth}x{cfg.ac.hidden}, "
        f"{cfg.precision}, {cfg.steps} steps"
    )


def run_suite(suite: str, rows: list[tuple[str, str]], steps: int, device: str) -> None:
    print("\n" + shapes_line(suite, device))
    print(f"{'algorithm':<24}{'s/step':>8}{'x FOCAL':>9}{'paper run (h)':>15}  phases")
    baseline = None
    for algo, variant in rows:
        per_step, total, detail = measure(algo, variant, suite, steps, device)
        baseline = per_step if algo == BASELINE else baseline
        ratio = f"{per_step / baseline:>9.2f}" if baseline else f"{'-':>9}"
        print(f"{algo + ':' + variant:<24}{per_step:>8.3f}{ratio}{total / 3600:>15.1f}  {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed updates per algorithm and MBML stage (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--suites", default=",".join(SUITES))
    parser.add_argument("--algos", default=None, help="algo[:variant],... (default: every default variant)")
    args = parser.parse_args()
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    if not suites or any(s not in SUITES for s in suites):
        parser.error(f"--suites: choose from {', '.join(SUITES)}")
    rows = parse_rows(args.algos)
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"{where}, {args.threads} thread(s); baseline: {BASELINE}'s update on the same suite, measured in this run")
    for suite in suites:
        run_suite(suite, rows, args.steps, args.device)
        buffers_of.cache_clear()  # one suite's data in memory at a time


if __name__ == "__main__":
    main()
