"""A learned teacher (`agents.teacher`, DAgger's `teacher`): a `sandbox train` checkpoint on the rays drives as
`sandbox eval` drives it (its own normalisation applied), one of another world, sensor or action space is
refused by name, and DAgger labels its states with the teacher's actions instead of the expert's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents.dagger import DAggerConfig, _labeller, train
from agents.envs import make_train_env
from agents.teacher import load_teacher
from envs.core import WorldConfig
from sandbox.cli import main
from sandbox.commands.drivers import load_driver
from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

WORLD = WorldConfig(level="normal", n_rays=9)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "run"
    assert main(["train", "--agent", "ppo", "--level", "normal", "--continuous", "--n-rays", "9", "--num-envs", "8",
                 "--set", "num_steps=16", "--set", "normalize_observation=true", "--total-timesteps", "256",
                 "--eval-episodes", "1", "--run-dir", str(run)]) == 0
    return run / "checkpoint.pt"


def test_the_teacher_acts_as_its_checkpoint_drives(teacher_checkpoint):
    teacher = load_teacher(teacher_checkpoint, WORLD, continuous=True)
    rays = np.random.default_rng(0).random((5, WORLD.rays_size), dtype=np.float32)
    actions = teacher(rays)
    assert actions.shape == (5, 2)
    np.testing.assert_allclose(actions, load_driver(teacher_checkpoint).act(rays), atol=1e-6)


@pytest.mark.parametrize("world, continuous, message", [
    (dataclasses.replace(WORLD, n_rays=25), True, "its n_rays is 9, the student's 25"),
    (dataclasses.replace(WORLD, level="hard"), True, "its level is 'normal', the student's 'hard'"),
    (WORLD, False, "its continuous is True, the student's False"),
])
def test_a_teacher_of_another_world_is_refused_by_name(teacher_checkpoint, world, continuous, message):
    with pytest.raises(ValueError, match=message):
        load_teacher(teacher_checkpoint, world, continuous)


def test_a_file_that_is_no_actor_critic_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    save_checkpoint(path, {"kind": "evolved-driver"})  # a sandbox checkpoint, of another kind
    with pytest.raises(ValueError, match=f"teacher {path}: not an actor-critic"):
        load_teacher(path, WORLD, continuous=True)


def test_a_teacher_that_names_code_is_refused_before_it_is_built(teacher_checkpoint, tmp_path):
    payload = load_checkpoint(teacher_checkpoint)
    payload["config"]["backbone"] = "os:system"
    path = tmp_path / "code.pt"
    save_checkpoint(path, payload)
    with pytest.raises(ValueError, match="names code outside the sandbox \\('os:system'\\)"):
        load_teacher(path, WORLD, continuous=True)


def test_a_teacher_on_pixels_is_refused(teacher_checkpoint, tmp_path):
    payload = load_checkpoint(teacher_checkpoint)
    payload["config"]["env_kwargs"]["obs"] = "pixels"
    save_checkpoint(tmp_path / "pixels.pt", payload)
    with pytest.raises(ValueError, match="it reads obs='pixels'; a teacher reads the rays"):
        load_teacher(tmp_path / "pixels.pt", WORLD, continuous=True)


def test_a_teacher_of_another_env_is_refused(teacher_checkpoint, tmp_path):
    payload = load_checkpoint(teacher_checkpoint)
    payload["config"].update(env_id="CartPole-v1", env_kwargs={})
    save_checkpoint(tmp_path / "cartpole.pt", payload)
    with pytest.raises(ValueError, match="it drove 'CartPole-v1'; a teacher drives CarDrive"):
        load_teacher(tmp_path / "cartpole.pt", WORLD, continuous=True)


def test_a_recurrent_teacher_is_refused(teacher_checkpoint, tmp_path):
    payload = load_checkpoint(teacher_checkpoint)
    payload["config"].update(backbone="gru", backbone_options={})
    save_checkpoint(tmp_path / "gru.pt", payload)
    with pytest.raises(ValueError, match="its backbone 'gru' is recurrent"):
        load_teacher(tmp_path / "gru.pt", WORLD, continuous=True)


def test_dagger_labels_with_the_teacher_and_learns_from_it(teacher_checkpoint):
    config = DAggerConfig(env_kwargs={"level": "normal", "n_rays": 9, "continuous": True}, num_envs=4, num_steps=8,
                          total_timesteps=64, gradient_steps=4, batch_size=16, teacher=str(teacher_checkpoint))
    model, history = train(config)
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    env = make_train_env(config)  # the world the student drives
    env.reset(seed=1)
    core = env.unwrapped.core
    teacher = load_teacher(teacher_checkpoint, core.config, continuous=True)
    np.testing.assert_array_equal(_labeller(config, core, model)(core), teacher(core.rays()))
