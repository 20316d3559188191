"""Recurrent actor-critics (lstm, gru backbones) through A2C, PPO and REINFORCE: acting step by step equals
replaying the rollout, memory solves a task a feed-forward policy cannot, drivers carry the state per car, and
a recurrent run resumed after kill -9 ends as the uninterrupted one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.a2c import A2CConfig
from agents.a2c import train as train_a2c
from agents.actor_critic import ActorCritic, Policy
from agents.ppo import PPOConfig
from agents.ppo import train as train_ppo
from agents.reinforce import ReinforceConfig
from agents.reinforce import train as train_reinforce
from sandbox.commands.drivers import load_driver
from sandbox.runs.checkpoints import load_checkpoint
from sandbox.runs.evaluate import evaluate
from tests.agents.memory_env import CueMemoryEnv
from tests.killed_run import assert_resume_after_kill_9_equals_uninterrupted

MEMORY_ENV = "tests.agents.memory_env:CueMemory-v0"
SMALL = {"hidden_size": 32, "stem_options": {"widths": (32,)}}


def _memory_score(model: ActorCritic, episodes: int = 64) -> float:
    """Greedy mean return on the memory task: 1 remembers every cue, 0.5 guesses."""
    policy = Policy(model.eval())
    return evaluate(policy.act, MEMORY_ENV, {}, episodes, observe=policy.observe)["mean_return"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("shared", [False, True])
def test_acting_step_by_step_equals_replaying_the_rollout(cell, shared):
    torch.manual_seed(0)
    env = CueMemoryEnv()
    model = ActorCritic(env.observation_space, env.action_space, cell, SMALL, share_backbone=shared)
    steps, n = 7, 3
    obs = torch.randn(steps, n, 2)
    starts = torch.zeros(steps, n)
    starts[0], starts[3, 1], starts[5, 0] = 1.0, 1.0, 1.0  # episodes begin mid-rollout, at other steps per car
    state = model.initial_state(n)
    logits, values = [], []
    for t in range(steps):
        dist, value, state = model.step(obs[t], state, starts[t])
        logits.append(dist.logits)
        values.append(value)
    dist, value = model.sequence(obs, model.initial_state(n), starts)
    torch.testing.assert_close(dist.logits, torch.cat(logits))  # (T * n, actions), time-major
    torch.testing.assert_close(value, torch.cat(values))


def test_a_feed_forward_model_steps_with_an_empty_state():
    env = CueMemoryEnv()
    model = ActorCritic(env.observation_space, env.action_space)
    assert model.initial_state(4) == () and not model.recurrent
    obs = torch.randn(4, 2)
    dist, value, state = model.step(obs, (), torch.ones(4))
    torch.testing.assert_close(dist.logits, model(obs)[0].logits)
    assert state == ()


def test_a_recurrent_model_refuses_a_call_without_its_state():
    env = CueMemoryEnv()
    model = ActorCritic(env.observation_space, env.action_space, "gru", SMALL)
    with pytest.raises(TypeError, match="step"):
        model(torch.zeros(1, 2))


def test_the_policy_starts_a_car_afresh_where_its_episode_ended():
    torch.manual_seed(0)
    env = CueMemoryEnv()
    model = ActorCritic(env.observation_space, env.action_space, "lstm", SMALL)
    policy = Policy(model)
    first = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    policy.act(first.numpy())
    policy.observe(np.zeros(2), np.array([True, False]), np.zeros(2, bool))  # car 0's episode ended
    policy.act(first.numpy())
    fresh = model.initial_state(2)
    expected = model.step(first, fresh, torch.ones(2))[2]
    torch.testing.assert_close(policy.state[0][:, 0], expected[0][:, 0])  # car 0: as at a first step
    assert not torch.allclose(policy.state[0][:, 1], expected[0][:, 1])  # car 1: remembers its first step


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_ppo_with_memory_solves_what_a_feed_forward_ppo_cannot(cell):
    settings = dict(env_id=MEMORY_ENV, num_envs=16, num_steps=32, num_minibatches=4, update_epochs=4,
                    learning_rate=3e-3, total_timesteps=8192)
    recurrent, _ = train_ppo(PPOConfig(backbone=cell, backbone_options=SMALL, **settings))
    feed_forward, _ = train_ppo(PPOConfig(backbone_options={"widths": (32, 32)}, **settings))
    assert _memory_score(recurrent) >= 0.95
    assert _memory_score(feed_forward) <= 0.75  # the query looks the same whatever the cue: a guess


def test_a2c_with_memory_solves_the_memory_task():
    model, _ = train_a2c(A2CConfig(env_id=MEMORY_ENV, num_envs=16, num_steps=8, learning_rate=3e-3,
                                   normalize_advantage=True, total_timesteps=16384, backbone="gru",
                                   backbone_options=SMALL))
    assert _memory_score(model) >= 0.95


def test_reinforce_with_memory_solves_the_memory_task():
    model, _ = train_reinforce(ReinforceConfig(env_id=MEMORY_ENV, num_envs=16, batch_size=256, learning_rate=3e-3,
                                               total_timesteps=24576, backbone="gru", backbone_options=SMALL))
    assert _memory_score(model) >= 0.95


def _train_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "sandbox", "train", "--agent", "ppo", "--run-dir", str(run), "--num-envs", "8",
            "--backbone", "lstm", "--set", "backbone_options={hidden_size=32}", "--total-timesteps", "7680",
            "--checkpoint-every", "3", "--eval-episodes", "2"]


def test_recurrent_ppo_resumed_after_kill_9_ends_as_the_uninterrupted_run(tmp_path):
    whole, killed = assert_resume_after_kill_9_equals_uninterrupted(tmp_path, _train_command, 7680)
    for run in (whole, killed):  # the state the next rollout would begin from is kept too
        memory = load_checkpoint(run / "checkpoint.pt")["extra"]["memory"]
        assert [tuple(s.shape) for s in memory["state"]] == [(1, 8, 32)] * 4  # (h, c) of the actor and critic
    a, b = (load_checkpoint(run / "checkpoint.pt")["extra"]["memory"] for run in (whole, killed))
    for x, y in zip(a["state"], b["state"], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_a_recurrent_checkpoint_drives_through_load_driver(tmp_path):
    run = tmp_path / "run"
    command = _train_command(run)
    command[command.index("7680")] = "2560"
    subprocess.run(command, check=True, capture_output=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
                   env={**os.environ, "OMP_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy"})
    driver = load_driver(run / "checkpoint.pt")
    assert driver.observe is not None
    result = evaluate(driver.act, driver.env_id, driver.env_kwargs, 3, observe=driver.observe)
    assert result["episodes"] == 3 and 0.0 <= result["lap_rate"] <= 1.0
