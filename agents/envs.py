"""Building the batch of environments an agent learns from.

`sandbox/CarDrive-v0` runs through its native `CarDriveVectorEnv` (one compiled step for the whole batch);
any other gymnasium id through `gymnasium.make_vec` (copies stepped one after another). Both autoreset on
the next step, as gymnasium 1.x does: the step after an episode ends ignores the action and returns the
new episode's first observation with reward 0, so that step is no transition (`agents` mask it out).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import VectorEnv

import envs
from sandbox.runs.normalize import normalized


def make_vec_env(env_id: str, num_envs: int, **env_kwargs: Any) -> VectorEnv:
    """`num_envs` copies of `env_id`; `env_kwargs` go to the env (level, obs, continuous ... on CarDrive).

    Raises:
        ValueError: the id is not registered (the message names it), or CarDrive refuses an argument.
    """
    if env_id == envs.ENV_ID:
        return envs.CarDriveVectorEnv(num_envs, **env_kwargs)
    if ":" in env_id:  # "module:EnvId": the module registers the env when imported (gymnasium's convention)
        module, _, env_id = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"env id {module}:{env_id}: cannot import {module!r} ({exc})") from exc
    if env_id not in gymnasium.registry:
        raise ValueError(f"unknown env id {env_id!r}; for example {envs.ENV_ID!r}, 'CartPole-v1', 'Acrobot-v1'")
    return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)


def make_train_env(config: Any, env_wrapper: Callable[[Any], Any] | None = None) -> VectorEnv:
    """The envs a family learns from, as its config says: `num_envs` copies of `env_id`, wrapped by
    `env_wrapper` (GAIL's reward) if given, then by the observation / reward normalisation it asks for
    (`normalize_observation`, `normalize_reward`: Gymnasium's vector wrappers, `sandbox.runs.normalize`;
    `normalize_clip`)."""
    env = make_vec_env(config.env_id, config.num_envs, **config.env_kwargs)
    if env_wrapper is not None:
        env = env_wrapper(env)
    return normalized(env, getattr(config, "normalize_observation", False), getattr(config, "normalize_reward", False),
                      getattr(config, "gamma", 0.99), getattr(config, "normalize_clip", 0.0))


def obs_to_tensor(obs: np.ndarray | dict[str, np.ndarray]) -> torch.Tensor | dict[str, torch.Tensor]:
    """A batch of observations as torch tensors, without a copy where numpy allows (images stay uint8: the
    backbones scale them)."""
    if isinstance(obs, dict):
        return {key: torch.as_tensor(value) for key, value in obs.items()}
    return torch.as_tensor(obs)


def map_obs(obs: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`fn` applied to an observation tensor, or to each of a dict's."""
    return {key: fn(value) for key, value in obs.items()} if isinstance(obs, dict) else fn(obs)


def stack_obs(batches: list) -> torch.Tensor | dict[str, torch.Tensor]:
    """A rollout's observations, [(N, ...)] * (T + 1) -> ((T + 1) * N, ...), for tensors or dicts of them."""
    if isinstance(batches[0], dict):
        return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}
    return torch.cat(batches)
