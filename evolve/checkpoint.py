"""What an evolution run writes and reads back: evolved drivers (the hall of fame), and the run's state after a
generation (population, hall of fame, logbook, the strategy's own state, every random state) so `--resume`
continues it exactly. Both go through `sandbox.runs.checkpoints` (atomic, versioned, `weights_only=True`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch

from evolve.genome import ArchGenes, Driver, from_vector
from sandbox.runs.checkpoints import load_checkpoint, restore_rng_states, rng_states, save_checkpoint, to_tensors
from sandbox.runs.trust import check_checkpoint

DRIVER_KIND = "evolved-driver"
RUN_KIND = "evolution"
_OLD_STATE_KEYS = ("cma",)  # a format note, not a strategy case: where runs saved before the registry kept it


def save_driver(path: str | os.PathLike, net: Driver, env_kwargs: dict[str, Any], backbone: str,
                backbone_options: dict[str, Any], **info: Any) -> Path:
    """An evolved driver as a checkpoint that `sandbox eval` and `sandbox replay` load (`load_evolved_driver`)."""
    return save_checkpoint(path, {"kind": DRIVER_KIND, "env_kwargs": dict(env_kwargs), "backbone": backbone,
                                  "backbone_options": to_tensors(_plain(backbone_options)),
                                  "model": net.state_dict(), **info})


def load_evolved_driver(payload_or_path: dict[str, Any] | str | os.PathLike, *, trust_code: bool = False,
                source: str | os.PathLike | None = None) -> tuple[Driver, dict[str, Any]]:
    """(driver, env_kwargs) from an evolved driver's checkpoint (or its loaded payload).

    Args:
        payload_or_path: the checkpoint's path, or its payload as `load_checkpoint` returned it.
        trust_code: let a "module:attr" backbone stored in the checkpoint import its module.
        source: the file a payload came from, for the messages (default: the path, or "evolved driver").

    Raises:
        UntrustedCodeError: (a ValueError) the backbone names code and `trust_code` is False.
        ValueError: not an evolved driver's checkpoint.
    """
    from evolve.evaluate import EvalSpec, spaces_of

    is_payload = isinstance(payload_or_path, dict)
    source = source if source is not None else ("evolved driver" if is_payload else payload_or_path)
    payload = payload_or_path if is_payload else load_checkpoint(payload_or_path)
    check_checkpoint(payload, source, trust_code)  # before the Driver imports what its backbone names
    if payload.get("kind") != DRIVER_KIND:
        raise ValueError(f"{source} is not an evolved driver's checkpoint (kind is missing or different)")
    env_kwargs = dict(payload["env_kwargs"])
    options = _options(payload["backbone_options"])
    net = Driver(*spaces_of(EvalSpec(**env_kwargs)), payload["backbone"], options)
    net.load_state_dict(payload["model"])
    return net.eval(), env_kwargs


def driver_from_genome(spaces: tuple, vector: list[float], backbone: str, options: dict[str, Any],
                       arch: ArchGenes | None) -> tuple[Driver, str, dict[str, Any]]:
    """The network a genome encodes, with the backbone spec and options it was built from."""
    if arch is not None:
        backbone, options = arch.family, arch.backbone_options()
    return from_vector(Driver(*spaces, backbone, options), vector).eval(), backbone, options


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


# -- the run's state ---------------------------------------------------------------------------------------
def individuals_state(individuals: list[Any]) -> list[dict[str, Any]]:
    return [{"vector": torch.tensor(list(ind), dtype=torch.float64),
             "arch": ind.arch.key if ind.arch is not None else "",
             "fitness": list(ind.fitness.values)} for ind in individuals]


def restore_individuals(states: list[dict[str, Any]], make: Any) -> list[Any]:
    out = []
    for s in states:
        ind = make(s["vector"].tolist(), ArchGenes.from_key(s["arch"]) if s["arch"] else None)
        if s["fitness"]:
            ind.fitness.values = tuple(s["fitness"])
        out.append(ind)
    return out


def random_states() -> dict[str, Any]:
    """Python's `random` (DEAP's operators), numpy's global generator (CMA-ES) and torch's."""
    version, internal, gauss = random.getstate()
    return {**rng_states(), "python": [version, torch.tensor(internal, dtype=torch.int64), gauss]}


def restore_random_states(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    restore_rng_states(state)


def strategy_state(payload: dict[str, Any]) -> Any:
    """The strategy's own state in a run's checkpoint (`Strategy.save_state`'s value; None if it keeps none)."""
    for key in ("strategy_state", *_OLD_STATE_KEYS):
        if key in payload:
            return payload[key]
    return None


def save_run(path: Path, payload: dict[str, Any]) -> Path:
    return save_checkpoint(path, {"kind": RUN_KIND, **payload})
