"""The compact Minari writer: Minari reads it, the loader agrees, files are small and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np

from omrl_bench.datasets import storage
from omrl_bench.datasets.behaviour import Episode


def _episodes(n: int, steps: int, seed: int = 0) -> list[Episode]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = steps - (i % 3)  # uneven lengths
        out.append(
            Episode(
                observations=rng.normal(size=(t + 1, 2)).astype(np.float32),
                actions=rng.uniform(-1, 1, size=(t, 2)).astype(np.float32),
                rewards=rng.normal(size=t),
                terminations=np.zeros(t, dtype=bool),
                truncations=np.arange(t) == t - 1,
                infos={
                    "task": np.full(t + 1, 3),
                    "dense_reward": rng.normal(size=t + 1),
                    "sparse_reward": rng.uniform(size=t + 1),
                },
            )
        )
    return out


def _write(path: Path, eps: list[Episode], dataset_id: str = "omrl/test-smoke/task-00/expert-v0") -> Path:
    env = gym.make("omrl/SparsePointRobot-v0", goal=[1.0, 0.0], task=0)
    image, meta = storage.build_dataset(
        dataset_id,
        env,
        eps,
        "test",
        {"task": 0, "quality": "expert"},
    )
    storage.write_dataset_dir(path / "data", image, meta)
    return path / "data"


def test_minari_reads_what_we_write(tmp_path: Path, monkeypatch) -> None:
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    eps = _episodes(7, 20)
    _write(tmp_path / "omrl/test-smoke/task-00/expert-v0", eps)
    ds = minari.load_dataset("omrl/test-smoke/task-00/expert-v0")
    assert ds.total_episodes == 7 and ds.total_steps == sum(len(e.rewards) for e in eps)
    for ours, theirs in zip(eps, ds.iterate_episodes(), strict=True):
        np.testing.assert_array_equal(theirs.observations, ours.observations)
        np.testing.assert_array_equal(theirs.actions, ours.actions)
        np.testing.assert_array_equal(theirs.rewards, ours.rewards)
        np.testing.assert_array_equal(theirs.truncations, ours.truncations)
        np.testing.assert_array_equal(theirs.infos["sparse_reward"], ours.infos["sparse_reward"])
    env = ds.recover_environment()
    np.testing.assert_allclose(env.unwrapped.goal, [1.0, 0.0])


def test_fast_reader_matches_episodes(tmp_path: Path) -> None:
    eps = _episodes(9, 20, seed=1)
    data = _write(tmp_path / "ds", eps)
    arrays = storage.read_arrays(data)
    np.testing.assert_array_equal(arrays["observations"], np.concatenate([e.observations for e in eps]))
    np.testing.assert_array_equal(arrays["actions"], np.concatenate([e.actions for e in eps]))
    np.testing.assert_array_equal(arrays["rewards"], np.concatenate([e.rewards for e in eps]))
    np.testing.assert_array_equal(
        arrays["infos/sparse_reward"], np.concatenate([e.infos["sparse_reward"] for e in eps])
    )


def test_bytes_are_reproducible_and_small(tmp_path: Path) -> None:
    eps = _episodes(500, 20)
    a, b = storage.encode_hdf5(eps), storage.encode_hdf5(_episodes(500, 20))
    assert a == b
    raw = sum(e.nbytes for e in eps)
    assert len(a) <= 3 * raw, f"{len(a) / raw:.2f}x the raw bytes"


def test_metadata_records_checksum(tmp_path: Path) -> None:
    data = _write(tmp_path / "ds", _episodes(3, 20))
    meta = json.loads((data / "metadata.json").read_text())
    assert meta["omrl"]["sha256"] == storage.sha256_file(data / "main_data.hdf5")
    assert meta["omrl"]["episode_lengths"] == [20, 19, 18]
