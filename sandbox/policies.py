"""One loader for every kind of driver a checkpoint can hold, for `sandbox eval`, `replay` and `watch`:

- a trained agent (`sandbox train`'s checkpoint.pt: Q-learning, SARSA, REINFORCE, A2C);
- an evolved driver (`sandbox evolve`'s hall_of_fame/rank*.pt);
- a trainable component used as a policy (`sandbox fit transformer`'s checkpoint: the Decision Transformer).

    policy = load_policy("runs/a2c-0/checkpoint.pt")
    actions = policy.act(obs)          # a batch of observations -> env actions (greedy)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.checkpoints import load_checkpoint


@dataclass
class Policy:
    """A greedy driver and the env it drives."""

    name: str
    act: Callable[[Any], np.ndarray]
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


def load_policy(path: str | os.PathLike, level: str | None = None) -> Policy:
    """The policy a checkpoint holds; `level` drives it on another level than its own (if it can)."""
    payload = load_checkpoint(path)
    if payload.get("kind") == "evolved-driver":
        return _evolved(payload, level, path)
    if payload.get("policy") == "transformer":
        from sandbox.components.policy import load_policy as load_component_policy

        component = load_component_policy(path)
        kwargs = dict(component.env_kwargs)
        if level is not None:
            kwargs["level"] = level
        return Policy("decision transformer", component.act, "sandbox/CarDrive-v0", kwargs)
    if "run" in payload:
        return _agent(payload, level, path)
    raise ValueError(f"{path} holds no driver: it is neither a `sandbox train` checkpoint, an evolved driver "
                     "(hall_of_fame/rank*.pt) nor a transformer policy")


def _agent(payload: dict[str, Any], level: str | None, path: str | os.PathLike) -> Policy:
    import torch

    from agents import FAMILIES
    from agents.envs import obs_to_tensor
    from sandbox.train import make_config, spaces_of_config

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

    def act(obs: Any) -> np.ndarray:
        with torch.no_grad():
            return model.act(obs_to_tensor(obs), deterministic=True)

    return Policy(run["agent"], act, config.env_id, dict(config.env_kwargs), config.seed)


def _evolved(payload: dict[str, Any], level: str | None, path: str | os.PathLike) -> Policy:
    import torch

    from evolve import load_driver
    from evolve.evaluate import EvalSpec, spaces_of

    net, env_kwargs = load_driver(payload)
    if level is not None:
        wanted = {**env_kwargs, "level": level}
        _check_spaces(spaces_of(EvalSpec(**env_kwargs)), spaces_of(EvalSpec(**wanted)), level, path)
        env_kwargs = wanted
    name = f"evolved ({payload.get('strategy', 'ga')}, generation {payload.get('generation', '?')})"
    return Policy(name, lambda obs: net.act(torch.as_tensor(np.asarray(obs)).float()), "sandbox/CarDrive-v0",
                  env_kwargs)


def _check_spaces(trained: tuple, wanted: tuple, level: str | None, path: str | os.PathLike) -> None:
    if trained != wanted:
        shape = lambda space: getattr(space, "shape", None) or space  # noqa: E731
        raise ValueError(f"{Path(path)}: its policy reads observations of shape {shape(trained[0])} and acts in "
                         f"{trained[1]}; level {level!r} gives {shape(wanted[0])} and {wanted[1]}, which it "
                         "cannot drive")
