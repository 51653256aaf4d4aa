"""The training loop: progress CSV, periodic evaluation, checkpoints, resume and the final report.

A run directory holds ``config.yaml`` (resolved), ``progress.csv`` (the source
of truth: ``train/...`` and ``eval/...`` columns), ``checkpoints/last.pt``,
``final.json`` and ``embeddings.npz``; TensorBoard event files are added when
``tensorboard`` is installed. A checkpoint stores networks, optimisers,
counters and RNG states, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from omrl_bench.errors import OmrlError

CHECKPOINT = "checkpoints/last.pt"
LOCK = "checkpoints/.lock"  # held (flock) by the process that trains the run


@contextlib.contextmanager
def exclusive_run(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock while training it, so that a second process (a restarted grid beside an old
    one's surviving workers, or two commands on one ``--out``) fails at once instead of writing into the
    same checkpoint and progress log. The kernel drops the lock when its process dies, so a killed run
    never leaves it behind."""
    path = run_dir / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise OmrlError(
                f"{run_dir} is being trained by another process (pid {holder}); let it finish or stop it first"
            ) from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class ProgressLog:
    """CSV of metrics, one row per logged step; new columns (e.g. the first eval) rewrite the header."""

    def __init__(self, path: Path, keep_until_step: int | None) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.exists() and keep_until_step is not None:
            with open(path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until_step]
        self.columns: list[str] = list(dict.fromkeys(k for r in self.rows for k in r))
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)


def run_training(
    algo: Any,
    buffers: Any,
    run_dir: Path,
    config: dict[str, Any],
    steps: int,
    eval_every: int,
    checkpoint_every: int,
    log_every: int,
    evaluate: Callable[[int], dict[str, float]],
    finalize: Callable[[], dict[str, Any]],
    resume: bool,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``algo`` for ``steps`` updates with periodic evaluation and checkpoints; return the final report.
    The run directory is locked for the duration (``exclusive_run``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_run(run_dir):
        ckpt = run_dir / CHECKPOINT
        config_path = run_dir / "config.yaml"
        start, wall_offset = 0, 0.0  # wall_offset: training time already spent before a resume
        if ckpt.exists() and not resume:
            raise OmrlError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        if resume and ckpt.exists():
            if not same_config(run_dir, config):
                raise OmrlError(f"--resume: the config of {run_dir} differs from this command's; refusing to mix runs")
            state = torch.load(ckpt, weights_only=False)
            algo.load_full_state(state["algo"])
            torch.set_rng_state(state["torch_rng"])
            start = int(state["step"])
            wall_offset = float(state.get("wall_time_s", 0.0))
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        log = ProgressLog(run_dir / "progress.csv", keep_until_step=start if start else None)
        tb = _tensorboard(run_dir)
        t0 = time.time()
        metrics: dict[str, float] = {}
        bar = _progress_bar(progress, steps, start)
        try:
            for step in range(start + 1, steps + 1):
                metrics = algo.update(buffers)
                row: dict[str, Any] = {}
                if step % log_every == 0 or step % eval_every == 0 or step == steps:
                    row = {"step": step, "time_s": round(wall_offset + time.time() - t0, 2), **metrics}
                if step % eval_every == 0 or step == steps:
                    row.update(evaluate(step))
                if row:
                    log.write(row)
                    if tb is not None:
                        for k, v in row.items():
                            if isinstance(v, float):
                                tb.add_scalar(k, v, step)
                if step % checkpoint_every == 0 or step == steps:
                    state = {"algo": algo.full_state(), "torch_rng": torch.get_rng_state(), "step": step}
                    _atomic_torch_save(state | {"wall_time_s": wall_offset + time.time() - t0}, ckpt)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            if tb is not None:
                tb.close()
        report = finalize()
        report["train_wall_time_s"] = round(wall_offset + time.time() - t0, 1)  # summed over resumes
        report["steps"] = steps
        tmp = run_dir / "final.json.tmp"
        tmp.write_text(json.dumps(report, indent=1, default=_json_default, allow_nan=False))
        os.replace(tmp, run_dir / "final.json")
        return report


def same_config(run_dir: Path, config: dict[str, Any]) -> bool:
    """Whether the run in ``run_dir`` was started with exactly ``config`` (the condition for resuming it)."""
    path = run_dir / "config.yaml"
    return path.exists() and migrate_config(yaml.safe_load(path.read_text())) == migrate_config(config)


# Keys added to the run config (ADDED_RUN_KEYS) and to its training config (ADDED_KEYS) after runs were
# saved, with the value those runs had.
ADDED_RUN_KEYS = {"data_protocol": 0}  # 2026-12-01: every earlier run trained on protocol v0 datasets
ADDED_KEYS = {"precision": "fp32"}  # 2026-12-01: every earlier run trained in float32


def migrate_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved run config in today's shape: keys added since it was saved get the value its run used, the
    algorithm's own migration (its registered ``legacy_fixed`` and ``migrate``) is applied, and the training
    config holds only the keys its algorithm reads (runs saved before the algorithm registry held every
    algorithm's keys)."""
    from omrl_bench.core.registry import algorithms
    from omrl_bench.core.train_config import has_key, project

    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return config
    out = {**ADDED_RUN_KEYS, **config, "config": {**ADDED_KEYS, **config["config"]}}
    spec = algorithms().get(out.get("algo", ""))
    if spec is None:  # an algorithm that is not installed: nothing to compare it with
        return out
    fixed = {k: v for k, v in spec.legacy_fixed.items() if not has_key(spec.config, k)}
    unsupported = {k: _get(out["config"], k) for k, v in fixed.items() if _get(out["config"], k) not in (None, v)}
    encoder = out["config"].get("encoder")
    if (
        isinstance(encoder, dict)
        and "next_obs_in_context" in encoder
        and not has_key(spec.config, "encoder.next_obs_in_context")
    ):
        # a context setting, once the encoder's
        encoder = dict(encoder)
        out["config"] = {**out["config"], "encoder": encoder, "next_obs_in_context": encoder.pop("next_obs_in_context")}
    out["config"] = project(spec.migrate(out["config"]), spec.config)
    if unsupported:  # e.g. a FOCAL run made with another encoder: today's FOCAL cannot be that run
        out["unsupported_settings"] = unsupported
    return out


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj))


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class _Bar:
    """A rich progress bar with the ``update``/``close`` calls of the loop."""

    def __init__(self, total: int, start: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.task = self.progress.add_task("train", total=total, completed=start)
        self.progress.start()

    def update(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def close(self) -> None:
        self.progress.stop()


def _progress_bar(enabled: bool, total: int, start: int) -> _Bar | None:
    return _Bar(total, start) if enabled else None
