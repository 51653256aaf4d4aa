"""The policy archive: what a finished task needs to rebuild its datasets without retraining SAC.

A task's datasets are rollouts of a few SAC checkpoints chosen from its score curve (``qualities.py``).
The archive keeps exactly those: the score curve (``scores.json``) and the actor of every checkpoint
that any quality of protocol v1 rolls out, without the critics (a fifth of a checkpoint's size). A
task restored from it skips SAC and scoring, and its rollouts give byte-identical datasets, since they
read only the actor. It is how a suite too expensive to retrain on one machine (Sparse-Cheetah-Vel's
`cpu` preset: about five core-hours of SAC) is shared in a repository and resumed across machines.

Layout: ``ARCHIVE/<suite>-<preset>-<fingerprint>/task-XX/`` holds ``scores.json``, one
``actor-<step>.pt`` per checkpoint, and ``manifest.json``, written last, with every file's sha256. A task
folder without a manifest is not archived; one whose files do not match their manifest is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

from omrl_bench.errors import OmrlError

MANIFEST = "manifest.json"
SCORES = "scores.json"
FORMAT = 1


def actor_name(step: int) -> str:
    return f"actor-{step:08d}.pt"


def task_dir(archive: Path, suite: str, preset: str, fingerprint: str, task: int) -> Path:
    return archive / f"{suite}-{preset}-{fingerprint}" / f"task-{task:02d}"


def actor_only(checkpoint: bytes) -> bytes:
    """An SB3 ``SACPolicy.save`` file reduced to its actor's weights (``behaviour.load_policy`` reads both)."""
    import torch

    saved = torch.load(io.BytesIO(checkpoint), map_location="cpu", weights_only=False)
    state = {k: v for k, v in saved["state_dict"].items() if k.startswith("actor.")}
    if not state:
        raise OmrlError("a SAC checkpoint without actor weights cannot be archived")
    out = io.BytesIO()
    torch.save({"data": saved["data"], "state_dict": state}, out)
    return out.getvalue()


def pack(scores: bytes, actors: dict[int, bytes], meta: dict[str, Any]) -> dict[str, bytes]:
    """The files of one archived task, manifest included (``meta``: suite, preset, seed, task, fingerprint)."""
    files = {SCORES: scores} | {actor_name(step): blob for step, blob in sorted(actors.items())}
    manifest = {
        "format": FORMAT,
        **meta,
        "steps": sorted(actors),
        "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in files.items()},
    }
    return files | {MANIFEST: json.dumps(manifest, indent=1, sort_keys=True).encode()}


def write(folder: Path, files: dict[str, bytes]) -> None:
    """Write a task's files beside the folder and rename it into place (a reader never sees half of it)."""
    if (folder / MANIFEST).exists():
        return
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, blob in files.items():
        (tmp / name).write_bytes(blob)
    shutil.rmtree(folder, ignore_errors=True)  # a folder without a manifest holds nothing valid
    os.replace(tmp, folder)


def read(folder: Path, fingerprint: str) -> dict[str, bytes] | None:
    """An archived task's verified files (manifest included), or None when the task is not archived;
    corrupt ones are refused."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        sums = dict(manifest["sha256"])
        steps = [int(s) for s in manifest["steps"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise OmrlError(f"{manifest_path}: not a valid archive manifest ({exc}); remove {folder} to retrain") from None
    if manifest.get("fingerprint") != fingerprint:
        raise OmrlError(
            f"{folder} was archived from recipe {manifest.get('fingerprint')}, not {fingerprint}; "
            "remove it or point --archive elsewhere"
        )
    expected = {SCORES} | {actor_name(s) for s in steps}
    if set(sums) != expected:
        raise OmrlError(f"{manifest_path}: its file list does not match its steps; remove {folder} to retrain")
    files = {}
    for name, digest in sorted(sums.items()):
        path = folder / name
        if not path.exists():
            raise OmrlError(f"{path} is missing from the archive; remove {folder} to retrain the task")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != digest:
            raise OmrlError(f"{path} does not match its sha256 in {MANIFEST} (corrupt); remove {folder} to retrain")
        files[name] = blob
    return files | {MANIFEST: manifest_path.read_bytes()}


def steps_of(files: dict[str, bytes]) -> list[int]:
    """The checkpoint steps in an archived task's files."""
    return [int(name[len("actor-") : -len(".pt")]) for name in files if name.startswith("actor-")]
