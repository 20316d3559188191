"""Checks of config fields that every config makes (agents, evolution), with errors that name the field."""

from __future__ import annotations

import numbers
import types
import typing
from typing import Any


def check_positive_ints(config: Any, *names: str) -> None:
    """Each field in `names` is an int >= 1 (not a bool); else a ValueError naming it."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_unit_interval(config: Any, *names: str) -> None:
    """Each field in `names` lies in [0, 1]; else a ValueError naming it."""
    for name in names:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {getattr(config, name)!r}")


def check_non_negative(config: Any, *names: str) -> None:
    """Each field in `names` is >= 0 (a NaN is not); else a ValueError naming it."""
    for name in names:
        if not getattr(config, name) >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)!r}")


def check_bools(config: Any, *names: str) -> None:
    """Each field in `names` is True or False (not 0, 1 or a string); else a ValueError naming it."""
    for name in names:
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be True or False, got {getattr(config, name)!r}")


def typed_settings(config_class: type, settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` checked against the annotated types of `config_class`'s fields (a dataclass), before the config
    is built: a value of the wrong kind (`learning_rate="abc"`, `gamma=true`, `backbone_options=3`) is a
    ValueError naming the field, not a TypeError deep in the learner. A float with no fraction given for an int
    field (`total_timesteps=1e6`, as TOML reads it) becomes that int; a list is taken for a tuple."""
    hints = typing.get_type_hints(config_class)
    checked = {}
    for name, value in settings.items():
        kind = hints.get(name, Any)
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_a(value, kind):
            raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")
        checked[name] = value
    return checked


def _is_a(value: Any, kind: Any) -> bool:
    """Whether `value` fits the annotation `kind` (its outer type only: a dict's or tuple's items are the
    config's own checks)."""
    origin = typing.get_origin(kind) or kind
    if origin in (typing.Union, types.UnionType):
        return any(_is_a(value, arg) for arg in typing.get_args(kind))
    if kind is Any or kind is object:
        return True
    if kind is type(None):
        return value is None
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin in (tuple, list):
        return isinstance(value, (tuple, list))
    return isinstance(value, origin) if isinstance(origin, type) else True


def _kind_name(kind: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table "
             "({key=value, ...})", tuple: "a list ([a, b, ...])", list: "a list ([a, b, ...])"}
    if (typing.get_origin(kind) or kind) in (typing.Union, types.UnionType):
        return " or ".join(_kind_name(arg) for arg in typing.get_args(kind))
    if kind is type(None):
        return "none"
    return names.get(typing.get_origin(kind) or kind, getattr(kind, "__name__", str(kind)))
