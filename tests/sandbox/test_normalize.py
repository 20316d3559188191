"""Normalisation (sandbox.runs.normalize): its statistics equal a two-pass computation, survive save and load
exactly, and the frozen form a trained driver uses gives what the wrapper gave in training."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from envs import CarDriveVectorEnv
from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint, to_numpy, to_tensors
from sandbox.runs.normalize import (
    check_normalizable,
    clear_statistics,
    frozen_observations,
    load_normalizer_state,
    merge_moments,
    normalize_now,
    normalized,
    normalizer_state,
    set_statistics,
    share_statistics,
    take_fresh_moments,
    unnormalize_now,
)
from sandbox.runs.normalize import frozen as frozen_wrappers


def _drive(env, steps: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Random actions; what the wrapped env returned, and the raw observations and rewards under it."""
    raw_obs, raw_rewards, seen = [], [], []
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    raw_obs.append(env.unwrapped.observe())
    seen.append(obs)
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(rng.integers(0, 5, env.num_envs))
        raw_obs.append(env.unwrapped.observe())
        seen.append(obs)
    return raw_obs, raw_rewards, seen


def test_observation_statistics_equal_a_two_pass_computation():
    env = normalized(CarDriveVectorEnv(4, level="normal"), observation=True, reward=False, gamma=0.99)
    raw, _, _ = _drive(env, 30)
    stacked = np.concatenate(raw).astype(np.float64)  # (31 * 4, D): every observation the statistics saw
    state = normalizer_state(env)["observation"]
    np.testing.assert_allclose(state["mean"], stacked.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state["var"], stacked.var(axis=0), rtol=1e-3, atol=1e-5)
    assert state["count"] == pytest.approx(len(stacked) + 1e-4)  # Gymnasium starts the count at 1e-4


def test_unnormalize_now_gives_back_what_the_native_env_observed():
    """Straight after each reset or step, the wrapper's scaling undone with its statistics as they stand is the
    native env's own observation (what DQN's replay buffer keeps); without the wrapper it is the observation."""
    env = normalized(CarDriveVectorEnv(3, level="normal"), observation=True, reward=False, gamma=0.99)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        np.testing.assert_allclose(unnormalize_now(env, obs), env.unwrapped.observe(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(normalize_now(env, unnormalize_now(env, obs)), obs, rtol=1e-4, atol=1e-4)
        obs, *_ = env.step(rng.integers(0, 5, env.num_envs))
    plain = CarDriveVectorEnv(2, level="normal")
    raw, _ = plain.reset(seed=0)
    assert unnormalize_now(plain, raw) is raw


def test_workers_moments_merge_into_the_learners_two_pass_statistics():
    """A3C's form: each worker's envs start every rollout from the learner's statistics and send back the moments
    of what they saw; merged, the learner's statistics are one two-pass computation over all of it."""
    learner = normalized(CarDriveVectorEnv(2, level="normal"), observation=True, reward=True, gamma=0.99)
    clear_statistics(learner)  # what its own reset saw is not the workers' data
    assert normalizer_state(learner)["observation"]["count"] == pytest.approx(1e-4)
    workers = [normalized(CarDriveVectorEnv(3, level="normal"), observation=True, reward=True, gamma=0.99)
               for _ in range(2)]
    raw_seen, reward_counts = [], 0.0
    for worker in workers:
        share_statistics(worker)
    for rollout in range(2):
        for index, worker in enumerate(workers):
            set_statistics(worker, normalizer_state(learner))
            np.testing.assert_array_equal(normalizer_state(worker)["observation"]["mean"],
                                          normalizer_state(learner)["observation"]["mean"])
            raw, _, _ = _drive(worker, 8 + rollout, seed=10 * rollout + index)
            raw_seen += raw
            moments = take_fresh_moments(worker)
            assert moments["observation"][2] == len(raw) * 3 and take_fresh_moments(worker)["observation"][2] == 0
            reward_counts += moments["reward"][2]
            merge_moments(learner, moments)
    stacked = np.concatenate(raw_seen).astype(np.float64)
    state = normalizer_state(learner)
    np.testing.assert_allclose(state["observation"]["mean"], stacked.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state["observation"]["var"], stacked.var(axis=0), rtol=1e-3, atol=1e-5)
    assert state["observation"]["count"] == pytest.approx(len(stacked) + 1e-4)
    assert state["observation"]["mean"].dtype == np.float32  # Gymnasium's dtype, kept through the merges
    assert state["reward"]["count"] == pytest.approx(reward_counts + 1e-4) and reward_counts > 0


def test_the_state_survives_a_checkpoint_exactly_and_resumes_the_same(tmp_path):
    def make():
        return normalized(CarDriveVectorEnv(3, level="normal"), observation=True, reward=True, gamma=0.99)

    env = make()
    _drive(env, 20)
    save_checkpoint(tmp_path / "n.pt", {"normalize": to_tensors(normalizer_state(env)),
                                         "env": to_tensors(env.unwrapped.state_dict())})
    payload = load_checkpoint(tmp_path / "n.pt")
    other = make()
    other.reset(seed=5)
    other.unwrapped.load_state_dict(to_numpy(payload["env"]))
    load_normalizer_state(other, to_numpy(payload["normalize"]))
    for key in ("observation", "reward"):
        for name, value in normalizer_state(env)[key].items():
            np.testing.assert_array_equal(normalizer_state(other)[key][name], value, err_msg=f"{key}.{name}")
    np.testing.assert_array_equal(normalize_now(other, other.unwrapped.observe()),
                                  normalize_now(env, env.unwrapped.observe()))
    actions = np.array([3, 1, 0])
    a, b = env.step(actions), other.step(actions)
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_frozen_form_gives_what_the_wrapper_gave():
    env = normalized(CarDriveVectorEnv(4, level="easy"), observation=True, reward=False, gamma=0.99)
    _drive(env, 10)
    frozen = frozen_observations(to_numpy(to_tensors(normalizer_state(env))))
    env.update_running_mean = False  # the wrapper as it stands, not learning from this step
    obs, *_ = env.step(np.array([3, 3, 3, 3]))
    np.testing.assert_array_equal(frozen(env.unwrapped.observe()), obs)
    assert frozen_observations({})(obs) is obs


def test_images_and_dicts_are_refused_by_name():
    with pytest.raises(ValueError, match="normalize_observation needs a vector"):
        check_normalizable(spaces.Box(0, 255, (8, 8, 3), np.uint8), "normalize_observation")
    with pytest.raises(ValueError, match="normalize_observation"):
        normalized(CarDriveVectorEnv(2, obs="both"), observation=True, reward=False, gamma=0.99)


NORMALIZED = {"num_envs": 4, "num_steps": 16, "total_timesteps": 512, "normalize_observation": True,
              "normalize_reward": True, "env_kwargs": {"level": "normal"}}


class _StopError(Exception):
    pass


def test_a_normalized_run_resumes_as_the_uninterrupted_one(tmp_path):
    import torch

    from sandbox.commands.train import resume_training, run_training

    run_training("a2c", NORMALIZED, tmp_path / "whole", eval_episodes=2, checkpoint_every=2)

    def stop_at_4(event):
        if event["kind"] == "update" and event["update"] == 4:
            raise _StopError  # as a kill right after update 4's checkpoint

    with pytest.raises(_StopError):
        run_training("a2c", NORMALIZED, tmp_path / "cut", eval_episodes=2, checkpoint_every=2, on_event=stop_at_4)
    resume_training(tmp_path / "cut")
    a, b = load_checkpoint(tmp_path / "whole" / "checkpoint.pt"), load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert a["global_step"] == b["global_step"] == 512
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=0, atol=0, msg=name)
    for key in ("observation", "reward"):
        for name, value in a["normalize"][key].items():
            torch.testing.assert_close(b["normalize"][key][name], value, rtol=0, atol=0, msg=f"{key}.{name}")


@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_a_normalized_driver_drives_the_same_through_eval_and_replay(tmp_path, clip):
    import json

    from sandbox.commands.drivers import load_driver
    from sandbox.commands.train import evaluate_checkpoint, run_training
    from sandbox.viewer.replay import load_replay_driver

    run = tmp_path / "run"
    run_training("a2c", {**NORMALIZED, "normalize_clip": clip}, run, eval_episodes=5)
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["normalize"]["observation"]["count"] > 512  # the statistics went into the checkpoint
    assert float(payload["normalize"]["observation"]["clip"]) == clip  # and the clip with them
    # `sandbox eval` sees observations as training's own final evaluation did
    assert evaluate_checkpoint(run / "checkpoint.pt", episodes=5) == json.loads((run / "eval.json").read_text())
    driver, (replayed, _, _) = load_driver(run / "checkpoint.pt"), load_replay_driver(run / "checkpoint.pt")
    env = CarDriveVectorEnv(8, level="normal", n_rays=driver.env_kwargs["n_rays"])  # the rays it learned on
    obs, _ = env.reset(seed=3)
    for _ in range(20):
        actions = driver.act(obs)
        np.testing.assert_array_equal(replayed.act(obs), actions)  # `sandbox replay` and `watch`'s loader
        obs, *_ = env.step(actions)


def test_reward_normalisation_hands_on_the_env_own_reward_and_runs_report_it():
    import gymnasium

    from agents.a2c import A2CConfig, train

    raw_env = gymnasium.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    env = normalized(gymnasium.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"), observation=False,
                     reward=True, gamma=0.99)
    raw_env.reset(seed=3), env.reset(seed=3)
    for _ in range(40):
        _, raw, *_ = raw_env.step(np.array([0, 1]))
        _, scaled, _, _, info = env.step(np.array([0, 1]))
        np.testing.assert_allclose(info["raw_reward"], raw, rtol=1e-12)
        assert not np.allclose(scaled, raw)  # the learner sees scaled rewards
    config = A2CConfig(env_id="CartPole-v1", num_envs=2, num_steps=5, total_timesteps=2_000, normalize_reward=True)
    _, history = train(config)
    returns = [r for r in history["episodic_return"] if r == r]
    assert returns and min(returns) >= 8.0  # CartPole pays 1 a step and lasts >= 8 steps: unscaled returns


def test_the_clip_bounds_what_the_learner_sees_and_travels_with_the_statistics():
    env = normalized(CarDriveVectorEnv(4, level="normal"), observation=True, reward=True, gamma=0.99, clip=0.5)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    seen, rewards = [obs], []
    for _ in range(40):
        obs, reward, *_ = env.step(rng.integers(0, 5, 4))
        seen.append(obs), rewards.append(reward)
    seen, rewards = np.stack(seen), np.stack(rewards)
    assert np.abs(seen).max() == 0.5 and np.abs(rewards).max() <= 0.5  # clipped, and the clip was reached
    state = to_numpy(to_tensors(normalizer_state(env)))
    assert state["observation"]["clip"] == 0.5
    frozen = frozen_observations(state)
    with frozen_wrappers(env):  # both wrappers as they stand, not learning from this step
        obs, *_ = env.step(np.array([3, 3, 3, 3]))
    np.testing.assert_array_equal(frozen(env.unwrapped.observe()), obs)
    np.testing.assert_array_equal(normalize_now(env, env.unwrapped.observe()), obs)
    with pytest.raises(ValueError, match="cannot be unscaled exactly"):
        unnormalize_now(env, obs)
    old = {"observation": {k: v for k, v in state["observation"].items() if k != "clip"}}  # before the clip
    assert np.abs(frozen_observations(old)(env.unwrapped.observe() * 50)).max() > 0.5
    with pytest.raises(ValueError, match="normalize_clip must be >= 0"):
        normalized(CarDriveVectorEnv(1), True, False, 0.99, clip=-1.0)
