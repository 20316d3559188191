"""REINFORCE: discounted returns by hand, episodes batched across envs, smoke runs, and a slow test that it
solves CartPole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.reinforce import ReinforceConfig, _Episodes, discounted_returns, train
from tests.agents.test_a2c import _greedy_mean_return


def test_discounted_returns_by_hand():
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 2.0, 3.0]), 0.5), [1 + 1 + 0.75, 2 + 1.5, 3])
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 1.0]), 1.0), [2.0, 1.0])


def test_episodes_wait_for_their_end_and_skip_autoreset_steps():
    episodes = _Episodes(num_envs=2, gamma=1.0)
    obs = torch.zeros(2, 3)
    act = torch.tensor([0, 1])
    episodes.add(obs, act, np.array([1.0, 1.0]), np.array([False, True]), np.array([True, True]))
    assert len(episodes.batch["return"]) == 1 and episodes.returns == [1.0]  # env 1's one-step episode
    episodes.add(obs, act, np.array([2.0, 5.0]), np.array([True, False]), np.array([True, False]))
    assert episodes.batch["return"] == [1.0, 3.0, 2.0]  # env 0's episode: G = 1 + 2, then 2
    _, actions, returns, starts = episodes.take()
    assert actions.tolist() == [1, 0, 0] and returns.tolist() == [1.0, 3.0, 2.0]
    assert starts.tolist() == [1.0, 1.0, 0.0]  # each episode's first step: where a recurrent state is zeroed
    assert episodes.running[1]["reward"] == []  # the autoreset step was no transition


@pytest.mark.parametrize(("env_id", "env_kwargs", "backbone"), [
    ("sandbox/CarDrive-v0", {"max_episode_steps": 20}, "mlp"),
    ("sandbox/CarDrive-v0", {"continuous": True, "max_episode_steps": 20}, "attention"),
    ("sandbox/CarDrive-v0", {"obs": "pixels", "image_size": 36, "max_episode_steps": 10}, "cnn"),
    ("CartPole-v1", {}, "mlp"),
    ("CartPole-v1", {}, "tests.agents.plugin:TinyBackbone"),  # a plug-in by "module:Class"
])
def test_reinforce_smoke(env_id, env_kwargs, backbone):
    config = ReinforceConfig(env_id=env_id, env_kwargs=env_kwargs, backbone=backbone, num_envs=4,
                             batch_size=32, total_timesteps=160)
    _, history = train(config)
    assert len(history["global_step"]) >= 1
    assert all(np.isfinite(history[key]).all() for key in ("policy_loss", "value_loss", "entropy"))


@pytest.mark.slow
def test_reinforce_solves_cartpole():
    config = ReinforceConfig(env_id="CartPole-v1", num_envs=8, batch_size=2000, total_timesteps=200_000,
                             learning_rate=3e-3, seed=0)
    model, _ = train(config)
    assert _greedy_mean_return(model, "CartPole-v1") >= 475


def test_resume_equals_uninterrupted(tmp_path):
    """Checkpoint after update 2 through the hook, resume: the same weights and losses, episodes that were
    running at the checkpoint included."""
    from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

    config = ReinforceConfig(num_envs=4, batch_size=40, total_timesteps=400,
                             env_kwargs={"level": "hard", "max_episode_steps": 15})

    def checkpoint_at_2(event):
        if event["kind"] == "update" and event["update"] == 2:
            save_checkpoint(tmp_path / "c.pt", event["state"]())

    full_model, full = train(config, log=checkpoint_at_2)
    resumed_model, resumed = train(config, resume=load_checkpoint(tmp_path / "c.pt"))
    assert len(full["policy_loss"]) >= 4
    for key in ("global_step", "policy_loss", "value_loss", "entropy"):
        assert resumed[key] == full[key], key
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
