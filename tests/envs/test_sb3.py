"""Stable-Baselines3 PPO trains on the env in every observation mode (smoke runs, a few seconds each)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("obs", "policy", "n_steps", "continuous"), [
    ("rays", "MlpPolicy", 64, False),
    ("rays", "MlpPolicy", 64, True),
    ("pixels", "CnnPolicy", 16, False),
    ("both", "MultiInputPolicy", 16, True),
])
def test_ppo_learns_without_error(obs, policy, n_steps, continuous):
    env = gymnasium.make(envs.ENV_ID, obs=obs, continuous=continuous, max_episode_steps=50)
    model = PPO(policy, env, n_steps=n_steps, batch_size=min(32, n_steps), n_epochs=1, seed=0, device="cpu")
    model.learn(2 * n_steps)
    assert model.num_timesteps == 2 * n_steps
    first, _ = env.reset(seed=0)
    action, _ = model.predict(first, deterministic=True)
    assert env.action_space.contains(action if continuous else int(np.asarray(action)))
    env.close()


def test_ppo_default_env():
    env = gymnasium.make(envs.ENV_ID)
    PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu").learn(128)
