"""Levels: every level honours the env contracts, is seeded, batched exactly like the one-car env, keeps its
own disjoint seed sets, sees traffic exactly, and ends an episode on a contact where it says it does."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import core as core_module
from envs import pedestrians, sensors, traffic
from envs.levels import EASY, HARD, NORMAL
from sandbox.commands.baseline import evaluate_on_tracks
from tests.envs.test_determinism import _actions, _assert_info_equal, _assert_obs_equal, _car
from tests.envs.test_sensors import reference_box_distance, reference_grid_distance

LEVEL_NAMES = ("easy", "normal", "hard")
MOVING = ("normal", "hard")


def _tracks(level: str, count: int = 3) -> list[int]:
    return [int(s) for s in envs.track_seeds("heldout", level)[:count]]


@pytest.mark.parametrize("level", MOVING)
@pytest.mark.parametrize(("obs", "continuous"), [("rays", False), ("both", True)])
def test_env_checkers_pass(level, obs, continuous):
    gym_check_env(envs.CarDriveEnv(obs=obs, continuous=continuous, level=level), skip_render_check=True)
    sb3_check_env(envs.CarDriveEnv(obs=obs, continuous=continuous, level=level), warn=False)


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_a_seed_gives_the_same_episode(level):
    def rollout():
        env = envs.CarDriveEnv(level=level, continuous=True, obs="both", max_episode_steps=120)
        rng = np.random.default_rng(5)
        obs, info = env.reset(seed=21)
        trace = [(obs, info)]
        for _ in range(250):
            obs, *rest = env.step(_actions(rng, obs, True, 1)[0])
            trace.append((obs, *rest))
            if rest[1] or rest[2]:
                trace.append(env.reset())
        return trace

    first, second = rollout(), rollout()
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        _assert_obs_equal(a[0], b[0])
        assert a[1:] == b[1:]


@pytest.mark.parametrize("level", MOVING)
def test_vector_car_i_equals_single_env_seeded_seed_plus_i(level):
    """Random pedestrians and traffic are part of each car's own world, drawn from its own generator."""
    n, seed = 3, 8
    kwargs = dict(obs="rays", continuous=True, level=level, tracks=_tracks(level), max_episode_steps=150)
    venv = envs.CarDriveVectorEnv(n, **kwargs)
    singles = [envs.CarDriveEnv(**kwargs) for _ in range(n)]
    vobs, vinfo = venv.reset(seed=seed)
    for i, env in enumerate(singles):
        sobs, sinfo = env.reset(seed=seed + i)
        _assert_obs_equal(_car(vobs, i), sobs)
        _assert_info_equal(vinfo, i, sinfo)
    pending, ends = [None] * n, 0
    rng = np.random.default_rng(1)
    for _ in range(400):
        actions = _actions(rng, vobs[:, : 9 + 2], True, n, blind=np.array([0.5, 0.1, 0.0]))
        vobs, vreward, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            if pending[i] is not None:
                _assert_obs_equal(_car(vobs, i), pending[i][0])
                _assert_info_equal(vinfo, i, pending[i][1])
                pending[i] = None
                continue
            sobs, sreward, sterm, strunc, sinfo = env.step(actions[i])
            _assert_obs_equal(_car(vobs, i), sobs)
            assert (vreward[i], bool(vterm[i]), bool(vtrunc[i])) == (sreward, sterm, strunc)
            _assert_info_equal(vinfo, i, sinfo)
            np.testing.assert_array_equal(venv.core.peds[i], env.core.peds[0])
            np.testing.assert_array_equal(venv.core.traffic[i], env.core.traffic[0])
            if sterm or strunc:
                ends += 1
                pending[i] = env.reset()
    assert ends >= 3


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_train_and_heldout_sets_are_disjoint_within_and_across_levels(level):
    train, heldout = envs.track_seeds("train", level), envs.track_seeds("heldout", level)
    assert len(heldout) == 100 and len(train) >= 10_000
    assert not set(train.tolist()) & set(heldout.tolist())
    for other in LEVEL_NAMES:
        if other != level:
            assert not set(heldout.tolist()) & set(envs.track_seeds("heldout", other).tolist())
            assert not set(train.tolist()) & set(envs.track_seeds("train", other).tolist())


def test_easy_keeps_its_seeds_and_is_the_default():
    np.testing.assert_array_equal(envs.track_seeds("heldout", "easy"), envs.HELDOUT_SEEDS)
    np.testing.assert_array_equal(envs.track_seeds("train"), envs.TRAIN_SEEDS)
    assert envs.CarDriveEnv().config.level is EASY
    assert envs.CarDriveEnv().observation_space.shape == (11,)


@pytest.mark.parametrize("level", MOVING)
def test_rays_carry_pedestrian_and_car_distances(level):
    env = envs.CarDriveEnv(level=level)
    assert env.observation_space.shape == (3 * 9 + 2,)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert ((obs[11:] >= 0.0) & (obs[11:] <= 1.0)).all()
    env = envs.CarDriveEnv(level=level, pedestrians=False)
    obs, _ = env.reset(seed=0)
    assert (obs[11:20] == 1.0).all()  # no pedestrian, none within range


def _core(level, n=1, track=None, **kwargs) -> envs.CarDriveCore:
    track = _tracks(level, 1)[0] if track is None else track
    core = envs.CarDriveCore(n, envs.WorldConfig(level=level, tracks=[track], **kwargs))
    core.load_tracks([track])
    core.seed(0)
    core.reset_cars(np.arange(n))
    return core


def _park_traffic_ahead(core, distance: float, side: float = 0.0, angle: float = 0.3) -> None:
    """Put traffic car 0 `distance` cells ahead of car 0, `side` cells to its right, turned by `angle`."""
    c, s = math.cos(core.heading[0]), math.sin(core.heading[0])
    core.traffic[0, :, traffic.PRESENT] = 0.0
    h = core.heading[0] + angle
    core.traffic[0, 0] = [core.pos[0, 0] + distance * c - side * s, core.pos[0, 1] + distance * s + side * c,
                          math.cos(h), math.sin(h), 1.0]


def test_box_distance_matches_brute_force():
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(400):
        x0, y0, bx, by = rng.uniform(0, 20, 4)
        a, h = rng.uniform(-math.pi, math.pi, 2)
        if rng.random() < 0.5:  # aim near the box, so many rays meet it, at all angles of incidence
            a = math.atan2(by - y0, bx - x0) + rng.normal(0.0, 0.2)
        dx, dy = math.cos(a), math.sin(a)
        got = traffic.box_distance(x0, y0, dx, dy, bx, by, math.cos(h), math.sin(h), 30.0)
        want = reference_box_distance(x0, y0, dx, dy, (bx, by, math.cos(h), math.sin(h), 1.0), 30.0)
        assert got == pytest.approx(want, abs=1e-6)
        hits += 0 < got < 30
    assert hits > 120


def test_rays_see_traffic_exactly():
    """Through the env's own observation: each ray's distance is the nearer of the road edge (the grid
    reference) and the traffic car (the brute-force march), and its car channel is the distance to the car
    through the road's edge."""
    core = _core("hard", pedestrians=False)
    r, max_dist = core.config.n_rays, core.config.ray_range
    checked = 0
    for distance, side, angle in [(8.0, 0.0, 0.3), (12.0, -3.0, 1.2), (6.0, 2.0, -0.7), (20.0, 0.5, 0.0)]:
        _park_traffic_ahead(core, distance, side, angle)
        obs = core.rays()[0]
        grid = core.material[core.track_id[0]]
        for k, offset in enumerate(core.ray_angles):
            a = core.heading[0] + offset
            x0, y0, dx, dy = core.pos[0, 0], core.pos[0, 1], math.cos(a), math.sin(a)
            edge = reference_grid_distance(grid, x0, y0, dx, dy, max_dist)
            car = reference_box_distance(x0, y0, dx, dy, core.traffic[0, 0], max_dist)
            assert obs[k] * max_dist == pytest.approx(min(edge, car), abs=1e-5)
            assert obs[2 * r + 2 + k] * max_dist == pytest.approx(car, abs=1e-5)
            assert obs[r + 2 + k] == 1.0  # no pedestrians
            checked += car < edge
    assert checked >= 4


def test_pixels_show_traffic():
    core = _core("hard", obs="pixels", pedestrians=False)
    core.traffic[:, :, traffic.PRESENT] = 0.0
    colour = np.array(sensors.TRAFFIC_COLOUR, np.uint8)
    assert not (core.pixels()[0] == colour).all(axis=2).any()
    _park_traffic_ahead(core, 12.0)
    shown = (core.pixels()[0] == colour).all(axis=2)
    cpp = core.config.cells_per_pixel
    expected = (2 * traffic.CAR_HALF_LENGTH) * (2 * traffic.CAR_HALF_WIDTH) / cpp**2
    assert 0.5 * expected <= shown.sum() <= 1.6 * expected
    rows, _ = np.nonzero(shown)
    assert rows.max() < 0.75 * core.config.image_size  # ahead of the car


def _face_crosswalk(core, distance: float) -> None:
    """Put car 0 `distance` cells before the centre of its track's first crosswalk, facing along the road."""
    t = core.tracks[core.track_id[0]]
    c = int(t.crosswalks[0])
    s = (c - int(distance)) % int(t.length)
    core.pos[0] = t.centreline[c] - distance * t.tangents[c]
    core.index[0], core.arc[0] = s, float(s)
    core.heading[0] = math.atan2(t.tangents[c, 1], t.tangents[c, 0])


@pytest.mark.parametrize("level", MOVING)
def test_hitting_a_pedestrian_ends_the_episode_with_the_penalty(level):
    """Put the car 6 cells before a crosswalk, facing along it, whose pedestrian is half way across."""
    lvl = envs.get_level(level)
    env = envs.CarDriveEnv(level=level, continuous=True, tracks=_tracks(level, 1))
    env.reset(seed=0)
    core = env.core
    _face_crosswalk(core, distance=6.0)
    rate = lvl.pedestrian_speed / (2 * (core.tracks[0].half_width + pedestrians.KERB_MARGIN))  # crossings/step
    core.ped_phase[0, 0], core.ped_plan[0, 0, 0] = 0.0, -0.5 / rate  # crossing 0 half done at step 0
    for _ in range(30):
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 0.6], np.float32))
        if terminated or truncated:
            break
    assert terminated and info["pedestrian_hits"] == 1 and not info["crashed"]
    assert not info["clean_lap"] and info["lap_steps"] == 0
    assert reward < -lvl.contact_penalty + 1.0
    assert lvl.contact_penalty > core_module.CRASH_PENALTY


def test_easy_pedestrians_only_cost_reward():
    env = envs.CarDriveEnv(level="easy", continuous=True, tracks=_tracks("easy", 1))
    env.reset(seed=0)
    _face_crosswalk(env.core, distance=6.0)
    env.core.ped_phase[0, 0] = 0.5  # half way across at step 0 (timetable: u = clock * rate + phase)
    hit = False
    for _ in range(30):
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 0.6], np.float32))
        if info["pedestrian_hits"]:
            hit = True
            break
    assert hit and not terminated
    assert reward < -core_module.PEDESTRIAN_PENALTY + 1.0
    assert env.core.speed[0] == 0.0  # it stops dead, and drives on


@pytest.mark.parametrize("level", MOVING)
def test_touching_traffic_ends_the_episode_with_the_penalty(level):
    lvl = envs.get_level(level)
    if lvl.traffic == 0:
        lvl = dataclasses.replace(lvl, traffic=1)
    env = envs.CarDriveEnv(level=lvl, continuous=True, tracks=_tracks(level, 1), pedestrians=False)
    env.reset(seed=0)
    core = env.core
    core.traffic_arc[0, 0] = core.arc[0] + 6.0  # a stopped car just ahead, in the lane it keeps
    core.traffic_cruise[0, 0] = 1e-9
    for _ in range(30):
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], np.float32))
        if terminated or truncated:
            break
    assert terminated and info["traffic_hits"] == 1 and not info["crashed"]
    assert not info["clean_lap"] and not info["lap_completed"]
    assert reward < -lvl.contact_penalty + 1.0  # progress this step is worth well under one point
    assert lvl.contact_penalty > core_module.CRASH_PENALTY


@pytest.mark.slow
@pytest.mark.parametrize(("level", "ceiling"), [("normal", 0.6), ("hard", 0.3)])
def test_the_rays_controller_stays_a_floor(level, ceiling):
    """Calibration: on the held-out tracks the rays controller (`envs.drive_controller`, which brakes for
    nothing it cannot see on the road) laps cleanly at most `ceiling` of the time, the expert every time."""
    seeds = [int(s) for s in envs.track_seeds("heldout", level)]
    controller = evaluate_on_tracks(lambda obs, core: envs.drive_controller(obs, core.config.n_rays), seeds,
                                    max_steps=1000, level=level)
    expert = evaluate_on_tracks(lambda obs, core: envs.drive_expert(core), seeds, max_steps=1000, level=level)
    assert controller["clean_lap"].mean() <= ceiling
    assert expert["clean_lap"].all()


def test_bad_level_names_the_argument_and_lists_the_levels():
    for make in (envs.CarDriveEnv, lambda **kw: envs.CarDriveVectorEnv(2, **kw)):
        with pytest.raises(ValueError, match=r"level: unknown level 'expert'.*easy, normal, hard"):
            make(level="expert")


def test_unknown_track_set_names_the_tracks_argument():
    with pytest.raises(ValueError, match=r"tracks: unknown track set 'test'"):
        envs.CarDriveEnv(level="hard", tracks="test")


@pytest.mark.parametrize(("field", "value"), [
    ("grip", -1.0), ("traffic", 9), ("pedestrian_speed", 0.0), ("pedestrian_wait", (50.0, 10.0)),
    ("traffic_speed", (1.0, 9.0)), ("contact_penalty", -5.0), ("pedestrian_timing", "sometimes"),
    ("heldout_seeds", (150_000, 150_100)),
])
def test_a_level_parameter_out_of_range_names_itself(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(NORMAL, **{field: value})


def test_levels_get_harder():
    assert EASY.shape.half_width > NORMAL.shape.half_width > HARD.shape.half_width
    assert EASY.shape.min_radius > NORMAL.shape.min_radius > HARD.shape.min_radius
    assert EASY.grip > NORMAL.grip >= HARD.grip
    assert EASY.traffic == NORMAL.traffic == 0 < HARD.traffic
    assert not EASY.contact_ends_episode and NORMAL.contact_ends_episode and HARD.contact_ends_episode


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_a_saved_state_continues_exactly(level):
    """A fresh env loaded with a running env's state_dict lives the same next steps, autoresets included."""
    kwargs = dict(level=level, continuous=True, max_episode_steps=40)
    env = envs.CarDriveVectorEnv(4, **kwargs)
    env.reset(seed=9)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (90, 4, 2)).astype(np.float32)
    for a in actions[:30]:
        env.step(a)
    state = env.state_dict()
    later = [env.step(a) for a in actions[30:]]
    other = envs.CarDriveVectorEnv(4, **kwargs)
    other.load_state_dict(state)
    for a, want in zip(actions[30:], later, strict=True):
        got = other.step(a)
        for x, y in zip(got[:4], want[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        for key in want[4]:
            np.testing.assert_array_equal(got[4][key], want[4][key])
    assert sum(int(w[2].sum() + w[3].sum()) for w in later) > 0  # episodes ended along the way


def test_loading_a_state_of_another_batch_size_names_the_problem():
    env = envs.CarDriveVectorEnv(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="2 cars; this one has 3"):
        envs.CarDriveVectorEnv(3).load_state_dict(env.state_dict())
