"""The generation pipeline: per-task stages and publishing (the executors that run them: ``executors.py``).

Per task (``generate_task``, the unit of work an executor runs):
  a. SB3 SAC on the dense reward, checkpoints every K steps (denser early where the recipe says;
     ``work/task-XX/sac``), with resume snapshots every ten minutes (a killed task continues from its last one);
  b. every checkpoint rolled out for ``score_episodes`` stochastic episodes (``scores.json``);
  c. qualities chosen from the score curve by data protocol v1 (``qualities.py``);
  d. one dataset per requested quality, staged in the task's own work directory, with its card
     (rule, checkpoints, achieved score, the curve, the rewarded fraction) in its metadata.
Every stage writes to a temporary name and renames when complete, and is
skipped when its output exists, so a killed run resumes where it stopped. The
driver process alone publishes staged datasets into the Minari root (one
``os.replace`` of a directory each), so concurrent workers never touch it.

With a policy archive (``archive.py``) a task archived before skips a. and b.: its score curve and the
actors of its chosen checkpoints are restored, and d. rolls out the same datasets. Newly finished
tasks are added to it, by the driver alone as well.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from omrl_bench.datasets import archive as policy_archive
from omrl_bench.datasets import qualities as rules
from omrl_bench.datasets.recipe import ALL_QUALITIES, PROTOCOL, QUALITIES, Recipe
from omrl_bench.envs import get_suite, make_task_env, task_parameters, train_test_split
from omrl_bench.errors import OmrlError
from omrl_bench.executors import Executor

STAGING = ".omrl-staging"
WORK = ".omrl-work"
SAC_SNAPSHOT_EVERY_S = 600.0  # wall time between SAC resume snapshots (they do not change the data)


def default_root() -> Path:
    """Minari's dataset root: ``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


def dataset_dir(root: Path, dataset_id: str) -> Path:
    return root / dataset_id


def package_versions() -> dict[str, str]:
    names = ["omrl-bench", "gymnasium", "mujoco", "stable-baselines3", "torch", "minari", "h5py", "numpy"]
    out = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def parse_qualities(text: str | None) -> tuple[str, ...]:
    """Qualities to generate: the default four, or a list that may add ``untrained``."""
    if not text:
        return QUALITIES
    chosen = tuple(dict.fromkeys(q.strip() for q in text.split(",") if q.strip()))
    for q in chosen:
        if q not in ALL_QUALITIES:
            raise OmrlError(f"unknown quality {q!r}; choose from: {', '.join(ALL_QUALITIES)}")
    return chosen


def parse_tasks(text: str | None, n_tasks: int) -> tuple[int, ...]:
    if not text:
        return tuple(range(n_tasks))
    try:
        tasks = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise OmrlError(f"--tasks expects comma-separated task indices, got {text!r}") from None
    bad = [t for t in tasks if not 0 <= t < n_tasks]
    if bad:
        raise OmrlError(f"task index {bad[0]} out of range; this preset has tasks 0..{n_tasks - 1}")
    return tasks


@dataclass(frozen=True)
class StagedDataset:
    """A finished dataset in a worker's staging directory, ready to publish."""

    task: int
    quality: str
    files: dict[str, bytes]  # data/ file name -> contents (travels from any Ray node)


@dataclass(frozen=True)
class TaskOutput:
    """What one ``generate_task`` call returns to the driver."""

    task: int
    staged: list[StagedDataset]
    archive: dict[str, bytes] | None  # the task's policy-archive files, when asked for


def reported_key(suite: Any) -> str:
    """The score-curve key of the suite's reported return."""
    return "sparse_return" if suite.reported_reward == "sparse_reward" else "dense_return"


def work_dir(recipe: Recipe, task: int, root: str | Path) -> Path:
    return Path(root) / WORK / f"{recipe.suite}-{recipe.preset}-{recipe.fingerprint}" / f"task-{task:02d}"


def archive_files(recipe: Recipe, task: int, work: Path) -> dict[str, bytes] | None:
    """A finished task's policy-archive files (every quality's checkpoints), or None before it is scored."""
    from omrl_bench.datasets.behaviour import checkpoint_name

    scores_path = work / "scores.json"
    if not scores_path.exists():
        return None
    curve = json.loads(scores_path.read_text())["checkpoints"]
    cfg = recipe.config
    reported = reported_key(get_suite(recipe.suite))
    choices = rules.select(curve, reported, cfg.qualities, cfg.dataset_episodes, ALL_QUALITIES)
    steps = sorted({s for c in choices.values() for s in c.steps})
    actors = {s: policy_archive.actor_only((work / "sac" / checkpoint_name(s)).read_bytes()) for s in steps}
    meta = {"suite": recipe.suite, "preset": recipe.preset, "seed": recipe.seed, "task": task}
    return policy_archive.pack(
        scores_path.read_bytes(), actors, meta | {"fingerprint": recipe.fingerprint, "sac_wall_s": sac_wall(work)}
    )


def sac_wall(work: Path) -> float | None:
    """The task's SAC wall time: as its run recorded it (or its archive entry, null when unknown), else
    the span of its checkpoints' modification times (runs from before it was recorded; a resumed one then
    includes its pause)."""
    recorded = work / "sac" / "wall.json"
    if recorded.exists():
        wall = json.loads(recorded.read_text())["sac_wall_s"]
        return None if wall is None else float(wall)
    times = sorted(p.stat().st_mtime for p in (work / "sac").glob("ckpt-*.zip"))
    return round(times[-1] - times[0], 1) if len(times) > 1 else None


def _restore(work: Path, files: dict[str, bytes]) -> None:
    """Put an archived task's curve and actors where stages a. and b. leave theirs."""
    from omrl_bench.datasets.behaviour import checkpoint_name

    tmp = work / "sac.restore"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for step in policy_archive.steps_of(files):
        (tmp / checkpoint_name(step)).write_bytes(files[policy_archive.actor_name(step)])
    # the archived run's wall time (or null), so that archiving this work folder again keeps it
    (tmp / "wall.json").write_text(
        json.dumps({"sac_wall_s": json.loads(files[policy_archive.MANIFEST]).get("sac_wall_s")})
    )
    scores = work / "scores.json"
    scores.with_name("scores.json.tmp").write_bytes(files[policy_archive.SCORES])
    os.replace(scores.with_name("scores.json.tmp"), scores)  # before sac/: a sac/ without scores is rescored
    os.replace(tmp, work / "sac")
    shutil.rmtree(work / "sac.partial", ignore_errors=True)  # an interrupted SAC run it replaces


def generate_task(
    recipe: Recipe,
    task: int,
    qualities: tuple[str, ...],
    root: str,
    archived: dict[str, bytes] | None = None,
    export: bool = False,
) -> TaskOutput:
    """Run every stage of one task (existing stages are reused; ``archived`` replaces SAC and scoring);
    return its staged datasets, and its policy-archive files when ``export``."""
    import torch

    from omrl_bench.datasets import storage
    from omrl_bench.datasets.behaviour import checkpoint_name, derive_seed, load_policy, rollout, train_sac

    torch.set_num_threads(1)
    cfg = recipe.config
    suite = get_suite(recipe.suite)
    kwargs = task_parameters(suite, cfg.n_tasks, cfg.task_seed)[task]
    work = work_dir(recipe, task, root)
    work.mkdir(parents=True, exist_ok=True)
    sac_seed = derive_seed(recipe.seed, task, "sac")

    # a. SAC with checkpoints; a killed run continues from its last snapshot (bit-identically), or
    # from step 0 if it had none
    sac_dir = work / "sac"
    if archived is not None and not sac_dir.exists():
        _restore(work, archived)
    if not sac_dir.exists():
        partial = work / "sac.partial"
        train_sac(suite, kwargs, cfg.sac, sac_seed, partial, snapshot_every_s=SAC_SNAPSHOT_EVERY_S)
        os.replace(partial, sac_dir)
    steps = cfg.sac.checkpoint_steps()

    # b. score every checkpoint (the curve every quality is chosen from)
    scores_path = work / "scores.json"
    if scores_path.exists():
        curve = json.loads(scores_path.read_text())["checkpoints"]
    else:
        curve = []
        for step in steps:
            eps = rollout(
                suite,
                kwargs,
                load_policy(sac_dir / checkpoint_name(step)),
                cfg.score_episodes,
                derive_seed(recipe.seed, task, "score", step),
                cfg.rollout_batch,
            )
            curve.append(
                {
                    "step": step,
                    "dense_return": float(np.mean([e.total("rewards") for e in eps])),
                    "sparse_return": float(np.mean([e.total("sparse_reward") for e in eps])),
                }
            )
        _atomic_write_json(scores_path, {"checkpoints": curve})
    reported = reported_key(suite)
    lo, hi = curve[0][reported], curve[-1][reported]  # the returns that define normalised 0 and 1
    # Minari's reference scores are the dense returns of step 0 and the final checkpoint; where the curve
    # fell they are written in order (swapped), never inverted, and the card says which curves did not rise
    dense0, dense1 = curve[0]["dense_return"], curve[-1]["dense_return"]
    not_rising = [k for k in dict.fromkeys((reported, "dense_return")) if curve[-1][k] <= curve[0][k]]
    scale = rules.normalised(curve, reported)
    card_curve = [c | {"normalised_score": n} for c, n in zip(curve, scale, strict=True)]

    # c. + d. choose each quality's checkpoint(s) and stage its dataset
    choices = rules.select(curve, reported, cfg.qualities, cfg.dataset_episodes, qualities)
    staged = []
    split = train_test_split(suite, cfg.n_tasks, cfg.n_test, cfg.split_seed)
    role = "test" if task in split["test"] else "train"
    for quality in qualities:
        choice = choices[quality]
        ds_id = recipe.dataset_id(task, quality)
        out = work / "staged" / f"{quality}-v{PROTOCOL}"
        if not (out / "data" / storage.METADATA_FILE).exists() or storage.damage(out / "data"):
            seed = derive_seed(recipe.seed, task, "data", quality)
            eps = []
            for step, n in zip(choice.steps, choice.episodes, strict=True):
                step_seed = seed if len(choice.steps) == 1 else derive_seed(recipe.seed, task, "data", quality, step)
                policy = load_policy(sac_dir / checkpoint_name(step))
                eps += rollout(suite, kwargs, policy, n, step_seed, cfg.rollout_batch)
            env = make_task_env(suite, kwargs)
            dense = float(np.mean([e.total("rewards") for e in eps]))
            sparse = float(np.mean([e.total("sparse_reward") for e in eps]))
            own = sparse if reported == "sparse_return" else dense
            image, meta = storage.build_dataset(
                ds_id,
                env,
                eps,
                description=f"{recipe.suite} task {task} ({role}), {quality} data of an SB3 SAC agent "
                f"({choice.rule}), omrl-bench preset {recipe.preset}, data protocol v{PROTOCOL}",
                omrl={
                    "suite": recipe.suite,
                    "preset": recipe.preset,
                    "protocol": PROTOCOL,
                    "task": task,
                    "task_kwargs": kwargs,
                    "split": role,
                    "quality": quality,
                    "rule": choice.rule,
                    "rule_settings": recipe.as_dict()["config"]["qualities"],
                    "checkpoint_steps": list(choice.steps),
                    "checkpoint_episodes": list(choice.episodes),
                    "checkpoint_step": choice.steps[0] if len(choice.steps) == 1 else None,
                    "normalised_score": choice.normalised_score,
                    "fallback": choice.fallback,
                    "notes": choice.notes,
                    "score_reward": reported,
                    "score_zero": lo,  # the reported return that defines normalised 0 (step 0) ...
                    "score_one": hi,  # ... and 1 (the final checkpoint)
                    "score_curve": card_curve,
                    "dataset_dense_return": dense,
                    "dataset_sparse_return": sparse,
                    "dataset_normalised_score": (own - lo) / (hi - lo) if hi - lo > 1e-9 else 0.0,
                    "rewarded_fraction": float(
                        np.mean(np.concatenate([e.infos["sparse_reward"][1:] != 0 for e in eps]))
                    ),
                    "sac": {"seed": sac_seed, **recipe.as_dict()["config"]["sac"]},
                    "seeds": {"base": recipe.seed, "sac": sac_seed, "rollout": seed},
                    "recipe_fingerprint": recipe.fingerprint,
                    "versions": package_versions(),
                    **({"not_rising": not_rising} if not_rising else {}),  # only then: other cards stay as they were
                },
                reference_scores=(min(dense0, dense1), max(dense0, dense1), cfg.score_episodes),
            )
            env.close()
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            storage.write_dataset_dir(tmp / "data", image, meta)
            os.replace(tmp, out)
        files = {name: (out / "data" / name).read_bytes() for name in (storage.MAIN_FILE, storage.METADATA_FILE)}
        staged.append(StagedDataset(task, quality, files))
    return TaskOutput(task, staged, archive_files(recipe, task, work) if export and archived is None else None)


def published_fingerprint(root: Path, dataset_id: str) -> str | None:
    """The recipe fingerprint of a published dataset, or None when there is none."""
    from omrl_bench.datasets import storage

    data = dataset_dir(root, dataset_id) / "data"
    if not data.exists():
        return None
    return str(storage.read_metadata(data)["omrl"]["recipe_fingerprint"])


def publish(root: Path, recipe: Recipe, staged: StagedDataset) -> None:
    """Move a staged dataset into the Minari root with one rename (driver process only)."""
    target = dataset_dir(root, recipe.dataset_id(staged.task, staged.quality))
    target.parent.mkdir(parents=True, exist_ok=True)
    for ns in _namespaces(recipe, staged.task):
        f = root / ns / "namespace_metadata.json"
        if not f.exists():
            _atomic_write_json(f, {})
    if target.exists():
        return
    local = root / STAGING / f"{recipe.fingerprint}-task-{staged.task:02d}-{staged.quality}"
    shutil.rmtree(local, ignore_errors=True)
    (local / "data").mkdir(parents=True)
    for name, content in staged.files.items():
        (local / "data" / name).write_bytes(content)
    os.replace(local, target)


def _namespaces(recipe: Recipe, task: int) -> list[str]:
    return ["omrl", recipe.namespace, f"{recipe.namespace}/task-{task:02d}"]


def write_suite_metadata(root: Path, recipe: Recipe) -> None:
    """Namespace metadata of the suite: task list, split, recipe and versions."""
    cfg = recipe.config
    suite = get_suite(recipe.suite)
    path = root / recipe.namespace / "namespace_metadata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_json(
        path,
        {
            "description": f"omrl-bench {recipe.suite} datasets, preset {recipe.preset}",
            "suite": recipe.suite,
            "env_id": suite.env_id,
            "tasks": task_parameters(suite, cfg.n_tasks, cfg.task_seed),
            "split": train_test_split(suite, cfg.n_tasks, cfg.n_test, cfg.split_seed),
            "sparse_context": suite.sparse_context,
            "reported_reward": suite.reported_reward,
            "recipe": recipe.as_dict(),
            "recipe_fingerprint": recipe.fingerprint,
            "versions": package_versions(),
        },
    )


@dataclass
class GenerationResult:
    published: list[StagedDataset]
    skipped: int
    wall_time_s: float
    restored: list[int] = field(default_factory=list)  # tasks rebuilt from the policy archive
    archived: list[int] = field(default_factory=list)  # tasks added to it
    unarchived: list[int] = field(default_factory=list)  # published tasks without a work folder to archive
    rebuilt: list[tuple[str, str]] = field(default_factory=list)  # (dataset id, its damage): published again


def generate(
    recipe: Recipe,
    root: Path,
    tasks: tuple[int, ...],
    qualities: tuple[str, ...],
    executor: Executor,
    on_task_done: Callable[[int], None] | None = None,
    archive: Path | None = None,
) -> GenerationResult:
    """Generate and publish the datasets of ``tasks`` x ``qualities``; finished ones are kept. With
    ``archive``, tasks found there are restored instead of trained, and finished ones are added."""
    t0 = time.time()
    root.mkdir(parents=True, exist_ok=True)
    result = GenerationResult([], 0, 0.0)
    archived: dict[int, dict[str, bytes] | None] = {}
    if archive is not None:  # read (and verify) every entry first: a corrupt one stops before any work
        for task in tasks:
            folder = policy_archive.task_dir(archive, recipe.suite, recipe.preset, recipe.fingerprint, task)
            archived[task] = policy_archive.read(folder, recipe.fingerprint)
    todo: list[int] = []
    for task in tasks:
        missing = False
        for q in qualities:
            ds_id = recipe.dataset_id(task, q)
            try:
                fp = published_fingerprint(root, ds_id)
            except OmrlError:  # an unreadable card: damaged, and rebuilt below
                fp = recipe.fingerprint
            if fp is None:
                missing = True
            elif fp != recipe.fingerprint:
                raise OmrlError(
                    f"{ds_id} exists in {root} from a different recipe or seed; remove it or choose another --root"
                )
            elif why := _discard_if_damaged(root, ds_id):  # published, but not what its card says: rebuild it
                result.rebuilt.append((ds_id, why))
                missing = True
        if missing:
            todo.append(task)
        elif archive is not None and archived[task] is None:  # finished before the archive was asked for
            files = archive_files(recipe, task, work_dir(recipe, task, root))
            if files is None:
                result.unarchived.append(task)
            else:
                _archive(archive, recipe, task, files, result)
    write_suite_metadata(root, recipe)
    calls = [(recipe, t, qualities, str(root), archived.get(t), archive is not None) for t in todo]
    result.restored = [t for t in todo if archived.get(t) is not None]
    for out in executor.map_unordered(generate_task, calls):
        for staged in out.staged:
            publish(root, recipe, staged)
            result.published.append(staged)
        if archive is not None and out.archive is not None:
            _archive(archive, recipe, out.task, out.archive, result)
        if on_task_done is not None:
            on_task_done(out.task)
    result.skipped = len(tasks) - len(todo)
    result.wall_time_s = time.time() - t0
    return result


def _discard_if_damaged(root: Path, dataset_id: str) -> str | None:
    """Take a published dataset that fails its checksum out of the root (one rename, then delete), so that
    it is published again; return its damage, or None when it is intact."""
    from omrl_bench.datasets import storage

    target = dataset_dir(root, dataset_id)
    why = storage.damage(target / "data")
    if why is not None:
        aside = root / STAGING / f"damaged-{dataset_id.replace('/', '-')}"
        shutil.rmtree(aside, ignore_errors=True)
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, aside)
        shutil.rmtree(aside)
    return why


def _archive(archive: Path, recipe: Recipe, task: int, files: dict[str, bytes], result: GenerationResult) -> None:
    policy_archive.write(policy_archive.task_dir(archive, recipe.suite, recipe.preset, recipe.fingerprint, task), files)
    result.archived.append(task)
