"""Properties of the batched physics, checked over random inputs and random drives (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs import physics

FEW = settings(max_examples=40, deadline=None)
VERY_FEW = settings(max_examples=6, deadline=None)
unit = st.floats(-1.0, 1.0, allow_nan=False)


@FEW
@given(
    speed=st.floats(-physics.MAX_REVERSE, physics.MAX_SPEED, allow_nan=False),
    heading=st.floats(-math.pi, math.pi, allow_nan=False, exclude_max=True),
    steer=unit, throttle=unit,
    x=st.floats(0.0, 384.0, allow_nan=False), y=st.floats(0.0, 384.0, allow_nan=False),
)
def test_bicycle_step_moves_exactly_its_new_speed_within_limits(speed, heading, steer, throttle, x, y):
    pos = np.array([[x, y], [x, y]])
    speeds, headings = np.array([speed, speed]), np.array([heading, heading])
    active = np.array([True, False])
    physics.bicycle_step(pos, headings, speeds, np.array([steer, steer]), np.array([throttle, throttle]), active)
    v = speeds[0]
    assert -physics.MAX_REVERSE <= v <= physics.MAX_SPEED
    assert np.hypot(pos[0, 0] - x, pos[0, 1] - y) <= abs(v) + 1e-9
    assert -math.pi <= headings[0] < math.pi
    # the inactive car is untouched
    assert (pos[1].tolist(), speeds[1], headings[1]) == ([x, y], speed, heading)


@FEW
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 200))
def test_speed_stays_in_range_under_any_controls(seed, steps):
    rng = np.random.default_rng(seed)
    n = 8
    pos, heading, speed = np.zeros((n, 2)), np.zeros(n), np.zeros(n)
    active = np.ones(n, bool)
    for _ in range(steps):
        before = pos.copy()
        physics.bicycle_step(pos, heading, speed, rng.uniform(-1, 1, n), rng.choice([-1.0, 1.0, 0.3], n), active)
        assert ((-physics.MAX_REVERSE <= speed) & (speed <= physics.MAX_SPEED)).all()
        assert (np.linalg.norm(pos - before, axis=1) <= np.abs(speed) + 1e-9).all()


def test_full_throttle_approaches_but_never_exceeds_max_speed():
    pos, heading, speed = np.zeros((1, 2)), np.zeros(1), np.zeros(1)
    for _ in range(2000):
        physics.bicycle_step(pos, heading, speed, np.zeros(1), np.ones(1), np.ones(1, bool))
        assert speed[0] <= physics.MAX_SPEED
    assert speed[0] == pytest.approx(physics.MAX_SPEED)  # drag balances throttle above it: the clip bites
    for _ in range(2000):
        physics.bicycle_step(pos, heading, speed, np.zeros(1), -np.ones(1), np.ones(1, bool))
        assert speed[0] >= -physics.MAX_REVERSE
    assert speed[0] < 0  # braking to a stop, then reversing


def test_steering_right_increases_heading():
    heading, speed = np.zeros(2), np.full(2, 2.0)
    physics.bicycle_step(np.zeros((2, 2)), heading, speed, np.array([1.0, -1.0]), np.zeros(2), np.ones(2, bool))
    assert heading[0] > 0 > heading[1]


@FEW
@given(seed=st.integers(0, 2**32 - 1), track=st.sampled_from([0, 1, 2, 1_000_000, 1_000_001]),
       noise=st.floats(0.0, 1.0))
def test_progress_per_step_is_bounded_by_distance_driven(seed, track, noise):
    """A car on the inside of a bend sweeps at most R / (R - half_width) cells of centreline per cell
    driven (R the track's smallest radius); +1 for the one-cell sampling of the centreline."""
    t = envs.make_track(track, envs.LEVELS["easy"].shape)
    bound_factor = t.min_radius / (t.min_radius - t.half_width)
    env = envs.CarDriveEnv(tracks=[track], continuous=True, max_episode_steps=300)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    core = env.core
    for _ in range(300):
        action = envs.drive_controller(obs)[0]
        action[0] = np.clip(action[0] + noise * rng.normal(), -1, 1)
        pos, progress = core.pos[0].copy(), core.progress[0]
        obs, _, terminated, truncated, info = env.step(action)
        driven = np.linalg.norm(core.pos[0] - pos)
        assert abs(core.progress[0] - progress) <= driven * bound_factor + 1.0
        assert info["progress"] * t.length == pytest.approx(core.progress[0])
        if terminated or truncated:
            break


@pytest.mark.parametrize("obs", ["rays", "pixels", "both"])
@pytest.mark.parametrize("continuous", [False, True])
@VERY_FEW
@given(seed=st.integers(0, 2**32 - 1), n_rays=st.integers(1, 12))
def test_observations_stay_in_their_space(obs, continuous, seed, n_rays):
    env = envs.CarDriveEnv(obs=obs, continuous=continuous, n_rays=n_rays, tracks="heldout", num_tracks=4,
                           max_episode_steps=80, image_size=32)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    assert env.observation_space.contains(observation)
    rays_obs = (lambda o: o["rays"]) if obs == "both" else (lambda o: o)
    for _ in range(120):
        if obs != "pixels" and seed % 2:  # half the examples drive well, so they reach speed and bends
            action = envs.drive_controller(rays_obs(observation), n_rays=n_rays, continuous=continuous)[0]
        else:
            action = env.action_space.sample()
        observation, _, terminated, truncated, _ = env.step(action)
        assert env.observation_space.contains(observation)
        if terminated or truncated:
            observation, _ = env.reset()
            assert env.observation_space.contains(observation)
