"""Where SB3 SAC's time goes on one task of a suite: env step, gradient update, action selection, the rest.

Baseline (named, measured in the same run): ``SAC("MlpPolicy", env)`` at SB3's defaults (256x256
networks, batch 256, one gradient step per env step, torch's default thread count). Each setting
runs ``--steps`` SAC steps after ``learning_starts`` on the same task; the env, ``model.train``
(gradient updates) and ``model._sample_action`` (the policy's forward pass during collection) are
timed from inside; "python" is the remainder of ``learn`` (replay-buffer writes, callbacks, SB3's
bookkeeping). Prints each part's share and each setting's steps per second as a ratio to the
baseline. Issue 20's throughput measurement; it needs no data.

    python benchmarks/profile_sac.py [--suite sparse-cheetah-vel] [--steps 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym

# name -> (torch threads or None for torch's default, SAC keyword overrides)
SETTINGS: dict[str, tuple[int | None, dict[str, Any]]] = {
    "SB3 defaults (baseline)": (None, {}),
    "1 thread": (1, {}),
    "1 thread, train_freq=gradient_steps=8": (1, {"train_freq": 8, "gradient_steps": 8}),
    "1 thread, 128x128": (1, {"policy_kwargs": {"net_arch": [128, 128]}}),
    "1 thread, batch 128": (1, {"batch_size": 128}),
    "1 thread, 1 update / 2 env steps": (1, {"train_freq": 2, "gradient_steps": 1}),
}


class TimedEnv(gym.Wrapper[Any, Any, Any, Any]):
    """Accumulates the wall time spent in the wrapped env's step and reset."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self.seconds = 0.0

    def step(self, action: Any) -> Any:
        t0 = time.perf_counter()
        out = self.env.step(action)
        self.seconds += time.perf_counter() - t0
        return out

    def reset(self, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.env.reset(**kwargs)
        self.seconds += time.perf_counter() - t0
        return out


def timed(fn: Callable[..., Any], box: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        box[0] += time.perf_counter() - t0
        return out

    return wrapper


def profile(suite_name: str, steps: int, threads: int | None, overrides: dict[str, Any]) -> dict[str, float]:
    import torch
    from stable_baselines3 import SAC

    from omrl_bench.datasets.recipe import load_recipe
    from omrl_bench.envs import get_suite, make_task_env, task_parameters

    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    suite = get_suite(suite_name)
    cfg = load_recipe(suite_name, "cpu").config
    env = TimedEnv(make_task_env(suite, task_parameters(suite, cfg.n_tasks, cfg.task_seed)[0]))
    starts = 1000
    model = SAC("MlpPolicy", env, seed=0, device="cpu", verbose=0, learning_starts=starts, **overrides)
    model.learn(starts)  # fill the buffer with random actions, untimed
    env.seconds = 0.0
    train, sample = [0.0], [0.0]
    model.train = timed(model.train, train)  # type: ignore[method-assign]
    model._sample_action = timed(model._sample_action, sample)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    total = time.perf_counter() - t0
    torch.set_num_threads(default_threads)
    env.close()
    return {
        "total": total,
        "env": env.seconds,
        "update": train[0],
        "action": sample[0],
        "python": total - env.seconds - train[0] - sample[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="sparse-cheetah-vel")
    parser.add_argument("--steps", type=int, default=2000, help="timed SAC steps per setting")
    parser.add_argument("--settings", default="", help="';'-separated subset of the settings (default: all)")
    args = parser.parse_args()
    names = [s for s in SETTINGS if not args.settings or s in args.settings.split(";")]
    rows = {name: profile(args.suite, args.steps, *SETTINGS[name]) for name in names}
    base = rows.get("SB3 defaults (baseline)")
    print(f"{args.suite}: {args.steps} SAC steps per setting (after 1000 random steps)")
    print(f"{'':40}{'steps/s':>9}{'ratio':>7}{'env':>7}{'update':>8}{'action':>8}{'python':>8}")
    for name, r in rows.items():
        ratio = f"{base['total'] / r['total']:.2f}" if base else "-"
        shares = "".join(f"{100 * r[k] / r['total']:>7.0f}%" for k in ("env", "update", "action", "python"))
        print(f"{name:40}{args.steps / r['total']:>9.1f}{ratio:>7}{shares}")


if __name__ == "__main__":
    main()
