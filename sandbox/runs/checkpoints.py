"""Checkpoints: written atomically, versioned, read back with `torch.load(weights_only=True)`.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts (what `weights_only` unpickles: no
code runs on load). It is written to a temporary file beside its path and renamed over it, so a run killed
mid-write (`kill -9` included) leaves the previous checkpoint whole, never half a file.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write `payload` (plus the format version) to `path` atomically; return the path.

    Raises:
        FloatingPointError: a floating tensor of the payload holds NaN or inf (weights gone bad are never
            saved: the checkpoint already at `path`, the last good one, stays as it was).
    """
    path = Path(path)
    bad = non_finite(payload)
    if bad is not None:
        raise FloatingPointError(f"refusing to save {path}: {bad} holds NaN or inf values; the checkpoint there "
                                 "(if any) is unchanged")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)
        with open(tmp, "rb+") as f:  # the bytes reach the disk before the rename makes them the checkpoint
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write (a full disk, an unpicklable value) leaves nothing behind
    return path


def non_finite(obj: Any, where: str = "payload") -> str | None:
    """The key path of the first floating tensor under `obj` that holds NaN or inf (None if there is none)."""
    if isinstance(obj, torch.Tensor):
        return where if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = non_finite(value, f"{where}[{key!r}]")
        if found is not None:
            return found
    return None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint; errors name the file and what is wrong with it.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: not a checkpoint (corrupt, truncated, another format), or another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for a damaged file; all mean the same to a user
        raise ValueError(f"{path} is not a readable sandbox checkpoint (truncated or corrupt?): {exc}") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ValueError(f"{path} is not a sandbox checkpoint (no format_version)")
    if payload["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {payload['format_version']}; this version reads "
                         f"format {FORMAT_VERSION}")
    return payload


def rng_states(numpy_rng: np.random.Generator | None = None) -> dict[str, Any]:
    """The random states a run needs to continue exactly: torch's, numpy's global and an optional Generator."""
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_global_state()}
    if numpy_rng is not None:
        state["generator"] = numpy_rng.bit_generator.state
    return state


def restore_rng_states(state: dict[str, Any], numpy_rng: np.random.Generator | None = None) -> None:
    """Put back what `rng_states` saved."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if numpy_rng is not None and "generator" in state:
        numpy_rng.bit_generator.state = state["generator"]


def _numpy_global_state() -> list:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def to_tensors(obj: Any) -> Any:
    """numpy arrays (at any depth of dicts, lists and tuples) -> tensors, so `weights_only` can read them."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, dict):
        return {key: to_tensors(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_tensors(value) for value in obj]
    return obj


def to_numpy(obj: Any) -> Any:
    """The inverse of `to_tensors`: tensors (at any depth) -> numpy arrays."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {key: to_numpy(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [to_numpy(value) for value in obj]
    return obj


def non_finite_weight(module: torch.nn.Module) -> str | None:
    """The name of the first parameter or floating buffer of `module` holding NaN or inf, or None.

    Cheap when all is well (one `isfinite().all()` per tensor, one stack, one sync); names only on failure.
    """
    named = [(name, t.detach()) for name, t in itertools.chain(module.named_parameters(), module.named_buffers())
             if t.is_floating_point()]
    if not named or bool(torch.stack([t.isfinite().all() for _, t in named]).all()):
        return None
    return next(name for name, t in named if not bool(t.isfinite().all()))
