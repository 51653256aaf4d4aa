"""Does task inference matter? Evaluate finished runs with each test task's own context and with another's.

Usage: python scripts/context_swap.py RUN_DIR [RUN_DIR ...]   (expert data of the run's preset, 1 episode)

Test task i is given the expert context of test task i + n/2 (mod n). The gap between the two returns is
what the run gains from inferring its task; docs/results/training.md quotes it for the point robots.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from omrl_bench.core.buffers import TaskBuffers
from omrl_bench.core.evaluation import evaluate
from omrl_bench.core.registry import Dims, build_algorithm
from omrl_bench.core.train_config import resolve_config
from omrl_bench.datasets import load_suite
from omrl_bench.envs import get_suite

torch.set_num_threads(1)
for run in sys.argv[1:]:
    d = Path(run)
    c = yaml.safe_load((d / "config.yaml").read_text())
    _, cfg = resolve_config(c["algo"], c["variant"], c["suite"], c["preset"], [])
    suite = get_suite(c["suite"])
    train = load_suite(c["suite"], "expert", "train", c["data_preset"])
    test = load_suite(c["suite"], "expert", "test", c["data_preset"])
    ctx_next = cfg.next_obs_in_context
    tb = TaskBuffers(train.tasks, suite.sparse_context, ctx_next, "cpu")
    algo = build_algorithm(c["algo"], cfg, Dims(tb.obs_dim, tb.action_dim, tb.context_dim, tb.n_tasks))
    algo.load_full_state(torch.load(d / "checkpoints/last.pt", weights_only=False)["algo"])
    kw = [t.task_kwargs | {"task": t.task} for t in test.tasks]
    own = TaskBuffers(test.tasks, suite.sparse_context, ctx_next, "cpu")
    perm = np.roll(np.arange(len(test.tasks)), len(test.tasks) // 2)
    other = TaskBuffers([test.tasks[i] for i in perm], suite.sparse_context, ctx_next, "cpu")
    r_own = evaluate(algo, suite, own, kw, cfg.eval_context_size, 1, 7)["mean_return"]
    r_other = evaluate(algo, suite, other, kw, cfg.eval_context_size, 1, 7)["mean_return"]
    print(f"{d.name}: own context {r_own:.2f}, another task's context {r_other:.2f}")
