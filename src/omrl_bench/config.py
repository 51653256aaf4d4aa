"""Frozen, typed configs built from YAML presets and ``key=value`` overrides.

Every key is checked against the dataclass fields: a misspelled key is an
error naming the allowed keys, never silently ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from omrl_bench.errors import OmrlError

T = TypeVar("T")

SEED_MAX = 2**32 - 1  # numpy's and SB3's seed range: larger seeds overflow or wrap onto smaller ones


def check_seed(seed: int, what: str = "seed") -> int:
    """``seed`` if it lies in 0..2**32-1, else a one-line error (4294967296 would equal seed 0 bit for bit)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise OmrlError(f"{what} {seed!r} is out of range: seeds are integers from 0 to {SEED_MAX} (2**32 - 1)")
    return seed


# Keys whose value must be > 0 (a learning rate, a width, a count), or lie in [0, 1] (a discount, a rate),
# wherever they appear in a config: a negative learning rate or a zero width fails deep inside torch.
_POSITIVE_NAMES = {"lr", "learning_rate", "hidden", "heads", "blocks", "ensemble", "decoders", "negatives"}
_POSITIVE_SUFFIXES = ("_lr", "_hidden", "_batch", "batch_size", "latent_dim", "_latent", "temperature", "n_actions")
_UNIT_NAMES = {"gamma", "tau", "target_tau", "dropout", "momentum"}


def check_ranges(cfg: Any, where: str = "") -> None:
    """Reject learning rates, widths and batch sizes that are not > 0, and discounts and rates outside
    [0, 1], anywhere in the (nested) config dataclass ``cfg``, with a one-line error naming the key."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value):
            check_ranges(value, key)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        elif (f.name in _POSITIVE_NAMES or f.name.endswith(_POSITIVE_SUFFIXES)) and not value > 0:
            raise OmrlError(f"{key} must be > 0, got {value!r}")
        elif f.name in _UNIT_NAMES and not 0 <= value <= 1:
            raise OmrlError(f"{key} must lie in [0, 1], got {value!r}")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except OmrlError:
                continue
        raise OmrlError(f"{where}: {value!r} is not a {tp}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise OmrlError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return tuple(_coerce(v, item, f"{where}[]") for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise OmrlError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise OmrlError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OmrlError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise OmrlError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown and missing keys."""
    if not isinstance(data, dict):
        raise OmrlError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise OmrlError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise OmrlError(f"{where}: missing key {name!r}")
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A config as plain JSON/YAML-ready data (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(obj))


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_value(raw: str) -> Any:
    """A ``--set`` value as YAML, except that ``3e-4`` is the number (YAML 1.1 reads it as a string)."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise OmrlError(f"--set: {raw!r} is not a value (a number, true/false, a string or a [list])") from None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise OmrlError(f"--set: {raw!r} is not a finite number")
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str], schema: type | None = None) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (values parsed as YAML) to a nested mapping.

    Keys are checked against the dataclass ``schema`` when given (so a key the preset leaves at its
    default can still be set), else against the keys already in ``data``.
    """
    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise OmrlError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        node, cls = out, schema
        parts = key.split(".")
        for depth, part in enumerate(parts):
            allowed = [f.name for f in dataclasses.fields(cls)] if cls is not None else list(node)
            if part not in allowed:
                raise OmrlError(f"--set {key}: unknown key {part!r}; allowed keys: {', '.join(sorted(allowed))}")
            if depth == len(parts) - 1:
                node[part] = parse_value(raw)
                break
            sub = typing.get_type_hints(cls)[part] if cls is not None else None
            if cls is not None and not dataclasses.is_dataclass(sub):
                raise OmrlError(f"--set {key}: {part!r} is not a section of the config")
            if not isinstance(node.get(part), dict):
                if cls is None:
                    raise OmrlError(f"--set {key}: {part!r} is not a section of the config")
                node[part] = {}
            node, cls = node[part], sub
    return out


def load_yaml(path: Path) -> Any:
    """Read a YAML file with a one-line error when it is missing or malformed."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise OmrlError(f"no such file: {path}") from None
    except yaml.YAMLError as exc:
        raise OmrlError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
