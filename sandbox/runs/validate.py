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
