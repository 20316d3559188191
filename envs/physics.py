"""Car motion over a batch: the kinematic bicycle model, the road check, progress along the centreline.

All functions take arrays of shape (N, ...) for N independent cars and update them in place. They are
compiled with numba: a per-car loop is both the clearest way to write the model and, compiled, the fastest
(one call per step whatever N is, so a single car pays microseconds, not a numpy call per line).

Units: one grid cell is one unit of length, one step is one unit of time. The frame has x to the right and
y down the grid; a heading of 0 points along +x and grows clockwise on screen, so steering right
(steer > 0) increases the heading.

Kinematic bicycle (Rajamani, Vehicle Dynamics and Control, 2nd ed., sec. 2.2), rear-axle reference:
    v'     = clip(v + a(throttle, v) - DRAG * v, -MAX_REVERSE, MAX_SPEED)
    omega  = v' / WHEELBASE * tan(steer * MAX_STEER),  clipped to |v' * omega| <= grip
    theta' = theta + omega
    p'     = p + v' * (cos theta', sin theta')
so a car never moves further than |v'| <= MAX_SPEED in one step. `grip` is the largest lateral acceleration
the tyres hold (a level's setting): asking for more makes the car run wide, so bends must be slowed for
(a bend of radius R is taken at up to sqrt(grip * R)). With grip = inf the model is the plain kinematic car.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

WHEELBASE = 3.0  # cells
MAX_STEER = 0.5  # radians at steer = +-1
MAX_SPEED = 4.0  # cells per step, forward
MAX_REVERSE = 1.0  # cells per step, backward
ACCEL = 0.10  # speed gained per step at full throttle
BRAKE = 0.25  # speed lost per step at full brake while rolling forward
REVERSE_ACCEL = 0.05  # speed gained backward per step at full brake once stopped
DRAG = 0.02  # fraction of speed lost per step (rolling resistance and air)

# Discrete actions: no-op, steer left, steer right, accelerate, brake/reverse -> (steer, throttle).
DISCRETE_ACTIONS = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])

_GRASS = 0  # envs.track.GRASS, repeated as a literal so numba folds it


@njit(cache=True)
def bicycle_step(pos, heading, speed, steer, throttle, active, grip=math.inf):
    """Advance every active car one step. pos (N, 2), heading/speed/steer/throttle (N,), active (N,) bool."""
    for i in range(pos.shape[0]):
        if not active[i]:
            continue
        v = speed[i]
        a = throttle[i]
        if a >= 0.0:
            v += ACCEL * a
        elif v > 0.0:
            v = max(v + BRAKE * a, 0.0)
        else:
            v += REVERSE_ACCEL * a
        v -= DRAG * v
        v = min(max(v, -MAX_REVERSE), MAX_SPEED)
        omega = v / WHEELBASE * math.tan(steer[i] * MAX_STEER)
        if abs(v * omega) > grip:  # the tyres slide: turn only as hard as they hold
            omega = math.copysign(grip / abs(v), omega)
        h = heading[i] + omega
        h = (h + math.pi) % (2.0 * math.pi) - math.pi  # keep it in [-pi, pi)
        speed[i] = v
        heading[i] = h
        pos[i, 0] += v * math.cos(h)
        pos[i, 1] += v * math.sin(h)


@njit(cache=True)
def on_road(material, track_id, pos, out):
    """out[i] = the cell under car i's centre is road (False off the grid). material (K, H, W) uint8."""
    h, w = material.shape[1], material.shape[2]
    for i in range(pos.shape[0]):
        cx = int(math.floor(pos[i, 0]))
        cy = int(math.floor(pos[i, 1]))
        out[i] = 0 <= cx < w and 0 <= cy < h and material[track_id[i], cy, cx] != _GRASS


@njit(cache=True)
def follow_centreline(centrelines, tangents, lengths, track_id, pos, index, arc, active):
    """Track each car's place along its lap; return the arc length (cells) each moved forward this step.

    index (N,) is the nearest centreline sample, found by a local search around last step's (a car moves
    at most MAX_SPEED cells a step and the road never comes near itself, so the window cannot jump to
    another stretch). arc (N,) is the continuous position: the sample plus the projection onto its tangent.
    centrelines/tangents (K, Mmax, 2) padded, lengths (K,) samples per track.
    """
    n = pos.shape[0]
    delta = np.zeros(n)
    window = int(MAX_SPEED) + 3
    for i in range(n):
        if not active[i]:
            continue
        k = track_id[i]
        m = lengths[k]
        best, best_d = index[i], 1e30
        for off in range(-window, window + 1):
            j = (index[i] + off) % m
            dx = pos[i, 0] - centrelines[k, j, 0]
            dy = pos[i, 1] - centrelines[k, j, 1]
            d = dx * dx + dy * dy
            if d < best_d:
                best, best_d = j, d
        along = (pos[i, 0] - centrelines[k, best, 0]) * tangents[k, best, 0] + (
            pos[i, 1] - centrelines[k, best, 1]
        ) * tangents[k, best, 1]
        new_arc = best + along
        moved = new_arc - arc[i]
        moved -= m * math.floor(moved / m + 0.5)  # wrap to [-m/2, m/2): crossing the start is not a lap
        delta[i] = moved
        index[i] = best
        arc[i] = new_arc
    return delta


@njit(cache=True)
def heading_to_track(tangents, track_id, index, heading, out):
    """out[i] = car heading minus the track's direction at its sample, wrapped to [-pi, pi)."""
    for i in range(heading.shape[0]):
        t = tangents[track_id[i], index[i]]
        diff = heading[i] - math.atan2(t[1], t[0])
        out[i] = (diff + math.pi) % (2.0 * math.pi) - math.pi
