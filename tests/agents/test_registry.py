"""The family registry: a newcomer's agent, one file and one `register_family` line, trains through
`sandbox train`'s run directory (checkpoint, progress.csv with its own metric's tag), resumes, and is evaluated;
a name already taken is refused."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from agents import FAMILIES, Family, register_family
from agents.envs import make_vec_env
from agents.loop import start_loop
from agents.optim import make_optimizer
from sandbox.runs.hooks import Hook


@dataclass
class RandomConfig:
    """Hyper-parameters of an agent that acts at random (and learns nothing)."""

    env_id: str = "CartPole-v1"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 2
    num_steps: int = 32
    """steps per env between updates"""
    total_timesteps: int = 256
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0


class RandomPolicy(nn.Module):
    """One learnable preference per action: `act` takes the preferred one, greedily, or one at random."""

    def __init__(self, n_actions: int):
        super().__init__()
        self.preference = nn.Parameter(torch.zeros(n_actions))

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> np.ndarray:
        n = len(obs)
        if deterministic:
            return np.full(n, int(self.preference.argmax()))
        return torch.randint(len(self.preference), (n,)).numpy()


def make_model(config: RandomConfig, observation_space: spaces.Space, action_space: spaces.Discrete) -> RandomPolicy:
    return RandomPolicy(int(action_space.n))


def train(config: RandomConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[RandomPolicy, dict[str, list[float]]]:
    """Random actions; an update (nothing learnt, one metric logged) every num_envs * num_steps env steps."""
    torch.manual_seed(config.seed)
    env = make_vec_env(config.env_id, config.num_envs, **config.env_kwargs)
    model = make_model(config, env.single_observation_space, env.single_action_space)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.learning_rate)
    loop, obs = start_loop("random", config, env, model, optimizer, resume, log)
    for update in range(loop.update + 1, config.total_timesteps // (config.num_envs * config.num_steps) + 1):
        valid_steps = 0
        for _ in range(config.num_steps):
            obs, reward, terminated, truncated, info = env.step(model.act(obs))
            valid_steps += int(loop.step(reward, terminated, truncated, info).sum())
        loop.log_update(update, {"valid_steps": valid_steps})
    env.close()
    return model, loop.history


RANDOM = Family("random", RandomConfig, train, make_model, lambda config: config.num_envs * config.num_steps,
                whole_rollouts=True, metrics={"valid_steps": "charts/valid_steps"}, help="acts at random",
                discrete_actions=True)


@pytest.fixture
def random_family():
    register_family(RANDOM)
    yield RANDOM
    FAMILIES.pop(RANDOM.name, None)


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_registered_family_trains_resumes_and_is_evaluated(random_family, tmp_path):
    from sandbox.commands.train import evaluate_checkpoint, resume_training, run_training
    from sandbox.runs.checkpoints import load_checkpoint

    run = tmp_path / "run"
    result = run_training("random", {"env_id": "CartPole-v1", "total_timesteps": 256, "num_envs": 2}, run,
                          eval_episodes=1)
    assert result["episodes"] == 1 and result["mean_return"] > 0
    assert {"checkpoint.pt", "progress.csv", "eval.json"} <= {p.name for p in run.iterdir()}
    rows = _rows(run / "progress.csv")
    assert set(rows[0]) == {"global_step", "charts/episodic_return", "charts/SPS", "charts/valid_steps"}
    assert [int(float(row["global_step"])) for row in rows] == [64, 128, 192, 256]
    assert all(0 < float(row["charts/valid_steps"]) <= 64 for row in rows)
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["agent"] == "random" and payload["update"] == 4
    assert set(payload["history"]) == {"global_step", "episodic_return", "valid_steps", "sps"}  # no pre-made keys

    resume_training(run, total_timesteps=384)  # CartPole cannot hand over its state: new episodes, same history
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["global_step"] == 384 and payload["history"]["global_step"] == [64, 128, 192, 256, 320, 384]
    assert len(_rows(run / "progress.csv")) == 6
    assert evaluate_checkpoint(run / "checkpoint.pt", episodes=2)["episodes"] == 2  # `sandbox eval`


def test_a_name_already_taken_is_refused(random_family):
    with pytest.raises(ValueError, match="'random' is registered already"):
        register_family(RANDOM)
    with pytest.raises(ValueError, match="'a2c' is registered already"):
        register_family(Family("a2c", RandomConfig, train, make_model, lambda config: 1))
    twin = Family("random", RandomConfig, train, make_model, lambda config: 1)
    assert register_family(twin, replace=True) is twin and FAMILIES["random"] is twin


def test_every_family_names_its_tags_config_and_help():
    for name, family in FAMILIES.items():
        assert family.name == name and family.help
        assert family.tags["episodic_return"] == "charts/episodic_return" and family.tags["sps"] == "charts/SPS"
        for field_name in ("env_id", "env_kwargs", "num_envs", "total_timesteps", "learning_rate", "seed"):
            assert hasattr(family.config(), field_name), (name, field_name)
    assert FAMILIES["qlearning"].tags["td_loss"] == "losses/td_loss"
    assert FAMILIES["a2c"].tags["policy_loss"] == "losses/policy_loss"
    assert [name for name, family in FAMILIES.items() if family.discrete_actions] == ["qlearning", "sarsa"]
