"""The paper's experiment grids, expanded into training runs, planned against finished runs and executed.

A grid is a list of cells (algorithm, variant, suite, train quality, seed, momentum update). Every
cell is one ``omrl-bench run`` with all three test-context qualities, in the same run directory an
``omrl-bench run --out`` of the same settings would use, so one training run serves every table that
needs it and a killed grid resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omrl_bench.bench.run import RunSpec, run_config
from omrl_bench.core.train_config import PRECISIONS
from omrl_bench.datasets.recipe import QUALITIES
from omrl_bench.envs.suites import SUITES
from omrl_bench.errors import OmrlError

GRIDS = ("returns", "distribution-shift", "momentum", "embeddings", "figures", "precision", "training-setting")
FOCALPP_VARIANTS = ("contrastive", "batch-wise", "sequence-wise", "parallel", "series")
SPR = "sparse-point-robot"
POINT_ROBOTS = (SPR, "point-robot-wind")

# (algo, variant) -> the row label of every table
LABELS = {
    ("focal", "focal"): "FOCAL",
    **{("focalpp", v): f"FOCAL++ {v}" for v in FOCALPP_VARIANTS},
    ("cbcq", "cbcq"): "contextual BCQ",
    ("mbml", "mbml"): "MBML",
}
RETURNS_ALGOS = (("focal", "focal"), *(("focalpp", v) for v in FOCALPP_VARIANTS), ("cbcq", "cbcq"), ("mbml", "mbml"))
FOCAL_PAIR = (("focal", "focal"), ("focalpp", "batch-wise"))  # FOCAL vs FOCAL++ (batch-wise), as in Tables 2 and 3
DEFAULT_SUITES = {
    "returns": tuple(SUITES),
    "distribution-shift": (SPR,),
    "momentum": (SPR,),
    "embeddings": (*POINT_ROBOTS, "sparse-ant-fwd-back"),
    "figures": POINT_ROBOTS,
    "precision": (SPR,),
    "training-setting": (SPR,),
}
# The training-setting grid (issue 18): FOCAL, the baseline, on each quality with each way of keeping the
# policy near the data; the setting with the best mean over the four qualities (each tested with context of
# its own quality) becomes the cpu preset's for the point robots. Chosen before any run, never tuned on them.
TRAINING_SETTINGS: dict[str, tuple[str, ...]] = {
    "bc0": ("ac.bc_weight=0.0", "ac.alpha=0.0", "ac.train_alpha=false"),
    "bc0.4": ("ac.bc_weight=0.4", "ac.alpha=0.0", "ac.train_alpha=false"),  # TD3+BC's alpha = 2.5
    "bc1": ("ac.bc_weight=1.0", "ac.alpha=0.0", "ac.train_alpha=false"),
    # BRAC's adaptive alpha (the paper's MuJoCo mechanism): the divergence critic's KL estimate is held
    # near a target divergence, so the penalty grows on narrow data and fades where the data covers more
    "brac": ("ac.bc_weight=0.0", "ac.alpha=10.0", "ac.train_alpha=true", "ac.target_divergence=0.05"),
}
PRECISION_PAIR = PRECISIONS  # the precision grid trains FOCAL_PAIR in both


@dataclass(frozen=True)
class Cell:
    """One training run of a grid; it is tested with context of every quality."""

    algo: str
    variant: str
    suite: str
    train_quality: str
    seed: int
    hard_update: bool = False  # FOCAL++'s key encoder copied every step instead of the momentum update
    precision: str | None = None  # fp32 | bf16; None: the preset's
    setting: str = ""  # a TRAINING_SETTINGS name: its overrides, and its name as the run's tag

    @property
    def label(self) -> str:
        return LABELS[(self.algo, self.variant)]

    def spec(self, preset: str, device: str) -> RunSpec:
        overrides: tuple[str, ...] = ("task_loss.hard_update=true",) if self.hard_update else ()
        overrides += TRAINING_SETTINGS[self.setting] if self.setting else ()
        tag = "-".join(t for t in ("hard" if self.hard_update else "", self.setting) if t)
        return RunSpec(
            self.algo,
            self.variant,
            self.suite,
            self.train_quality,
            QUALITIES,
            self.seed,
            preset,
            preset,
            device,
            overrides,
            tag,
            self.precision,
        )


def parse_suites(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))  # a repeat is one suite
    bad = [s for s in names if s not in SUITES]
    if bad or not names:
        raise OmrlError(f"unknown suite {', '.join(bad) or repr(text)}; choose from: {', '.join(SUITES)}")
    return names


def expand(name: str, seeds: int, suites: tuple[str, ...] | None = None, precision: str | None = None) -> list[Cell]:
    """The cells of grid ``name`` over seeds 0..seeds-1 (``suites`` replaces the grid's default suites;
    ``precision`` the preset's, except in the precision grid, which trains both)."""
    if name not in GRIDS:
        raise OmrlError(f"unknown grid {name!r}; choose one of: {', '.join(GRIDS)}")
    if seeds < 1:
        raise OmrlError("--seeds must be at least 1")
    chosen = suites or DEFAULT_SUITES[name]
    if name in ("distribution-shift", "momentum", "precision", "training-setting") and len(chosen) != 1:
        raise OmrlError(f"grid {name} compares runs on one suite; give one with --suites")
    seed_list = range(seeds)
    if name == "precision":
        if precision is not None:
            raise OmrlError("the precision grid trains both fp32 and bf16; drop --precision")
        return [
            Cell(a, v, s, "expert", k, precision=p)
            for s in chosen
            for a, v in FOCAL_PAIR
            for p in PRECISION_PAIR
            for k in seed_list
        ]
    if name == "training-setting":
        return [
            Cell("focal", "focal", s, q, k, precision=precision, setting=setting)
            for s in chosen
            for setting in TRAINING_SETTINGS
            for q in QUALITIES
            for k in seed_list
        ]
    return [dataclasses.replace(c, precision=precision) for c in _expand_paper_grid(name, chosen, seed_list)]


def _expand_paper_grid(name: str, chosen: tuple[str, ...], seed_list: range) -> list[Cell]:
    if name == "returns":
        return [Cell(a, v, s, "expert", k) for s in chosen for a, v in RETURNS_ALGOS for k in seed_list]
    if name == "distribution-shift":
        return [Cell(a, v, s, q, k) for s in chosen for a, v in FOCAL_PAIR for q in QUALITIES for k in seed_list]
    if name == "momentum":
        return [
            Cell("focalpp", v, s, "expert", k, hard)
            for s in chosen
            for v in FOCALPP_VARIANTS
            for hard in (False, True)
            for k in seed_list
        ]
    return [Cell(a, v, s, "expert", k) for s in chosen for a, v in FOCAL_PAIR for k in seed_list]  # embeddings, figures


@dataclass(frozen=True)
class Planned:
    cell: Cell
    spec: RunSpec
    run_dir: Path
    status: str  # "done", "partial" (a checkpoint to resume) or "new"


# Config keys (sections or dotted keys) an algorithm never reads. Runs are matched without them, so a
# finished run still counts after a key it ignores was added or changed (the BC term of the point
# robots' cpu preset is read by FOCAL and FOCAL++ only).
UNUSED_KEYS = {
    "focal": ("bcq", "mbml"),
    "focalpp": ("bcq", "mbml"),
    "cbcq": ("mbml", "ac.bc_weight"),
    "mbml": ("ac.bc_weight",),
}


def _comparable(config: dict[str, Any]) -> Any:
    """``config`` as JSON would return it, in today's shape, without the keys its algorithm does not read."""
    from omrl_bench.core.trainer import migrate_config

    out = json.loads(json.dumps(migrate_config(config)))
    for key in UNUSED_KEYS.get(out.get("algo"), ()):
        *parents, last = key.split(".")
        node = out["config"]
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    return out


def _saved_config(final: Path) -> dict[str, Any]:
    """The config inside a finished run's report; a damaged report is a one-line error."""
    try:
        report = json.loads(final.read_text())
        if not isinstance(report, dict) or not {"config", "test", "embeddings"} <= report.keys():
            raise ValueError
        config: dict[str, Any] = report["config"]
        return config
    except (ValueError, OSError):  # JSONDecodeError is a ValueError
        raise OmrlError(f"{final} is not a run report; remove it to rerun that cell") from None


def plan(cells: list[Cell], preset: str, device: str, out: Path) -> list[Planned]:
    """Resolve every cell's config (bad keys fail here, before any work) and find its finished or partial run."""
    from omrl_bench.core.trainer import CHECKPOINT, migrate_config, same_config

    planned, mismatched, old_protocol = [], [], []
    for cell in cells:
        spec = cell.spec(preset, device)
        variant, _, config = run_config(spec)
        run_dir = out / spec.run_name(variant)
        final = run_dir / "final.json"
        if final.exists():
            saved = _saved_config(final)
            if _comparable(saved) != _comparable(config):
                mismatched.append(run_dir)
                if migrate_config(saved)["data_protocol"] != config["data_protocol"]:
                    old_protocol.append(run_dir)
            status = "done"
        elif (run_dir / CHECKPOINT).exists():
            if not same_config(run_dir, config):  # the trainer would refuse to resume it: say so before any work
                mismatched.append(run_dir)
            status = "partial"
        else:
            status = "new"
        planned.append(Planned(cell, spec, run_dir, status))
    if old_protocol:
        raise OmrlError(
            f"{len(old_protocol)} run(s) under {out} were trained on data protocol "
            f"v{migrate_config(_saved_config(old_protocol[0] / 'final.json'))['data_protocol']} datasets, this "
            f"grid trains on v{config['data_protocol']} (first: {old_protocol[0].name}); move them away or "
            "choose another --out"
        )
    if mismatched:
        raise OmrlError(
            f"{len(mismatched)} run(s) under {out} were made with another config than this grid's "
            f"(first: {mismatched[0].name}); move them away or choose another --out"
        )
    return planned


def finished(planned: list[Planned]) -> list[Planned]:
    """The planned runs that have a final report (status "done")."""
    return [p for p in planned if p.status == "done"]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def run_cell(spec: RunSpec, out: str, root: str | None, name: str) -> dict[str, Any]:
    """Worker entry point: train and evaluate one cell (resuming its checkpoint); never raises."""
    import torch

    from omrl_bench.bench.run import execute

    torch.set_num_threads(1)
    try:
        report = execute(spec, Path(out), Path(root) if root else None, resume=True, progress=False)
    except Exception as exc:  # one failed cell must not stop the others; the grid reports it at the end
        return {"run": name, "error": _one_line(exc)}
    test = report["test"]
    return {"run": name, "return": test[spec.train_quality]["mean_return"], "wall_s": report["train_wall_time_s"]}


def ensure_datasets(suites: Iterable[str], preset: str, root: Path, executor: Any) -> None:
    """Generate (idempotently) every dataset a suite's cells need; published ones are kept."""
    from omrl_bench.datasets.pipeline import generate
    from omrl_bench.datasets.recipe import load_recipe

    for suite in dict.fromkeys(suites):
        recipe = load_recipe(suite, preset, 0, [])
        generate(recipe, root, tuple(range(recipe.config.n_tasks)), QUALITIES, executor)


def execute_plan(
    planned: list[Planned],
    preset: str,
    out: Path,
    root: Path,
    executor: Any,
    on_done: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Run every unfinished cell on ``executor`` (datasets generated first); return the failures."""
    todo = [p for p in planned if p.status != "done"]
    if not todo:
        return []
    ensure_datasets((p.cell.suite for p in todo), preset, root, executor)
    failures = []
    calls = [(p.spec, str(out), str(root), p.run_dir.name) for p in todo]
    try:
        for result in executor.map_unordered(run_cell, calls):
            on_done(result)
            if "error" in result:
                failures.append(result)
    except Exception as exc:  # a worker process died (out of memory, a crash): keep what finished
        failures.append({"run": "a worker", "error": _one_line(exc)})
    return failures
