"""Trained policies behind one interface, for `sandbox eval`, `replay`, `watch` and `collect`:

    policy = load_driving_component("runs/dt/checkpoint.pt")     # Decision Transformer, behaviour cloning or GAIL
    actions = policy.act(obs_batch, deterministic=True)       # one action per env of the batch
    policy.observe(reward, terminated, truncated)             # optional: what the envs' step returned
    policy.env_kwargs                                         # the CarDrive arguments it drives with

A Decision Transformer keeps, per env, its last K (return-to-go, state, action) steps. Each `act` is one step.
`observe` lowers each env's return-to-go by its reward and starts a new context where an episode ended; a
caller that never calls it (a plain evaluation loop) conditions every step on the target return.
`drive` runs a policy on held-out tracks, reporting to `observe`, for the benchmarks.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from sandbox.runs.checkpoints import load_checkpoint


class TransformerPolicy:
    """A Decision Transformer driving a batch of envs: a rolling context of K steps per env.

    Args:
        model: a trained `DecisionTransformer`.
        env_kwargs: the CarDrive arguments (level, obs, continuous).
        target_return: R_1, the return it is asked for (default: the best episode return of its data).
    """

    def __init__(self, model: Any, env_kwargs: dict[str, Any], target_return: float | None = None) -> None:
        self.model, self.env_kwargs = model.eval(), dict(env_kwargs)
        self.target = float(target_return if target_return is not None else model.best_return)
        self.n = 0

    def reset(self, n: int) -> None:
        """Empty contexts for n envs."""
        K = self.model.config.context
        self.n = n
        self.states = torch.zeros(n, K, *self.model.shapes["obs"])
        self.actions = torch.zeros(n, K, dtype=torch.long) if self.model.discrete else torch.zeros(n, K, 2)
        self.rtg, self.timesteps = torch.zeros(n, K), torch.zeros(n, K, dtype=torch.long)
        self.mask = torch.zeros(n, K, dtype=torch.bool)
        self.to_go, self.t = torch.full((n,), self.target), torch.zeros(n, dtype=torch.long)
        self.skip = torch.zeros(n, dtype=torch.bool)  # the next step is an autoreset: no token

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """One step of every env: its state joins its context, the predicted action is returned."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        if len(obs) != self.n:
            self.reset(len(obs))
        live = ~self.skip
        roll = lambda x: torch.where(_b(live, x), torch.roll(x, -1, dims=1), x)  # noqa: E731
        self.states, self.actions, self.rtg = roll(self.states), roll(self.actions), roll(self.rtg)
        self.timesteps, self.mask = roll(self.timesteps), roll(self.mask)
        self.states[live, -1], self.rtg[live, -1] = obs[live], self.to_go[live]
        self.timesteps[live, -1], self.mask[live, -1] = self.t[live], True
        self.actions[live, -1] = 0  # unknown yet; the state token cannot see it (causal)
        action = self.model.predict(self.rtg, self.states, self.actions, self.timesteps, self.mask, deterministic)
        self.actions[live, -1] = action[live]
        self.t += live.long()
        self.skip[:] = False
        return action.numpy() if self.model.discrete else action.numpy().astype(np.float32)

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """R_{t+1} = R_t - r_t; an env whose episode ended starts an empty context after its autoreset step."""
        self.to_go -= torch.as_tensor(np.asarray(reward), dtype=torch.float32)
        done = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated))
        self.mask[done], self.t[done], self.to_go[done], self.skip[done] = False, 0, self.target, True


def _b(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (x.dim() - 1)))  # (N,) -> (N, 1, ...) against x


class ModulePolicy:
    """A policy whose network already has `act(obs, deterministic)` (BC, GAIL's A2C, a trained agent)."""

    def __init__(self, act: Any, env_kwargs: dict[str, Any]) -> None:
        self._act, self.env_kwargs = act, dict(env_kwargs)

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        return self._act(obs, deterministic)

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Nothing to remember between steps."""


def load_driving_component(path: str | os.PathLike, target_return: float | None = None, *,
                trust_code: bool = False) -> TransformerPolicy | ModulePolicy:
    """The policy a component checkpoint holds: a Decision Transformer, behaviour cloning or GAIL (every other
    kind of driver loads through `sandbox.commands.drivers.load_driver`). Errors name the file and what it holds.

    `trust_code` lets a "module:attr" backbone stored in the checkpoint import its module (`sandbox.runs.trust`);
    without it such a checkpoint is refused before anything is built.
    """
    from sandbox.components.base import load_component

    payload = load_checkpoint(path)
    model = load_component(path, payload, trust_code=trust_code)  # checks the payload before building
    env_kwargs = {"level": model.config.level if hasattr(model.config, "level") else "easy",
                  "obs": getattr(model.config, "obs", "rays"), "continuous": getattr(model.config, "continuous", False)}
    if model.kind == "transformer":
        return TransformerPolicy(model, env_kwargs, target_return)
    if model.kind in ("bc", "gail"):
        if model.kind == "gail" and model.policy is None:
            raise ValueError(f"{path} holds a GAIL discriminator that was never fitted: it has no policy")
        return ModulePolicy(model.act, env_kwargs)
    raise ValueError(f"{path} holds a {model.kind}, which does not drive (a component policy is bc, gail or "
                     "transformer)")


def drive(policy: Any, env_kwargs: dict[str, Any], episodes: int, tracks: str = "heldout", seed: int = 0,
          max_steps: int = 1000) -> dict[str, float]:
    """One greedy episode per track of a level's `tracks` set (`sandbox.runs.evaluate`), reporting each step to
    `policy.observe`: mean return, lap rate, clean-lap rate, median lap steps."""
    from sandbox.runs.evaluate import evaluate

    kwargs = {k: v for k, v in env_kwargs.items() if k in ("level", "obs", "continuous")}
    return evaluate(policy.act, "sandbox/CarDrive-v0", kwargs, episodes, tracks, seed, max_steps,
                    observe=policy.observe)
