"""Procedural tracks: closed loops from an integer seed, rasterised to a material grid.

A track is a smoothed loop of random control points (a periodic cubic B-spline through points at jittered
angles and random radii), resampled to one centreline sample per cell of arc length. Around it the road is
every grid cell whose centre lies within `half_width` of the centreline. The grid (`material`) serves
collision, the ray sensor and the pixel observation alike, so all three agree cell for cell.

Seeds come in two disjoint named sets: `train` (0 .. 99,999) and `heldout` (100 fixed seeds from 1,000,000)
that training never draws from, so generalisation can be measured on tracks no learner has seen.

Each track is checked as it is made, and a seed whose first draw fails draws again from the same generator
(so a seed always gives the same track): the road must not touch itself, and the start is placed where a
car that never steers leaves the road before 8% of the lap, so the track cannot be driven blind.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

GRID_SIZE = 384  # cells per side of every track's grid (one cell = one world unit)
HALF_WIDTH = 8.0  # road half-width, cells
TRAIN_SEEDS = np.arange(0, 100_000)
HELDOUT_SEEDS = np.arange(1_000_000, 1_000_100)
TRACK_SETS = {"train": TRAIN_SEEDS, "heldout": HELDOUT_SEEDS}

# Materials of the grid. Everything but GRASS is road: the car may drive on it and rays pass through it.
GRASS, ROAD, KERB, CROSSWALK, START_LINE = 0, 1, 2, 3, 4

_BLIND_EXIT = 0.08  # a car that never steers must leave the road before this fraction of the lap
_CROSSWALK_HALF_LENGTH = 2.0  # along the road, cells


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
        crosswalks: (C,) centreline sample indices of the crosswalks (1 to 3).
        material: (GRID_SIZE, GRID_SIZE) uint8 grid of GRASS / ROAD / KERB / CROSSWALK / START_LINE.
        min_radius: smallest radius of curvature of the centreline, cells.
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

    @property
    def road(self) -> np.ndarray:
        """(H, W) bool: True where a car may drive."""
        return self.material != GRASS


def track_seeds(name: str) -> np.ndarray:
    """The seeds of a named track set (`train` or `heldout`)."""
    if name not in TRACK_SETS:
        raise ValueError(f"unknown track set {name!r}; known sets: {sorted(TRACK_SETS)}")
    return TRACK_SETS[name]


@functools.lru_cache(maxsize=256)
def make_track(seed: int, half_width: float = HALF_WIDTH) -> Track:
    """Generate (or fetch from the cache) the track of `seed`. Deterministic: same seed, same track."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"a track seed must be an integer, got {seed!r}")
    rng = np.random.default_rng([int(seed), 0x7AC4])
    for _ in range(100):
        points = _smooth_loop(rng)
        if rng.random() < 0.5:  # half the tracks run the other way round
            points = points[::-1].copy()
        track = _build(int(seed), half_width, points, rng)
        if track is not None:
            return track
    raise RuntimeError(f"track seed {seed}: no valid loop in 100 draws")  # never seen; a guard, not a path


def _smooth_loop(rng: np.random.Generator) -> np.ndarray:
    """A periodic cubic B-spline through random polar control points, resampled one cell apart."""
    k = int(rng.integers(8, 13))
    angles = 2 * np.pi * (np.arange(k) + rng.uniform(-0.3, 0.3, k)) / k
    radii = rng.uniform(0.45, 1.0, k) * (GRID_SIZE / 2 - HALF_WIDTH - 14)
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


def _build(seed: int, half_width: float, points: np.ndarray, rng: np.random.Generator) -> Track | None:
    m = len(points)
    tangents = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    nxt = np.roll(tangents, -1, axis=0)
    turn = np.abs(np.arctan2(tangents[:, 0] * nxt[:, 1] - tangents[:, 1] * nxt[:, 0], (tangents * nxt).sum(1)))
    radius = 1.0 / np.maximum(np.convolve(np.r_[turn[-4:], turn, turn[:4]], np.ones(9) / 9, "valid"), 1e-9)
    if radius.min() < 2.0 * half_width or not _keeps_apart(points, half_width):
        return None
    dist = _distance_grid(points, half_width + 2)
    material = np.where(dist <= half_width, ROAD, GRASS).astype(np.uint8)
    material[(dist > half_width - 1.0) & (dist <= half_width)] = KERB
    border = np.r_[material[0], material[-1], material[:, 0], material[:, -1]]
    if (border != GRASS).any():  # the ray sensor relies on a grass border to stop every walk
        return None
    start = _pick_start(points, tangents, material != GRASS, rng)
    if start is None:
        return None
    crosswalks = _pick_crosswalks(m, start, radius, rng)
    for c in crosswalks:
        _paint_band(material, points[c], tangents[c], half_width, _CROSSWALK_HALF_LENGTH, CROSSWALK, stripes=True)
    _paint_band(material, points[start], tangents[start], half_width, 0.75, START_LINE, stripes=False)
    for a in (points, tangents, crosswalks, material):
        a.setflags(write=False)
    return Track(seed, half_width, points, tangents, float(m), start, crosswalks, material, float(radius.min()))


def _keeps_apart(points: np.ndarray, half_width: float) -> bool:
    """No two stretches of road come closer than a strip of grass: samples far apart along the lap must be
    more than two road widths apart in the plane."""
    m = len(points)
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)  # (M, M)
    idx = np.arange(m)
    gap = np.abs(idx[:, None] - idx[None, :])
    along = np.minimum(gap, m - gap)
    return bool(np.all(d[along > 4 * half_width] > 2 * half_width + 6))


def _distance_grid(points: np.ndarray, reach: float) -> np.ndarray:
    """Distance from each cell centre to the nearest centreline sample, exact within `reach` (inf beyond)."""
    r = int(np.ceil(reach))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
    cells = np.floor(points).astype(np.int64)  # (M, 2) cell holding each sample
    cx = cells[:, 0, None] + ox.ravel()  # (M, K) candidate cells around each sample
    cy = cells[:, 1, None] + oy.ravel()
    d = np.hypot(cx + 0.5 - points[:, 0, None], cy + 0.5 - points[:, 1, None])
    inside = (cx >= 0) & (cx < GRID_SIZE) & (cy >= 0) & (cy < GRID_SIZE)
    out = np.full(GRID_SIZE * GRID_SIZE, np.inf)
    np.minimum.at(out, (cy * GRID_SIZE + cx)[inside], d[inside])
    return out.reshape(GRID_SIZE, GRID_SIZE)


def _pick_start(points, tangents, road, rng) -> int | None:
    """A start where driving straight ahead leaves the road before `_BLIND_EXIT` of the lap."""
    m = len(points)
    steps = np.arange(0.0, 0.5 * m, 0.5)  # look ahead half a lap, half a cell at a time
    good = []
    for i in range(0, m, 7):
        ray = points[i] + steps[:, None] * tangents[i]  # (S, 2)
        cell = np.floor(ray).astype(np.int64)
        inside = (cell >= 0).all(axis=1) & (cell < GRID_SIZE).all(axis=1)
        on_road = inside & road[np.clip(cell[:, 1], 0, GRID_SIZE - 1), np.clip(cell[:, 0], 0, GRID_SIZE - 1)]
        exit_at = ray[int(np.argmin(on_road))]
        nearest = int(np.argmin(np.linalg.norm(points - exit_at, axis=1)))
        if (nearest - i) % m < _BLIND_EXIT * m:
            good.append(i)
    return int(rng.choice(good)) if good else None


def _pick_crosswalks(m: int, start: int, radius: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 crosswalks on gentle stretches, away from the start and from one another."""
    want = int(rng.integers(1, 4))
    order = rng.permutation(m)
    chosen: list[int] = []
    for i in order:
        ahead = (i - start) % m
        if ahead < 60 or ahead > m - 20 or radius[i] < 60:
            continue
        if all(min((i - c) % m, (c - i) % m) > m / 6 for c in chosen):
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
