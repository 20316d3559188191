"""The track pool builds a track when a car first drives it, and a process builds each track once."""

from __future__ import annotations

import numpy as np

import envs
from envs.pool import TrackPool

EASY_SHAPE = envs.LEVELS["easy"].shape


def _built(pool: TrackPool) -> list[int]:
    return [k for k in range(len(pool)) if pool._tracks[k] is not None]


def test_a_seeded_reset_builds_only_the_track_its_car_drives():
    env = envs.CarDriveEnv(num_tracks=8)
    _, info = env.reset(seed=123)
    pool = env.core.tracks
    assert len(pool) == 8 and _built(pool) == [int(env.core.track_id[0])]
    assert info["track_seed"] == pool.seeds[env.core.track_id[0]]


def test_envs_over_the_same_tracks_build_each_track_once():
    seeds = [11, 12, 13]
    envs.make_track(seeds[0], EASY_SHAPE)  # the process may have built some already; count from here
    before = envs.make_track.cache_info()
    for _ in range(3):
        venv = envs.CarDriveVectorEnv(3, tracks=seeds)
        venv.reset(seed=0, options={"track_index": np.arange(3)})
        envs.CarDriveEnv(tracks=seeds).reset(seed=1)
    after = envs.make_track.cache_info()
    assert after.misses - before.misses <= 2  # 12 and 13, if no earlier test built them


def test_pool_arrays_grow_to_the_longest_lap_and_keep_the_others():
    pool = TrackPool([3, 17, 1_000_005], EASY_SHAPE)
    first = pool[0]
    pool.ensure(np.array([1, 2]))
    assert pool.centrelines.shape[1] == max(int(pool[k].length) for k in range(3))
    np.testing.assert_array_equal(pool.centrelines[0, : int(first.length)], first.centreline)
    np.testing.assert_array_equal(pool.material[0], first.material)
    assert pool.lengths.tolist() == [int(pool[k].length) for k in range(3)]
