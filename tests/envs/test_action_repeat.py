"""`action_repeat`: one step holds its action for k world steps, exactly as k steps of the same action would,
and stops on the world step the episode ends."""

from __future__ import annotations

import numpy as np
import pytest

import envs

TRACKS = [3, 17, 1_000_005]


def _held(seed: int, repeat: int, max_steps: int, level: str = "normal"):
    """(rewards, terminated, truncated, infos, observations) per step of a car that holds each controller
    action for `repeat` steps: one env at action_repeat=repeat, one at 1 stepping each action `repeat` times."""
    kwargs = dict(obs="rays", continuous=True, level=level, tracks=TRACKS, max_episode_steps=max_steps)
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


def test_action_repeat_one_is_the_plain_world():
    kwargs = dict(obs="pixels", level="normal", tracks=TRACKS)
    one, plain = envs.CarDriveVectorEnv(4, action_repeat=1, **kwargs), envs.CarDriveVectorEnv(4, **kwargs)
    a, _ = one.reset(seed=2)
    b, _ = plain.reset(seed=2)
    for t in range(40):
        actions = np.full(4, 3 if t % 5 else 1)
        a, ra, *_ = one.step(actions)
        b, rb, *_ = plain.step(actions)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ra, rb)


@pytest.mark.parametrize("make", [envs.CarDriveEnv, lambda **kw: envs.CarDriveVectorEnv(2, **kw)])
@pytest.mark.parametrize("repeat", [0, -2, 1.5, True])
def test_action_repeat_must_be_a_positive_integer(make, repeat):
    with pytest.raises(ValueError, match=rf"action_repeat must be an integer >= 1, got {repeat!r}"):
        make(action_repeat=repeat)
