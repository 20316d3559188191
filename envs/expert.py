"""The privileged expert: a driver that reads the true world state, not the observation.

It sees what no observation holds: the centreline ahead and its curvature, every pedestrian's place and
walking direction, every traffic car's place on the lap, the level's grip. It proves each level solvable
(`sandbox baseline`) and is the demonstrator that imitation learners (behaviour cloning, GAIL, the Decision
Transformer) learn from. Batched like `envs.drive_controller`: one numpy pass for every car of a core.

    steer    = pure pursuit (Coulter 1992) of a point `look` cells ahead on the chosen lane:
               delta = atan(2 * WHEELBASE * sin(alpha) / look), alpha the bearing of that point
    speed    = min over the road ahead of sqrt(v_stop(s)^2 + 2 * DECEL * distance(s)), where v_stop is
               sqrt(grip * radius) in a bend, 0 at a crosswalk a pedestrian is crossing, the speed of a
               traffic car it cannot pass yet
    throttle = clip(GAIN * (speed - v), -1, 1)
    lane     = the centreline, or OVERTAKE cells to its left while traffic is near (traffic keeps right)
"""

from __future__ import annotations

import numpy as np

from envs import traffic
from envs.core import CarDriveCore
from envs.pedestrians import CAR_RADIUS, PED_RADIUS
from envs.physics import MAX_SPEED, MAX_STEER, WHEELBASE
from envs.traffic import CAR_HALF_LENGTH, CAR_HALF_WIDTH, TRAFFIC_LANE

HORIZON = 96  # centreline samples (cells) ahead the speed plan looks at
DECEL = 0.18  # braking the plan counts on, speed per step (the car brakes 0.25 at full brake)
GRIP_SHARE = 0.8  # plan bends at this share of the tyres' grip
GAIN = 3.0  # throttle per unit of speed error
STOP_SHORT = 5.5  # cells before a blocked crosswalk's centre where the car stands
CORRIDOR = PED_RADIUS + CAR_RADIUS + 1.5  # a pedestrian this near the car's line (across the road) is in its way
OVERTAKE_CLEARANCE = 2.5  # the overtaking lane keeps this far from the road's edge, cells
FOLLOW_GAP = 3 * CAR_HALF_LENGTH  # centre distance kept behind traffic that cannot be passed yet


def drive_expert(core: CarDriveCore, continuous: bool = True) -> np.ndarray:
    """Actions for every car of `core`: (N, 2) (steer, throttle) in [-1, 1], or (N,) Discrete(5) actions."""
    m = core.tracks.lengths[core.track_id]  # (N,) lap length of each car's track
    lane = _lane(core, m)
    steer = _pursuit(core, lane)
    limit = np.minimum(_bend_limit(core), _crosswalk_limit(core, m, lane))
    limit = np.minimum(limit, _traffic_limit(core, m))
    throttle = np.clip(GAIN * (limit - core.speed), -1.0, 1.0)
    if continuous:
        return np.stack([steer, throttle], axis=1).astype(np.float32)
    return np.where(steer < -0.3, 1, np.where(steer > 0.3, 2, np.where(throttle >= 0, 3, 4)))


def _samples(core: CarDriveCore, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centreline points and tangents `offsets` samples ahead of each car: (N, W, 2) each, and the (N, W) index."""
    k = core.track_id[:, None]
    idx = (core.index[:, None] + offsets) % core.tracks.lengths[k]
    return core.tracks.centrelines[k, idx], core.tracks.tangents[k, idx], idx


def _lateral(core: CarDriveCore) -> np.ndarray:
    """(N,) each car's offset from the centreline, cells, positive to the right of the driving direction."""
    points, tangents, _ = _samples(core, np.zeros(1, np.int64))
    rel = core.pos - points[:, 0]
    return -rel[:, 0] * tangents[:, 0, 1] + rel[:, 1] * tangents[:, 0, 0]


def _pursuit(core: CarDriveCore, lane: np.ndarray) -> np.ndarray:
    """(N,) steer in [-1, 1] toward a point on the lane `look` cells ahead (pure pursuit)."""
    look = np.clip(4.0 + 2.5 * core.speed, 5.0, 14.0)
    points, tangents, _ = _samples(core, np.ceil(look).astype(np.int64)[:, None])
    right = np.stack([-tangents[:, 0, 1], tangents[:, 0, 0]], axis=1)
    target = points[:, 0] + lane[:, None] * right
    rel = target - core.pos
    alpha = np.arctan2(rel[:, 1], rel[:, 0]) - core.heading
    distance = np.maximum(np.hypot(rel[:, 0], rel[:, 1]), 1.0)
    delta = np.arctan(2.0 * WHEELBASE * np.sin(alpha) / distance)
    if (core.speed < 0).any():  # rolling backwards the geometry flips; steer straight rather than wrong
        delta = np.where(core.speed < 0, 0.0, delta)
    return np.clip(delta / MAX_STEER, -1.0, 1.0)


def _reachable(distance: np.ndarray, v_end: np.ndarray) -> np.ndarray:
    """The speed from which the car can brake to v_end within `distance` cells: sqrt(v_end^2 + 2 a d)."""
    return np.sqrt(v_end**2 + 2.0 * DECEL * np.maximum(distance, 0.0))


def _bend_limit(core: CarDriveCore) -> np.ndarray:
    """(N,) the fastest speed from which every bend of the next HORIZON cells can be taken within the grip."""
    grip = core.level.grip
    if not np.isfinite(grip):
        return np.full(core.num_cars, MAX_SPEED)
    offsets = np.arange(HORIZON)
    _, tangents, _ = _samples(core, offsets)  # (N, W, 2)
    cross = tangents[:, :-1, 0] * tangents[:, 1:, 1] - tangents[:, :-1, 1] * tangents[:, 1:, 0]
    dot = (tangents[:, :-1] * tangents[:, 1:]).sum(axis=2)
    curvature = np.abs(np.arctan2(cross, dot))  # (N, W - 1) turn per cell of arc = 1 / radius
    v_bend = np.minimum(np.sqrt(GRIP_SHARE * grip / np.maximum(curvature, 1e-9)), MAX_SPEED)
    return _reachable(offsets[None, :-1] - 1.0, v_bend).min(axis=1)


def _crosswalk_limit(core: CarDriveCore, m: np.ndarray, lane: np.ndarray) -> np.ndarray:
    """(N,) speed that stops the car short of any crosswalk whose pedestrian is walking toward, or in, the
    car's line across the road; a car too close to stop, and out of the pedestrian's reach, drives on."""
    pool, k = core.tracks, core.track_id
    limit = np.full(core.num_cars, MAX_SPEED)
    lat = _lateral(core)
    for j in range(pool.crosswalks.shape[1]):
        c = pool.crosswalks[k, j]  # (N,) centreline sample of crosswalk j, -1 if none
        ahead = (c - core.arc) % m  # cells to the crosswalk's centre
        near = (c >= 0) & (ahead < HORIZON) & (core.peds[:, j, 2] > 0)
        if not near.any():
            continue
        centre, tangent = pool.centrelines[k, np.maximum(c, 0)], pool.tangents[k, np.maximum(c, 0)]
        rel = core.peds[:, j, :2] - centre
        across = -rel[:, 0] * tangent[:, 1] + rel[:, 1] * tangent[:, 0]  # (N,) the pedestrian, across the road
        walking = core.ped_walking[:, j]
        line = np.where(np.abs(lane - lat) < 1.0, lat, lane)  # where the car will cross the crosswalk
        toward = walking * (line - across)  # > 0: walking toward the car's line
        in_way = (walking != 0) & ((np.abs(across - line) < CORRIDOR) | (toward > 0))
        # committed: cannot stop short any more, and through before the pedestrian reaches the line
        stop_at = ahead - STOP_SHORT
        steps_to_clear = (ahead + CORRIDOR) / np.maximum(core.speed, 0.5)
        steps_to_line = (np.abs(across - line) - CORRIDOR) / core.level.pedestrian_speed
        committed = (core.speed**2 / (2 * 0.25) > stop_at) & (steps_to_clear < steps_to_line - 4)
        blocked = near & in_way & ~committed
        limit = np.where(blocked, np.minimum(limit, np.where(stop_at > 0.5, _reachable(stop_at, 0.0), 0.0)), limit)
    return limit


def _traffic_ahead(core: CarDriveCore, m: np.ndarray) -> np.ndarray:
    """(N, T) signed arc from each car to each traffic car along the lap, in [-m/2, m/2); nan if absent."""
    ahead = (core.traffic_arc - core.arc[:, None]) % m[:, None]
    ahead = np.where(ahead >= m[:, None] / 2, ahead - m[:, None], ahead)
    return np.where(core.traffic[:, :, traffic.PRESENT] > 0, ahead, np.nan)


def _lane(core: CarDriveCore, m: np.ndarray) -> np.ndarray:
    """(N,) lateral offset to drive at: left of the centreline while a traffic car is near ahead or beside."""
    if core.level.traffic == 0:
        return np.zeros(core.num_cars)
    ahead = _traffic_ahead(core, m)
    near = ((ahead > -4 * CAR_HALF_LENGTH) & (ahead < 48.0)).any(axis=1)
    overtake = -(core.level.shape.half_width - OVERTAKE_CLEARANCE)
    return np.where(near, overtake, 0.0)


def _traffic_limit(core: CarDriveCore, m: np.ndarray) -> np.ndarray:
    """(N,) follow a traffic car ahead (its speed, a gap behind it) until the car is out of its lane."""
    if core.level.traffic == 0:
        return np.full(core.num_cars, MAX_SPEED)
    ahead = _traffic_ahead(core, m)  # (N, T)
    clear_of_lane = _lateral(core) < TRAFFIC_LANE - CAR_HALF_WIDTH - CAR_RADIUS - 0.5  # far enough left to pass
    close = (ahead > 0) & (ahead < 40.0) & ~clear_of_lane[:, None]
    v_follow = _reachable(ahead - FOLLOW_GAP, core.traffic_speed)
    v_follow = np.where(ahead - FOLLOW_GAP > 0.5, v_follow, 0.0)
    return np.where(close, v_follow, MAX_SPEED).min(axis=1)
