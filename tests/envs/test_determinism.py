"""Seeded determinism, and car i of a batch living exactly the episodes of a single env seeded seed + i."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.spaces import decode_actions

TRACKS = [3, 17, 1_000_005]


def _assert_obs_equal(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    else:
        np.testing.assert_array_equal(a, b)


def _car(obs, i: int):
    return {key: value[i] for key, value in obs.items()} if isinstance(obs, dict) else obs[i]


def _rays(obs) -> np.ndarray:
    return obs["rays"] if isinstance(obs, dict) else obs


def _actions(rng: np.random.Generator, obs, continuous: bool, num: int, blind: float = 0.15):
    """Mostly the baseline driver (episodes reach truncation), else random or full throttle straight ahead
    (which leaves the road early on every track: episodes crash). `blind` may be one probability per car."""
    driven = envs.drive_controller(np.atleast_2d(_rays(obs)), continuous=continuous)
    if continuous:
        random = rng.uniform(-1, 1, (num, 2)).astype(np.float32)
        straight = np.tile(np.array([0.0, 1.0], np.float32), (num, 1))
    else:
        random, straight = rng.integers(0, 5, num), np.full(num, 3)
    pick, go_blind = rng.random(num) < 0.15, rng.random(num) < blind
    if continuous:
        pick, go_blind = pick[:, None], go_blind[:, None]
    return np.where(go_blind, straight, np.where(pick, random, driven))


def _rollout(env, seed: int, steps: int, continuous: bool):
    rng = np.random.default_rng(1234)
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    for _ in range(steps):
        action = _actions(rng, obs, continuous, 1)[0]
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs, info))
    return trace


@pytest.mark.parametrize(("obs", "continuous", "tracks"), [("rays", False, "train"), ("both", True, TRACKS)])
def test_same_seed_same_trajectory_single(obs, continuous, tracks):
    make = lambda: envs.CarDriveEnv(obs=obs, continuous=continuous, tracks=tracks, max_episode_steps=60)  # noqa: E731
    first, second = _rollout(make(), 7, 200, continuous), _rollout(make(), 7, 200, continuous)
    assert len(first) == len(second)
    assert sum(len(entry) == 2 for entry in first) >= 3  # several episodes
    for a, b in zip(first, second, strict=True):
        _assert_obs_equal(a[0], b[0])
        assert a[1:] == b[1:]


def test_different_seeds_differ():
    env = envs.CarDriveEnv(tracks="train", num_tracks=1)
    assert len({env.reset(seed=s)[1]["track_seed"] for s in range(4)}) > 1


@pytest.mark.parametrize(("obs", "continuous"), [("rays", True), ("pixels", False)])
def test_same_seed_same_trajectory_vector(obs, continuous):
    def rollout():
        venv = envs.CarDriveVectorEnv(4, obs=obs, continuous=continuous, max_episode_steps=60)
        rng = np.random.default_rng(99)
        o, info = venv.reset(seed=11)
        trace = [(o, info)]
        for _ in range(200):
            act = rng.uniform(-1, 1, (4, 2)).astype(np.float32) if continuous else rng.integers(0, 5, 4)
            trace.append(venv.step(act))
        return trace

    for a, b in zip(rollout(), rollout(), strict=True):
        _assert_obs_equal(a[0], b[0])
        for x, y in zip(a[1:], b[1:], strict=True):
            if isinstance(x, dict):
                _assert_obs_equal(x, y)
            else:
                np.testing.assert_array_equal(x, y)


def _assert_info_equal(vector_info: dict, i: int, single_info: dict) -> None:
    assert vector_info.keys() == single_info.keys()
    for key, value in single_info.items():
        assert vector_info[key][i] == value, key


@pytest.mark.parametrize(("obs", "continuous", "repeat"), [("rays", False, 1), ("both", True, 1), ("rays", True, 3)])
def test_vector_car_i_equals_single_env_seeded_seed_plus_i(obs, continuous, repeat):
    n, seed, steps = 3, 5, 200
    kwargs = dict(obs=obs, continuous=continuous, tracks=TRACKS, max_episode_steps=61, action_repeat=repeat)
    venv = envs.CarDriveVectorEnv(n, **kwargs)
    singles = [envs.CarDriveEnv(**kwargs) for _ in range(n)]
    vobs, vinfo = venv.reset(seed=seed)
    pending = [None] * n  # the single env's reset (obs, info) the vector car must show at its next step
    for i, env in enumerate(singles):
        sobs, sinfo = env.reset(seed=seed + i)
        _assert_obs_equal(_car(vobs, i), sobs)
        _assert_info_equal(vinfo, i, sinfo)
    rng = np.random.default_rng(0)
    ends = {"terminated": 0, "truncated": 0, "autoresets": 0}
    for _ in range(steps):
        actions = _actions(rng, vobs, continuous, n, blind=np.array([1.0, 0.3, 0.0]))
        vobs, vreward, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            if pending[i] is not None:  # next-step autoreset: the action is ignored
                sobs, sinfo = pending[i]
                pending[i] = None
                ends["autoresets"] += 1
                assert vreward[i] == 0.0 and not vterm[i] and not vtrunc[i]
                _assert_obs_equal(_car(vobs, i), sobs)
                _assert_info_equal(vinfo, i, sinfo)
                continue
            sobs, sreward, sterm, strunc, sinfo = env.step(actions[i])
            _assert_obs_equal(_car(vobs, i), sobs)
            assert (vreward[i], bool(vterm[i]), bool(vtrunc[i])) == (sreward, sterm, strunc)
            _assert_info_equal(vinfo, i, sinfo)
            if sterm or strunc:
                ends["terminated" if sterm else "truncated"] += 1
                pending[i] = env.reset()
    assert ends["terminated"] > 0 and ends["truncated"] > 0 and ends["autoresets"] > 0, ends
    seeds_driven = set(venv.core.seeds_in_use().tolist())
    assert seeds_driven <= set(TRACKS)


def test_track_index_option_puts_car_i_on_pool_track_i():
    venv = envs.CarDriveVectorEnv(3, tracks=TRACKS)
    _, info = venv.reset(seed=0, options={"track_index": np.array([2, 0, 1])})
    assert info["track_seed"].tolist() == [TRACKS[2], TRACKS[0], TRACKS[1]]


def test_car_seeds_option_makes_a_car_independent_of_its_place_in_the_batch():
    """A car seeded s on track k drives the same episode whether it is car 0 of 1 or car 2 of 3."""
    actions = np.random.default_rng(0).integers(0, 5, 60)
    alone = envs.CarDriveVectorEnv(1, tracks=TRACKS, level="normal")
    batch = envs.CarDriveVectorEnv(3, tracks=TRACKS, level="normal")
    alone.reset(seed=0, options={"track_index": np.array([1]), "car_seeds": [77]})
    batch.reset(seed=5, options={"track_index": np.array([0, 2, 1]), "car_seeds": [3, 4, 77]})
    for a in actions:
        obs_alone, r_alone, *_ = alone.step(np.array([a]))
        obs_batch, r_batch, *_ = batch.step(np.array([0, 1, a]))
        np.testing.assert_array_equal(obs_alone[0], obs_batch[2])
        assert r_alone[0] == r_batch[2]
    with pytest.raises(ValueError, match="car_seeds needs 3 seeds"):
        batch.reset(options={"car_seeds": [1]})


def test_reset_cars_with_seeds_starts_the_episode_a_fresh_world_starts():
    """A car that has driven, reset on track k with car seed s, observes and lives what a one-car world reset
    with track k and car seed s does (evolution's slots restart cars this way), its neighbours untouched."""
    rng = np.random.default_rng(2)
    batch = envs.CarDriveVectorEnv(3, tracks=TRACKS, level="hard", max_episode_steps=50)
    batch.reset(seed=1)
    for _ in range(25):
        batch.core.step(*decode_actions(rng.integers(0, 5, 3), False, 3), np.ones(3, bool))
    before = batch.observe()
    batch.core.reset_cars(np.array([1]), np.array([2]), seeds=[91])
    alone = envs.CarDriveVectorEnv(1, tracks=TRACKS, level="hard", max_episode_steps=50)
    obs_alone, _ = alone.reset(seed=8, options={"track_index": np.array([2]), "car_seeds": [91]})
    obs = batch.observe()
    np.testing.assert_array_equal(obs[1], obs_alone[0])
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])
    for _ in range(60):  # past the step limit of the restarted car
        a = rng.integers(0, 5)
        out = batch.core.step(*decode_actions(np.array([0, a, 0]), False, 3), np.array([False, True, False]))
        obs_alone, r_alone, term, trunc, _ = alone.step(np.array([a]))
        np.testing.assert_array_equal(batch.observe()[1], obs_alone[0])
        assert out["reward"][1] == r_alone[0] and out["terminated"][1] == term[0] and out["truncated"][1] == trunc[0]
        if term[0] or trunc[0]:
            break
    with pytest.raises(ValueError, match="one seed per car"):
        batch.core.reset_cars(np.array([0, 1]), seeds=[1])


def _drives_on_as(part, whole, cars, rng):
    """`part` (cars `cars` of `whole`, now) sees and steps exactly as those cars of `whole` do, for 40 steps."""
    np.testing.assert_array_equal(part.observe(), whole.observe()[cars])
    for _ in range(40):  # past the step limit: both autoreset, from each car's own generator
        actions = rng.integers(0, 5, whole.num_envs)
        obs_w, r_w, term_w, trunc_w, _ = whole.step(actions)
        obs_p, r_p, term_p, trunc_p, _ = part.step(actions[cars])
        np.testing.assert_array_equal(obs_p, obs_w[cars])
        np.testing.assert_array_equal(r_p, r_w[cars])
        np.testing.assert_array_equal(term_p | trunc_p, (term_w | trunc_w)[cars])


def test_subset_continues_the_chosen_cars_exactly():
    """A subset of a batch drives on as those cars would have in the whole batch, autoresets included."""
    rng = np.random.default_rng(1)
    whole = envs.CarDriveVectorEnv(5, tracks=TRACKS, level="hard", max_episode_steps=30)
    whole.reset(seed=3)
    for _ in range(10):
        whole.step(rng.integers(0, 5, 5))
    cars = np.array([4, 1])
    _drives_on_as(whole.subset(cars), whole, cars, rng)
    with pytest.raises(ValueError, match="subset needs"):
        whole.subset([7])


def test_keep_drops_the_other_cars_in_place_and_the_kept_go_on_exactly():
    rng = np.random.default_rng(4)
    whole, kept = (envs.CarDriveVectorEnv(5, tracks=TRACKS, level="hard", max_episode_steps=30) for _ in range(2))
    whole.reset(seed=3)
    kept.reset(seed=3)
    for _ in range(10):
        actions = rng.integers(0, 5, 5)
        whole.step(actions)
        kept.step(actions)
    cars = np.array([4, 1])
    kept.keep(cars)
    assert kept.num_envs == kept.core.num_cars == 2 and kept.action_space.shape == (2,)
    _drives_on_as(kept, whole, cars, rng)
    with pytest.raises(ValueError, match="distinct car indices"):
        kept.keep([1, 1])
