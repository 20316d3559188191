"""Tiny trajectory files for the component tests, collected once per session from the expert."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sandbox.commands.collect import collect
from sandbox.runs.trajectories import load_trajectories


def tiny_file(folder: Path, obs: str = "both", steps: int = 256, level: str = "easy", noise: float = 0.0) -> Path:
    """An expert trajectory file of about `steps` steps (8 cars, short episodes)."""
    path = folder / f"{level}-{obs}-{steps}-{noise}.npz"
    if not path.is_file():
        collect("expert", level=level, steps=steps, out=path, obs=obs, num_envs=8, noise=noise,
                max_episode_steps=64, progress=False)
    return path


def tiny_arrays(folder: Path, **kwargs) -> tuple[dict[str, np.ndarray], dict]:
    return load_trajectories(tiny_file(folder, **kwargs))
