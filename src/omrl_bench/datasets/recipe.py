"""Data-generation recipes: one YAML per suite with presets ``smoke``, ``cpu`` and ``paper``."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from omrl_bench.config import apply_overrides, check_ranges, check_seed, from_dict, load_yaml, to_dict
from omrl_bench.datasets.qualities import ALL_QUALITIES, PROTOCOL, QUALITIES, QualityRules
from omrl_bench.envs import get_suite
from omrl_bench.errors import OmrlError

__all__ = ["ALL_QUALITIES", "PROTOCOL", "QUALITIES", "GenerationConfig", "Recipe", "SACConfig", "load_recipe"]


@dataclass(frozen=True)
class SACConfig:
    """stable-baselines3 SAC settings of the per-task behaviour agents."""

    total_steps: int
    checkpoint_every: int
    net_arch: tuple[int, ...] = (256, 256)
    learning_rate: float = 3e-4
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    gamma: float = 0.99
    tau: float = 0.005
    train_freq: int = 1
    gradient_steps: int = 1
    # Denser checkpoints early on: also every ``dense_every`` steps up to ``dense_until`` (0 and 0: none), for
    # curves that rise within a few hundred steps, where ``checkpoint_every`` steps would miss the random
    # rule's checkpoint. Added after the first v1 data: left out of the fingerprint while off (``Recipe.as_dict``).
    dense_every: int = 0
    dense_until: int = 0

    def checkpoint_steps(self, upto: int | None = None) -> list[int]:
        """The steps with a saved policy, from 0 to ``upto`` (default: the final step)."""
        end = self.total_steps if upto is None else upto
        steps = set(range(0, end + 1, self.checkpoint_every))
        if self.dense_every:
            steps.update(range(0, min(self.dense_until, end) + 1, self.dense_every))
        return sorted(steps)


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that determines a suite's datasets (with the base seed)."""

    n_tasks: int
    n_test: int
    task_seed: int
    split_seed: int
    sac: SACConfig
    score_episodes: int  # stochastic episodes per checkpoint, for quality selection
    dataset_episodes: int  # episodes per (task, quality) dataset
    rollout_batch: int = 500  # envs stepped together in one batched policy call
    qualities: QualityRules = QualityRules()  # data protocol v1's thresholds (datasets/qualities.py)


@dataclass(frozen=True)
class Recipe:
    """A resolved recipe: suite, preset, base seed and config."""

    suite: str
    preset: str
    seed: int
    config: GenerationConfig

    @property
    def namespace(self) -> str:
        """Minari namespace of this recipe's datasets."""
        return f"omrl/{self.suite}-{self.preset}"

    def dataset_id(self, task: int, quality: str, version: int = PROTOCOL) -> str:
        """Minari dataset id of one (task, quality); the version is the data protocol's."""
        return f"{self.namespace}/task-{task:02d}/{quality}-v{version}"

    def as_dict(self) -> dict[str, Any]:
        config = to_dict(self.config)
        for key in ("dense_every", "dense_until"):  # off: absent, so the recipes from before them keep their hash
            if not config["sac"][key]:
                del config["sac"][key]
        return {"suite": self.suite, "preset": self.preset, "seed": self.seed, "config": config}

    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the data: equal fingerprints, equal datasets."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def recipe_path(suite: str) -> Path:
    get_suite(suite)
    return Path(str(resources.files("omrl_bench.datasets") / "recipes" / f"{suite}.yaml"))


@functools.cache
def _recipe_file(suite: str) -> Any:
    """A suite's recipe YAML, read once per process (it is part of the installed package); never modified."""
    return load_yaml(recipe_path(suite))


def preset_names(suite: str) -> list[str]:
    return sorted(_recipe_file(suite)["presets"])


def load_recipe(suite: str, preset: str, seed: int = 0, overrides: list[str] | None = None) -> Recipe:
    """Load a suite's preset, apply ``--set`` overrides and validate every key (and the seed's range)."""
    check_seed(seed)
    presets = _recipe_file(suite)["presets"]
    if preset not in presets:
        raise OmrlError(f"unknown preset {preset!r} for {suite}; choose one of: {', '.join(presets)}")
    data = apply_overrides(presets[preset], overrides or [], GenerationConfig)
    config = from_dict(GenerationConfig, data, where=f"{suite}.{preset}")
    check_ranges(config, f"{suite}.{preset}")
    if min(config.n_tasks, config.sac.total_steps, config.sac.checkpoint_every, config.dataset_episodes) <= 0:
        raise OmrlError(
            f"{suite}.{preset}: n_tasks, sac.total_steps, sac.checkpoint_every and dataset_episodes must be > 0"
        )
    sac = config.sac
    if sac.total_steps % sac.checkpoint_every:
        raise OmrlError(f"{suite}.{preset}: sac.total_steps must be a multiple of sac.checkpoint_every")
    if sac.dense_every or sac.dense_until:
        if min(sac.dense_every, sac.dense_until) <= 0 or sac.dense_until % sac.dense_every:
            raise OmrlError(f"{suite}.{preset}: sac.dense_until must be a positive multiple of sac.dense_every")
        if sac.checkpoint_every % sac.dense_every or sac.dense_until > sac.total_steps:
            raise OmrlError(
                f"{suite}.{preset}: sac.dense_every must divide sac.checkpoint_every, "
                "and sac.dense_until be at most sac.total_steps"
            )
    rules = config.qualities
    if rules.mixed_every <= 0 or rules.mixed_every % sac.checkpoint_every:
        raise OmrlError(f"{suite}.{preset}: qualities.mixed_every must be a multiple of sac.checkpoint_every")
    if not 0.0 < rules.random_threshold < 1.0 or not 0.0 < rules.medium_target < 1.0:
        raise OmrlError(f"{suite}.{preset}: qualities.random_threshold and medium_target must lie in (0, 1)")
    return Recipe(suite=suite, preset=preset, seed=seed, config=config)
