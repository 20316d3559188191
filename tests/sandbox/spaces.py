"""The observation spaces backbones are tested on: CarDrive's three, read from the registered env, and
CartPole-v1's Box (two unbounded dimensions)."""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

import envs  # noqa: F401  (registers sandbox/CarDrive-v0)

N_RAYS = 9


def cardrive_space(obs: str) -> spaces.Space:
    """The observation space `sandbox/CarDrive-v0` really has for `obs` ("rays", "pixels" or "both")."""
    return gymnasium.make("sandbox/CarDrive-v0", obs=obs).observation_space


def cartpole_space() -> spaces.Box:
    """CartPole-v1's observation space: position, velocity and angular velocity unbounded, angle."""
    return gymnasium.make("CartPole-v1").observation_space


def observation_spaces() -> dict[str, spaces.Space]:
    """name -> space: CarDrive's rays, pixels and both, and CartPole's Box."""
    return {
        "rays": cardrive_space("rays"),
        "pixels": cardrive_space("pixels"),
        "both": cardrive_space("both"),
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
