"""End-to-end data generation throughput: omrl-bench's pipeline vs SB3 SAC at its default settings.

Baseline (named, measured in the same run): what a user gets from SB3 out of
the box, per task and one task after another: ``SAC("MlpPolicy", env)`` with
its defaults (256x256 networks, torch's default thread count), ``model.save``
every checkpoint, ``evaluate_policy`` on every checkpoint, ``model.predict``
step by step for the dataset rollouts and ``minari.create_dataset_from_buffers``
to write them. Same env, SAC step budget, checkpoints and episode counts as
the preset. Ours: ``generate_task`` over a local pool of ``--workers``
processes (one torch thread each). Prints tasks per hour, the ratio, and the
projected wall time of the whole preset (goal for sparse-point-robot ``cpu``:
at most 30 minutes on 2 cores).

    python benchmarks/bench_generation.py [--suite sparse-point-robot] [--preset cpu] [--tasks 2] [--set KEY=VALUE]

MuJoCo rows on a shorter SAC budget (same budget on both sides), e.g.
``--suite sparse-cheetah-vel --set sac.total_steps=5000 --set sac.checkpoint_every=1000
--set qualities.mixed_every=1000``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def baseline_task(recipe, task: int, root: Path) -> None:
    import minari
    from minari.data_collector import EpisodeBuffer
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    from omrl_bench.envs import get_suite, make_task_env, task_parameters

    cfg = recipe.config
    suite = get_suite(recipe.suite)
    kwargs = task_parameters(suite, cfg.n_tasks, cfg.task_seed)[task]
    env = Monitor(make_task_env(suite, kwargs))
    model = SAC("MlpPolicy", env, seed=task, verbose=0)
    ckpt_dir = root / f"baseline-{task}"
    ckpt_dir.mkdir(parents=True)
    model.save(ckpt_dir / "sac_0_steps")
    model.learn(cfg.sac.total_steps, callback=CheckpointCallback(cfg.sac.checkpoint_every, str(ckpt_dir)))
    paths = sorted(ckpt_dir.glob("*.zip"), key=lambda p: int(p.stem.split("_")[-2]))
    returns = [evaluate_policy(SAC.load(p, env=env), env, cfg.score_episodes, deterministic=False)[0] for p in paths]
    lo, hi = returns[0], returns[-1]
    medium = int(np.argmin([abs((r - lo) / (hi - lo + 1e-9) - 0.5) for r in returns]))
    for quality, idx in {"expert": len(paths) - 1, "medium": medium, "random": 0}.items():
        policy = SAC.load(paths[idx], env=env)
        buffers = []
        for i in range(cfg.dataset_episodes):
            o, info = env.reset(seed=i)
            obs, infos, acts, rews, terms, truncs = [o], [info], [], [], [], []
            done = False
            while not done:
                a, _ = policy.predict(o, deterministic=False)
                o, r, te, tr, info = env.step(a)
                obs.append(o), infos.append(info), acts.append(a), rews.append(r), terms.append(te)
                truncs.append(tr)
                done = te or tr
            buffers.append(
                EpisodeBuffer(
                    id=i,
                    observations=np.asarray(obs),
                    actions=np.asarray(acts),
                    rewards=np.asarray(rews),
                    terminations=np.asarray(terms),
                    truncations=np.asarray(truncs),
                    infos={k: np.asarray([x[k] for x in infos]) for k in infos[0]},
                )
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minari.create_dataset_from_buffers(
                f"baseline/{recipe.suite}/task-{task:02d}/{quality}-v0",
                buffers,
                env=env.unwrapped.spec,
                algorithm_name="SAC",
                author="bench",
                author_email="-",
                code_permalink="-",
                description="bench",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="sparse-point-robot")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--tasks", type=int, default=2, help="tasks timed for each side")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--set", action="append", default=[], help="recipe override for both sides, e.g. sac.total_steps=5000"
    )
    args = parser.parse_args()

    from omrl_bench.datasets.pipeline import generate
    from omrl_bench.datasets.recipe import QUALITIES, load_recipe
    from omrl_bench.executors import LocalExecutor

    recipe = load_recipe(args.suite, args.preset, overrides=args.set)
    tasks = tuple(range(args.tasks))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
        t0 = time.perf_counter()
        generate(recipe, root / "ours", tasks, QUALITIES, LocalExecutor(args.workers))
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        for task in tasks:
            baseline_task(recipe, task, root)
        base = time.perf_counter() - t0

    n = recipe.config.n_tasks
    print(
        f"{args.suite} [{args.preset}{' with ' + ', '.join(args.set) if args.set else ''}]: {args.tasks} tasks, "
        f"{recipe.config.sac.total_steps} SAC steps each, "
        f"3 qualities x {recipe.config.dataset_episodes} episodes"
    )
    print(f"{'':36}{'tasks/hour':>12}{'wall (s)':>10}")
    print(f"{'SB3 SAC defaults (baseline)':36}{3600 * args.tasks / base:>12.1f}{base:>10.1f}")
    print(f"{'omrl-bench generate_task x' + str(args.workers):36}{3600 * args.tasks / ours:>12.1f}{ours:>10.1f}")
    print(f"throughput ratio: {base / ours:.1f}x the baseline")
    print(
        f"projected whole preset ({n} tasks): omrl-bench {n * ours / args.tasks / 60:.1f} min, "
        f"baseline {n * base / args.tasks / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
