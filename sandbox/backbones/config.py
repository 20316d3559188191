"""From `make_backbone(..., **options)` to a family's config dataclass, with errors that name the option."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C")


def build_config(cls: type[C], config: C | None, options: dict[str, Any], family: str) -> C:
    """A `cls` instance from `config` (or the defaults) with `options` replacing its fields.

    Raises:
        ValueError: an option is not a field of `cls`; the message lists the valid ones.
        TypeError: `config` is not a `cls`.
    """
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"{family} backbone: config must be a {cls.__name__}, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for the {family!r} backbone; "
            f"valid options: {', '.join(fields)}"
        )
    return dataclasses.replace(config, **options)


def positive_ints(name: str, values: Any) -> tuple[int, ...]:
    """`values` as a non-empty tuple of positive ints, or a ValueError naming the field."""
    try:
        result = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}") from None
    if not result or min(result) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {values!r}")
    return result


def choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else a ValueError naming the field and the choices."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
