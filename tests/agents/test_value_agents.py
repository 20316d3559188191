"""Q-learning and SARSA: their targets by hand (the one line that differs), the replay buffer, smoke runs
with every backbone family, refusal of continuous actions, exact resume, and a slow CartPole solve."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.q_learning import QLearningConfig, td_target
from agents.q_learning import train as train_q
from agents.qnet import epsilon_greedy_probs, linear_schedule
from agents.replay_buffer import ReplayBuffer
from agents.sarsa import SarsaConfig, expected_sarsa_target, sarsa_target
from agents.sarsa import train as train_sarsa
from tests.agents.test_a2c import _greedy_mean_return

R, TERM = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 1.0, 0.0])  # row 1 terminated, row 2 truncated
NEXT_Q = torch.tensor([[2.0, 5.0], [2.0, 5.0], [4.0, 3.0]])


def test_td_target_by_hand():
    # max over next actions; a terminated row stops the bootstrap, a truncated one (row 2) does not
    np.testing.assert_allclose(td_target(R, NEXT_Q, TERM, 0.5).numpy(), [1 + 2.5, 1.0, 1 + 2.0])


def test_sarsa_target_by_hand():
    taken = NEXT_Q.gather(1, torch.tensor([[0], [1], [1]])).squeeze(1)  # the actions taken next: 0, 1, 1
    np.testing.assert_allclose(sarsa_target(R, taken, TERM, 0.5).numpy(), [1 + 1.0, 1.0, 1 + 1.5])


def test_expected_sarsa_target_by_hand():
    probs = epsilon_greedy_probs(NEXT_Q, epsilon=0.2)  # 0.1 each, + 0.8 on the argmax
    np.testing.assert_allclose(probs.numpy(), [[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])
    # row 0: 0.1 * 2 + 0.9 * 5 = 4.7; row 2: 0.9 * 4 + 0.1 * 3 = 3.9
    np.testing.assert_allclose(expected_sarsa_target(R, NEXT_Q, probs, TERM, 0.5).numpy(),
                               [1 + 2.35, 1.0, 1 + 1.95], rtol=1e-6)


def test_linear_schedule():
    assert [linear_schedule(1.0, 0.1, 10, t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_replay_buffer_skips_autoreset_rows_and_wraps():
    box = spaces.Box(-1, 1, (3,))
    buffer = ReplayBuffer(4, box)
    obs = np.arange(9, dtype=np.float32).reshape(3, 3)
    buffer.add(obs, np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]), obs + 1, np.array([0, 1, 0]),
               np.array([True, False, True]))
    assert buffer.size == 2 and buffer.action[:2].tolist() == [0, 2] and buffer.reward[:2].tolist() == [1.0, 3.0]
    buffer.add(obs, np.array([0, 1, 2]), np.zeros(3), obs, np.zeros(3), np.ones(3, bool))
    assert buffer.size == 4 and buffer.cursor == 1  # five rows in four places
    batch = buffer.sample(6, np.random.default_rng(0))
    assert batch["obs"].shape == (6, 3) and batch["action"].shape == (6,)
    both = spaces.Dict({"rays": box, "pixels": spaces.Box(0, 255, (4, 4, 3), np.uint8)})
    dict_buffer = ReplayBuffer(3, both)
    dict_obs = {"rays": obs, "pixels": np.zeros((3, 4, 4, 3), np.uint8)}
    dict_buffer.add(dict_obs, np.zeros(3, int), np.zeros(3), dict_obs, np.zeros(3), np.ones(3, bool))
    assert dict_buffer.sample(2, np.random.default_rng(0))["next_obs"]["pixels"].shape == (2, 4, 4, 3)


def test_replay_buffer_scales_what_it_holds_as_it_samples():
    """Under observation normalisation the buffer holds the env's own observations and scales them with the
    statistics of the moment it samples: the same rows drawn again after the statistics moved come out moved."""
    buffer = ReplayBuffer(4, spaces.Box(-np.inf, np.inf, (2,)))
    obs = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    buffer.add(obs, np.zeros(2, int), np.zeros(2), obs + 10, np.zeros(2), np.ones(2, bool))
    for shift in (0.0, 5.0):
        batch = buffer.sample(8, np.random.default_rng(0), normalize=lambda x, s=shift: (x - s) / 2)
        plain = buffer.sample(8, np.random.default_rng(0))
        torch.testing.assert_close(batch["obs"], (plain["obs"] - shift) / 2)
        torch.testing.assert_close(batch["next_obs"], (plain["next_obs"] - shift) / 2)
        assert batch["obs"].dtype == torch.float32


@pytest.mark.parametrize("train", [train_q, train_sarsa])
@pytest.mark.parametrize(("env_id", "env_kwargs", "backbone"), [
    ("sandbox/CarDrive-v0", {}, "mlp"),
    ("sandbox/CarDrive-v0", {"level": "hard"}, "attention"),
    ("sandbox/CarDrive-v0", {"obs": "pixels", "image_size": 36}, "cnn"),
    ("CartPole-v1", {}, "mlp"),
    ("CartPole-v1", {}, "attention"),
    ("Acrobot-v1", {}, "tests.agents.plugin:TinyBackbone"),  # a plug-in by "module:Class"
])
def test_smoke(train, env_id, env_kwargs, backbone):
    config_class = QLearningConfig if train is train_q else SarsaConfig
    extra = {"learning_starts": 64, "batch_size": 16} if train is train_q else {}
    seen = []
    config = config_class(env_id=env_id, env_kwargs=env_kwargs, backbone=backbone, num_envs=4,
                          total_timesteps=1_200, **extra)
    _, history = train(config, log=seen.append)
    steps_taken = 1_200 if train is train_q else 1_200 // 32 * 32  # SARSA stops after its last whole rollout
    assert sum(event["kind"] == "step" for event in seen) == steps_taken // 4
    seen = [event for event in seen if event["kind"] == "update"]
    # Q-learning logs every 1,000 env steps; SARSA after each rollout of 4 envs x 8 steps
    assert history["global_step"] == ([1000] if train is train_q else list(range(32, 1_200, 32)))
    assert len(seen) == len(history["global_step"])
    assert np.isfinite(history["td_loss"]).all() and 0 <= history["epsilon"][0] <= 1


@pytest.mark.parametrize("train", [train_q, train_sarsa])
def test_continuous_actions_are_refused_naming_the_alternatives(train):
    config_class = QLearningConfig if train is train_q else SarsaConfig
    with pytest.raises(ValueError, match="use reinforce, a2c or ppo"):
        train(config_class(env_kwargs={"continuous": True}, num_envs=2, total_timesteps=8))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("train", [train_q, train_sarsa])
def test_resume_equals_uninterrupted(train, tmp_path, normalize):
    from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

    config_class = QLearningConfig if train is train_q else SarsaConfig
    extra = {"learning_starts": 200, "batch_size": 16, "target_network_frequency": 300} if train is train_q else {
        "target_update_interval": 3}
    extra["normalize_observation"] = normalize  # DQN's buffer then holds unscaled observations
    config = config_class(num_envs=4, total_timesteps=3_200, env_kwargs={"level": "normal", "max_episode_steps": 30},
                          **extra)

    def checkpoint_at_1(event):
        if event["kind"] == "update" and event["update"] == (1 if train is train_q else 40):
            save_checkpoint(tmp_path / "c.pt", event["state"]())

    full_model, full = train(config, log=checkpoint_at_1)
    resumed_model, resumed = train(config, resume=load_checkpoint(tmp_path / "c.pt"))
    assert resumed["td_loss"] == full["td_loss"] and resumed["global_step"] == full["global_step"]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dqn_refuses_a_buffer_of_scaled_rows_under_normalisation(tmp_path):
    # before 2026-12-03 a normalising DQN stored each row scaled by its own step's statistics: no exact way back
    from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

    def older_checkpoint(config):
        train_q(config, log=lambda e: e["kind"] == "update" and save_checkpoint(tmp_path / "c.pt", e["state"]()))
        payload = load_checkpoint(tmp_path / "c.pt")
        assert payload["extra"]["buffer_holds"] == "env"
        del payload["extra"]["buffer_holds"]  # as an older version wrote it
        return payload

    config = QLearningConfig(num_envs=2, total_timesteps=2_000, learning_starts=100, normalize_observation=True,
                             env_kwargs={"max_episode_steps": 30})
    with pytest.raises(ValueError, match="scaled by the normaliser of their own step"):
        train_q(config, resume=older_checkpoint(config))
    raw = dataclasses.replace(config, normalize_observation=False)  # the rows were the env's own: resumes
    assert train_q(raw, resume=older_checkpoint(raw))[1]["global_step"][-1] == 2_000


@pytest.mark.parametrize("anneal", [False, True])
def test_sarsa_learning_rate_anneals_linearly_over_the_run(anneal):
    config = SarsaConfig(num_envs=2, num_steps=4, total_timesteps=32, learning_rate=1e-3, anneal_lr=anneal)
    expected = [1e-3, 0.75e-3, 0.5e-3, 0.25e-3] if anneal else [1e-3] * 4
    assert train_sarsa(config)[1]["learning_rate"] == pytest.approx(expected)


@pytest.mark.slow
def test_q_learning_solves_cartpole():
    config = QLearningConfig(env_id="CartPole-v1", num_envs=4, total_timesteps=60_000, target_network_frequency=1000,
                             exploration_fraction=0.2)
    model, _ = train_q(config)
    assert _greedy_mean_return(model, "CartPole-v1") >= 475


@pytest.mark.slow
@pytest.mark.parametrize("expected", [False, True])
def test_sarsa_solves_cartpole(expected):
    model, _ = train_sarsa(SarsaConfig(env_id="CartPole-v1", total_timesteps=50_000, expected=expected))
    assert _greedy_mean_return(model, "CartPole-v1") >= 475


@pytest.mark.parametrize(("train", "config_class"), [(train_q, QLearningConfig), (train_sarsa, SarsaConfig)])
def test_tabular_form_finds_frozen_lakes_shortest_path(train, config_class):
    # FrozenLake 4x4 without slipping: the greedy policy of a learned Q-table walks to the goal (return 1)
    import gymnasium

    extra = {"learning_starts": 200, "target_network_frequency": 200} if train is train_q else {}
    config = config_class(env_id="FrozenLake-v1", env_kwargs={"is_slippery": False}, backbone="table", num_envs=4,
                          total_timesteps=12_000, learning_rate=0.05, exploration_fraction=0.5, gamma=0.95, **extra)
    model, _ = train(config)
    assert model.backbone.out_dim == 16  # one row per square
    env = gymnasium.make("FrozenLake-v1", is_slippery=False)
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(int(model.act(torch.as_tensor([obs]))[0]))
        total, done = total + reward, terminated or truncated
    assert total == 1.0


def test_double_q_target_lets_the_online_network_pick_and_the_target_value():
    import torch

    from agents.q_learning import double_td_target, td_target

    rewards, terminated = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0])
    next_target = torch.tensor([[1.0, 5.0], [2.0, 0.0]])
    next_online = torch.tensor([[3.0, 0.0], [0.0, 9.0]])  # online prefers action 0, then action 1
    # y0 = 1 + 0.5 * Q_target(s', 0) = 1.5 (plain DQN's max would take 5: 3.5); y1 ends the episode: 1
    assert double_td_target(rewards, next_target, next_online, terminated, 0.5).tolist() == [1.5, 1.0]
    assert td_target(rewards, next_target, terminated, 0.5).tolist() == [3.5, 1.0]
