"""Pedestrians: one per crosswalk, walking across the road and back.

A pedestrian's place is a function of time and of what was drawn at reset, so there is nothing to
integrate and each car's world stays independent. Two timings (a level picks one):

- timetable (easy): a triangle wave across and back without a stop, from a phase drawn at reset:
  u = tri((steps since reset) * speed / walk length + phase), u in [0, 1] along the walk.
- random (normal, hard): the pedestrian waits at the kerb a random time, crosses, waits again, crosses
  back ... The waits are drawn from the car's generator at reset (a plan of PLAN_CROSSINGS crossings that
  then repeats), so a driver cannot learn a timetable but every episode is still reproducible from its seed.
  A pedestrian at a crosswalk a track does not have is never present.

Waiting pedestrians stand KERB_MARGIN cells beyond the road edge: on the grass, seen in the pixels and, on
levels whose rays carry a pedestrian channel (normal, hard), by the rays, whose pedestrian distance reads on
through the road's edge; the rays' first distance (easy's only one) stops at the edge.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from envs.track import MAX_CROSSWALKS

PED_RADIUS = 1.0  # cells
PED_SPEED = 0.12  # cells per step on easy (a level sets its own: `Level.pedestrian_speed`)
CAR_RADIUS = 1.5  # the car's footprint for pedestrian (and traffic) contact, cells
KERB_MARGIN = 2.0  # pedestrians wait and turn round this far beyond the road edge
PLAN_CROSSINGS = 16  # crossings planned at reset under random timing (even: the plan repeats side for side)
TIMETABLE_DRAWS = 3  # phases drawn at reset under timetable timing (as many as easy has always drawn)

__all__ = ["CAR_RADIUS", "MAX_CROSSWALKS", "PED_RADIUS", "PED_SPEED", "collide", "draws_needed", "place",
           "timing_from_draws", "walk_segments"]


def walk_segments(centre: np.ndarray, tangent: np.ndarray, half_width: float) -> np.ndarray:
    """(C, 2, 2) start and end of the walk across the road at each crosswalk (centre, tangent: (C, 2))."""
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    reach = half_width + KERB_MARGIN
    return np.stack([centre - reach * normal, centre + reach * normal], axis=1)


def draws_needed(random_timing: bool) -> int:
    """How many uniform draws one car's pedestrian timing takes at reset."""
    return MAX_CROSSWALKS * (PLAN_CROSSINGS + 2) if random_timing else TIMETABLE_DRAWS


def timing_from_draws(u: np.ndarray, random_timing: bool,
                      wait: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """B cars' pedestrian timing from their uniform draws u (B, draws_needed): phase (B, MAX_CROSSWALKS) and
    plan (B, MAX_CROSSWALKS, PLAN_CROSSINGS + 1).

    Timetable: phase[j] in [0, 2) is where pedestrian j is on its there-and-back cycle at step 0 (plan unused).
    Random: phase[j] in {0, 1} is the side it starts on; plan[j, k] is the steps pedestrian j waits at the
    kerb before crossing k begins, summed over its waits (the kernel adds the crossings' own time, which
    depends on the track). plan[j, -1] closes the cycle.
    """
    b = len(u)
    phase, plan = np.zeros((b, MAX_CROSSWALKS)), np.zeros((b, MAX_CROSSWALKS, PLAN_CROSSINGS + 1))
    if not random_timing:
        phase[:, :TIMETABLE_DRAWS] = 2.0 * u  # = rng.uniform(0, 2, TIMETABLE_DRAWS), the draws easy always made
        return phase, plan
    u = u.reshape(b, MAX_CROSSWALKS, PLAN_CROSSINGS + 2)
    phase[:] = u[:, :, 0] < 0.5
    plan[:] = np.cumsum(wait[0] + (wait[1] - wait[0]) * u[:, :, 1:], axis=2)  # (B, P, K + 1)
    return phase, plan


@njit(cache=True)
def place(walks, num_walks, track_id, clock, phase, plan, speed, random_timing, enabled, out, walking):
    """out (N, MAX_CROSSWALKS, 3) = x, y, present (1.0 or 0.0) of each pedestrian of each car;
    walking (N, MAX_CROSSWALKS) = +1 / -1 crossing from end 0 / end 1 of its walk, 0 standing at the kerb.

    walks (K, MAX_CROSSWALKS, 2, 2), num_walks (K,), clock (N,) steps since reset, phase (N, MAX_CROSSWALKS),
    plan (N, MAX_CROSSWALKS, PLAN_CROSSINGS + 1) as `timing_from_draws` makes them.
    """
    for i in range(out.shape[0]):
        k = track_id[i]
        for j in range(MAX_CROSSWALKS):
            walking[i, j] = 0.0
            if not enabled or j >= num_walks[k]:
                out[i, j, 2] = 0.0
                continue
            ax, ay = walks[k, j, 0, 0], walks[k, j, 0, 1]
            bx, by = walks[k, j, 1, 0], walks[k, j, 1, 1]
            length = math.hypot(bx - ax, by - ay)
            if random_timing:
                u, walking[i, j] = _planned_fraction(clock[i] * speed / length, phase[i, j], plan[i, j],
                                                     speed / length)
            else:
                s = (clock[i] * speed / length + phase[i, j]) % 2.0
                u = s if s < 1.0 else 2.0 - s  # there and back
                walking[i, j] = 1.0 if s < 1.0 else -1.0
            out[i, j, 0] = ax + u * (bx - ax)
            out[i, j, 1] = ay + u * (by - ay)
            out[i, j, 2] = 1.0


@njit(cache=True)
def _planned_fraction(t, side, plan, rate):
    """(where, walking) of a random-timing pedestrian at time t, in crossings: where on its walk (0 = end 0,
    1 = end 1), and +1 / -1 / 0 as `place` reports it.

    plan (K + 1,) are waits summed in steps; crossing k begins at plan[k] * rate + k (in crossings) and
    takes 1. The cycle (K crossings, even) repeats.
    """
    crossings = plan.shape[0] - 1
    cycle = plan[crossings] * rate + crossings
    if t >= cycle:
        t = t % cycle
    at = side  # the side it stands on before its first crossing
    for k in range(crossings):
        begin = plan[k] * rate + k
        if t < begin:
            return at, 0.0
        if t < begin + 1.0:  # on the road: walking from `at` to the other side
            u = t - begin
            return (u, 1.0) if at == 0.0 else (1.0 - u, -1.0)
        at = 1.0 - at
    return at, 0.0


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
