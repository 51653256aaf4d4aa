"""Reference scores: the two returns that put a suite's results on a common scale (docs/protocol.md section 5).

Per suite and data preset, on the suite's reported return: 0 = the untrained policy (SAC step 0) and 1 = the
expert data's policy (the final SAC checkpoint), each the mean over the suite's test tasks of the first and
last points of the task's score curve, the returns data protocol v1 normalises each task's qualities with
(``qualities.py``). They are read from the dataset cards, or from the policy archive (``archive.py``) for
the tasks whose datasets are not on this machine, and committed in ``reference-scores.json`` beside this
module, so that a table is normalised from the repository alone, without the datasets:
``omrl-bench datasets reference-scores --suite SUITE`` adds or refreshes a suite's entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omrl_bench.errors import OmrlError

REFERENCE_FILE = Path(__file__).with_name("reference-scores.json")
FORMAT = 1


@dataclass(frozen=True)
class ReferenceScores:
    """A suite's normalised 0 (``untrained``) and 1 (``expert``), means over its test tasks."""

    suite: str
    preset: str  # the data preset
    recipe_fingerprint: str
    reported_return: str  # "sparse_return" or "dense_return": the score-curve key
    untrained: float
    expert: float
    test_tasks: tuple[int, ...]
    per_task: dict[str, tuple[float, float]]  # task -> (step 0, final checkpoint)
    scoring_episodes: int  # stochastic episodes behind each score-curve point
    source: str  # where the curves were read

    @property
    def key(self) -> str:
        return entry_key(self.suite, self.preset)

    def normalise(self, value: float) -> float:
        """``value`` on the scale where the untrained policy is 0 and the expert data's policy is 1."""
        return (value - self.untrained) / (self.expert - self.untrained)


def entry_key(suite: str, preset: str) -> str:
    return f"{suite}-{preset}"


def from_curves(recipe: Any, curves: dict[int, list[dict[str, Any]]], source: str) -> ReferenceScores:
    """The reference scores of ``recipe`` from its test tasks' score curves (each sorted by step)."""
    from omrl_bench.datasets.pipeline import reported_key
    from omrl_bench.envs import get_suite

    key = reported_key(get_suite(recipe.suite))
    per_task = {str(t): (float(c[0][key]), float(c[-1][key])) for t, c in sorted(curves.items())}
    untrained = sum(lo for lo, _ in per_task.values()) / len(per_task)
    expert = sum(hi for _, hi in per_task.values()) / len(per_task)
    if expert - untrained <= 1e-9:
        raise OmrlError(
            f"{recipe.suite} [{recipe.preset}]: the final checkpoints' mean {key.replace('_', ' ')} over the test "
            f"tasks ({expert:.3f}) is not above step 0's ({untrained:.3f}); no scale to normalise with"
        )
    return ReferenceScores(
        recipe.suite,
        recipe.preset,
        recipe.fingerprint,
        key,
        untrained,
        expert,
        tuple(sorted(curves)),
        per_task,
        recipe.config.score_episodes,
        source,
    )


def _card_curve(root: Path, recipe: Any, task: int) -> list[dict[str, Any]] | None:
    """The score curve on any published card of ``task`` (every quality's card carries the same one)."""
    from omrl_bench.datasets import storage
    from omrl_bench.datasets.recipe import QUALITIES

    for quality in QUALITIES:
        data = root / recipe.dataset_id(task, quality) / "data"
        if data.exists():
            card = storage.read_metadata(data)["omrl"]
            if card["recipe_fingerprint"] != recipe.fingerprint:
                raise OmrlError(f"{recipe.dataset_id(task, quality)} in {root} is from another recipe than today's")
            return list(card["score_curve"])
    return None


def _archive_curve(archive: Path, recipe: Any, task: int) -> list[dict[str, Any]] | None:
    from omrl_bench.datasets import archive as policy_archive

    folder = policy_archive.task_dir(archive, recipe.suite, recipe.preset, recipe.fingerprint, task)
    files = policy_archive.read(folder, recipe.fingerprint)
    return None if files is None else list(json.loads(files[policy_archive.SCORES])["checkpoints"])


def compute(suite: str, preset: str, root: Path, archive: Path | None = None) -> ReferenceScores:
    """Read every test task's score curve from its dataset card, or else from the policy ``archive``."""
    from omrl_bench.datasets.recipe import load_recipe
    from omrl_bench.envs import get_suite, train_test_split

    recipe = load_recipe(suite, preset)
    cfg = recipe.config
    tasks = train_test_split(get_suite(suite), cfg.n_tasks, cfg.n_test, cfg.split_seed)["test"]
    curves: dict[int, list[dict[str, Any]]] = {}
    sources: set[str] = set()
    for task in tasks:
        curve = _card_curve(root, recipe, task)
        if curve is not None:
            sources.add(f"the dataset cards ({recipe.namespace}/task-XX)")
        elif archive is not None and (curve := _archive_curve(archive, recipe, task)) is not None:
            sources.add(f"the policy archive ({suite}-{preset}-{recipe.fingerprint}/task-XX/scores.json)")
        else:
            where = f"under {root}" + (f" nor in the policy archive {archive}" if archive else "")
            raise OmrlError(
                f"no reference scores for {suite} [{preset}]: test task {task} has no dataset {where}; generate "
                f"the data first (omrl-bench generate-data --suite {suite} --preset {preset})"
            )
        curves[task] = curve
    return from_curves(recipe, curves, " and ".join(sorted(sources)))


def load(path: Path = REFERENCE_FILE) -> dict[str, ReferenceScores]:
    """The committed reference scores by ``<suite>-<preset>``; none where the file does not exist."""
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())["suites"]
        return {
            k: ReferenceScores(
                **(
                    v
                    | {"test_tasks": tuple(v["test_tasks"])}
                    | {"per_task": {t: tuple(x) for t, x in v["per_task"].items()}}
                )
            )
            for k, v in entries.items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise OmrlError(f"{path} is not a reference-scores file ({exc}); restore it from git") from None


def save(scores: ReferenceScores, path: Path = REFERENCE_FILE) -> Path:
    """Add or replace ``scores``'s entry in the file (written beside it, then renamed)."""
    entries = {k: asdict(v) for k, v in load(path).items()} | {scores.key: asdict(scores)}
    text = json.dumps(
        {"format": FORMAT, "about": __doc__.splitlines()[0], "suites": dict(sorted(entries.items()))}, indent=1
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    return path


def find(
    references: dict[str, ReferenceScores], suite: str, preset: str, fingerprint: str | None
) -> ReferenceScores | str:
    """The reference scores of ``suite``'s ``preset`` datasets, or a one-line message saying why there are none
    (``fingerprint``: the recipe the runs' datasets came from, where known)."""
    found = references.get(entry_key(suite, preset))
    command = f"omrl-bench datasets reference-scores --suite {suite} --preset {preset}"
    if found is None:
        return f"no reference scores for {suite} [{preset}] (`{command}` where its datasets are)"
    if fingerprint and fingerprint != found.recipe_fingerprint:
        return (
            f"the reference scores of {suite} [{preset}] are of recipe {found.recipe_fingerprint}, the runs' datasets "
            f"of {fingerprint} (`{command}` where those datasets are)"
        )
    return found
