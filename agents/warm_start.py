"""A warm start: begin an RL run from a student's weights instead of a random network (`--init-from FILE`).

    payload = load_checkpoint("runs/dagger-0/checkpoint.pt")     # or a `sandbox fit bc` checkpoint
    loaded = warm_start(model, config, "runs/dagger-0/checkpoint.pt")   # -> ["backbone", "critic_backbone", "pi"]

`sandbox train --init-from` takes the student's backbone and sensor unless given (`student_settings`).
The student's backbone must be the run's: the same spec and options (so the same layers and shapes); another
is refused, naming both. What is copied: the backbone (into the critic's too when the run has its own, since a
student trains no critic: its features are a better start than random ones), and the policy head where the
run's actions are the student's (an actor-critic's `pi` from a DAgger student's `pi` or a BC policy's `head`).
A Q-network takes the backbone only: a student's logits are no action values. The value head starts afresh.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import torch
from torch import nn

from agents.settings import as_tuples
from sandbox.runs.checkpoints import load_checkpoint


def warm_start(model: nn.Module, config: Any, path: str | os.PathLike) -> list[str]:
    """Copy a student checkpoint's backbone (and policy head) into `model`, built from `config`; return the
    names of the parts copied.

    Raises:
        ValueError: the file holds no student, or its backbone is not the run's (the message names both).
    """
    payload = load_checkpoint(path)
    source_spec, source_options, weights, head = _student(payload, path)
    target_options = config.backbone_options or {}
    if source_spec != config.backbone or not _same_options(model.backbone, source_options, target_options):
        raise ValueError(f"--init-from {path}: its backbone is {source_spec!r} {_plain(source_options)}, this run's "
                         f"is {config.backbone!r} {_plain(target_options)}; give the run the student's backbone "
                         "(--backbone, --set backbone_options=...)")
    backbone = _part(weights, "backbone.")
    _load(model.backbone, backbone, "backbone", path)
    loaded = ["backbone"]
    critic = getattr(model, "critic_backbone", None)
    if critic is not None and critic is not model.backbone:
        _load(critic, _part(weights, "critic_backbone.") or backbone, "critic_backbone", path)
        loaded.append("critic_backbone")
    pi = getattr(model, "pi", None)
    head_weights = _part(weights, head)
    if pi is not None and head_weights and head_weights["weight"].shape == pi.weight.shape:
        pi.load_state_dict(head_weights)
        loaded.append("pi")
    return loaded


SENSOR_KEYS = ("obs", "n_rays", "ray_fov", "ray_range", "image_size", "cells_per_pixel", "speedometer")
"""the env arguments that shape an observation: a student's backbone reads the observation they made"""


def student_settings(path: str | os.PathLike, box_actions: bool) -> dict[str, Any]:
    """The settings a run started from the student at `path` takes from it (the user's own go over them): its
    backbone and options, its sensor (SENSOR_KEYS, and `continuous` for a family with Box actions: the policy
    head copies only onto the student's actions), and raw observations unless the student normalised its own
    (weights fitted to raw inputs mean nothing on normalised ones).

    Raises:
        ValueError: the file holds no student (as `warm_start`).
    """
    payload = load_checkpoint(path)
    spec, options, _, _ = _student(payload, path)
    config = payload.get("config", {})
    env_kwargs = config.get("env_kwargs") or {}
    keys = SENSOR_KEYS + (("continuous",) if box_actions else ())
    settings = {"backbone": spec, "backbone_options": as_tuples(options),
                "normalize_observation": bool(config.get("normalize_observation", False))}
    sensor = {key: env_kwargs[key] for key in keys if key in env_kwargs}
    return {**settings, "env_kwargs": sensor} if sensor else settings


def announce_warm_start(path: str | os.PathLike, loaded: list[str]) -> None:
    """One line on stderr: where the run starts from."""
    print(f"starting from {path}: {', '.join(loaded)} copied (--init-from)", file=sys.stderr)


def _student(payload: dict[str, Any], path: str | os.PathLike) -> tuple[str, dict, dict[str, torch.Tensor], str]:
    """(backbone spec, its options, the weights, the policy head's prefix) of a train run or a BC component."""
    if "agent" in payload and "model" in payload:  # a `sandbox train` checkpoint (or its loop's payload)
        config = payload.get("config", {})
        return str(config.get("backbone", "mlp")), dict(config.get("backbone_options") or {}), payload["model"], "pi."
    if payload.get("component") == "bc":
        config = payload["config"]
        return str(config.get("backbone", "mlp")), dict(config.get("backbone_options") or {}), payload["model"], "head."
    raise ValueError(f"--init-from {path}: holds no student to start from (a `sandbox train` checkpoint, e.g. of "
                     "dagger, or a `sandbox fit bc` one)")


def _part(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)}


def _load(module: nn.Module, weights: dict[str, torch.Tensor], name: str, path: str | os.PathLike) -> None:
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:  # layers or shapes differ: torch's message lists them
        raise ValueError(f"--init-from {path}: its {name} does not fit this run's: "
                         f"{str(exc).splitlines()[0]}") from exc


def _same_options(backbone: nn.Module, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two option dicts make the same backbone: compared as the backbone's config dataclass makes them
    (so {} and {"widths": (64, 64)} agree where (64, 64) is the default), else as plain values."""
    config_class = type(getattr(backbone, "config", None))
    if dataclasses.is_dataclass(config_class):
        try:
            return config_class(**_plain(a)) == config_class(**_plain(b))
        except (TypeError, ValueError):
            return False
    return _plain(a) == _plain(b)


def _plain(options: Any) -> Any:
    """Options compared as values: tuples and lists alike, tensors as lists (a checkpoint stores some so)."""
    if isinstance(options, dict):
        return {key: _plain(value) for key, value in sorted(options.items())}
    if isinstance(options, (list, tuple)):
        return [_plain(value) for value in options]
    if isinstance(options, torch.Tensor):
        return options.tolist()
    return options
