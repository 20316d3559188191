"""A learned teacher: a `sandbox train` checkpoint of an actor-critic that drives CarDrive on the rays, labelling
the states a student visits in place of the privileged expert (DAgger's `teacher`).

    teacher = load_teacher("runs/ppo-rays/checkpoint.pt", core.config, continuous=True)
    actions = teacher(core.rays())            # (N, R) rays of the student's cars -> (N, 2) greedy Box actions

This is Learning by Cheating's two stages (Chen et al., CoRL 2019) with the first one learned from the reward
(as the teachers of Lee et al., "Learning quadrupedal locomotion over challenging terrain", Science Robotics
2020, are): PPO on the rays, which see the pedestrians through the road's edge, then a pixels student that
imitates it. Nothing of the hand-written expert reaches the student; what the teacher knows came from the
reward. The teacher reads the same world as the student through its own sensor, so the checkpoint's rays
(count, field of view, range), level and actions must be the student's: another is refused, naming both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from agents.actor_critic import ActorCritic
from agents.envs import make_train_env
from agents.settings import as_tuples
from sandbox.runs.checkpoints import load_checkpoint, to_numpy
from sandbox.runs.normalize import frozen_observations
from sandbox.runs.trust import names_code

TEACHER_KEYS = ("level", "n_rays", "ray_fov", "ray_range", "continuous")
"""what the teacher's env and the student's must agree on: the world, the rays it reads and the actions"""


def load_teacher(path: str | os.PathLike, world: Any, continuous: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A greedy driver on the rays from the checkpoint at `path`, for a student whose world config is `world`
    (`core.config`) and whose actions are Box (`continuous`) or Discrete: rays (N, R) -> env actions (N, ...),
    the observations normalised by the teacher's own frozen statistics.

    Raises:
        ValueError: the file is no actor-critic's `sandbox train` checkpoint on CarDrive's rays, or its world,
            rays or actions are not the student's (the message names the field and both values).
    """
    payload = load_checkpoint(path)
    config = payload.get("config") if isinstance(payload, dict) else None
    if not isinstance(config, dict) or "share_backbone" not in config or "model" not in payload:
        raise ValueError(f"teacher {path}: not an actor-critic's `sandbox train` checkpoint (ppo, a2c, a3c, "
                         "reinforce)")
    named = [v for v in (config.get("backbone"), config.get("env_id")) if isinstance(v, str) and names_code(v)]
    if named:  # refused before its env or network is built, as `sandbox eval` refuses it without --trust-code
        raise ValueError(f"teacher {path}: it names code outside the sandbox ({named[0]!r}); a teacher is built "
                         "from the sandbox's own backbones")
    obs = (config.get("env_kwargs") or {}).get("obs", "rays")
    if obs != "rays":
        raise ValueError(f"teacher {path}: it reads obs={obs!r}; a teacher reads the rays (obs='rays')")
    env = make_train_env(SimpleNamespace(**{**config, "num_envs": 1}))  # its world, under its normalisation
    core, space, actions = getattr(env.unwrapped, "core", None), env.single_observation_space, env.single_action_space
    env.close()
    if core is None:
        raise ValueError(f"teacher {path}: it drove {config['env_id']!r}; a teacher drives CarDrive")
    theirs = core.config
    for key in TEACHER_KEYS:
        mine, student = (isinstance(actions, spaces.Box), continuous) if key == "continuous" else (
            _plain(getattr(theirs, key)), _plain(getattr(world, key)))
        if mine != student:
            raise ValueError(f"teacher {path}: its {key} is {mine!r}, the student's {student!r}; train the "
                             "teacher on the student's world (sandbox train ... --obs rays)")
    model = ActorCritic(space, actions, config["backbone"], as_tuples(config.get("backbone_options") or {}),
                        bool(config["share_backbone"]))
    if model.recurrent:
        raise ValueError(f"teacher {path}: its backbone {config['backbone']!r} is recurrent; a teacher labels one "
                         "state at a time (a feed-forward backbone)")
    model.load_state_dict(payload["model"])
    model.eval().requires_grad_(False)
    normalize = frozen_observations(to_numpy(payload.get("normalize") or {}))

    def act(rays: np.ndarray) -> np.ndarray:
        return model.act(torch.as_tensor(normalize(rays)), deterministic=True)  # as `sandbox eval` drives it

    return act


def _plain(value: Any) -> Any:
    """A level by its name (the world holds it resolved), anything else as it is."""
    return getattr(value, "name", value)
