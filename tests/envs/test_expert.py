"""The privileged expert drives every level cleanly; it reads the world, not the observation."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from sandbox.commands.baseline import evaluate_on_tracks

LEVELS = ("easy", "normal", "hard")


def _expert(obs, core):
    return envs.drive_expert(core)


@pytest.mark.parametrize("level", LEVELS)
def test_expert_laps_held_out_tracks_cleanly(level):
    seeds = [int(s) for s in envs.track_seeds("heldout", level)[:6]]
    result = evaluate_on_tracks(_expert, seeds, max_steps=1000, level=level)
    assert result["clean_lap"].all(), dict(zip(seeds, result["progress"].round(2), strict=True))
    assert (result["contacts"] == 0).all()
    assert (result["lap_steps"] > 0).all() and (result["lap_steps"] < 1000).all()


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
def test_expert_clean_laps_on_95_percent_of_every_level(level):
    seeds = [int(s) for s in envs.track_seeds("heldout", level)]
    result = evaluate_on_tracks(_expert, seeds, max_steps=1000, level=level)
    assert result["clean_lap"].mean() >= 0.95


def test_expert_reads_the_world_not_the_observation():
    """Two worlds with the same state but different observation settings get the same actions."""
    a = envs.CarDriveVectorEnv(4, level="hard", obs="rays", continuous=True)
    b = envs.CarDriveVectorEnv(4, level="hard", obs="pixels", continuous=True, n_rays=3)
    a.reset(seed=2)
    b.reset(seed=2)
    for _ in range(30):
        actions = envs.drive_expert(a.core)
        np.testing.assert_array_equal(actions, envs.drive_expert(b.core))
        a.step(actions)
        b.step(actions)
    assert actions.shape == (4, 2) and actions.dtype == np.float32 and (np.abs(actions) <= 1).all()


def test_expert_gives_discrete_actions_too():
    venv = envs.CarDriveVectorEnv(3, level="normal")
    venv.reset(seed=0)
    actions = envs.drive_expert(venv.core, continuous=False)
    assert actions.shape == (3,) and set(actions.tolist()) <= set(range(5))
    venv.step(actions)


def test_expert_waits_for_a_pedestrian_crossing_in_front():
    """A car a few cells before a crosswalk whose pedestrian is on the road stops short of it."""
    env = envs.CarDriveEnv(level="normal", continuous=True, tracks=[int(envs.track_seeds("heldout", "normal")[0])])
    env.reset(seed=0)
    core = env.core
    t = core.tracks[0]
    c = int(t.crosswalks[0])
    s = (c - 30) % int(t.length)
    core.pos[0], core.index[0], core.arc[0] = t.centreline[s], s, float(s)
    core.heading[0] = np.arctan2(t.tangents[s, 1], t.tangents[s, 0])
    rate = core.level.pedestrian_speed / (2 * (t.half_width + 2.0))
    core.ped_phase[0, 0], core.ped_plan[0, 0, 0] = 0.0, -0.3 / rate  # 30% across, walking on
    stopped = False
    for _ in range(60):
        _, _, terminated, _, info = env.step(envs.drive_expert(core)[0])
        assert not terminated
        ahead = (c - core.arc[0]) % t.length
        stopped |= core.speed[0] < 0.05 and 0 < ahead < 12
    assert stopped and info["pedestrian_hits"] == 0


def test_bends_must_be_slowed_for_on_normal(monkeypatch):
    """The expert with its bend planning switched off (it plans as if the tyres held any turn) runs wide and
    leaves the road on some tracks it laps cleanly when it plans for the grip."""
    from envs import expert

    seeds = [int(s) for s in envs.track_seeds("heldout", "normal")[:12]]
    planned = evaluate_on_tracks(_expert, seeds, max_steps=1000, level="normal")
    monkeypatch.setattr(expert, "GRIP_SHARE", 1e9)
    reckless = evaluate_on_tracks(_expert, seeds, max_steps=1000, level="normal")
    assert planned["clean_lap"].all()
    assert (~reckless["lap_completed"]).sum() >= 2
