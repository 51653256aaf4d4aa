"""Offline datasets: SB3 SAC behaviour agents -> checkpoints -> qualities -> Minari."""

from omrl_bench.datasets.loader import SuiteData, TaskData, list_datasets, load_suite, verify_suite
from omrl_bench.datasets.recipe import QUALITIES, Recipe, load_recipe

__all__ = ["QUALITIES", "Recipe", "SuiteData", "TaskData", "list_datasets", "load_recipe", "load_suite", "verify_suite"]
