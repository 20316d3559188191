"""Pedestrians: one per crosswalk, walking across the road and back at a steady pace.

A pedestrian's place is a function of time, so there is nothing to integrate and each car's world stays
independent: pedestrian j of car i sits at fraction u of its walk, a triangle wave of
(steps since the car's reset) * PED_SPEED / walk length + a phase drawn at reset.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PED_RADIUS = 1.0  # cells
PED_SPEED = 0.12  # cells per step
CAR_RADIUS = 1.5  # the car's footprint for pedestrian contact, cells
KERB_MARGIN = 2.0  # pedestrians turn round this far beyond the road edge

MAX_CROSSWALKS = 3


def walk_segments(centre: np.ndarray, tangent: np.ndarray, half_width: float) -> np.ndarray:
    """(C, 2, 2) start and end of the walk across the road at each crosswalk (centre, tangent: (C, 2))."""
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    reach = half_width + KERB_MARGIN
    return np.stack([centre - reach * normal, centre + reach * normal], axis=1)


@njit(cache=True)
def place(walks, num_walks, track_id, clock, phase, enabled, out):
    """out (N, MAX_CROSSWALKS, 3) = x, y, present (1.0 or 0.0) of each pedestrian of each car.

    walks (K, MAX_CROSSWALKS, 2, 2), num_walks (K,), clock (N,) steps since reset, phase (N, MAX_CROSSWALKS).
    """
    for i in range(out.shape[0]):
        k = track_id[i]
        for j in range(MAX_CROSSWALKS):
            if not enabled or j >= num_walks[k]:
                out[i, j, 2] = 0.0
                continue
            ax, ay = walks[k, j, 0, 0], walks[k, j, 0, 1]
            bx, by = walks[k, j, 1, 0], walks[k, j, 1, 1]
            length = math.hypot(bx - ax, by - ay)
            s = (clock[i] * PED_SPEED / length + phase[i, j]) % 2.0
            u = s if s < 1.0 else 2.0 - s  # there and back
            out[i, j, 0] = ax + u * (bx - ax)
            out[i, j, 1] = ay + u * (by - ay)
            out[i, j, 2] = 1.0


@njit(cache=True)
def collide(pos, peds, contact, active):
    """Count new contacts between each car and its pedestrians; a contact counts once until they part.

    Returns hits (N,) int. contact (N, MAX_CROSSWALKS) bool is updated in place.
    """
    n = pos.shape[0]
    hits = np.zeros(n, dtype=np.int64)
    reach2 = (PED_RADIUS + CAR_RADIUS) ** 2
    for i in range(n):
        if not active[i]:
            continue
        for j in range(peds.shape[1]):
            dx = pos[i, 0] - peds[i, j, 0]
            dy = pos[i, 1] - peds[i, j, 1]
            touching = peds[i, j, 2] > 0.0 and dx * dx + dy * dy <= reach2
            if touching and not contact[i, j]:
                hits[i] += 1
            contact[i, j] = touching
    return hits
