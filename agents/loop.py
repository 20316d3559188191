"""What every agent's training loop shares and is not the algorithm: counting env steps and episodes, the
history of per-update metrics and the hook's events (`UpdateLog`), and saving and restoring the loop's state
(a checkpoint's payload) so that a stopped run continues where it stopped.

    loop, obs = start_loop("a2c", config, env, model, optimizer, resume, log)
    while loop.global_step < config.total_timesteps:
        obs, reward, terminated, truncated, info = env.step(action)
        valid = loop.step(reward, terminated, truncated, info)   # the rows that were transitions
        ...
        loop.log_update(update, {"policy_loss": ..., "value_loss": ...})   # whatever the family reports
    return model, loop.history

On CarDrive the envs' own state is saved too (`CarDriveVectorEnv.state_dict`), so a resumed run is the run
that was never stopped, step for step. Other gymnasium envs cannot hand over their state: a resumed run
starts their episodes afresh (seeded from the update it resumes at) and is reproducible, not identical.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sandbox.runs.checkpoints import restore_rng_states, rng_states, to_numpy, to_tensors
from sandbox.runs.hooks import Hook, step_event, update_event
from sandbox.runs.normalize import (
    RAW_REWARD,
    beneath,
    frozen,
    frozen_observations,
    load_normalizer_state,
    normalize_now,
    normalizer_state,
)

TAGS = {"episodic_return": "charts/episodic_return", "sps": "charts/SPS"}
"""what the loop logs for every family -> CleanRL's TensorBoard tag (a family adds its own: `Family.metrics`)"""


class EpisodeTally:
    """Each env's running return, which rows of a batch step are transitions, the returns of finished episodes.

    Next-step autoreset: the step after an episode ends only restarts that env (the action ignored, reward 0),
    so it is no transition; `valid` is False for it. An episode's return is the sum of its valid rewards.
    """

    def __init__(self, valid: np.ndarray, episode_return: np.ndarray):
        self.valid = valid  # (N,) bool: whether the next step of each env is a transition
        self.episode_return = episode_return  # (N,) the return so far of each env's running episode
        self.finished: list[float] = []  # returns of the episodes finished since `mean_return` last ran

    def step(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        """Count one batch step (reward, terminated | truncated); return its valid mask (N,)."""
        valid = self.valid
        self.episode_return += np.where(valid, reward, 0.0)
        self.finished.extend(self.episode_return[done & valid].tolist())
        self.episode_return[done] = 0.0
        self.valid = ~done
        return valid

    def mean_return(self) -> float:
        """The mean return of the episodes finished since the last call (nan when none did), then forget them."""
        mean = float(np.mean(self.finished)) if self.finished else float("nan")
        self.finished = []
        return mean


@dataclasses.dataclass
class UpdateLog:
    """One run's loop as the outside sees it: where it stands (`global_step`, `update`), its episodes, the
    history of per-update metrics, and the hook's step and update events. `start_loop` makes it."""

    agent: str
    """the family's name (`agents.FAMILIES`), saved in the checkpoint"""
    config: Any
    env: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    hook: Hook | None
    tally: EpisodeTally
    history: dict[str, list[float]]
    """global_step, episodic_return, the family's metrics and sps, one entry per update"""
    global_step: int = 0
    update: int = 0
    """the last update logged"""

    def __post_init__(self) -> None:
        self.start_step, self.start_time = self.global_step, time.perf_counter()  # SPS counts this process's steps

    def step(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
             info: dict[str, Any]) -> np.ndarray:
        """After each batch step of the envs: count it, show it to the hook, tally its episodes; return its
        valid mask (N,), the rows that were transitions."""
        self.global_step += self.env.num_envs
        reward = info.get(RAW_REWARD, reward)  # the env's own reward under reward normalisation
        if self.hook is not None:  # the world itself (to draw), under any normalisation wrapper
            self.hook(step_event(self.global_step, self.env.unwrapped, reward, terminated, truncated, info))
        return self.tally.step(reward, terminated | truncated)

    def add_steps(self, steps: int, returns: Sequence[float] = ()) -> None:
        """Count env steps taken out of this process (A3C's workers) and the returns of the episodes they
        finished (the next update's episodic_return is their mean)."""
        self.global_step += steps
        self.tally.finished.extend(returns)

    def log_update(self, update: int, metrics: dict[str, float],
                   extra: Callable[[], dict[str, Any]] | None = None, fields: dict[str, Any] | None = None) -> None:
        """After update number `update`: append global_step, episodic_return, this update's `metrics` (whatever
        keys the family reports; an `episodic_return` there replaces the tally's) and sps to the history, and
        send the hook the update event. `extra()` gives what only the family keeps between updates; `fields`
        go into the event alone, not the history (A3C's worker actors)."""
        self.update = update
        elapsed = time.perf_counter() - self.start_time
        row = {"episodic_return": self.tally.mean_return(), **metrics,
               "sps": (self.global_step - self.start_step) / elapsed}
        self.history.setdefault("global_step", []).append(self.global_step)
        for key, value in row.items():
            self.history.setdefault(key, []).append(value)
        if self.hook is not None:
            state = functools.partial(loop_state, self.agent, self.config, self.env, self.model, self.optimizer,
                                      update, self.global_step, self.tally.valid, self.tally.episode_return,
                                      self.history, extra)
            event = update_event(self.global_step, update, self.env.unwrapped, self.model, state, row)
            # how the driver sees observations as of this update (an evaluation must see them the same way)
            event["observation_normalizer"] = lambda: frozen_observations(normalizer_state(self.env))
            event.update(fields or {})
            self.hook(event)


def append_step(rollout: dict[str, list], **values: Any) -> None:
    """Append one batch step's values to a rollout, a dict of per-step lists (made on first use)."""
    for key, value in values.items():
        rollout.setdefault(key, []).append(value)


def start_loop(agent: str, config: Any, env: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               resume: dict[str, Any] | None, hook: Hook | None) -> tuple[UpdateLog, Any]:
    """The loop's bookkeeping and first observation: a fresh start (the envs reset with `config.seed`), or
    the state a payload (`resume`) saved, with `config.learning_rate` in place of the saved rate (a run resumed
    after a NaN goes on more gently)."""
    n, world = env.num_envs, beneath(env)  # `env` may wear normalisation wrappers; `world` holds the state
    if resume is None:
        obs, _ = env.reset(seed=config.seed)
        return UpdateLog(agent, config, env, model, optimizer, hook, EpisodeTally(np.ones(n, bool), np.zeros(n)),
                         {}), obs
    model.load_state_dict(resume["model"])
    optimizer.load_state_dict(resume["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = config.learning_rate
    restore_rng_states(resume["rng"])
    load_normalizer_state(env, to_numpy(resume.get("normalize") or {}))
    if resume["env"] is not None and hasattr(world, "load_state_dict"):
        world.load_state_dict(to_numpy(resume["env"]))
        obs = normalize_now(env, world.observe())  # as the wrapper handed it on before the stop
        tally = EpisodeTally(resume["valid"].numpy().copy(), resume["episode_return"].numpy().copy())
    else:  # an env that cannot restore its state starts new episodes (seen through the saved statistics)
        with frozen(env):
            obs, _ = env.reset(seed=config.seed + int(resume["update"]))
        tally = EpisodeTally(np.ones(n, bool), np.zeros(n))
    history = {key: list(values) for key, values in resume["history"].items()}
    return UpdateLog(agent, config, env, model, optimizer, hook, tally, history, int(resume["global_step"]),
                     int(resume["update"])), obs


def loop_state(agent: str, config: Any, env: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               update: int, global_step: int, valid: np.ndarray, episode_return: np.ndarray,
               history: dict[str, list[float]], extra: Callable[[], dict] | None = None) -> dict[str, Any]:
    """A checkpoint's payload: enough to rebuild the agent and continue its loop after `update`; `extra`
    gives what only this agent keeps between updates (asked for now, not when the partial was made)."""
    return {"agent": agent, "config": to_tensors(dataclasses.asdict(config)), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng_states(), "update": update, "global_step": global_step,
            "valid": torch.from_numpy(valid.copy()), "episode_return": torch.from_numpy(episode_return.copy()),
            "history": {key: list(values) for key, values in history.items()},
            "env": to_tensors(beneath(env).state_dict()) if hasattr(beneath(env), "state_dict") else None,
            "normalize": to_tensors(normalizer_state(env)), "extra": extra() if extra is not None else {}}
