"""Executors: where the units of work of a grid or of data generation run, and in which order they come back.

``generate`` (``datasets/pipeline.py``) hands them one ``generate_task`` call per task and the experiment
grids (``bench/grids.py``) one training run per cell. ``LocalExecutor`` runs them in a pool of spawned
local processes (in this process with one worker), ``RayExecutor`` as Ray tasks on a local runtime or a
cluster; ``make_executor`` picks one by the CLI's ``--executor`` name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from omrl_bench.errors import OmrlError


class Executor:
    """Runs calls of a module-level function and yields their results as they finish."""

    def map_unordered(self, fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> Iterable[Any]:
        raise NotImplementedError


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the process that started it dies (Linux), so a
    killed ``generate-data`` or ``reproduce`` leaves no worker training on into run folders (where a
    restarted grid would train the same run twice); elsewhere the pool's own shutdown is all there is."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


class LocalExecutor(Executor):
    """A pool of local worker processes (spawned: each sets torch to one thread; each ends with its parent)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map_unordered(self, fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> Iterable[Any]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if self.workers <= 1:
            for call in calls:
                yield fn(*call)
            return
        context = mp.get_context("spawn")
        with ProcessPoolExecutor(self.workers, context, _exit_with_parent, (os.getpid(),)) as pool:
            futures = [pool.submit(fn, *call) for call in calls]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise


class RayExecutor(Executor):
    """Ray tasks (one CPU each) on a cluster given by ``address`` (``auto``: the one already running on this
    machine), or without one on a private local runtime of ``workers`` CPUs, never on a cluster that happens
    to be running."""

    def __init__(self, address: str | None, workers: int | None, gpus_per_task: float = 0.0) -> None:
        self.gpus_per_task = gpus_per_task  # training runs on cuda ask Ray for a GPU each
        try:
            import ray
        except ImportError:
            raise OmrlError("--executor ray needs Ray: pip install 'omrl-bench[ray]'") from None
        self.ray = ray
        if address and address != "auto":
            _check_reachable(address)
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address or "local",  # None would join a cluster already running here
                    num_cpus=None if address else workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
                )
            except Exception as exc:  # ConnectionError, RuntimeError, ray.exceptions.AuthenticationError, ...
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                hint = ""
                if address and not os.environ.get("RAY_AUTH_TOKEN") and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
                    hint = (
                        "; if the cluster uses token authentication, give this process its token "
                        "(RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=... or RAY_AUTH_TOKEN_PATH=FILE; see the README)"
                    )
                raise OmrlError(f"cannot join the Ray cluster at {address!r}: {first[:300]}{hint}") from None

    def map_unordered(self, fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> Iterable[Any]:
        remote = self.ray.remote(num_cpus=1, num_gpus=self.gpus_per_task)(fn)
        pending = [remote.remote(*call) for call in calls]
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            yield self.ray.get(done[0])


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an unreachable cluster (``ray.init`` would retry for minutes)."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise OmrlError(f"--ray-address must be HOST:PORT (or 'auto'), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise OmrlError(f"cannot reach a Ray cluster at {address!r}: {exc.strerror or exc}") from None


def make_executor(name: str, workers: int, address: str | None, gpus_per_task: float = 0.0) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers, gpus_per_task)
    raise OmrlError(f"unknown executor {name!r}; choose one of: local, ray")
