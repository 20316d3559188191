"""The env honours the gymnasium and Stable-Baselines3 contracts, in every observation mode and action kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs

REPO_ROOT = Path(__file__).resolve().parents[2]
MODES = ("rays", "pixels", "both")
MODES_X_ACTIONS = [(obs, continuous) for obs in MODES for continuous in (False, True)]


def _arrays(obs) -> list[np.ndarray]:
    return list(obs.values()) if isinstance(obs, dict) else [obs]


@pytest.mark.parametrize(("obs", "continuous"), MODES_X_ACTIONS)
def test_gymnasium_check_env(obs, continuous):
    gym_check_env(envs.CarDriveEnv(obs=obs, continuous=continuous), skip_render_check=True)


@pytest.mark.parametrize(("obs", "continuous"), MODES_X_ACTIONS)
def test_sb3_check_env(obs, continuous):
    sb3_check_env(envs.CarDriveEnv(obs=obs, continuous=continuous), warn=False)


@pytest.mark.parametrize(("obs", "continuous"), MODES_X_ACTIONS)
def test_step_returns_python_scalars_and_fresh_arrays(obs, continuous):
    env = envs.CarDriveEnv(obs=obs, continuous=continuous, max_episode_steps=30)
    env.action_space.seed(0)
    previous, info = env.reset(seed=0)
    assert isinstance(info["progress"], float) and isinstance(info["pedestrian_hits"], int)
    for _ in range(40):
        current, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert type(reward) is float
        assert type(terminated) is bool and type(truncated) is bool
        assert type(info["lap_completed"]) is bool and type(info["crashed"]) is bool
        assert env.observation_space.contains(current)
        for old, new in zip(_arrays(previous), _arrays(current), strict=True):
            assert not np.shares_memory(old, new)
        previous = current
        if terminated or truncated:
            previous, _ = env.reset()


@pytest.mark.parametrize(("obs", "continuous"), [("rays", False), ("both", True)])
def test_gymnasium_make(obs, continuous):
    env = gymnasium.make(envs.ENV_ID, obs=obs, continuous=continuous, tracks="heldout")
    assert isinstance(env.unwrapped, envs.CarDriveEnv)
    first, info = env.reset(seed=3)
    assert env.observation_space.contains(first)
    assert info["track_seed"] in set(envs.HELDOUT_SEEDS.tolist())
    env.action_space.seed(3)
    _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    env.close()


@pytest.mark.parametrize(("obs", "continuous"), [("rays", False), ("pixels", True), ("both", False)])
def test_gymnasium_make_vec_gives_the_native_vector_env(obs, continuous):
    venv = gymnasium.make_vec(envs.ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", obs=obs,
                              continuous=continuous, tracks="heldout")
    assert isinstance(venv.unwrapped, envs.CarDriveVectorEnv)
    assert venv.num_envs == 3
    assert venv.observation_space == batch_space(venv.single_observation_space, 3)
    assert venv.action_space == batch_space(venv.single_action_space, 3)
    assert venv.single_observation_space == envs.CarDriveEnv(obs=obs).observation_space
    venv.action_space.seed(0)
    first, info = venv.reset(seed=0)
    assert venv.observation_space.contains(first)
    nxt, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
    assert venv.observation_space.contains(nxt)
    assert reward.shape == terminated.shape == truncated.shape == (3,)
    assert terminated.dtype == bool and truncated.dtype == bool
    assert all(value.shape == (3,) for value in info.values())
    venv.close()


def test_import_envs_pulls_in_neither_torch_nor_pygame():
    code = ("import envs, sys; e = envs.CarDriveVectorEnv(2); e.reset(seed=0); e.step(e.action_space.sample()); "
            "assert 'torch' not in sys.modules and 'pygame' not in sys.modules, "
            "sorted(m for m in ('torch', 'pygame') if m in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
