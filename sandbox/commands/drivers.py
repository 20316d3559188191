"""One loader for every kind of driver a checkpoint can hold, for `sandbox eval`, `replay` and `watch`:

- a trained agent (`sandbox train`'s checkpoint.pt: Q-learning, SARSA, REINFORCE, A2C);
- an evolved driver (`sandbox evolve`'s hall_of_fame/rank*.pt);
- an evolution run's checkpoint.pt (its champion, hall_of_fame/rank0.pt beside it);
- a trainable component that drives (`sandbox fit bc|gail|transformer`'s checkpoint).

    policy = load_driver("runs/a2c-0/checkpoint.pt")
    actions = policy.act(obs)          # a batch of observations -> env actions (greedy)
    policy.observe(reward, terminated, truncated)   # after each step (the Decision Transformer keeps a context)

A checkpoint that names code outside the sandbox (a "module:attr" backbone, a "module:EnvId" env id) is refused
before anything is built, unless the caller passes `trust_code=True` (`--trust-code`; see `sandbox.runs.trust`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.runs.checkpoints import load_checkpoint
from sandbox.runs.trust import check_checkpoint


@dataclass
class GreedyDriver:
    """A greedy driver and the env it drives."""

    name: str
    act: Callable[[Any], np.ndarray]
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    observe: Callable[[np.ndarray, np.ndarray, np.ndarray], None] = lambda reward, terminated, truncated: None
    """told what each step returned: a policy with a context (the Decision Transformer) follows its episodes"""


def load_driver(path: str | os.PathLike, level: str | None = None, *, trust_code: bool = False) -> GreedyDriver:
    """The policy a checkpoint holds; `level` drives it on another level than its own (if it can).

    Args:
        path: a driver's checkpoint (see the module docstring for the kinds).
        level: drive on this level instead of the checkpoint's own.
        trust_code: let the checkpoint import the code its "module:attr" backbone or env id names.

    Raises:
        UntrustedCodeError: (a ValueError) the checkpoint names code and `trust_code` is False.
        ValueError: the file holds no driver, or one that cannot drive `level`.
    """
    payload = load_checkpoint(path)
    check_checkpoint(payload, path, trust_code)  # before any branch builds a network or makes an env
    if payload.get("kind") == "evolution":  # a run's state: its champion is the hall of fame's first
        champion = Path(path).parent / "hall_of_fame" / "rank0.pt"
        if not champion.is_file():
            raise FileNotFoundError(f"{path} is an evolution run's checkpoint, and its champion {champion} is missing")
        return load_driver(champion, level, trust_code=trust_code)
    if payload.get("kind") == "evolved-driver":
        return _evolved(payload, level, path, trust_code)
    if payload.get("component") in ("bc", "gail", "transformer"):
        return _component(path, level, trust_code)
    if "run" in payload:
        return _agent(payload, level, path)
    raise ValueError(f"{path} holds no driver: it is neither a `sandbox train` checkpoint, an evolution run or an "
                     "evolved driver (hall_of_fame/rank*.pt), nor a bc, gail or transformer component")


def _component(path: str | os.PathLike, level: str | None, trust_code: bool) -> GreedyDriver:
    from sandbox.components.driving import load_driving_component

    component = load_driving_component(path, trust_code=trust_code)
    kwargs = dict(component.env_kwargs)
    if level is not None and level != kwargs.get("level"):
        _check_levels(kwargs, level, path)
        kwargs["level"] = level
    name = type(component).__name__.replace("Policy", "").lower() or "component"
    return GreedyDriver(name, lambda obs: component.act(obs, deterministic=True), "sandbox/CarDrive-v0", kwargs,
                  observe=component.observe)


def _agent(payload: dict[str, Any], level: str | None, path: str | os.PathLike) -> GreedyDriver:

    from agents import FAMILIES
    from agents.actor_critic import Policy
    from sandbox.commands.train import make_config, spaces_of_config
    from sandbox.runs.checkpoints import to_numpy
    from sandbox.runs.normalize import frozen_observations

    run = payload["run"]
    settings = dict(run["settings"])
    if level is not None:
        settings["env_kwargs"] = {**settings.get("env_kwargs", {}), "level": level}
    config = make_config(run["agent"], settings)
    trained, wanted = spaces_of_config(make_config(run["agent"], run["settings"])), spaces_of_config(config)
    _check_spaces(trained, wanted, level, path)
    model = FAMILIES[run["agent"]].make_model(config, *wanted)
    model.load_state_dict(payload["model"])
    model.eval()
    normalize = frozen_observations(to_numpy(payload.get("normalize") or {}))  # as it saw them in training
    policy = Policy(model, normalize)  # it may carry a recurrent state per car
    return GreedyDriver(run["agent"], policy.act, config.env_id, dict(config.env_kwargs), config.seed, policy.observe)


def _evolved(payload: dict[str, Any], level: str | None, path: str | os.PathLike, trust_code: bool) -> GreedyDriver:
    import torch

    from evolve import load_evolved_driver

    net, env_kwargs = load_evolved_driver(payload, trust_code=trust_code, source=path)
    if level is not None and level != env_kwargs.get("level"):
        _check_levels(env_kwargs, level, path)
        env_kwargs = {**env_kwargs, "level": level}
    name = f"evolved ({payload.get('strategy', 'ga')}, generation {payload.get('generation', '?')})"
    return GreedyDriver(name, lambda obs: net.act(torch.as_tensor(np.asarray(obs)).float()), "sandbox/CarDrive-v0",
                        env_kwargs, observe=net.observe)  # a recurrent driver carries a state per car


def _check_levels(env_kwargs: dict[str, Any], level: str, path: str | os.PathLike) -> None:
    """A driver of one level drives another only where the observation and action spaces agree."""
    from evolve.evaluate import EvalSpec, spaces_of

    kwargs = {k: v for k, v in env_kwargs.items() if k in ("level", "obs", "continuous")}
    _check_spaces(spaces_of(EvalSpec(**kwargs)), spaces_of(EvalSpec(**{**kwargs, "level": level})), level, path)


def _check_spaces(trained: tuple, wanted: tuple, level: str | None, path: str | os.PathLike) -> None:
    if trained != wanted:
        shape = lambda space: getattr(space, "shape", None) or space  # noqa: E731
        raise ValueError(f"{Path(path)}: its policy reads observations of shape {shape(trained[0])} and acts in "
                         f"{trained[1]}; level {level!r} gives {shape(wanted[0])} and {wanted[1]}, which it "
                         "cannot drive")
