"""The observation spaces backbones are tested on: CarDrive's three, built exactly as the env builds them,
and CartPole-v1's Box (two unbounded dimensions).

Later these will be read from `gymnasium.make("sandbox/CarDrive-v0", obs=...)`.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

N_RAYS = 9


def rays_space(n_rays: int = N_RAYS) -> spaces.Box:
    """n_rays distances in [0, 1], then speed / max_speed and heading / pi in [-1, 1]."""
    low = np.array([0.0] * n_rays + [-1.0, -1.0], dtype=np.float32)
    return spaces.Box(low, np.ones(n_rays + 2, dtype=np.float32), dtype=np.float32)


def pixels_space() -> spaces.Box:
    """An egocentric top-down frame, HWC uint8."""
    return spaces.Box(0, 255, shape=(64, 64, 3), dtype=np.uint8)


def cartpole_space() -> spaces.Box:
    """CartPole-v1's observation space: position, velocity and angular velocity unbounded, angle."""
    return gymnasium.make("CartPole-v1").observation_space


def observation_spaces() -> dict[str, spaces.Space]:
    """name -> space: CarDrive's rays, pixels and both, and CartPole's Box."""
    return {
        "rays": rays_space(),
        "pixels": pixels_space(),
        "both": spaces.Dict({"rays": rays_space(), "pixels": pixels_space()}),
        "cartpole": cartpole_space(),
    }


def sample_batch(space: spaces.Space, batch: int, seed: int = 0) -> torch.Tensor | dict[str, torch.Tensor]:
    """A batch of observations from `space` as tensors: (B, *shape), or a dict of those."""
    if isinstance(space, spaces.Dict):
        return {k: sample_batch(s, batch, seed + i) for i, (k, s) in enumerate(space.spaces.items())}
    space.seed(seed)
    if np.isinf(space.low).any() or np.isinf(space.high).any():
        # sampling an unbounded Box gives huge values; CartPole's real states are small
        rng = np.random.default_rng(seed)
        return torch.as_tensor(rng.normal(size=(batch, *space.shape)).astype(space.dtype))
    return torch.as_tensor(np.stack([space.sample() for _ in range(batch)]))
