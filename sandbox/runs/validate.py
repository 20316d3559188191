"""Checks of config fields that every config makes (agents, evolution), with errors that name the field."""

from __future__ import annotations

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
