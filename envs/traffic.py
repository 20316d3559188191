"""Traffic: slower cars that drive the lap in each car's own world, to be followed or overtaken.

Each traffic car keeps to a lane TRAFFIC_LANE cells right of the centreline at a cruising speed below the
top speed (drawn at reset), and yields: it slows for anything in its lane ahead (a pedestrian on the road,
the learner's car, another traffic car) and stands FOLLOW_GAP cells behind it. Its state is one number,
the arc length it has driven along the lap, so traffic costs a few flops per car and step.

Every traffic car is the learner's car's size: an oriented box of CAR_HALF_LENGTH x CAR_HALF_WIDTH. Rays
meet it exactly (a ray-box slab test), and a contact is the learner's footprint circle touching the box.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from envs.pedestrians import CAR_RADIUS

CAR_HALF_LENGTH, CAR_HALF_WIDTH = 2.5, 1.2  # cells; the learner's car and every traffic car
TRAFFIC_LANE = 1.0  # cells right of the centreline: a car on the centreline touches it, one at -1.9 passes
FOLLOW_GAP = 6.0  # centre-to-obstacle distance along the lane at which a traffic car stands still
LOOK_AHEAD = 24.0  # cells ahead a traffic car watches
LANE_HALF_WIDTH = 2.8  # an obstacle this far to either side of a traffic car's line is in its lane
ACCEL = 0.1  # speed a traffic car gains per step when the lane ahead is clear
SPAWN_CLEAR = 40.0  # no traffic car starts within this arc of the start line, cells
MAX_TRAFFIC = 4  # traffic cars a world can hold (the arrays are sized for it)
X, Y, COS, SIN, PRESENT = range(5)  # columns of a traffic array (N, T, 5): place, facing, present


def spawn(u: np.ndarray, count: int, lengths: np.ndarray, starts: np.ndarray,
          speed: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """B cars' traffic at reset from their uniform draws u (B, 2 * count): `count` cars spread round each lap
    ahead of its start. Returns arc and cruise (B, MAX_TRAFFIC); unused slots have cruise 0 (not present)."""
    b = len(u)
    arc, cruise = np.zeros((b, MAX_TRAFFIC)), np.zeros((b, MAX_TRAFFIC))
    if count == 0:
        return arc, cruise
    u = u.reshape(b, 2, count)
    span = (lengths[:, None] - 2 * SPAWN_CLEAR) / count  # (B, 1) lap shared out, clear of the start
    offsets = SPAWN_CLEAR + span * (np.arange(count) + 0.1 + 0.5 * u[:, 0])
    arc[:, :count] = (starts[:, None] + offsets) % lengths[:, None]
    cruise[:, :count] = speed[0] + (speed[1] - speed[0]) * u[:, 1]
    return arc, cruise


@njit(cache=True)
def place(centrelines, tangents, lengths, track_id, arc, cruise, out):
    """out (N, T, 5) = x, y, cos, sin (its facing), present of each traffic car, from its arc along its lane.
    Arcs past the lap's end are wrapped back into [0, lap length) in place."""
    for i in range(out.shape[0]):
        k = track_id[i]
        m = lengths[k]
        for j in range(out.shape[1]):
            if cruise[i, j] <= 0.0:
                out[i, j, PRESENT] = 0.0
                continue
            if arc[i, j] >= m:
                arc[i, j] -= m
            a = arc[i, j]
            s = int(a)
            f = a - s
            e = (s + 1) % m
            tx = tangents[k, s, 0] + f * (tangents[k, e, 0] - tangents[k, s, 0])
            ty = tangents[k, s, 1] + f * (tangents[k, e, 1] - tangents[k, s, 1])
            norm = math.sqrt(tx * tx + ty * ty)
            tx, ty = tx / norm, ty / norm
            # the right of (tx, ty) with y down the grid is (-ty, tx)
            out[i, j, X] = centrelines[k, s, 0] + f * (centrelines[k, e, 0] - centrelines[k, s, 0]) - TRAFFIC_LANE * ty
            out[i, j, Y] = centrelines[k, s, 1] + f * (centrelines[k, e, 1] - centrelines[k, s, 1]) + TRAFFIC_LANE * tx
            out[i, j, COS], out[i, j, SIN], out[i, j, PRESENT] = tx, ty, 1.0


@njit(cache=True)
def drive(traffic, arc, speed, cruise, pos, peds, active):
    """Advance every traffic car of the active worlds one step along its lane, yielding to what is ahead.

    traffic (N, T, 5) as `place` leaves it (this step's start); pos (N, 2) the learner's cars; peds (N, P, 3).
    target speed = clip((gap ahead - FOLLOW_GAP) / 2, 0, cruise): it stops short of an obstacle at once
    and gains ACCEL a step when clear.
    """
    for i in range(traffic.shape[0]):
        if not active[i]:
            continue
        for j in range(traffic.shape[1]):
            if traffic[i, j, PRESENT] == 0.0:
                continue
            x, y, c, s = traffic[i, j, X], traffic[i, j, Y], traffic[i, j, COS], traffic[i, j, SIN]
            gap = _ahead(x, y, c, s, pos[i, 0], pos[i, 1], LOOK_AHEAD)
            for o in range(traffic.shape[1]):
                if o != j and traffic[i, o, PRESENT] > 0.0:
                    gap = _ahead(x, y, c, s, traffic[i, o, X], traffic[i, o, Y], gap)
            for p in range(peds.shape[1]):
                if peds[i, p, 2] > 0.0:
                    gap = _ahead(x, y, c, s, peds[i, p, 0], peds[i, p, 1], gap)
            target = min(max((gap - FOLLOW_GAP) / 2.0, 0.0), cruise[i, j])
            speed[i, j] = min(speed[i, j] + ACCEL, target)
            arc[i, j] += speed[i, j]


@njit(cache=True)
def _ahead(x, y, c, s, ox, oy, gap):
    """min(gap, distance along the heading (c, s) from (x, y) to (ox, oy)) if that point is ahead in the lane."""
    along = (ox - x) * c + (oy - y) * s
    side = -(ox - x) * s + (oy - y) * c
    if 0.0 < along < gap and abs(side) < LANE_HALF_WIDTH:
        return along
    return gap


@njit(cache=True)
def box_distance(x0, y0, dx, dy, bx, by, c, s, max_dist):
    """Distance along the unit direction (dx, dy) from (x0, y0) to the car box centred at (bx, by) and facing
    (c, s) (0 if inside it), or max_dist if the ray misses it within range. The slab method: in the box's
    frame the box is |u| <= CAR_HALF_LENGTH, |v| <= CAR_HALF_WIDTH, and the ray is inside both slabs from
    max(entries) to min(exits)."""
    rx, ry = x0 - bx, y0 - by
    ou, ov = rx * c + ry * s, -rx * s + ry * c
    du, dv = dx * c + dy * s, -dx * s + dy * c
    enter, leave = 0.0, max_dist
    for o, d, half in ((ou, du, CAR_HALF_LENGTH), (ov, dv, CAR_HALF_WIDTH)):
        if d == 0.0:
            if abs(o) > half:
                return max_dist
            continue
        t1, t2 = (-half - o) / d, (half - o) / d
        if t1 > t2:
            t1, t2 = t2, t1
        enter, leave = max(enter, t1), min(leave, t2)
        if enter > leave:
            return max_dist
    return enter


@njit(cache=True)
def collide(pos, traffic, contact, active):
    """Count new contacts between each car's footprint circle and its traffic cars (once until they part).

    Returns hits (N,) int; contact (N, T) bool is updated in place.
    """
    n = pos.shape[0]
    hits = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if not active[i]:
            continue
        for j in range(traffic.shape[1]):
            touching = False
            if traffic[i, j, PRESENT] > 0.0:
                rx, ry = pos[i, 0] - traffic[i, j, X], pos[i, 1] - traffic[i, j, Y]
                c, s = traffic[i, j, COS], traffic[i, j, SIN]
                qu = max(abs(rx * c + ry * s) - CAR_HALF_LENGTH, 0.0)
                qv = max(abs(-rx * s + ry * c) - CAR_HALF_WIDTH, 0.0)
                touching = qu * qu + qv * qv <= CAR_RADIUS * CAR_RADIUS
            if touching and not contact[i, j]:
                hits[i] += 1
            contact[i, j] = touching
    return hits
