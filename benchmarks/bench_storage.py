"""Dataset storage: our writer and loader vs Minari's own, on point-robot-sized data.

Baseline (named, measured in the same run): ``minari.create_dataset_from_buffers``
to write and ``MinariDataset.iterate_episodes`` to read, on the same episodes.

Prints, for one (task, quality) dataset of 500 x 20-step episodes: write time,
bytes on disk per transition and the ratio to the raw array bytes; and for a
full quality (``--tasks`` datasets of 1e4 transitions): time to load into
training arrays with ``load_suite`` vs iterating every episode with Minari.
Goals: load a full quality (100 tasks) in <= 5 s; size <= 3x the raw bytes.

    python benchmarks/bench_storage.py [--tasks 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _episodes(task: int, n: int = 500):
    """Real point-robot episodes of a random-action policy on one task."""
    import gymnasium as gym

    from omrl_bench.datasets.behaviour import Episode

    env = gym.make("omrl/SparsePointRobot-v0", goal=[np.cos(task / 33), np.sin(task / 33)], task=task)
    rng = np.random.default_rng(task)
    eps = []
    for _ in range(n):
        o, info = env.reset(seed=int(rng.integers(2**31)))
        obs, infos, acts, rews = [o], [info], [], []
        done = False
        while not done:
            a = rng.uniform(-1, 1, size=2).astype(np.float32)
            o, r, te, tr, info = env.step(a)
            obs.append(o), infos.append(info), acts.append(a), rews.append(r)
            done = te or tr
        t = len(rews)
        eps.append(
            Episode(
                np.asarray(obs),
                np.asarray(acts),
                np.asarray(rews),
                np.zeros(t, bool),
                np.arange(t) == t - 1,
                {k: np.asarray([i[k] for i in infos]) for k in infos[0]},
            )
        )
    return env, eps


def _raw_bytes(eps) -> int:
    return sum(e.nbytes for e in eps)


def _write_ours(root: Path, env, eps, task: int) -> float:
    from omrl_bench.datasets import storage

    t0 = time.perf_counter()
    ds_id = f"omrl/bench-cpu/task-{task:02d}/expert-v0"
    image, meta = storage.build_dataset(
        ds_id,
        env,
        eps,
        "bench",
        {
            "task": task,
            "task_kwargs": {},
            "quality": "expert",
            "recipe_fingerprint": "bench",
            "normalised_score": 1.0,
            "dataset_sparse_return": 0.0,
            "dataset_dense_return": 0.0,
        },
    )
    storage.write_dataset_dir(root / ds_id / "data", image, meta)
    return time.perf_counter() - t0


def _write_minari(env, eps, task: int) -> float:
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [
        EpisodeBuffer(
            id=i,
            observations=e.observations,
            actions=e.actions,
            rewards=e.rewards,
            terminations=e.terminations,
            truncations=e.truncations,
            infos=e.infos,
        )
        for i, e in enumerate(eps)
    ]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            f"minari/bench/task-{task:02d}-v0",
            buffers,
            env=env.spec,
            algorithm_name="bench",
            author="bench",
            author_email="-",
            code_permalink="-",
            description="bench",
        )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="datasets in the full-quality load test")
    args = parser.parse_args()

    import omrl_bench.envs  # noqa: F401  (registers the envs)
    from omrl_bench.datasets.loader import load_task_dirs

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        ours_w, theirs_w, ours_b, theirs_b, raw = [], [], 0, 0, 0
        for task in range(args.tasks):
            env, eps = _episodes(task)
            ours_w.append(_write_ours(root, env, eps, task))
            theirs_w.append(_write_minari(env, eps, task))
            raw += _raw_bytes(eps)
            ours_b += (root / f"omrl/bench-cpu/task-{task:02d}/expert-v0/data/main_data.hdf5").stat().st_size
            theirs_b += (root / f"minari/bench/task-{task:02d}-v0/data/main_data.hdf5").stat().st_size
        n_transitions = args.tasks * 10_000

        import minari

        t0 = time.perf_counter()
        for task in range(args.tasks):
            ds = minari.load_dataset(f"minari/bench/task-{task:02d}-v0")
            eps = list(ds.iterate_episodes())
            np.concatenate([e.observations for e in eps]), np.concatenate([e.actions for e in eps])
            np.concatenate([e.rewards for e in eps]), np.concatenate([e.infos["sparse_reward"] for e in eps])
        theirs_load = time.perf_counter() - t0
        dirs = [root / f"omrl/bench-cpu/task-{t:02d}/expert-v0/data" for t in range(args.tasks)]
        t0 = time.perf_counter()
        suite = load_task_dirs(dirs)  # what load_suite runs, on the bench datasets
        ours_load = time.perf_counter() - t0
        assert sum(len(t) for t in suite) == n_transitions

    per = 10_000
    print(
        f"dataset: {args.tasks} tasks x 500 episodes x 20 steps; raw array bytes {raw / n_transitions:.1f} B/transition"
    )
    print(f"{'':28}{'minari (baseline)':>20}{'omrl-bench':>14}{'ratio':>10}")
    print(
        f"{'write one dataset (s)':28}{np.mean(theirs_w):>20.3f}{np.mean(ours_w):>14.3f}"
        f"{np.mean(theirs_w) / np.mean(ours_w):>9.1f}x"
    )
    print(
        f"{'bytes on disk / transition':28}{theirs_b / args.tasks / per:>20.1f}{ours_b / args.tasks / per:>14.1f}"
        f"{theirs_b / ours_b:>9.1f}x"
    )
    print(f"{'size / raw bytes':28}{theirs_b / raw:>20.2f}{ours_b / raw:>14.2f}   (goal <= 3)")
    print(
        f"{'load full quality (s)':28}{theirs_load:>20.2f}{ours_load:>14.2f}{theirs_load / ours_load:>9.1f}x"
        f"   (goal <= 5 s for 100 tasks)"
    )


if __name__ == "__main__":
    main()
