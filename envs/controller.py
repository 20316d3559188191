"""The hand-written baseline driver: steer toward open road, ease off when the road ahead runs short.

It reads only the rays observation, so it is exactly as informed as a learner on `obs="rays"`. It is the
demo's driver and the floor every learner should beat (`sandbox baseline` measures it).
"""

from __future__ import annotations

import numpy as np


def drive_controller(obs: np.ndarray, n_rays: int = 9, continuous: bool = True, gain: float = 2.0,
                     caution: float = 0.5) -> np.ndarray:
    """Actions for a batch of rays observations (N, n_rays + 2), or (N, 3 * n_rays + 2) on levels whose rays
    also give the nearest pedestrian and traffic car: only the n_rays distances (to the first thing met on
    the road) and the speed after them are read, so it sees a pedestrian only once it is on the road.

    steer    = gain * (distance-weighted mean direction of the rays), toward the most open road;
    throttle = 4 * (target speed - speed), the target speed falling as the front ray shortens.

    Args:
        obs: (N, rays_size) rays observations (or one (rays_size,) observation).
        n_rays: rays in the observation.
        continuous: return (N, 2) (steer, throttle) in [-1, 1]; else (N,) Discrete(5) actions.
        gain: how hard to steer toward open road.
        caution: how much a short front ray slows the car (0 = never slows).
    """
    obs = np.atleast_2d(obs)
    dist, speed = obs[:, :n_rays], obs[:, n_rays]
    directions = np.linspace(-1.0, 1.0, n_rays)  # left .. right, as the rays are ordered
    weights = dist**4 + 1e-6  # the longest rays dominate
    steer = np.clip(gain * (weights * directions).sum(1) / weights.sum(1), -1.0, 1.0)
    centre = slice(max(n_rays // 2 - 1, 0), n_rays // 2 + 2)
    front = dist[:, centre].min(1)
    target = (1.0 - caution) + caution * front - 0.3 * np.abs(steer)
    throttle = np.clip(4.0 * (target - speed), -1.0, 1.0)
    if continuous:
        return np.stack([steer, throttle], axis=1).astype(np.float32)
    # Discrete: steer when the wanted turn is sharp, otherwise manage speed.
    return np.where(steer < -0.3, 1, np.where(steer > 0.3, 2, np.where(throttle >= 0, 3, 4)))
