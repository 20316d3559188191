"""Trajectory files: what `sandbox play --record` and `sandbox collect` write, and what the trainable
components (`sandbox fit`) read. One `.npz` of T steps, episodes one after another:

    rays        (T, R) float32       the rays observation, when the env gave one
    pixels      (T, H, W, 3) uint8   the ego pixels observation, when the env gave one
    action      (T,) int64 (Discrete(5)) or (T, 2) float32 (steer, throttle)
    reward      (T,) float32
    terminated  (T,) bool            the step ended its episode (a crash, a contact, a lap)
    truncated   (T,) bool            the step limit ended its episode
    episode     (T,) int64           which episode the step belongs to (0, 1, ...)
    meta        a JSON string: format, version, level, obs, continuous, driver

Step t holds the observation the driver saw, the action it took there and the reward that action earned.
Files are written atomically (a temporary file renamed over the path). `load_trajectories` checks every key
and shape and names the file and the problem.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "sandbox-trajectories"
VERSION = 1
STEP_KEYS = ("action", "reward", "terminated", "truncated", "episode")
OBS_KEYS = ("rays", "pixels")


def save_trajectories(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write `arrays` (the keys above) and `meta` (level, obs, continuous, driver) to `path` atomically."""
    path = Path(path)
    _check(arrays, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    header = json.dumps({"format": FORMAT, "version": VERSION, **meta})
    try:
        np.savez_compressed(tmp, meta=np.array(header), **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves no stray temporary file
    return path


def load_trajectories(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a trajectory file: (arrays, meta). Errors name the file and what is wrong with it.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: not a trajectory file (truncated, corrupt, another format), a missing key, a wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable trajectory file (truncated or corrupt?): {exc}") from None
    if "meta" not in arrays:
        raise ValueError(f"{path} is not a trajectory file: it has no 'meta' entry (keys: {sorted(arrays)})")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError:
        raise ValueError(f"{path}: its 'meta' entry is not JSON") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{path} is {meta.get('format')!r} version {meta.get('version')!r}; this version reads "
                         f"{FORMAT!r} version {VERSION}")
    _check(arrays, str(path))
    return arrays, meta


def _check(arrays: dict[str, np.ndarray], where: str) -> None:
    missing = [key for key in STEP_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; a trajectory file has {list(STEP_KEYS)} and one of "
                         f"{list(OBS_KEYS)}")
    if not any(key in arrays for key in OBS_KEYS):
        raise ValueError(f"{where}: no observations: it needs 'rays' or 'pixels'")
    steps = len(arrays["reward"])
    for key in (*STEP_KEYS, *OBS_KEYS):
        if key in arrays and (np.ndim(arrays[key]) == 0 or len(arrays[key]) != steps):
            raise ValueError(f"{where}: {key!r} has shape {np.shape(arrays[key])}; every key needs {steps} steps "
                             "(the length of 'reward')")
    shapes = {"rays": 2, "pixels": 4}
    for key, ndim in shapes.items():
        if key in arrays and np.ndim(arrays[key]) != ndim:
            raise ValueError(f"{where}: {key!r} has shape {np.shape(arrays[key])}; expected {ndim} dimensions")
    if np.ndim(arrays["action"]) not in (1, 2):
        raise ValueError(f"{where}: 'action' has shape {np.shape(arrays['action'])}; expected (T,) or (T, 2)")


def split_obs(obs: Any) -> dict[str, np.ndarray]:
    """An env observation batch (rays array, pixels array or a Dict of both) as the file's keys."""
    if isinstance(obs, dict):
        return {key: np.asarray(obs[key]) for key in OBS_KEYS if key in obs}
    obs = np.asarray(obs)
    return {"pixels": obs} if obs.ndim == 4 else {"rays": obs.astype(np.float32)}
