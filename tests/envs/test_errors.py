"""Bad input fails early with a ValueError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

import envs


@pytest.fixture(scope="module")
def discrete_env():
    env = envs.CarDriveEnv(tracks=[0])
    env.reset(seed=0)
    return env


@pytest.fixture(scope="module")
def continuous_env():
    env = envs.CarDriveEnv(tracks=[0], continuous=True)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("action", [7, -1, 2.5, np.int64(5), "3", None])
def test_discrete_action_outside_the_space(discrete_env, action):
    with pytest.raises(ValueError, match=r"outside Discrete\(5\)"):
        discrete_env.step(action)


@pytest.mark.parametrize("action", [[2.0, 0.0], [0.0, -1.5], [np.nan, 0.0], [0.0, np.inf], [0.0, 0.0, 0.0], [0.5]])
def test_continuous_action_outside_the_space(continuous_env, action):
    with pytest.raises(ValueError, match=r"outside Box\(-1, 1, \(2,\)\)"):
        continuous_env.step(np.array(action, np.float32))


def test_valid_actions_of_every_kind_are_accepted(discrete_env, continuous_env):
    for action in (0, 4, np.int64(3), np.array(2)):
        discrete_env.step(action)
    for action in ([-1.0, 1.0], np.array([0.25, -0.5], np.float32), (0.0, 0.0)):
        continuous_env.step(action)


@pytest.fixture(scope="module")
def vector_envs():
    made = {}
    for continuous in (False, True):
        venv = envs.CarDriveVectorEnv(3, continuous=continuous, tracks=[0])
        venv.reset(seed=0)
        made[continuous] = venv
    return made


@pytest.mark.parametrize("actions", [np.zeros(2, np.int64), np.zeros((3, 1), np.int64), 3])
def test_discrete_batch_of_the_wrong_shape(vector_envs, actions):
    with pytest.raises(ValueError, match=r"shape \(3,\), got shape"):
        vector_envs[False].step(actions)


@pytest.mark.parametrize("actions", [np.zeros((3,)), np.zeros((2, 2)), np.zeros((3, 3)), np.zeros((3, 2, 1))])
def test_continuous_batch_of_the_wrong_shape(vector_envs, actions):
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*got shape"):
        vector_envs[True].step(actions)


@pytest.mark.parametrize(("actions", "match"), [
    (np.array([0, 7, 1]), r"action 7 is outside Discrete\(5\)"),
    (np.array([0, -1, 1]), r"action -1 is outside Discrete\(5\)"),
    (np.array([0.0, 2.5, 1.0]), "integers"),
    (np.array([True, False, True]), "integers"),
])
def test_discrete_batch_value_outside_the_space(vector_envs, actions, match):
    with pytest.raises(ValueError, match=match):
        vector_envs[False].step(actions)


@pytest.mark.parametrize("bad", [[2.0, 0.0], [np.nan, 0.0], [0.0, -np.inf]])
def test_continuous_batch_value_outside_the_space(vector_envs, bad):
    actions = np.zeros((3, 2))
    actions[1] = bad
    with pytest.raises(ValueError, match=r"outside Box\(-1, 1, \(2,\)\)"):
        vector_envs[True].step(actions)


@pytest.mark.parametrize("make", [envs.CarDriveEnv, lambda **kw: envs.CarDriveVectorEnv(2, **kw)])
def test_unknown_obs_mode(make):
    with pytest.raises(ValueError, match=r"unknown obs mode 'lidar'"):
        make(obs="lidar")


@pytest.mark.parametrize("make", [envs.CarDriveEnv, lambda **kw: envs.CarDriveVectorEnv(2, **kw)])
def test_cells_per_pixel_not_positive(make):
    with pytest.raises(ValueError, match="cells_per_pixel"):
        make(obs="pixels", cells_per_pixel=0.0)


@pytest.mark.parametrize("n_rays", [0, -3])
def test_n_rays_below_one(n_rays):
    with pytest.raises(ValueError, match=rf"n_rays must be an integer >= 1, got {n_rays}"):
        envs.CarDriveEnv(n_rays=n_rays)
    with pytest.raises(ValueError, match="n_rays"):
        envs.CarDriveVectorEnv(2, n_rays=n_rays)


def test_unknown_track_set():
    with pytest.raises(ValueError, match=r"unknown track set 'nope'"):
        envs.CarDriveEnv(tracks="nope")
    with pytest.raises(ValueError, match=r"unknown track set 'nope'"):
        envs.CarDriveVectorEnv(2, tracks="nope")


@pytest.mark.parametrize("tracks", [[], [1.5], ["a"]])
def test_bad_explicit_track_list(tracks):
    with pytest.raises(ValueError, match="tracks must be"):
        envs.CarDriveEnv(tracks=tracks)


@pytest.mark.parametrize("num_envs", [0, -1, 2.0, True])
def test_bad_num_envs(num_envs):
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        envs.CarDriveVectorEnv(num_envs)


def test_bad_render_mode():
    with pytest.raises(ValueError, match="unknown render_mode 'video'"):
        envs.CarDriveEnv(render_mode="video")


@pytest.mark.parametrize("index", [[0, 1], [0, 1, 5], [0.0, 1.0, 0.0]])
def test_bad_track_index_option(index):
    venv = envs.CarDriveVectorEnv(3, tracks=[0, 1])
    with pytest.raises(ValueError, match=r"options\['track_index'\]"):
        venv.reset(seed=0, options={"track_index": np.array(index)})


def test_step_before_reset():
    with pytest.raises(RuntimeError, match="reset"):
        envs.CarDriveEnv().step(0)
    with pytest.raises(RuntimeError, match="reset"):
        envs.CarDriveVectorEnv(2).step(np.zeros(2, np.int64))


def test_one_car_continuous_action_must_have_shape_two():
    env = envs.CarDriveEnv(continuous=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside Box"):
        env.step(np.zeros((1, 2), np.float32))
