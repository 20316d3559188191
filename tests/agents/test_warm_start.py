"""`--init-from`: an RL run starts from a student's backbone and policy head; another backbone is refused. Kickstarting:
the KL to the frozen student by hand, its pull on the policy, and resume with it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from agents import ppo
from agents.a2c import A2CConfig
from agents.actor_critic import ActorCritic
from agents.ppo import PPOConfig, policy_kl
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
                          "--eval-episodes", "1"],  # the student's MLP 32-32 comes with it
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"starting from {student}: backbone, critic_backbone, pi copied" in out.stderr
    refused = subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "ppo", "--env", "CartPole-v1",
                              "--run-dir", str(tmp_path / "ppo2"), "--init-from", str(student),
                              "--set", "backbone_options={widths=[64,64]}", "--total-timesteps", "256"],
                             cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
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


def test_policy_kl_by_hand():
    # Categorical: KL(p || q) = sum p log(p / q) = 0.5 log(0.5 / 0.25) + 0.5 log(0.5 / 0.75)
    p, q = torch.distributions.Categorical(probs=torch.tensor([[0.5, 0.5]])), torch.distributions.Categorical(
        probs=torch.tensor([[0.25, 0.75]]))
    expected = 0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0)
    torch.testing.assert_close(policy_kl(p, q, discrete=True), torch.tensor([expected]))
    # Gaussians, per dimension log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2, summed over dimensions:
    # (0, 1) || (1, 2): log 2 + 2 / 8 - 0.5;  (0, 1) || (0, 1): 0
    p = torch.distributions.Normal(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    q = torch.distributions.Normal(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 1.0]]))
    torch.testing.assert_close(policy_kl(p, q, discrete=False), torch.tensor([math.log(2.0) + 0.25 - 0.5]))


def test_kickstarting_needs_a_student_to_start_from():
    with pytest.raises(ValueError, match="init_from"):
        PPOConfig(kickstart_coef=1.0)
    with pytest.raises(ValueError, match="kickstart_coef"):
        PPOConfig(kickstart_coef=-1.0, init_from="x.pt")


def _kickstarted(student: Path, coef: float, **extra) -> PPOConfig:
    settings = {"kickstart_timesteps": 10**6, "learning_rate": 3e-3, "anneal_lr": False, "num_envs": 4,
                "num_steps": 32, "num_minibatches": 2, "update_epochs": 4, "total_timesteps": 4 * 32 * 8}
    return PPOConfig(env_id="CartPole-v1", backbone_options={"widths": (32, 32)}, init_from=str(student),
                     kickstart_coef=coef, **{**settings, **extra})


def _kl_to_student(model: ActorCritic, student: Path) -> float:
    """The policy's mean KL(student || policy) over CartPole states drawn from its observation space's bulk."""
    teacher = ActorCritic(*_spaces(), "mlp", {"widths": (32, 32)})
    warm_start(teacher, PPOConfig(env_id="CartPole-v1", backbone_options={"widths": (32, 32)}), student)
    obs = torch.randn(512, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    with torch.no_grad():
        return policy_kl(teacher(obs)[0], model(obs)[0], discrete=True).mean().item()


def test_kickstarting_keeps_the_policy_near_the_student(student):
    """The same run with and without the KL term: the kickstarted policy ends nearer the student it started from,
    and its history reports the term's weight falling."""
    plain, _ = ppo.train(_kickstarted(student, 0.0))
    kicked, history = ppo.train(_kickstarted(student, 10.0))
    assert _kl_to_student(kicked, student) < 0.5 * _kl_to_student(plain, student)
    assert history["kickstart_coef"][0] > history["kickstart_coef"][-1] > 0.0


def test_a_kickstarted_run_resumes_as_if_never_stopped(tmp_path):
    """On CarDrive (whose resume is exact): the teacher is rebuilt from init_from on resume, without drawing from
    the run's random numbers, so the resumed run ends as the one that never stopped."""
    from sandbox.runs.checkpoints import save_checkpoint

    world = {"num_envs": 4, "num_steps": 8, "num_minibatches": 2, "update_epochs": 2,
             "env_kwargs": {"level": "normal", "max_episode_steps": 20}}

    def save_at(update: int, path: Path):
        def hook(event):
            if event["kind"] == "update" and event["update"] == update:
                save_checkpoint(path, event["state"]())
        return hook

    ppo.train(PPOConfig(total_timesteps=4 * 8 * 2, **world), log=save_at(2, tmp_path / "student.pt"))
    config = PPOConfig(total_timesteps=4 * 8 * 6, init_from=str(tmp_path / "student.pt"), kickstart_coef=1.0,
                       kickstart_timesteps=4 * 8 * 5, seed=1, **world)
    full_model, full = ppo.train(config, log=save_at(3, tmp_path / "c.pt"))
    resumed_model, resumed = ppo.train(config, resume=load_checkpoint(tmp_path / "c.pt"))
    for key in set(full) - {"sps"}:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_recurrent_students_memory_starts_a_recurrent_run(tmp_path):
    """A GRU DAgger student (CarDrive normal: its sensor of 49 rays and Box actions) starts a PPO run through the
    CLI: the run takes the GRU and the sensor, copies the weights, and trains through its state."""
    student_run = tmp_path / "dagger"
    gru = "backbone_options={hidden_size=8, stem_options={widths=[8]}}"
    subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "dagger", "--level", "normal", "--backbone",
                    "gru", "--set", gru, "--num-envs", "4", "--set", "num_steps=8", "--set", "batch_size=16",
                    "--total-timesteps", "64", "--eval-episodes", "1", "--run-dir", str(student_run)],
                   cwd=REPO, env=ENV, check=True, capture_output=True, timeout=300)
    student = load_checkpoint(student_run / "checkpoint.pt")["model"]
    out = subprocess.run([sys.executable, "-m", "sandbox", "train", "--agent", "ppo", "--level", "normal",
                          "--init-from", str(student_run / "checkpoint.pt"), "--num-envs", "4", "--set",
                          "num_steps=8", "--set", "learning_rate=1e-12", "--total-timesteps", "32",
                          "--eval-episodes", "1", "--run-dir", str(tmp_path / "ppo")],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "backbone=gru" in out.stderr and "pi copied" in out.stderr
    run = load_checkpoint(tmp_path / "ppo" / "checkpoint.pt")
    assert run["config"]["backbone"] == "gru" and run["config"]["env_kwargs"]["n_rays"] == 49
    for name, value in run["model"].items():  # one update at a rate of 1e-12: the copied parts are the student's
        if name.startswith(("backbone.", "pi.")):
            torch.testing.assert_close(value, student[name], rtol=0, atol=1e-9, msg=name)
