"""`action_repeat`: one step holds its action for k world steps, exactly as k steps of the same action would,
and stops on the world step the episode ends."""

from __future__ import annotations

import numpy as np
import pytest

import envs

TRACKS = [3, 17, 1_000_005]


def _held(seed: int, repeat: int, max_steps: int):
    """Drive one normal episode twice, the controller's action held for `repeat` world steps: by an env at
    action_repeat=repeat, and by one at 1 stepping each action `repeat` times (fewer where the episode ends);
    assert every step's reward, flags, info and observation agree. Returns (world steps driven, world steps of
    the last held step, the last info, whether the episode terminated)."""
    kwargs = dict(obs="rays", continuous=True, level="normal", tracks=TRACKS, max_episode_steps=max_steps)
    held, plain = envs.CarDriveEnv(action_repeat=repeat, **kwargs), envs.CarDriveEnv(**kwargs)
    obs, _ = held.reset(seed=seed)
    plain_obs, _ = plain.reset(seed=seed)
    np.testing.assert_array_equal(obs, plain_obs)
    steps = 0
    while True:
        action = envs.drive_controller(obs[None], n_rays=held.config.n_rays)[0]
        obs, reward, terminated, truncated, info = held.step(action)
        total, world_steps = 0.0, 0
        for _ in range(repeat):
            plain_obs, r, plain_term, plain_trunc, plain_info = plain.step(action)
            total, world_steps = total + r, world_steps + 1
            if plain_term or plain_trunc:
                break
        steps += world_steps
        assert (reward, terminated, truncated) == (total, plain_term, plain_trunc)
        assert info == plain_info
        np.testing.assert_array_equal(obs, plain_obs)
        if terminated or truncated:
            return steps, world_steps, info, terminated


def test_a_held_step_equals_the_world_steps_it_holds_and_stops_where_the_episode_ends():
    # 100 world steps is not a multiple of 3: a car still driving is truncated on a repeat's first step
    steps, last, _, terminated = _held(seed=0, repeat=3, max_steps=100)
    assert steps == 100 and last == 1 and not terminated
    # an episode that ends by a lap or a crash ends on its own world step, the rest of the repeat unplayed
    ends = [_held(seed=s, repeat=4, max_steps=3000) for s in range(3)]
    assert all(terminated for *_, terminated in ends)
    assert any(last < 4 for _, last, _, _ in ends), [last for _, last, _, _ in ends]
    for steps, _, info, _ in ends:
        assert info["lap_steps"] in (0, steps)  # world steps, as an unrepeated env counts them


def test_a_batch_of_frames_held_two_steps_equals_two_plain_steps():
    kwargs = dict(obs="both", level="normal", tracks=TRACKS)
    held, plain = envs.CarDriveVectorEnv(4, action_repeat=2, **kwargs), envs.CarDriveVectorEnv(4, **kwargs)
    a, _ = held.reset(seed=2)
    b, _ = plain.reset(seed=2)
    for _ in range(40):  # every car drives on: no episode ends inside a held step
        actions = envs.drive_controller(a["rays"], n_rays=held.config.n_rays, continuous=False)
        a, reward, terminated, truncated, _ = held.step(actions)
        b, r1, *ended1 = plain.step(actions)[:4]
        assert not np.any(ended1)
        b, r2, *ended2 = plain.step(actions)[:4]
        for key in ("pixels", "rays"):  # drawn once, after the second world step
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(reward, r1 + r2)
        np.testing.assert_array_equal(terminated | truncated, np.logical_or(*ended2))


@pytest.mark.parametrize("make", [envs.CarDriveEnv, lambda **kw: envs.CarDriveVectorEnv(2, **kw)])
@pytest.mark.parametrize("repeat", [0, -2, 1.5, True])
def test_action_repeat_must_be_a_positive_integer(make, repeat):
    with pytest.raises(ValueError, match=rf"action_repeat must be an integer >= 1, got {repeat!r}"):
        make(action_repeat=repeat)
