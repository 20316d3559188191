"""The rules of the world: tracks cannot be driven blind, the baseline driver laps them, and rewards and
episode ends follow the documented rules."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs import core as core_module
from envs import pedestrians

FEW_HELDOUT = [int(s) for s in envs.HELDOUT_SEEDS[::10]]  # 10 tracks
ALL_HELDOUT = [int(s) for s in envs.HELDOUT_SEEDS]


def _drive(seeds: list[int], policy, max_steps: int = 3000):
    """Car i drives held-out track seeds[i] until its first episode ends; returns the final step's info."""
    n = len(seeds)
    venv = envs.CarDriveVectorEnv(n, continuous=True, tracks=seeds, max_episode_steps=max_steps)
    obs, info = venv.reset(seed=0, options={"track_index": np.arange(n)})
    assert info["track_seed"].tolist() == seeds
    final = {key: np.zeros_like(value) for key, value in info.items()}
    final["terminated"], final["truncated"] = np.zeros(n, bool), np.zeros(n, bool)
    done = np.zeros(n, bool)
    for _ in range(max_steps):
        obs, _, terminated, truncated, info = venv.step(policy(obs))
        ended = (terminated | truncated) & ~done
        for key in final:
            final[key][ended] = {"terminated": terminated, "truncated": truncated}.get(key, info.get(key))[ended]
        done |= ended
        if done.all():
            break
    assert done.all()
    return final


def _blind(obs: np.ndarray) -> np.ndarray:
    return np.tile(np.array([0.0, 1.0], np.float32), (len(obs), 1))  # full throttle, never steering


def _check_blind_driving_crashes_early(seeds):
    final = _drive(seeds, _blind)
    assert final["crashed"].all() and final["terminated"].all(), final
    assert (final["progress"] < 0.10).all(), dict(zip(seeds, final["progress"].round(3), strict=True))


def _check_baseline_laps(seeds):
    final = _drive(seeds, envs.drive_controller)
    failed = {s: round(float(p), 3) for s, p, lap in zip(seeds, final["progress"], final["lap_completed"],
                                                         strict=True) if not lap}
    assert not failed, f"the baseline driver does not lap these held-out tracks (seed: progress): {failed}"
    assert final["terminated"].all() and (final["progress"] >= 1.0).all()
    assert not final["crashed"].any()


def test_driving_blind_crashes_before_a_tenth_of_the_lap():
    _check_blind_driving_crashes_early(FEW_HELDOUT)


def test_baseline_controller_laps_heldout_tracks():
    _check_baseline_laps(FEW_HELDOUT)


@pytest.mark.slow
def test_driving_blind_crashes_early_on_every_heldout_track():
    _check_blind_driving_crashes_early(ALL_HELDOUT)


@pytest.mark.slow
def test_baseline_controller_laps_every_heldout_track():
    _check_baseline_laps(ALL_HELDOUT)


def test_completing_a_lap_ends_the_episode_with_the_bonus():
    env = envs.CarDriveEnv(continuous=True, tracks=[FEW_HELDOUT[0]], max_episode_steps=3000)
    obs, _ = env.reset(seed=0)
    total, rewards = 0.0, []
    for _ in range(3000):
        obs, reward, terminated, truncated, info = env.step(envs.drive_controller(obs)[0])
        rewards.append(reward)
        total += reward
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert info["lap_completed"] is True and info["crashed"] is False
    assert info["progress"] >= 1.0
    assert rewards[-1] > core_module.LAP_BONUS  # the bonus is paid on the last step
    assert max(rewards[:-1]) < core_module.LAP_BONUS
    expected = core_module.LAP_REWARD * info["progress"] + core_module.LAP_BONUS
    assert total == pytest.approx(expected - core_module.PEDESTRIAN_PENALTY * info["pedestrian_hits"])


def test_leaving_the_road_is_penalised_and_ends_the_episode():
    env = envs.CarDriveEnv(continuous=True, tracks=[FEW_HELDOUT[1]], pedestrians=False)
    env.reset(seed=0)
    for _ in range(1000):
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], np.float32))
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert info["crashed"] is True and info["lap_completed"] is False
    assert reward < 0
    core = env.core
    cell = np.floor(core.pos[0]).astype(int)
    assert not core.tracks[0].road[cell[1], cell[0]]


def test_driving_backwards_costs_reward():
    env = envs.CarDriveEnv(continuous=True, tracks=[FEW_HELDOUT[2]], pedestrians=False)
    env.reset(seed=0)
    rewards = [env.step(np.array([0.0, -1.0], np.float32))[1] for _ in range(20)]
    assert sum(rewards) < 0
    assert env.core.progress[0] < 0


def test_truncation_at_max_episode_steps():
    env = envs.CarDriveEnv(tracks=[FEW_HELDOUT[0]], max_episode_steps=25)
    env.reset(seed=0)
    for step in range(1, 26):
        _, _, terminated, truncated, _ = env.step(0)  # standing still on the start line
        assert not terminated
        assert truncated is (step == 25)


def _car_before_crosswalk(env: envs.CarDriveEnv, back: int, speed: float):
    """Put the car on the centreline `back` samples before the first crosswalk, at `speed`, with that
    crosswalk's pedestrian in the middle of the road from the next step on, and the others away."""
    core = env.core
    t = core.tracks[core.track_id[0]]
    c = int(t.crosswalks[0])
    s = (c - back) % int(t.length)
    core.pos[0] = t.centreline[s]
    core.heading[0] = np.arctan2(t.tangents[s, 1], t.tangents[s, 0])
    core.index[0], core.arc[0], core.speed[0] = s, float(s), speed
    walk = pedestrians.walk_segments(t.centreline[[c]], t.tangents[[c]], t.half_width)[0]
    length = np.linalg.norm(walk[1] - walk[0])
    core.ped_phase[0] = 1.0  # the far end of every walk: u = 1 - drift, nowhere near the car
    core.ped_phase[0, 0] = 0.5 - (core.clock[0] + 1) * pedestrians.PED_SPEED / length  # mid-road next step
    return t


def test_hitting_a_pedestrian_counts_once_stops_the_car_and_costs_reward():
    env = envs.CarDriveEnv(continuous=True, tracks=[FEW_HELDOUT[0]])
    env.reset(seed=0)
    _car_before_crosswalk(env, back=1, speed=1.0)
    _, reward, terminated, _, info = env.step(np.array([0.0, 0.0], np.float32))
    assert info["pedestrian_hits"] == 1
    assert env.core.speed[0] == 0.0
    assert reward < -core_module.PEDESTRIAN_PENALTY + 1
    assert not terminated
    # still touching: the same contact is not counted again
    _, reward, _, _, info = env.step(np.array([0.0, 0.0], np.float32))
    assert info["pedestrian_hits"] == 1 and reward > -1


def test_pedestrian_hits_in_vector_info():
    venv = envs.CarDriveVectorEnv(2, continuous=True, tracks=[FEW_HELDOUT[0]])
    venv.reset(seed=0)
    core = venv.core
    t = core.tracks[0]
    c = int(t.crosswalks[0])
    walk = pedestrians.walk_segments(t.centreline[[c]], t.tangents[[c]], t.half_width)[0]
    length = np.linalg.norm(walk[1] - walk[0])
    core.pos[0], core.index[0], core.arc[0] = t.centreline[c], c, float(c)
    core.ped_phase[:] = 1.0
    core.ped_phase[0, 0] = 0.5 - (core.clock[0] + 1) * pedestrians.PED_SPEED / length
    _, reward, _, _, info = venv.step(np.zeros((2, 2), np.float32))
    assert info["pedestrian_hits"].tolist() == [1, 0]
    assert reward[0] < 0 and reward[1] == 0.0


def test_no_pedestrians_when_disabled():
    env = envs.CarDriveEnv(tracks=[FEW_HELDOUT[0]], pedestrians=False)
    env.reset(seed=0)
    assert (env.core.peds[..., 2] == 0).all()
    env.step(3)
    assert (env.core.peds[..., 2] == 0).all()
