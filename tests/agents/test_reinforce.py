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
    no = np.array([False, False])
    episodes.add(obs, act, np.array([1.0, 1.0]), np.array([False, True]), no, np.array([True, True]))
    assert episodes.batch["return"] == [1.0]  # env 1's one-step episode
    episodes.add(obs, act, np.array([2.0, 5.0]), no, np.array([True, False]), np.array([True, False]))
    assert episodes.batch["return"] == [1.0, 3.0, 2.0]  # env 0's episode: G = 1 + 2, then 2
    _, actions, returns, starts = episodes.take()
    assert actions.tolist() == [1, 0, 0] and returns.tolist() == [1.0, 3.0, 2.0]
    assert starts.tolist() == [1.0, 1.0, 0.0]  # each episode's first step: where a recurrent state is zeroed
    assert episodes.running[1]["reward"] == []  # the autoreset step was no transition


def test_an_episode_cut_by_the_step_limit_ends_on_the_value_of_its_last_state():
    """With bootstrap_truncated: env 0's episode is cut after two steps (rewards 1, 2) and waits; the next step's
    V of its last state (10) ends it, G = [1 + 0.5 * 2 + 0.25 * 10, 2 + 0.5 * 10]. Env 1's episode, ended by
    the env itself, stays Monte-Carlo."""
    episodes = _Episodes(num_envs=2, gamma=0.5, bootstrap_truncated=True)
    obs, act, both = torch.zeros(2, 3), torch.tensor([0, 1]), np.array([True, True])
    no = np.array([False, False])
    episodes.add(obs, act, np.array([1.0, 4.0]), no, no, both)
    episodes.add(obs, act, np.array([2.0, 6.0]), np.array([False, True]), np.array([True, False]), both)
    assert episodes.batch["return"] == [4.0 + 0.5 * 6.0, 6.0]  # env 1: terminated, no bootstrap
    assert episodes.running[0]["cut"] and len(episodes.batch["return"]) == 2
    restored = _Episodes(num_envs=2, gamma=0.5, bootstrap_truncated=True)
    restored.load_state_dict(episodes.state_dict())  # a checkpoint taken while env 0 waits for its V
    for waiting in (episodes, restored):
        waiting.bootstrap(torch.tensor([10.0, -99.0]))
        assert waiting.batch["return"][-2:] == [1.0 + 0.5 * 2.0 + 0.25 * 10.0, 2.0 + 0.5 * 10.0]
        assert waiting.running[0] == {"obs": [], "action": [], "reward": [], "cut": False}  # moved to the batch


def test_the_logged_return_is_the_envs_own_under_reward_normalisation():
    """CartPole pays 1 a step, so an episode's own return is its length: each update's episodic_return is the
    mean length of the episodes that ended since the update before, not the sum of the scaled rewards."""
    lengths, ended, expected = np.zeros(2), [], []
    running = np.ones(2, bool)

    def watch(event):
        nonlocal running
        if event["kind"] == "update":
            expected.append(np.mean(ended) if ended else np.nan)
            ended.clear()
            return
        done = event["terminated"] | event["truncated"]
        lengths[running] += 1  # the step after an episode (autoreset) is no transition
        ended.extend(lengths[done & running].tolist())
        lengths[done] = 0
        running = ~done

    config = ReinforceConfig(env_id="CartPole-v1", num_envs=2, batch_size=64, total_timesteps=640,
                             normalize_reward=True, bootstrap_truncated=True)
    _, history = train(config, log=watch)
    assert len(expected) >= 5 and min(expected) >= 8  # no CartPole episode is shorter
    np.testing.assert_allclose(history["episodic_return"], expected, rtol=1e-5)


def test_an_episode_cut_without_the_bootstrap_counts_as_it_is():
    episodes = _Episodes(num_envs=1, gamma=0.5)
    episodes.add(torch.zeros(1, 3), torch.tensor([0]), np.array([2.0]), np.array([False]), np.array([True]),
                 np.array([True]))
    assert episodes.batch["return"] == [2.0] and not episodes.running[0]["cut"]


def test_the_bootstrap_needs_the_baseline():
    with pytest.raises(ValueError, match="bootstrap_truncated needs baseline"):
        ReinforceConfig(bootstrap_truncated=True, baseline=False)


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


@pytest.mark.parametrize("options", [{}, {"bootstrap_truncated": True, "normalize_reward": True}])
def test_resume_equals_uninterrupted(tmp_path, options):
    """Checkpoint after update 2 through the hook, resume: the same weights and losses, episodes that were
    running at the checkpoint included (and those cut by the step limit, waiting for V of their last state)."""
    from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

    config = ReinforceConfig(num_envs=4, batch_size=40, total_timesteps=400,
                             env_kwargs={"level": "hard", "max_episode_steps": 15}, **options)

    def checkpoint_at_2(event):
        if event["kind"] == "update" and event["update"] == 2:
            save_checkpoint(tmp_path / "c.pt", event["state"]())

    full_model, full = train(config, log=checkpoint_at_2)
    resumed_model, resumed = train(config, resume=load_checkpoint(tmp_path / "c.pt"))
    assert len(full["policy_loss"]) >= 4
    for key in ("global_step", "episodic_return", "policy_loss", "value_loss", "entropy"):
        assert resumed[key] == full[key], key
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
