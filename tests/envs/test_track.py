"""Procedural tracks: deterministic, well-formed, drawn from two disjoint named seed sets."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs import track as track_module
from envs.track import CROSSWALK, GRASS, GRID_SIZE, START_LINE

SEEDS = [0, 1, 7, 99_999, 1_000_000, 1_000_099]
EASY = envs.LEVELS["easy"].shape  # the shapes live in the levels
ARRAYS = ("centreline", "tangents", "crosswalks", "material")


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_same_seed_same_track(seed):
    fresh = track_module.make_track.__wrapped__  # bypass the cache: really generate it twice
    a, b = fresh(seed, EASY), fresh(seed, EASY)
    assert a is not b
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.length, a.start_index, a.min_radius) == (b.length, b.start_index, b.min_radius)
    np.testing.assert_array_equal(a.material, envs.make_track(seed, EASY).material)


def test_different_seeds_different_tracks():
    a, b = envs.make_track(0, EASY), envs.make_track(1, EASY)
    assert a.length != b.length or not np.array_equal(a.material, b.material)


def test_track_sets():
    train, heldout = envs.track_seeds("train"), envs.track_seeds("heldout")
    assert len(heldout) == 100 == len(set(heldout.tolist()))
    assert not set(train.tolist()) & set(heldout.tolist())
    np.testing.assert_array_equal(heldout, envs.HELDOUT_SEEDS)
    np.testing.assert_array_equal(train, envs.TRAIN_SEEDS)


def test_unknown_track_set_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"unknown track set 'nope'.*heldout.*train"):
        envs.track_seeds("nope")


@pytest.mark.parametrize("bad", [1.5, "3", True, None])
def test_track_seed_must_be_an_integer(bad):
    with pytest.raises(TypeError, match="integer"):
        envs.make_track(bad, EASY)


@pytest.mark.parametrize("seed", SEEDS)
def test_track_is_well_formed(seed):
    t = envs.make_track(seed, EASY)
    m = len(t.centreline)
    assert t.seed == seed and t.length == m and t.centreline.shape == t.tangents.shape == (m, 2)
    assert t.material.shape == (GRID_SIZE, GRID_SIZE) and t.material.dtype == np.uint8
    # one centreline sample per cell of arc, the last meeting the first
    gaps = np.linalg.norm(np.diff(np.vstack([t.centreline, t.centreline[:1]]), axis=0), axis=1)
    assert np.abs(gaps - 1.0).max() < 0.05
    np.testing.assert_allclose(np.linalg.norm(t.tangents, axis=1), 1.0)
    assert (np.einsum("ij,ij->i", t.tangents, np.diff(t.centreline, axis=0, append=t.centreline[:1])) > 0).all()
    # the whole centreline, and the start, lie on road
    cells = np.floor(t.centreline).astype(int)
    assert (t.material[cells[:, 1], cells[:, 0]] != GRASS).all()
    sx, sy = np.floor(t.centreline[t.start_index]).astype(int)
    assert t.road[sy, sx]
    assert (t.material[sy - 3 : sy + 4, sx - 3 : sx + 4] == START_LINE).any()  # a chequered line
    # 1 to 3 crosswalks, each painted on the road
    assert 1 <= len(t.crosswalks) <= 3
    assert (0 <= t.crosswalks).all() and (t.crosswalks < m).all()
    for c in t.crosswalks:
        x, y = np.floor(t.centreline[c]).astype(int)
        assert (t.material[y - 3 : y + 4, x - 3 : x + 4] == CROSSWALK).any()
    assert t.min_radius >= 2 * t.half_width
    assert not t.material[0].any() and not t.material[-1].any()  # grass all round the grid's border
    assert not t.material[:, 0].any() and not t.material[:, -1].any()


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_track_arrays_are_read_only(seed):
    t = envs.make_track(seed, EASY)
    for name in ARRAYS:
        with pytest.raises(ValueError):
            getattr(t, name)[0] = 0


@pytest.mark.parametrize("seed", SEEDS[::2])
def test_road_is_a_band_of_half_width_around_the_centreline(seed):
    """Cells whose centre is well within the half width are road, cells well beyond it are grass: the road
    never touches itself, or some far cell would be road."""
    t = envs.make_track(seed, EASY)
    ys, xs = np.mgrid[0:GRID_SIZE:3, 0:GRID_SIZE:3]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    nearest = np.full(len(centres), np.inf)
    for chunk in np.array_split(t.centreline, 8):
        d = np.linalg.norm(centres[:, None, :] - chunk[None, :, :], axis=2).min(axis=1)
        nearest = np.minimum(nearest, d)
    road = t.road[ys.ravel(), xs.ravel()]
    assert road[nearest <= t.half_width - 0.5].all()
    assert not road[nearest > t.half_width + 0.5].any()


# -- shapes: the levels' geometry ----------------------------------------------------------------------

SHAPES = {name: envs.LEVELS[name].shape for name in ("easy", "normal", "hard")}


def test_easy_tracks_are_the_tracks_they_always_were():
    """Pinned from the generator as it was before shapes: easy must never change."""
    import hashlib

    material = envs.make_track(0, EASY).material
    assert hashlib.sha256(material.tobytes()).hexdigest()[:16] == "a9588d14d4624369"
    assert int(material.sum()) == 11628


@pytest.mark.parametrize("name", ["normal", "hard"])
@pytest.mark.parametrize("seed", [0, 5, 2_000_000])
def test_shaped_tracks_are_well_formed(name, seed):
    shape = SHAPES[name]
    t = envs.make_track(seed, shape)
    assert t.shape is shape and t.half_width == shape.half_width
    assert shape.crosswalks[0] <= len(t.crosswalks) <= shape.crosswalks[1]
    assert t.min_radius >= shape.min_radius
    cells = np.floor(t.centreline).astype(int)
    assert (t.material[cells[:, 1], cells[:, 0]] != GRASS).all()
    assert not t.material[0].any() and not t.material[:, 0].any()
    fresh = track_module.make_track.__wrapped__(seed, shape)
    np.testing.assert_array_equal(fresh.material, t.material)


def test_shapes_give_different_tracks_of_one_seed():
    tracks = [envs.make_track(3, shape) for shape in SHAPES.values()]
    assert len({t.length for t in tracks}) == 3
    assert tracks[0].half_width > tracks[1].half_width > tracks[2].half_width


@pytest.mark.parametrize(("field", "value"), [
    ("half_width", 40.0), ("control_points", (3, 8)), ("control_points", (9, 9)), ("radius_range", (0.5, 1.5)),
    ("min_radius", 1.0), ("crosswalks", (0, 2)), ("crosswalks", (2, 9)), ("crosswalk_min_radius", -1.0),
])
def test_bad_shape_field_is_named(field, value):
    import dataclasses

    with pytest.raises(ValueError, match=field):
        dataclasses.replace(EASY, **{field: value})


def test_shape_must_be_a_track_shape():
    with pytest.raises(TypeError, match="shape"):
        envs.make_track(0, "hard")


def test_a_shape_stores_its_numbers_as_floats():
    """`half_width=8` and `half_width=8.0` are one shape (one cache key), so they must draw one track."""
    import dataclasses

    whole = envs.TrackShape(8, (8, 13), (0.45, 1), 16, (1, 3), 60)
    assert whole == EASY and repr(dataclasses.astuple(whole)) == repr(dataclasses.astuple(EASY))
    wide = dataclasses.replace(EASY, half_width=10)
    assert wide.half_width == 10.0 and isinstance(wide.half_width, float)
    np.testing.assert_array_equal(track_module.make_track.__wrapped__(5, wide).material,
                                  track_module.make_track.__wrapped__(5, dataclasses.replace(EASY, half_width=10.0))
                                  .material)
