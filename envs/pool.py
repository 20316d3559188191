"""The pool of tracks a world drives on, stacked into the padded arrays the compiled kernels read.

A track is built (`envs.track.make_track`, cached per process) the first time a car is put on it, not when
the pool is drawn: a seeded reset of a one-car env builds the one track its car drives, so a loop of
`reset(seed=episode)` costs one track a reset (a few ms), never the whole pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from envs import pedestrians
from envs.track import GRID_SIZE, MAX_CROSSWALKS, Track, TrackShape, make_track


class TrackPool:
    """K track seeds of one shape; `pool[k]` builds track k on first use. Arrays are shared with the kernels.

    Attributes:
        seeds: (K,) int64 track seeds.
        material: (K, H, W) uint8 grids (all grass until a track is built).
        centrelines, tangents: (K, M_max, 2), padded past each track's length.
        lengths: (K,) samples (= cells) per lap.
        walks: (K, MAX_CROSSWALKS, 2, 2) each crosswalk's walk across the road; num_walks (K,).
        crosswalks: (K, MAX_CROSSWALKS) centreline sample of each crosswalk (-1 past num_walks).
    """

    def __init__(self, seeds: Sequence[int], shape: TrackShape):
        k = len(seeds)
        self.shape = shape
        self.seeds = np.array([int(s) for s in seeds], np.int64)
        self.material = np.zeros((k, GRID_SIZE, GRID_SIZE), np.uint8)
        self.centrelines, self.tangents = np.zeros((k, 1, 2)), np.zeros((k, 1, 2))
        self.lengths = np.ones(k, np.int64)  # 1, not 0: a kernel never divides by an unbuilt length
        self.walks = np.zeros((k, MAX_CROSSWALKS, 2, 2))
        self.num_walks = np.zeros(k, np.int64)
        self.crosswalks = np.full((k, MAX_CROSSWALKS), -1, np.int64)
        self._tracks: list[Track | None] = [None] * k

    def __len__(self) -> int:
        return len(self._tracks)

    def __getitem__(self, k: int) -> Track:
        track = self._tracks[k]
        return self._build(k) if track is None else track

    def __iter__(self) -> Iterator[Track]:
        return (self[k] for k in range(len(self)))

    def ensure(self, ks: np.ndarray) -> None:
        """Build the tracks of these pool indices if they are not built yet."""
        for k in np.unique(ks):
            if self._tracks[k] is None:
                self._build(int(k))

    def _build(self, k: int) -> Track:
        t = make_track(int(self.seeds[k]), self.shape)
        m = int(t.length)
        if m > self.centrelines.shape[1]:  # grow the padded arrays to the longest lap built so far
            grown = np.zeros((len(self), m, 2))
            grown[:, : self.centrelines.shape[1]] = self.centrelines
            self.centrelines = grown
            grown = np.zeros((len(self), m, 2))
            grown[:, : self.tangents.shape[1]] = self.tangents
            self.tangents = grown
        self.material[k] = t.material
        self.centrelines[k, :m], self.tangents[k, :m] = t.centreline, t.tangents
        self.lengths[k] = m
        c = t.crosswalks
        self.walks[k, : len(c)] = pedestrians.walk_segments(t.centreline[c], t.tangents[c], t.half_width)
        self.num_walks[k] = len(c)
        self.crosswalks[k, : len(c)] = c
        self._tracks[k] = t
        return t
