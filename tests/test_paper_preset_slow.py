"""The ``paper`` preset is a promise: every registered algorithm takes gradient steps at its exact shapes.

Slow (``pytest -m slow``): the default variant of every algorithm, on every suite, resolved from the
``paper`` preset (meta-batch 16, 4 on Ant; batch 256; context 1024 on the point robots, 512 on MuJoCo;
networks 3x256; float32), trained for a few updates of each of its phases on synthetic data in the shapes of
the paper recipe's datasets (``bench/step_time.py``). Prints the seconds per update of each (one thread);
``benchmarks/bench_paper_step.py`` measures the same with a baseline and projects a whole run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache

import pytest
import torch

from omrl_bench.bench import step_time
from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.registry import algorithms
from omrl_bench.core.train_config import resolve_config
from omrl_bench.envs.suites import SUITES

pytestmark = pytest.mark.slow

POINT_ROBOTS = ("sparse-point-robot", "point-robot-wind")
STEPS = 2  # timed updates per phase, after one warm-up


@cache
def _buffers(suite: str, next_obs_in_context: bool) -> TaskBuffers:
    return step_time.synthetic_buffers(suite, "paper", next_obs_in_context)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as every training run here (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("algo", algorithms())
def test_paper_preset_steps_at_its_shapes(algo: str, suite: str, capsys: pytest.CaptureFixture[str]) -> None:
    variant, cfg = resolve_config(algo, None, suite, "paper")
    assert (cfg.steps, cfg.precision, cfg.batch_size) == (100_000, "fp32", 256)
    assert cfg.meta_batch == (4 if suite == "sparse-ant-fwd-back" else 16)
    assert cfg.context_size == (1024 if suite in POINT_ROBOTS else 512)
    assert (cfg.ac.hidden, cfg.ac.depth) == (256, 3)
    buffers = _buffers(suite, cfg.next_obs_in_context)
    model = step_time.build(algo, cfg, buffers)
    times = []
    for phase in step_time.phases(cfg):
        seconds, metrics = step_time.time_phase(model, buffers, phase, STEPS)
        assert metrics and all(math.isfinite(v) for v in metrics.values()), (phase.name, metrics)
        times.append(f"{phase.name} {seconds:.2f} s/step")
    with capsys.disabled():
        print(f"\n{algo}:{variant} on {suite} at paper shapes ({buffers.n_tasks} tasks): {', '.join(times)}")
