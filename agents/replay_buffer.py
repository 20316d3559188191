"""A replay buffer for off-policy learning from a batch of N envs: a numpy ring of transitions.

Rows that are next-step-autoreset steps (the step after an episode ended: the action was ignored and the
observation is the next episode's first) are not transitions and are never stored.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces


class ReplayBuffer:
    """(obs, action, reward, next_obs, terminated) rows; Box or Dict observations."""

    def __init__(self, capacity: int, observation_space: spaces.Space):
        self.capacity, self.size, self.cursor = capacity, 0, 0
        keys = list(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else [None]
        subspace = (lambda k: observation_space[k]) if keys != [None] else (lambda k: observation_space)
        self.obs = {k: np.zeros((capacity, *subspace(k).shape), subspace(k).dtype) for k in keys}
        self.next_obs = {k: np.zeros_like(v) for k, v in self.obs.items()}
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)

    def add(self, obs, action: np.ndarray, reward: np.ndarray, next_obs, terminated: np.ndarray,
            valid: np.ndarray) -> None:
        """Store the rows of a batch step where `valid`; obs and next_obs are arrays (N, ...) or dicts of them."""
        rows = np.flatnonzero(valid)
        at = (self.cursor + np.arange(len(rows))) % self.capacity
        for key in self.obs:
            self.obs[key][at] = (obs if key is None else obs[key])[rows]
            self.next_obs[key][at] = (next_obs if key is None else next_obs[key])[rows]
        self.action[at], self.reward[at], self.terminated[at] = action[rows], reward[rows], terminated[rows]
        self.cursor = (self.cursor + len(rows)) % self.capacity
        self.size = min(self.size + len(rows), self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator,
               normalize: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
        """A uniform batch as tensors: obs, action, reward, next_obs, terminated. `normalize` (Box observations)
        scales the stored observations as they are sampled (the buffer then holds them unscaled)."""
        idx = rng.integers(0, self.size, batch_size)

        def pick(store: dict) -> torch.Tensor | dict[str, torch.Tensor]:
            if None in store:
                rows = store[None][idx]
                return torch.as_tensor(rows if normalize is None else normalize(rows).astype(rows.dtype))
            return {key: torch.as_tensor(value[idx]) for key, value in store.items()}

        return {"obs": pick(self.obs), "next_obs": pick(self.next_obs), "action": torch.as_tensor(self.action[idx]),
                "reward": torch.as_tensor(self.reward[idx]), "terminated": torch.as_tensor(self.terminated[idx])}

    def state_dict(self) -> dict:
        """The stored rows (numpy), for a checkpoint."""
        return {"obs": self.obs, "next_obs": self.next_obs, "action": self.action, "reward": self.reward,
                "terminated": self.terminated, "size": self.size, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        for name in ("action", "reward", "terminated"):
            getattr(self, name)[...] = state[name]
        for name in ("obs", "next_obs"):
            for key, value in getattr(self, name).items():
                value[...] = state[name][key]
        self.size, self.cursor = int(state["size"]), int(state["cursor"])
