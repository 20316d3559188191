"""Observation and action spaces of the car world, and the one place actions are checked and decoded."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numba import njit

from envs.core import WorldConfig
from envs.physics import DISCRETE_ACTIONS

ACTION_MEANINGS = ("no-op", "steer left", "steer right", "accelerate", "brake/reverse")


def observation_space(config: WorldConfig) -> spaces.Space:
    """One car's observation space for `config.obs`."""
    n, size = config.n_rays, config.rays_size
    # ray distances in [0, 1], then speed / max speed and heading to the track / pi, both in [-1, 1], then
    # (levels with moving things) per ray the distance to the nearest pedestrian, then car, in [0, 1]
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

    Raises ValueError naming the problem: wrong shape, a value outside the space, non-finite numbers. The
    check and the decoding are one compiled pass (this runs every step; numpy's checks cost more than the
    whole step of one car).
    """
    a = np.asarray(actions)
    steer, throttle = np.empty(num_cars), np.empty(num_cars)
    if continuous:
        if a.shape != (num_cars, 2):
            raise ValueError(f"expected continuous actions of shape ({num_cars}, 2) = (steer, throttle) per "
                             f"car, got shape {a.shape}")
        if a.dtype.kind not in "iuf":
            raise ValueError(f"continuous actions must be numbers, got dtype {a.dtype}")
        bad = _decode_continuous(a.astype(np.float64, copy=False), steer, throttle)
        if bad >= 0:
            raise ValueError(f"continuous action {a[bad]} is outside Box(-1, 1, (2,))")
        return steer, throttle
    if a.shape != (num_cars,):
        raise ValueError(f"expected discrete actions of shape ({num_cars},), got shape {a.shape}")
    if a.dtype.kind not in "iuf":
        raise ValueError(f"discrete actions must be integers in 0..4, got dtype {a.dtype}")
    bad = _decode_discrete(a.astype(np.float64, copy=False) if a.dtype.kind == "f" else a.astype(np.int64, copy=False),
                           DISCRETE_ACTIONS, steer, throttle)
    if bad >= 0 and a.dtype.kind == "f" and a[bad] != np.round(a[bad]):
        raise ValueError(f"discrete actions must be integers in 0..4, got dtype {a.dtype}")
    if bad >= 0:
        raise ValueError(f"action {a[bad]} is outside Discrete(5): " + ", ".join(
            f"{i} {m}" for i, m in enumerate(ACTION_MEANINGS)))
    return steer, throttle


@njit(cache=True)
def _decode_discrete(a, table, steer, throttle):
    """steer, throttle = table[a]; returns the index of the first action that is not an integer 0..4, or -1."""
    for i in range(a.shape[0]):
        k = int(a[i])
        if k != a[i] or k < 0 or k >= table.shape[0]:
            return i
        steer[i], throttle[i] = table[k, 0], table[k, 1]
    return -1


@njit(cache=True)
def _decode_continuous(a, steer, throttle):
    """steer, throttle = a[:, 0], a[:, 1]; returns the first row outside [-1, 1]^2 (NaN included), or -1."""
    for i in range(a.shape[0]):
        if not (abs(a[i, 0]) <= 1.0 and abs(a[i, 1]) <= 1.0):  # written so that NaN fails it
            return i
        steer[i], throttle[i] = a[i, 0], a[i, 1]
    return -1
