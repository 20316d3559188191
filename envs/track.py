"""Procedural tracks: closed loops from an integer seed and a shape, rasterised to a material grid.

A track is a smoothed loop of random control points (a periodic cubic B-spline through points at jittered
angles and random radii), resampled to one centreline sample per cell of arc length. Around it the road is
every grid cell whose centre lies within `half_width` of the centreline. The grid (`material`) serves
collision, the ray sensor and the pixel observation alike, so all three agree cell for cell.

A `TrackShape` sets the road's half-width, how twisty the loop is (control points, their radii, the
tightest bend allowed) and how many crosswalks it has. This module holds no shapes: each level carries its
own (`Level.shape` in `envs.levels`), and so do its seed sets. A seed and a shape give one track, always.

The heavy parts (the rasterisation, the self-touch check, the blind-start search) are compiled with numba,
so a track takes a few milliseconds: a seeded reset never waits for one.

Each track is checked as it is made, and a seed whose first draw fails draws again from the same generator
(so a seed always gives the same track): the road must not touch itself, and the start is placed where a
car that never steers leaves the road before 8% of the lap, so the track cannot be driven blind.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import astuple, dataclass

import numpy as np
from numba import njit

GRID_SIZE = 384  # cells per side of every track's grid (one cell = one world unit)

# Materials of the grid. Everything but GRASS is road: the car may drive on it and rays pass through it.
GRASS, ROAD, KERB, CROSSWALK, START_LINE = 0, 1, 2, 3, 4

MAX_CROSSWALKS = 4  # crosswalks a track can have (the pedestrian arrays are sized for it)
_BLIND_EXIT = 0.08  # a car that never steers must leave the road before this fraction of the lap
_CROSSWALK_HALF_LENGTH = 2.0  # along the road, cells
# The geometry the generator drew every track with before it took a shape (easy's): a shape with exactly this
# geometry keeps that random stream, so the seeds that always gave easy's tracks still give them. Any other
# shape mixes a hash of its geometry into the seed: two shapes never draw the same loops.
_FIRST_GEOMETRY = (8.0, (8, 13), (0.45, 1.0), 16.0, (1, 3), 60.0)


@dataclass(frozen=True)
class TrackShape:
    """The geometry a track is drawn with; a level carries one (`Level.shape`). Numbers are stored as floats,
    so `half_width=8` and `half_width=8.0` are one shape and draw the same tracks.

    Attributes:
        half_width: road half-width, cells.
        control_points: (lo, hi): the loop passes near rng.integers(lo, hi) random points (more: twistier).
        radius_range: (lo, hi) the control points' distance from the grid's centre, as fractions of the room.
        min_radius: the tightest bend allowed (smoothed centreline radius of curvature), cells.
        crosswalks: (lo, hi) crosswalks per lap, inclusive.
        crosswalk_min_radius: crosswalks only where the road bends no tighter than this, cells.
    """

    half_width: float
    control_points: tuple[int, int]
    radius_range: tuple[float, float]
    min_radius: float
    crosswalks: tuple[int, int]
    crosswalk_min_radius: float

    def __post_init__(self) -> None:
        _check("half_width", self.half_width, 3.0, 12.0)
        lo, hi = _pair("control_points", self.control_points)
        if not (isinstance(lo, int) and isinstance(hi, int) and 4 <= lo < hi <= 24):
            raise ValueError(f"control_points must be integers 4 <= lo < hi <= 24, got {self.control_points!r}")
        lo, hi = _pair("radius_range", self.radius_range)
        if not 0 < lo < hi <= 1:
            raise ValueError(f"radius_range must be 0 < lo < hi <= 1, got {self.radius_range!r}")
        _check("min_radius", self.min_radius, self.half_width, 200.0)
        lo, hi = _pair("crosswalks", self.crosswalks)
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= MAX_CROSSWALKS):
            raise ValueError(f"crosswalks must be integers 1 <= lo <= hi <= {MAX_CROSSWALKS}, got {self.crosswalks!r}")
        _check("crosswalk_min_radius", self.crosswalk_min_radius, 0.0, 1000.0)
        for name in ("half_width", "min_radius", "crosswalk_min_radius"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "radius_range", tuple(float(v) for v in self.radius_range))


def _check(name: str, value, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")


def _pair(name: str, value) -> tuple:
    if not (isinstance(value, tuple) and len(value) == 2) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}")
    return value


@dataclass(frozen=True, eq=False)
class Track:
    """One closed track. Arrays are read-only; positions are (x, y) in cells, y pointing down the grid.

    Attributes:
        seed: the seed it was generated from.
        half_width: road half-width in cells.
        centreline: (M, 2) float64 samples one cell of arc apart, in driving order.
        tangents: (M, 2) unit driving directions at the samples.
        length: lap length in cells (= M, the arc length of the closed centreline).
        start_index: centreline sample where cars start, facing along the tangent.
        crosswalks: (C,) centreline sample indices of the crosswalks (1 to MAX_CROSSWALKS).
        material: (GRID_SIZE, GRID_SIZE) uint8 grid of GRASS / ROAD / KERB / CROSSWALK / START_LINE.
        min_radius: smallest radius of curvature of the centreline, cells.
        shape: the `TrackShape` it was drawn with.
    """

    seed: int
    half_width: float
    centreline: np.ndarray
    tangents: np.ndarray
    length: float
    start_index: int
    crosswalks: np.ndarray
    material: np.ndarray
    min_radius: float
    shape: TrackShape

    @property
    def road(self) -> np.ndarray:
        """(H, W) bool: True where a car may drive."""
        return self.material != GRASS


@functools.lru_cache(maxsize=256, typed=True)  # typed: seed True is refused, never seed 1's track
def make_track(seed: int, shape: TrackShape) -> Track:
    """Generate (or fetch from the process's cache) the track of `seed` drawn with `shape` (a level's:
    `make_track(seed, envs.LEVELS["easy"].shape)`). Deterministic: same seed and shape, same track."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"a track seed must be an integer, got {seed!r}")
    if not isinstance(shape, TrackShape):
        raise TypeError(f"shape must be a TrackShape, got {type(shape).__name__}")
    entropy, geometry = [int(seed), 0x7AC4], astuple(shape)
    if geometry != _FIRST_GEOMETRY:  # easy keeps the generator it always had; other shapes get their own stream
        entropy.append(zlib.crc32(repr(geometry).encode()))
    rng = np.random.default_rng(entropy)
    for _ in range(100):
        points = _smooth_loop(rng, shape)
        if rng.random() < 0.5:  # half the tracks run the other way round
            points = points[::-1].copy()
        track = _build(int(seed), shape, points, rng)
        if track is not None:
            return track
    raise RuntimeError(f"track seed {seed}: no valid loop in 100 draws")  # never seen; a guard, not a path


def _smooth_loop(rng: np.random.Generator, shape: TrackShape) -> np.ndarray:
    """A periodic cubic B-spline through random polar control points, resampled one cell apart."""
    k = int(rng.integers(*shape.control_points))
    angles = 2 * np.pi * (np.arange(k) + rng.uniform(-0.3, 0.3, k)) / k
    radii = rng.uniform(*shape.radius_range, k) * (GRID_SIZE / 2 - shape.half_width - 14)
    ctrl = GRID_SIZE / 2 + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)  # (k, 2)
    u = np.linspace(0, 1, 48, endpoint=False)[:, None]  # (48, 1) parameter within a segment
    basis = np.hstack([(1 - u) ** 3, 3 * u**3 - 6 * u**2 + 4, -3 * u**3 + 3 * u**2 + 3 * u + 1, u**3]) / 6
    windows = np.stack([np.roll(ctrl, -j, axis=0) for j in range(4)], axis=1)  # (k, 4, 2) P[i..i+3]
    dense = np.einsum("uj,kjd->kud", basis, windows).reshape(-1, 2)  # (k*48, 2)
    return _resample(dense, spacing=1.0)


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Closed polyline -> samples `spacing` apart in arc length (the last sample meets the first)."""
    closed = np.vstack([points, points[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    m = int(round(arc[-1] / spacing))
    s = np.arange(m) * (arc[-1] / m)
    return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)


def _build(seed: int, shape: TrackShape, points: np.ndarray, rng: np.random.Generator) -> Track | None:
    half_width, m = shape.half_width, len(points)
    tangents = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    nxt = np.roll(tangents, -1, axis=0)
    turn = np.abs(np.arctan2(tangents[:, 0] * nxt[:, 1] - tangents[:, 1] * nxt[:, 0], (tangents * nxt).sum(1)))
    radius = 1.0 / np.maximum(np.convolve(np.r_[turn[-4:], turn, turn[:4]], np.ones(9) / 9, "valid"), 1e-9)
    if radius.min() < shape.min_radius or not _keeps_apart(points, 4 * half_width, 2 * half_width + 6):
        return None
    dist = _distance_grid(points, half_width + 2)
    material = np.where(dist <= half_width, ROAD, GRASS).astype(np.uint8)
    material[(dist > half_width - 1.0) & (dist <= half_width)] = KERB
    border = np.r_[material[0], material[-1], material[:, 0], material[:, -1]]
    if (border != GRASS).any():  # the ray sensor relies on a grass border to stop every walk
        return None
    good = _blind_starts(points, tangents, material, _BLIND_EXIT * m)
    if not good:
        return None
    start = int(rng.choice(good))
    crosswalks = _pick_crosswalks(m, start, radius, rng, shape)
    if len(crosswalks) < shape.crosswalks[0]:
        return None
    for c in crosswalks:
        _paint_band(material, points[c], tangents[c], half_width, _CROSSWALK_HALF_LENGTH, CROSSWALK, stripes=True)
    _paint_band(material, points[start], tangents[start], half_width, 0.75, START_LINE, stripes=False)
    for a in (points, tangents, crosswalks, material):
        a.setflags(write=False)
    return Track(seed, half_width, points, tangents, float(m), start, crosswalks, material, float(radius.min()),
                 shape)


@njit(cache=True)
def _keeps_apart(points, far_along, min_gap):
    """No two stretches of road come closer than a strip of grass: samples more than `far_along` apart along
    the lap must be more than `min_gap` apart in the plane (an O(M^2) check that stops at the first pair)."""
    m = points.shape[0]
    for i in range(m):
        for j in range(i + 1, m):
            gap = j - i
            if min(gap, m - gap) > far_along:
                dx, dy = points[i, 0] - points[j, 0], points[i, 1] - points[j, 1]
                if not math.sqrt(dx * dx + dy * dy) > min_gap:
                    return False
    return True


@njit(cache=True)
def _distance_grid(points, reach):
    """Distance from each cell centre to the nearest centreline sample, exact within `reach` (inf beyond)."""
    r = int(math.ceil(reach))
    out = np.full((GRID_SIZE, GRID_SIZE), np.inf)  # squared distances first: one sqrt a cell, not a sample
    for i in range(points.shape[0]):
        px, py = points[i, 0], points[i, 1]
        cx0, cy0 = int(math.floor(px)), int(math.floor(py))
        for cy in range(max(cy0 - r, 0), min(cy0 + r + 1, GRID_SIZE)):
            dy = cy + 0.5 - py
            for cx in range(max(cx0 - r, 0), min(cx0 + r + 1, GRID_SIZE)):
                dx = cx + 0.5 - px
                d2 = dx * dx + dy * dy
                if d2 < out[cy, cx]:
                    out[cy, cx] = d2
    return np.sqrt(out)


@njit(cache=True)
def _blind_starts(points, tangents, material, exit_within):
    """Every 7th sample from which driving straight ahead leaves the road within `exit_within` samples.

    From sample i, look ahead half a lap half a cell at a time; where the ray first leaves the road (or, if
    it never does, i itself), find the nearest centreline sample and count how far along the lap it is."""
    m = points.shape[0]
    n_steps = len(np.arange(0.0, 0.5 * m, 0.5))
    good = []
    for i in range(0, m, 7):
        ex, ey = points[i, 0], points[i, 1]
        for k in range(n_steps):
            s = k * 0.5
            x, y = points[i, 0] + s * tangents[i, 0], points[i, 1] + s * tangents[i, 1]
            cx, cy = int(math.floor(x)), int(math.floor(y))
            if not (0 <= cx < GRID_SIZE and 0 <= cy < GRID_SIZE) or material[cy, cx] == GRASS:
                ex, ey = x, y
                break
        nearest, best = 0, np.inf
        for j in range(m):
            d = math.sqrt((points[j, 0] - ex) ** 2 + (points[j, 1] - ey) ** 2)
            if d < best:
                nearest, best = j, d
        if (nearest - i) % m < exit_within:
            good.append(i)
    return good


def _pick_crosswalks(m: int, start: int, radius: np.ndarray, rng: np.random.Generator,
                     shape: TrackShape) -> np.ndarray:
    """`shape.crosswalks` crosswalks on gentle stretches, away from the start and from one another."""
    lo, hi = shape.crosswalks
    want = int(rng.integers(lo, hi + 1))
    order = rng.permutation(m)
    chosen: list[int] = []
    for i in order:
        ahead = (i - start) % m
        if ahead < 60 or ahead > m - 20 or radius[i] < shape.crosswalk_min_radius:
            continue
        if all(min((i - c) % m, (c - i) % m) > m / (2 * hi) for c in chosen):
            chosen.append(int(i))
        if len(chosen) == want:
            break
    if not chosen:  # a twisty track: fall back to the straightest sample well past the start
        ahead = (np.arange(m) - start) % m
        chosen = [int(np.argmax(np.where((ahead > 60) & (ahead < m - 20), radius, -1)))]
    return np.array(sorted(chosen), dtype=np.int64)


def _paint_band(material, centre, tangent, half_width, half_length, value, stripes) -> None:
    """Paint road cells within a band across the road (a crosswalk or the start line)."""
    r = int(np.ceil(half_width + half_length)) + 1
    cx, cy = np.floor(centre).astype(int)
    ys, xs = np.mgrid[max(cy - r, 0) : min(cy + r + 1, GRID_SIZE), max(cx - r, 0) : min(cx + r + 1, GRID_SIZE)]
    rel_x, rel_y = xs + 0.5 - centre[0], ys + 0.5 - centre[1]
    along = rel_x * tangent[0] + rel_y * tangent[1]
    across = -rel_x * tangent[1] + rel_y * tangent[0]
    band = (np.abs(along) <= half_length) & (np.abs(across) <= half_width) & (material[ys, xs] != GRASS)
    if stripes:  # zebra stripes across the road, 1.5 cells wide
        band &= np.floor(across / 1.5).astype(int) % 2 == 0
    else:  # a chequered line
        band &= (np.floor(across / 1.5).astype(int) + (along > 0)) % 2 == 0
    material[ys[band], xs[band]] = value
