"""The plug-in point: backbone names -> builders, and `make_backbone`.

A spec resolves, in this order:

1. a `"package.module:attr"` string: the attribute is imported (no registration needed);
2. a name given to `register_backbone` (the built-ins "mlp", "cnn", "attention" and "table", the tabular
   one-hot code, are registered this way);
3. a name published by an installed package under the entry-point group `sandbox.backbones`, e.g. in its
   pyproject.toml: `[project.entry-points."sandbox.backbones"] mynet = "mypkg.nets:MyNet"`.

Whatever it resolves to is called as `builder(observation_space, **options)` and must return an `nn.Module`
with an int `out_dim`; a class with that constructor is the usual builder.

A spec that cannot be resolved or built raises `BackboneError`, one line naming the spec. A "module:attr" spec
imports code: a loader reading a spec from a checkpoint asks `sandbox.runs.trust` first.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable
from importlib import metadata

from gymnasium import spaces
from torch import nn

ENTRY_POINT_GROUP = "sandbox.backbones"

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


class BackboneError(TypeError, ValueError):
    """A backbone spec that cannot be resolved or built; the message names the spec, in one line.

    Both a TypeError (what a builder that breaks the contract used to raise, and callers still catch) and a
    ValueError (what the CLI catches to print one line instead of a traceback).
    """


def register_backbone(name: str, builder: Builder | None = None, *, replace: bool = False):
    """Register `builder` under `name`; usable as a call or as a class decorator.

        register_backbone("mynet", MyNet)

        @register_backbone("mynet")
        class MyNet(nn.Module): ...

    Args:
        name: the spec users pass to `make_backbone`; no ":" (that marks a "module:attr" spec).
        builder: a class or function called as `builder(observation_space, **options)`.
        replace: allow replacing an existing registration.

    Raises:
        ValueError: the name is empty, contains ":", or is taken (and `replace` is False).
        TypeError: the builder is not callable.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"a backbone name must be a non-empty string without ':', got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backbone {name!r} is already registered; pass replace=True to replace it")

    def add(b: Builder) -> Builder:
        if not callable(b):
            raise TypeError(f"backbone {name!r}: expected a class or function, got {type(b).__name__}")
        _REGISTRY[name] = b
        return b

    return add if builder is None else add(builder)


def _entry_points() -> dict[str, metadata.EntryPoint]:
    # read on every call, not cached: a package installed (or a path added) since start-up is found
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_backbones() -> list[str]:
    """Names `make_backbone` accepts: registered ones and those published through entry points."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def _known() -> str:
    return f"known backbones: {', '.join(available_backbones())}; or a 'package.module:attr' string"


def _import_attr(spec: str) -> object:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise BackboneError(f"backbone spec {spec!r} must read 'package.module:attr'")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # missing, or failing on import (a syntax error, its own raise): say which module
        raise BackboneError(f"backbone spec {spec!r}: cannot import module {module_name!r} ({_line(exc)})") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BackboneError(f"backbone spec {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def resolve_backbone(spec: str | Builder) -> Builder:
    """The builder a spec names (see the module docstring for the order); a callable passes through.

    Raises:
        BackboneError: the spec is not a string, names nothing known, or names something that is not callable.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise BackboneError(f"backbone spec must be a name or a 'module:attr' string, got {spec!r}; {_known()}")
    if ":" in spec:
        builder = _import_attr(spec)
    elif spec in _REGISTRY:
        builder = _REGISTRY[spec]
    elif spec in (eps := _entry_points()):
        try:
            builder = eps[spec].load()
        except Exception as exc:  # a broken third-party package: say which one
            raise BackboneError(
                f"backbone {spec!r} (entry point {eps[spec].value!r}) failed to load: {_line(exc)}"
            ) from exc
    else:
        raise BackboneError(f"unknown backbone {spec!r}; {_known()}")
    if not callable(builder):
        raise BackboneError(
            f"backbone {spec!r} is a {type(builder).__name__}, not a class or function; {_known()}"
        )
    return builder


def make_backbone(spec: str | Builder, observation_space: spaces.Space, **options) -> nn.Module:
    """Build a backbone: `features = backbone(obs)`, obs (B, *obs_shape) -> features (B, backbone.out_dim).

    Args:
        spec: "mlp", "cnn", "attention", a registered or entry-point name, or "package.module:attr".
        observation_space: the gymnasium space the observations come from.
        **options: passed on to the builder (for the built-ins: fields of MLPConfig, CNNConfig,
            AttentionConfig, or `config=` one of those).

    Raises:
        BackboneError: unknown spec (the message lists the known names), a builder that cannot be called as
            `builder(observation_space, **options)`, or that did not produce an `nn.Module` with a positive int
            `out_dim` (a TypeError and a ValueError both).
        ValueError: the builder refused the space or an option (its own message).
        TypeError: `observation_space` is not a gymnasium space (a caller's bug, not the spec's).
    """
    if not isinstance(observation_space, spaces.Space):
        kind = type(observation_space).__name__
        raise TypeError(f"observation_space must be a gymnasium space, got a {kind}")
    builder = resolve_backbone(spec)
    name = getattr(builder, "__name__", repr(builder))
    try:
        backbone = builder(observation_space, **options)
    except BackboneError:  # a builder that builds a backbone itself (a wrapper): its message names its spec
        raise
    except TypeError as exc:  # most often a constructor that does not follow the contract
        raise BackboneError(
            f"backbone {spec!r} could not be built as {name}(observation_space, **options): {_line(exc)}"
        ) from exc
    if not isinstance(backbone, nn.Module):
        raise BackboneError(
            f"backbone {spec!r} ({name}) built a {type(backbone).__name__}, not a torch.nn.Module; {_known()}"
        )
    out_dim = getattr(backbone, "out_dim", None)
    if isinstance(out_dim, bool) or not isinstance(out_dim, numbers.Integral) or out_dim < 1:
        raise BackboneError(
            f"backbone {spec!r} ({name}) must set an int attribute out_dim > 0 (the feature width), "
            f"got {out_dim!r}; {_known()}"
        )
    return backbone


def _line(exc: BaseException) -> str:
    """An exception's message on one line (a multi-line message would break the CLI's one-line error)."""
    return " ".join(str(exc).split()) or type(exc).__name__
