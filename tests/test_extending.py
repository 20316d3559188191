"""A newcomer adds a family, a level and a strategy, each as one module of their own package ending in one
registry line, and the command line takes them as it takes the built-ins: listed by `--help`, chosen by name,
trained or evolved into a run directory."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

import envs
from agents import FAMILIES
from evolve.strategies import STRATEGIES
from sandbox.cli import main

FAMILY = '''
"""An agent that acts at random and learns nothing: the smallest family."""
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from agents import Family, register_family
from agents.envs import make_vec_env
from agents.loop import start_loop
from agents.optim import make_optimizer


@dataclass
class CoinConfig:
    env_id: str = "sandbox/CarDrive-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 2
    num_steps: int = 16
    total_timesteps: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0


class Coin(nn.Module):
    def __init__(self, n_actions: int):
        super().__init__()
        self.preference = nn.Parameter(torch.zeros(n_actions))

    def act(self, obs, deterministic: bool = False) -> np.ndarray:
        return torch.randint(len(self.preference), (len(obs),)).numpy()


def make_model(config, observation_space, action_space) -> Coin:
    return Coin(int(action_space.n))


def train(config: CoinConfig, log=None, resume=None):
    env = make_vec_env(config.env_id, config.num_envs, **config.env_kwargs)
    model = make_model(config, env.single_observation_space, env.single_action_space)
    loop, obs = start_loop("coin", config, env, model, make_optimizer(config.optimizer, model.parameters(),
                                                                      config.learning_rate), resume, log)
    for update in range(loop.update + 1, config.total_timesteps // (config.num_envs * config.num_steps) + 1):
        for _ in range(config.num_steps):
            obs, reward, terminated, truncated, info = env.step(model.act(obs))
            loop.step(reward, terminated, truncated, info)
        loop.log_update(update, {})
    env.close()
    return model, loop.history


register_family(Family("coin", CoinConfig, train, make_model, lambda c: c.num_envs * c.num_steps,
                       whole_rollouts=True, help="tosses a coin for every action", discrete_actions=True))
'''

LEVEL = '''
"""Easy with a wider road and seeds of its own."""
import dataclasses

import envs

easy = envs.LEVELS["easy"]
envs.register_level(dataclasses.replace(
    easy, name="boulevard", shape=dataclasses.replace(easy.shape, half_width=10.0),
    train_seeds=(9_000_000, 9_100_000), heldout_seeds=(9_500_000, 9_500_100), description="a very wide road"))
'''

STRATEGY = '''
"""Random search: every generation a fresh random population; only the hall of fame remembers."""
from deap import tools

from evolve.strategies import Strategy, register_strategy


def generation(config, toolbox, population, hof, stats, state):
    population = toolbox.population(n=config.population)
    for individual, fitness in zip(population, toolbox.map(toolbox.evaluate, population), strict=True):
        individual.fitness.values = fitness
    hof.update(population)
    logbook = tools.Logbook()
    logbook.record(gen=0, nevals=len(population), **stats.compile(population))
    return population, logbook


register_strategy(Strategy(name="search", help="random search, a fresh population every generation",
                           generation=generation, start=lambda config, toolbox, spaces: ([], None)))
'''


@pytest.fixture()
def toys(tmp_path, monkeypatch):
    """The package `toys` with its three modules, imported (so registered); unregistered afterwards."""
    package = tmp_path / "toys"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in (("family", FAMILY), ("level", LEVEL), ("strategy", STRATEGY)):
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("family", "level", "strategy"):
        importlib.import_module(f"toys.{name}")
    yield package
    FAMILIES.pop("coin", None)
    STRATEGIES.pop("search", None)
    if "boulevard" in envs.LEVELS:
        envs.unregister_level("boulevard")
    for name in [m for m in sys.modules if m == "toys" or m.startswith("toys.")]:
        del sys.modules[name]


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare as one


def test_a_new_family_is_listed_and_trains(toys, tmp_path, capsys):
    text = _help(capsys, "train")
    assert "coin: tosses a coin for every action" in text and "coin --num-envs 2, --total-timesteps 64" in text
    assert main(["train", "--agent", "coin", "--run-dir", str(tmp_path / "coin"), "--eval-episodes", "1"]) == 0
    assert {"checkpoint.pt", "progress.csv", "eval.json"} <= {p.name for p in (tmp_path / "coin").iterdir()}


def test_a_new_level_is_listed_and_driven(toys, tmp_path, capsys):
    assert "boulevard (a very wide road)" in _help(capsys, "train")
    assert main(["train", "--agent", "a2c", "--level", "boulevard", "--num-envs", "2", "--total-timesteps", "32",
                 "--eval-episodes", "1", "--run-dir", str(tmp_path / "a2c")]) == 0
    assert main(["evolve", "--level", "boulevard", "--population", "4", "--generations", "1", "--episodes", "1",
                 "--run-dir", str(tmp_path / "ga")]) == 0


def test_a_new_strategy_is_listed_and_evolves(toys, tmp_path, capsys):
    assert "search: random search" in _help(capsys, "evolve")
    run = tmp_path / "search"
    assert main(["evolve", "--strategy", "search", "--population", "4", "--generations", "2", "--episodes", "1",
                 "--run-dir", str(run)]) == 0
    assert len((run / "logbook.csv").read_text().splitlines()) == 3  # header + two generations
