"""`--init-from`: an RL run starts from a student's backbone and policy head; another backbone is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest
import torch

from agents.a2c import A2CConfig
from agents.actor_critic import ActorCritic
from agents.ppo import PPOConfig
from agents.q_learning import QLearningConfig
from agents.qnet import QNetwork
from agents.warm_start import warm_start
from sandbox.components.base import save_component
from sandbox.components.bc import BCConfig, BehaviourCloning
from sandbox.runs.checkpoints import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy"}


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """An A2C run on CartPole (MLP 32-32): a checkpoint with a trained backbone and policy head."""
    run = tmp_path_factory.mktemp("student") / "run"
    subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "a2c", "--env", "CartPole-v1", "--run-dir",
                    str(run), "--total-timesteps", "2000", "--set", "backbone_options={widths=[32,32]}",
                    "--eval-episodes", "1"], cwd=REPO, env=ENV, check=True, capture_output=True, timeout=300)
    return run / "checkpoint.pt"


def _spaces():
    env = gymnasium.make("CartPole-v1")
    return env.observation_space, env.action_space


def test_an_actor_critic_starts_from_the_students_backbone_and_head(student):
    config = PPOConfig(env_id="CartPole-v1", backbone_options={"widths": (32, 32)})
    model = ActorCritic(*_spaces(), "mlp", config.backbone_options)
    loaded = warm_start(model, config, student)
    assert loaded == ["backbone", "critic_backbone", "pi"]
    weights = load_checkpoint(student)["model"]
    for name, value in model.state_dict().items():
        if name.startswith(("backbone.", "critic_backbone.", "pi.")):
            torch.testing.assert_close(value, weights[name], rtol=0, atol=0)


def test_a_q_network_takes_the_backbone_only(student):
    config = QLearningConfig(env_id="CartPole-v1", backbone_options={"widths": (32, 32)})
    q = QNetwork(*_spaces(), "mlp", config.backbone_options)
    head = q.head.weight.clone()
    assert warm_start(q, config, student) == ["backbone"]
    torch.testing.assert_close(q.head.weight, head)  # logits are no action values


def test_another_backbone_is_refused_naming_both(student):
    config = A2CConfig(env_id="CartPole-v1", backbone_options={"widths": (64, 64)})
    model = ActorCritic(*_spaces(), "mlp", config.backbone_options)
    with pytest.raises(ValueError, match=r"'mlp' \{'widths': \[32, 32\]\}.*'mlp' \{'widths': \[64, 64\]\}"):
        warm_start(model, config, student)


def test_a_behaviour_cloning_policy_is_a_student(tmp_path):
    bc = BehaviourCloning({"obs": (4,), "action": 2}, BCConfig(backbone_options={"widths": [16]}))
    path = save_component(bc, tmp_path / "bc.pt")
    config = A2CConfig(env_id="CartPole-v1", backbone_options={"widths": [16]})
    model = ActorCritic(*_spaces(), "mlp", config.backbone_options)
    assert warm_start(model, config, path) == ["backbone", "critic_backbone", "pi"]
    torch.testing.assert_close(model.pi.weight, bc.head.weight)


def test_a_file_without_a_student_is_refused(tmp_path):
    from sandbox.runs.checkpoints import save_checkpoint

    path = save_checkpoint(tmp_path / "other.pt", {"kind": "something else"})
    config = A2CConfig(env_id="CartPole-v1")
    with pytest.raises(ValueError, match="no student"):
        warm_start(ActorCritic(*_spaces()), config, path)


def test_the_cli_starts_a_run_from_a_student(student, tmp_path):
    out = subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "ppo", "--env", "CartPole-v1",
                          "--run-dir", str(tmp_path / "ppo"), "--init-from", str(student), "--total-timesteps", "256",
                          "--set", "backbone_options={widths=[32,32]}", "--eval-episodes", "1"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"starting from {student}: backbone, critic_backbone, pi copied" in out.stderr
    refused = subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "ppo", "--env", "CartPole-v1",
                              "--run-dir", str(tmp_path / "ppo2"), "--init-from", str(student),
                              "--total-timesteps", "256"], cwd=REPO, env=ENV, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "its backbone is 'mlp'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_log_std_init_sets_a_box_policys_first_spread():
    from agents.actor_critic import setup_actor_critic

    _, model, _ = setup_actor_critic(PPOConfig(env_id="Pendulum-v1", num_envs=1, log_std_init=-1.0), "PPO")
    torch.testing.assert_close(model.log_std.detach(), torch.full((1,), -1.0))
    env = gymnasium.make("Pendulum-v1")
    assert torch.all(ActorCritic(env.observation_space, env.action_space).log_std == 0)  # SB3's default: std 1
    for bad in (float("nan"), True, "small"):
        with pytest.raises(ValueError, match="log_std_init"):
            ActorCritic(env.observation_space, env.action_space, log_std_init=bad)
