"""Observation and action spaces of the car world, and the one place actions are checked and decoded."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from envs.core import WorldConfig
from envs.physics import DISCRETE_ACTIONS

ACTION_MEANINGS = ("no-op", "steer left", "steer right", "accelerate", "brake/reverse")


def observation_space(config: WorldConfig) -> spaces.Space:
    """One car's observation space for `config.obs`."""
    n, size = config.n_rays, config.rays_size
    # ray distances in [0, 1], then speed / max speed and heading to the track / pi, both in [-1, 1], then
    # (levels with moving things) 0/1 flags: ray met a pedestrian, ray met a car
    low = np.zeros(size, np.float32)
    low[n : n + 2] = -1.0
    rays = spaces.Box(low, np.ones(size, np.float32), dtype=np.float32)
    size = config.image_size
    pixels = spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)
    return {"rays": rays, "pixels": pixels, "both": spaces.Dict({"rays": rays, "pixels": pixels})}[config.obs]


def action_space(continuous: bool) -> spaces.Space:
    """Discrete(5) (see ACTION_MEANINGS) or Box(-1, 1, (2,)) = (steer, throttle); steer < 0 turns left."""
    if continuous:
        return spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    return spaces.Discrete(len(ACTION_MEANINGS))


def decode_actions(actions, continuous: bool, num_cars: int) -> tuple[np.ndarray, np.ndarray]:
    """Check a batch of actions and turn it into (steer, throttle), each (N,) float64.

    Raises ValueError naming the problem: wrong shape, a value outside the space, non-finite numbers.
    """
    a = np.asarray(actions)
    if continuous:
        if a.shape != (num_cars, 2):
            raise ValueError(f"expected continuous actions of shape ({num_cars}, 2) = (steer, throttle) per "
                             f"car, got shape {a.shape}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all() or (np.abs(a) > 1.0).any():
            bad = a[~(np.isfinite(a) & (np.abs(a) <= 1.0)).all(axis=1)][0]
            raise ValueError(f"continuous action {bad} is outside Box(-1, 1, (2,))")
        return np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(a[:, 1])
    if a.shape != (num_cars,):
        raise ValueError(f"expected discrete actions of shape ({num_cars},), got shape {a.shape}")
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and (a == np.round(a)).all()):
        raise ValueError(f"discrete actions must be integers in 0..4, got dtype {a.dtype}")
    if ((a < 0) | (a > 4)).any():
        bad = a[(a < 0) | (a > 4)][0]
        raise ValueError(f"action {bad} is outside Discrete(5): " + ", ".join(
            f"{i} {m}" for i, m in enumerate(ACTION_MEANINGS)))
    controls = DISCRETE_ACTIONS[a.astype(np.int64)]  # (N, 2)
    return controls[:, 0].copy(), controls[:, 1].copy()
