"""The ray sensor is exact to the collision grid; pedestrians block rays; the pedestrian and traffic channels
read on through the road's edge, exactly; the ego image shows what it should."""

from __future__ import annotations

import math

import numpy as np
import pytest

import envs
from envs import sensors, traffic
from envs.pedestrians import KERB_MARGIN, MAX_CROSSWALKS, PED_RADIUS
from envs.track import GRASS, ROAD

TRACKS = [0, 1, 1_000_000, 1_000_042]


def reference_grid_distance(grid: np.ndarray, x0: float, y0: float, dx: float, dy: float, max_dist: float):
    """Brute force, independent of the grid walk: every t at which the ray crosses a grid line cuts the ray
    into intervals that each lie in one cell; the first interval whose midpoint is off the road starts at
    the distance sought."""
    crossings = [0.0]
    for origin, direction in ((x0, dx), (y0, dy)):
        if direction == 0.0:
            continue
        end = origin + max_dist * direction
        for line in range(math.floor(min(origin, end)), math.ceil(max(origin, end)) + 1):
            t = (line - origin) / direction
            if 0.0 < t <= max_dist:
                crossings.append(t)
    crossings = sorted(set(crossings)) + [max_dist]
    h, w = grid.shape
    for start, stop in zip(crossings[:-1], crossings[1:], strict=True):
        if stop <= start:
            continue
        mid = 0.5 * (start + stop)
        cx, cy = math.floor(x0 + mid * dx), math.floor(y0 + mid * dy)
        if not (0 <= cx < w and 0 <= cy < h) or grid[cy, cx] == GRASS:
            return start
    return max_dist


def _random_rays(rng, grid, count):
    """Random starts on road cells (anywhere in the cell) with random headings."""
    ys, xs = np.nonzero(grid != GRASS)
    pick = rng.integers(len(xs), size=count)
    x0 = xs[pick] + rng.random(count)
    y0 = ys[pick] + rng.random(count)
    angle = rng.uniform(-math.pi, math.pi, count)
    return x0, y0, np.cos(angle), np.sin(angle)


@pytest.mark.parametrize("seed", TRACKS)
def test_grid_distance_is_exact_on_tracks(seed):
    grid = envs.make_track(seed, envs.LEVELS["easy"].shape).material
    rng = np.random.default_rng(seed)
    worst = 0.0
    for x0, y0, dx, dy in zip(*_random_rays(rng, grid, 1000), strict=True):
        max_dist = 64.0 if rng.random() < 0.8 else float(rng.uniform(1.0, 200.0))
        got = sensors.grid_distance(grid, x0, y0, dx, dy, max_dist)
        worst = max(worst, abs(got - reference_grid_distance(grid, x0, y0, dx, dy, max_dist)))
    assert worst < 1e-9


def test_grid_distance_is_exact_on_random_grids_and_at_the_grid_edge():
    """Speckled grids hit corners and thin walls; small grids make rays leave the grid."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(40):
        h, w = rng.integers(3, 30, 2)
        grid = (rng.random((h, w)) < rng.uniform(0.5, 0.95)).astype(np.uint8) * ROAD
        if not grid.any():
            continue
        for x0, y0, dx, dy in zip(*_random_rays(rng, grid, 50), strict=True):
            got = sensors.grid_distance(grid, x0, y0, dx, dy, 40.0)
            worst = max(worst, abs(got - reference_grid_distance(grid, x0, y0, dx, dy, 40.0)))
    assert worst < 1e-9


def test_grid_distance_along_the_axes():
    grid = np.full((10, 10), ROAD, np.uint8)
    grid[:, 7] = GRASS
    assert sensors.grid_distance(grid, 2.25, 4.5, 1.0, 0.0, 64.0) == pytest.approx(4.75)
    assert sensors.grid_distance(grid, 2.25, 4.5, -1.0, 0.0, 64.0) == pytest.approx(2.25)  # the grid's edge
    assert sensors.grid_distance(grid, 2.25, 4.5, 0.0, 1.0, 3.0) == 3.0  # capped at the range
    assert sensors.grid_distance(grid, 7.5, 4.5, 1.0, 0.0, 64.0) == 0.0  # starting on grass


def reference_circle_distance(x0, y0, dx, dy, cx, cy, radius, max_dist):
    """Closest approach of the ray to the centre, then back along the ray by half the chord."""
    if math.hypot(x0 - cx, y0 - cy) <= radius:
        return 0.0
    along = (cx - x0) * dx + (cy - y0) * dy
    miss2 = (cx - x0) ** 2 + (cy - y0) ** 2 - along**2
    if along < 0 or miss2 > radius**2:
        return max_dist
    return min(along - math.sqrt(radius**2 - miss2), max_dist)


def reference_box_distance(x0, y0, dx, dy, box, max_dist, step=1e-3):
    """Brute force: march along the ray in small steps until a point is inside the box, then bisect.
    box = (x, y, cos, sin, present) as a row of the traffic array."""
    bx, by, c, s, _ = box

    def inside(t):
        rx, ry = x0 + t * dx - bx, y0 + t * dy - by
        return abs(rx * c + ry * s) <= traffic.CAR_HALF_LENGTH and abs(-rx * s + ry * c) <= traffic.CAR_HALF_WIDTH

    if inside(0.0):
        return 0.0
    ts = np.arange(step, max_dist + step, step)
    xs, ys = x0 + ts * dx - bx, y0 + ts * dy - by
    hit = (np.abs(xs * c + ys * s) <= traffic.CAR_HALF_LENGTH) & (np.abs(-xs * s + ys * c) <= traffic.CAR_HALF_WIDTH)
    if not hit.any():
        return max_dist
    lo, hi = ts[np.argmax(hit)] - step, ts[np.argmax(hit)]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if inside(mid) else (mid, hi)
    return min(hi, max_dist)


def reference_rays(core: envs.CarDriveCore, i: int) -> np.ndarray:
    """(3, R) brute force of car i's rays, in cells, each capped at the range: the road's edge, the nearest
    pedestrian and the nearest traffic car along the ray, the last two regardless of the edge. The rays
    observation holds min(edge, pedestrian, car) (the first thing met on the road), pedestrian and car."""
    grid, max_dist = core.material[core.track_id[i]], core.config.ray_range
    reach = math.hypot(traffic.CAR_HALF_LENGTH, traffic.CAR_HALF_WIDTH)  # a box's bounding circle
    rows = []
    for offset in core.ray_angles:
        a = core.heading[i] + offset
        x0, y0, dx, dy = core.pos[i, 0], core.pos[i, 1], math.cos(a), math.sin(a)
        edge = reference_grid_distance(grid, x0, y0, dx, dy, max_dist)
        ped = min((reference_circle_distance(x0, y0, dx, dy, px, py, PED_RADIUS, max_dist)
                   for px, py, present in core.peds[i] if present > 0), default=max_dist)
        car = min((reference_box_distance(x0, y0, dx, dy, box, max_dist) for box in core.traffic[i]
                   if box[traffic.PRESENT] > 0  # the march only where the ray meets the bounding circle
                   and reference_circle_distance(x0, y0, dx, dy, box[0], box[1], reach, max_dist) < max_dist),
                  default=max_dist)
        rows.append((edge, ped, car))
    return np.array(rows).T


def test_circle_distance_matches_reference_and_lands_on_the_circle():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(3000):
        x0, y0, cx, cy = rng.uniform(0, 20, 4)
        angle = rng.uniform(-math.pi, math.pi)
        dx, dy = math.cos(angle), math.sin(angle)
        radius, max_dist = rng.uniform(0.2, 3.0), rng.uniform(1.0, 30.0)
        got = sensors.circle_distance(x0, y0, dx, dy, cx, cy, radius, max_dist)
        assert got == pytest.approx(reference_circle_distance(x0, y0, dx, dy, cx, cy, radius, max_dist),
                                    abs=1e-9)
        if 0 < got < max_dist:
            hits += 1
            assert math.hypot(x0 + got * dx - cx, y0 + got * dy - cy) == pytest.approx(radius, abs=1e-9)
            ts = np.linspace(0, got, 200)[:-1]  # nothing of the circle before the reported distance
            assert (np.hypot(x0 + ts * dx - cx, y0 + ts * dy - cy) > radius - 1e-9).all()
    assert hits > 100


def _world(obs="rays", n_cars=1, track=1_000_000, **kwargs) -> envs.CarDriveCore:
    config = envs.WorldConfig(obs=obs, tracks=[track], **kwargs)
    core = envs.CarDriveCore(n_cars, config)
    core.load_tracks([track])
    core.seed(0)
    core.reset_cars(np.arange(n_cars))
    return core


def _put_pedestrian_ahead(core: envs.CarDriveCore, distance: float) -> np.ndarray:
    peds = np.zeros((core.num_cars, MAX_CROSSWALKS, 3))
    direction = np.stack([np.cos(core.heading), np.sin(core.heading)], axis=1)
    peds[:, 1, :2] = core.pos + distance * direction
    peds[:, 1, 2] = 1.0
    return peds


def test_a_pedestrian_ahead_blocks_the_ray_before_the_road_edge():
    core = _world(n_rays=9, ray_range=64.0)
    angles = core.ray_angles
    assert angles[4] == 0.0  # the middle ray looks straight ahead
    clear = np.empty((1, 9))
    sensors.cast_rays(core.material, core.track_id, core.pos, core.heading, angles, 64.0,
                      np.zeros((1, MAX_CROSSWALKS, 3)), clear)
    ahead = 0.5 * clear[0, 4] * 64.0  # half way to the road edge
    assert ahead > PED_RADIUS + 1
    blocked = np.empty((1, 9))
    peds = _put_pedestrian_ahead(core, ahead)
    sensors.cast_rays(core.material, core.track_id, core.pos, core.heading, angles, 64.0, peds, blocked)
    assert blocked[0, 4] * 64.0 == pytest.approx(ahead - PED_RADIUS, abs=1e-9)
    assert blocked[0, 0] == clear[0, 0] and blocked[0, 8] == clear[0, 8]  # side rays miss it
    peds[:, :, 2] = 0.0  # an absent pedestrian blocks nothing
    sensors.cast_rays(core.material, core.track_id, core.pos, core.heading, angles, 64.0, peds, blocked)
    np.testing.assert_array_equal(blocked, clear)


def test_rays_observation_reports_the_pedestrian_the_core_placed():
    core = _world(n_rays=9)
    core.peds[:] = _put_pedestrian_ahead(core, 5.0)
    assert core.rays()[0, 4] == pytest.approx((5.0 - PED_RADIUS) / core.config.ray_range)


def _car_pixels(size: int, cells_per_pixel: float):
    """Rows and columns of the pixels whose centres lie well inside the drawn car."""
    row0, col0 = 0.75 * size, 0.5 * size
    rows = [r for r in range(size) if abs((row0 - r - 0.5) * cells_per_pixel) <= 2.0]
    cols = [c for c in range(size) if abs((c + 0.5 - col0) * cells_per_pixel) <= 1.0]
    return rows, cols


@pytest.mark.parametrize("track", TRACKS)
@pytest.mark.parametrize("size", [64, 32])
def test_ego_image_shows_the_car_fixed_and_the_road_ahead(track, size):
    core = _world(obs="pixels", track=track, image_size=size)
    image = core.pixels()[0]
    rows, cols = _car_pixels(size, core.config.cells_per_pixel)
    assert rows and cols
    for r in rows:
        for c in cols:
            assert tuple(image[r, c]) == sensors.CAR_COLOUR
    ahead_row = int(0.75 * size) - 4  # 3.5 pixels (5.25 cells) straight ahead of the car's centre
    assert tuple(image[ahead_row, size // 2]) == sensors.PALETTE[ROAD]
    assert tuple(image[ahead_row, size // 2 - 1]) == sensors.PALETTE[ROAD]
    assert tuple(image[0, 0]) in {tuple(c) for c in sensors.PALETTE}


def test_ego_image_is_the_grid_turned_with_the_car():
    """Away from the car and pedestrians each pixel shows the material under its centre, with the car's
    heading pointing up the image and its right to the image's right."""
    rng = np.random.default_rng(2)
    core = _world(obs="pixels", n_cars=3, image_size=48)
    core.pos[:] = core.pos + rng.uniform(-3, 3, (3, 2))
    core.heading[:] = rng.uniform(-math.pi, math.pi, 3)
    core.peds[:, :, 2] = 0.0
    images, size, cpp = core.pixels(), 48, core.config.cells_per_pixel
    grid = core.material[0]
    for i in range(3):
        forward = np.array([math.cos(core.heading[i]), math.sin(core.heading[i])])
        right = np.array([-forward[1], forward[0]])  # y points down the grid: the right of +x is +y
        for row, col in rng.integers(0, size, (200, 2)):
            fwd, side = (0.75 * size - row - 0.5) * cpp, (col + 0.5 - 0.5 * size) * cpp
            if abs(fwd) < 4 and abs(side) < 4:
                continue  # the car
            x, y = core.pos[i] + fwd * forward + side * right
            cx, cy = math.floor(x), math.floor(y)
            material = grid[cy, cx] if 0 <= cx < 384 and 0 <= cy < 384 else GRASS
            assert tuple(images[i, row, col]) == sensors.PALETTE[material]


def _ped_pixels(core: envs.CarDriveCore) -> np.ndarray:
    return (core.pixels()[0] == np.array(sensors.PED_COLOUR, np.uint8)).all(axis=2)


def test_a_pedestrian_ahead_appears_in_the_image():
    core = _world(obs="pixels")
    size, cpp = core.config.image_size, core.config.cells_per_pixel
    core.peds[:, :, 2] = 0.0
    assert not _ped_pixels(core).any()
    core.peds[:] = _put_pedestrian_ahead(core, 8.25)  # right on the centres of pixel rows
    core.peds[0, 1, :2] += 0.75 * np.array([-math.sin(core.heading[0]), math.cos(core.heading[0])])
    coloured = _ped_pixels(core)
    row, col = round(0.75 * size - 8.25 / cpp - 0.5), size // 2
    assert coloured[row, col]
    assert coloured.sum() <= 4 * math.ceil(math.pi * PED_RADIUS**2 / cpp**2)
    rows, _ = np.nonzero(coloured)
    assert rows.max() < 0.75 * size - 2.5 / cpp  # all of it in front of the car


def test_a_pedestrian_straight_ahead_is_visible_at_every_distance():
    """A pedestrian on the car's line of travel must show in the image wherever it stands. The drawn disc
    has radius PED_RADIUS = 1 cell, but with the default 1.5 cells per pixel a pixel centre can be
    0.75 * sqrt(2) = 1.06 cells from it, so a pedestrian between four pixel centres covers none of them."""
    core = _world(obs="pixels")
    invisible = []
    for distance in np.arange(4.0, 30.0, 0.25):
        core.peds[:] = _put_pedestrian_ahead(core, distance)
        if not _ped_pixels(core).any():
            invisible.append(float(distance))
    assert invisible == [], f"pedestrians straight ahead at these distances (cells) are not drawn: {invisible}"


def test_cast_rays_on_a_driving_batch_matches_the_reference():
    """The batched sensor, as the env calls it, against the brute-force reference, pedestrians off."""
    env = envs.CarDriveVectorEnv(64, tracks=TRACKS, pedestrians=False)
    env.reset(seed=3)
    actions = np.random.default_rng(3).integers(0, 5, (40, 64))
    for a in actions:
        obs, *_ = env.step(a)
    core = env.core
    for i in range(64):
        grid = core.material[core.track_id[i]]
        for r, angle in enumerate(core.ray_angles):
            a = core.heading[i] + angle
            want = reference_grid_distance(grid, core.pos[i, 0], core.pos[i, 1], np.cos(a), np.sin(a), 64.0)
            assert abs(obs[i, r] * 64.0 - want) < 64.0 * 2e-7  # exact up to the float32 observation


def _channels(core: envs.CarDriveCore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Car 0's rays observation split into (first thing met, nearest pedestrian, nearest car), in cells."""
    obs, r, max_dist = core.rays()[0].astype(float), core.config.n_rays, core.config.ray_range
    return obs[:r] * max_dist, obs[r + 2 : 2 * r + 2] * max_dist, obs[2 * r + 2 :] * max_dist


def _along_ray(core: envs.CarDriveCore, ray: int, distance: float) -> np.ndarray:
    """The point `distance` cells along car 0's ray `ray`."""
    a = core.heading[0] + core.ray_angles[ray]
    return core.pos[0] + distance * np.array([math.cos(a), math.sin(a)])


def _pedestrians_at(core: envs.CarDriveCore, *points) -> None:
    """Car 0's pedestrians stand at these points (in slots from the last), the other slots empty."""
    core.peds[0] = 0.0
    for slot, point in zip(range(MAX_CROSSWALKS - 1, -1, -1), points, strict=False):
        core.peds[0, slot] = [point[0], point[1], 1.0]


NORMAL_TRACK = 2_000_000  # a held-out track of normal


def test_a_pedestrian_on_the_grass_beyond_the_kerb_is_seen_through_the_edge():
    """Where a pedestrian waits (KERB_MARGIN beyond the road's edge) the first distance still stops at the
    edge, but the pedestrian channel reads on to the pedestrian, exactly."""
    core = _world(level="normal", track=NORMAL_TRACK)
    _pedestrians_at(core)
    clear, none, _ = _channels(core)
    assert (none == core.config.ray_range).all()
    right = core.config.n_rays - 1  # the ray square to the right, across the road
    kerb = clear[right] + KERB_MARGIN
    point = _along_ray(core, right, kerb)
    assert core.material[0][int(point[1]), int(point[0])] == GRASS
    _pedestrians_at(core, point)
    first, ped, _ = _channels(core)
    np.testing.assert_array_equal(first, clear)  # the edge channel stops at the edge
    assert ped[right] == pytest.approx(kerb - PED_RADIUS, abs=1e-4)
    np.testing.assert_allclose(ped, reference_rays(core, 0)[1], atol=1e-4)


def test_a_pedestrian_behind_the_car_or_beyond_range_is_not_seen():
    core = _world(level="normal", track=NORMAL_TRACK)
    max_dist, ahead = core.config.ray_range, core.config.n_rays // 2
    assert core.ray_angles[ahead] == 0.0
    behind = core.pos[0] - 10.0 * np.array([math.cos(core.heading[0]), math.sin(core.heading[0])])
    _pedestrians_at(core, behind, _along_ray(core, ahead, max_dist + PED_RADIUS + 0.01))
    _, ped, _ = _channels(core)
    assert (ped == max_dist).all()
    _pedestrians_at(core, _along_ray(core, ahead, max_dist + PED_RADIUS - 0.5))  # its near side just in range
    _, ped, _ = _channels(core)
    assert ped[ahead] == pytest.approx(max_dist - 0.5, abs=1e-4)


def test_each_ray_reads_the_nearest_of_two_pedestrians():
    core = _world(level="normal", track=NORMAL_TRACK)
    ahead = core.config.n_rays // 2
    near, far = _along_ray(core, ahead, 20.0), _along_ray(core, ahead, 30.0)
    for order in ((near, far), (far, near)):  # whichever slot each stands in
        _pedestrians_at(core, *order)
        _, ped, _ = _channels(core)
        assert ped[ahead] == pytest.approx(20.0 - PED_RADIUS, abs=1e-4)
        np.testing.assert_allclose(ped, reference_rays(core, 0)[1], atol=1e-4)


def test_a_traffic_car_beyond_the_edge_is_seen_through_it():
    core = _world(level="hard", track=3_000_000)
    core.traffic[0, :, traffic.PRESENT] = 0.0
    _pedestrians_at(core)
    clear, _, none = _channels(core)
    assert (none == core.config.ray_range).all()
    right = core.config.n_rays - 1
    x, y = _along_ray(core, right, clear[right] + 6.0)
    h = core.heading[0] + 0.4
    core.traffic[0, 0] = [x, y, math.cos(h), math.sin(h), 1.0]
    first, _, car = _channels(core)
    np.testing.assert_array_equal(first, clear)
    assert clear[right] < car[right] < clear[right] + 6.0
    np.testing.assert_allclose(car, reference_rays(core, 0)[2], atol=1e-4)


@pytest.mark.parametrize("level", ["normal", "hard"])
def test_every_channel_of_a_driving_batch_matches_the_reference(level):
    """The rays observation of cars the expert drives past crosswalks and traffic, every channel against the
    brute force (grid intervals, circle closest approach, box march): exact up to float32 and the march."""
    n, tracks = 24, [int(s) for s in envs.track_seeds("heldout", level)[:8]]
    env = envs.CarDriveVectorEnv(n, level=level, continuous=True, tracks=tracks, max_episode_steps=400)
    env.reset(seed=1)
    core, r, max_dist = env.core, env.config.n_rays, env.config.ray_range
    beyond = {"pedestrian": 0, "car": 0}  # rays that see a mover beyond the road's edge
    for step in range(1, 181):
        obs, *_ = env.step(envs.drive_expert(core))
        if step % 6:
            continue
        for i in range(n):
            edge, ped, car = reference_rays(core, i)
            want = np.stack([np.minimum(edge, np.minimum(ped, car)), ped, car])
            got = np.stack([obs[i, :r], obs[i, r + 2 : 2 * r + 2], obs[i, 2 * r + 2 :]]).astype(float) * max_dist
            np.testing.assert_allclose(got, want, atol=2e-5, err_msg=f"car {i} at step {step}")
            beyond["pedestrian"] += int(((ped > edge) & (ped < max_dist)).sum())
            beyond["car"] += int(((car > edge) & (car < max_dist)).sum())
    assert beyond["pedestrian"] > 0
    assert beyond["car"] > 0 or level == "normal"


@pytest.mark.parametrize("make", [lambda **kw: envs.CarDriveEnv(**kw), lambda **kw: envs.CarDriveVectorEnv(2, **kw)])
def test_cells_per_pixel_zooms_the_image_of_either_env(make):
    """Half the cells per pixel draws the car (3 x 2 cells) over four times the pixels, on the same frame size."""
    counts = []
    for cpp in (1.5, 0.75):
        env = make(obs="pixels", tracks=[0], cells_per_pixel=cpp)
        obs, _ = env.reset(seed=0)
        frame = np.asarray(obs).reshape(-1, 64, 64, 3)[0]
        counts.append(int((frame == np.array(sensors.CAR_COLOUR, np.uint8)).all(axis=2).sum()))
    assert counts[1] >= 3 * counts[0] > 0


def test_the_speedometer_bar_is_as_long_as_the_speed_and_leaves_the_road_alone():
    plain = _world(obs="pixels", n_cars=4)
    shown = _world(obs="pixels", n_cars=4, speedometer=True)
    speeds = np.array([0.0, 1.0, 2.5, -0.5])  # a car rolling back shows no bar
    plain.speed[:], shown.speed[:] = speeds, speeds
    without, with_bar = plain.pixels(), shown.pixels()
    rows = sensors.SPEEDOMETER_ROWS
    np.testing.assert_array_equal(with_bar[:, :-rows], without[:, :-rows])
    bar = (with_bar[:, -rows:] == 255).all(axis=3)  # (N, rows, S) white pixels
    assert ((with_bar[:, -rows:] == 0).all(axis=3) | bar).all()  # white on black, nothing else
    lengths = bar.sum(axis=2)  # (N, rows)
    expected = np.round(np.clip(speeds / envs.physics.MAX_SPEED, 0, 1) * 64)
    np.testing.assert_array_equal(lengths, np.repeat(expected[:, None], rows, axis=1))
    assert bar[2, :, : int(expected[2])].all()  # from the left edge
