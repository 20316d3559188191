"""What every agent's training loop shares and is not the algorithm: the hook's type, and saving and
restoring the loop's state (a checkpoint's payload) so that a stopped run continues where it stopped.

On CarDrive the envs' own state is saved too (`CarDriveVectorEnv.state_dict`), so a resumed run is the run
that was never stopped, step for step. Other gymnasium envs cannot hand over their state: a resumed run
starts their episodes afresh (seeded from the update it resumes at) and is reproducible, not identical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.actor_critic import ActorCritic, check_action_space
from agents.envs import make_vec_env
from agents.optim import make_optimizer
from sandbox.runs.checkpoints import restore_rng_states, rng_states, to_numpy, to_tensors

Hook = Callable[[dict[str, Any]], None]
"""The one hook through which a loop is observed (a logger, the live viewer). It receives two kinds of event:

- `{"kind": "step", ...}` after every batch step of the envs (`step_event`): a viewer draws from it, on its own
  timer; a logger ignores it. Cheap: one small dict per batch step, and nothing at all when no hook is given.
- `{"kind": "update", "global_step", "update", "env", "model", "state", <this update's metrics>}` after each
  update; `state()` returns the checkpoint payload of the run as it stands right after that update.
"""


def step_event(global_step: int, env: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               info: dict[str, Any]) -> dict[str, Any]:
    """The hook's per-step event: the env (to draw) and what its last step returned."""
    return {"kind": "step", "global_step": global_step, "env": env, "reward": reward, "terminated": terminated,
            "truncated": truncated, "info": info}


def setup_actor_critic(config: Any, agent: str, env_wrapper: Callable[[Any], Any] | None = None
                       ) -> tuple[Any, ActorCritic, torch.optim.Optimizer]:
    """Seed the run, build the envs (wrapped by `env_wrapper` if given), the actor-critic and its optimiser
    from a policy agent's config."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    env = make_vec_env(config.env_id, config.num_envs, **config.env_kwargs)
    if env_wrapper is not None:
        env = env_wrapper(env)
    check_action_space(env.single_action_space, agent, "every agent family handles these")
    model = ActorCritic(env.single_observation_space, env.single_action_space, config.backbone,
                        config.backbone_options, config.share_backbone)
    return env, model, make_optimizer(config.optimizer, model.parameters(), config.learning_rate)


def loop_state(agent: str, config: Any, env: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               update: int, global_step: int, valid: np.ndarray, episode_return: np.ndarray,
               history: dict[str, list[float]], extra: Callable[[], dict] | None = None) -> dict[str, Any]:
    """A checkpoint's payload: enough to rebuild the agent and continue its loop after `update`; `extra`
    gives what only this agent keeps between updates (asked for now, not when the partial was made)."""
    return {"agent": agent, "config": to_tensors(dataclasses.asdict(config)), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng_states(), "update": update, "global_step": global_step,
            "valid": torch.from_numpy(valid.copy()), "episode_return": torch.from_numpy(episode_return.copy()),
            "history": {key: list(values) for key, values in history.items()},
            "env": to_tensors(env.state_dict()) if hasattr(env, "state_dict") else None,
            "extra": extra() if extra is not None else {}}


def resume_loop(resume: dict[str, Any] | None, env: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                seed: int, learning_rate: float | None = None) -> dict[str, Any]:
    """The loop's starting point: a fresh start (env reset with `seed`), or the state a payload saved (with
    `learning_rate`, if given, in place of the saved one: a run resumed after a NaN goes on more gently)."""
    n = env.num_envs
    if resume is None:
        obs, _ = env.reset(seed=seed)
        return {"obs": obs, "valid": np.ones(n, bool), "episode_return": np.zeros(n), "update": 0,
                "global_step": 0, "history": {key: [] for key in (
                    "global_step", "episodic_return", "policy_loss", "value_loss", "entropy", "sps")}}
    model.load_state_dict(resume["model"])
    optimizer.load_state_dict(resume["optimizer"])
    if learning_rate is not None:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
    restore_rng_states(resume["rng"])
    if resume["env"] is not None and hasattr(env, "load_state_dict"):
        env.load_state_dict(to_numpy(resume["env"]))
        obs, valid, episode_return = env.observe(), resume["valid"].numpy().copy(), resume["episode_return"].numpy()
    else:  # an env that cannot restore its state starts new episodes
        obs, _ = env.reset(seed=seed + int(resume["update"]))
        valid, episode_return = np.ones(n, bool), np.zeros(n)
    return {"obs": obs, "valid": valid, "episode_return": episode_return.copy(), "update": int(resume["update"]),
            "global_step": int(resume["global_step"]), "history": {k: list(v) for k, v in resume["history"].items()}}
