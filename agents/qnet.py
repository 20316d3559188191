"""Q-networks for the value family: a backbone from `sandbox.backbones` with a linear head, one Q-value per
action, and the epsilon-greedy policy Q-learning and SARSA act with.

    q = W features(obs)      # (B, n_actions)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones import make_backbone


class QNetwork(nn.Module):
    """Q(s, .) over any backbone. Only Discrete actions: a max over a continuous space is no single line."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, backbone: str = "mlp",
                 backbone_options: dict[str, Any] | None = None):
        super().__init__()
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"Q-learning and SARSA need Discrete actions, not {action_space}; use reinforce, a2c or "
                             "ppo for continuous actions (or CarDrive's continuous=False)")
        self.backbone = make_backbone(backbone, observation_space, **(backbone_options or {}))
        self.head = nn.Linear(self.backbone.out_dim, int(action_space.n))
        self.n_actions = int(action_space.n)

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, n_actions) action values."""
        return self.head(self.backbone(obs))

    def act(self, obs: torch.Tensor | dict[str, torch.Tensor], deterministic: bool = True) -> np.ndarray:
        """Greedy actions for a batch (`deterministic` is accepted for the policies' interface)."""
        with torch.no_grad():
            return self(obs).argmax(-1).numpy()


def epsilon_greedy(q: torch.Tensor, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """argmax_a Q(s, a) with probability 1 - epsilon, else a uniformly random action; q (B, n)."""
    greedy = q.argmax(-1).numpy()
    explore = rng.random(len(greedy)) < epsilon
    return np.where(explore, rng.integers(0, q.shape[-1], len(greedy)), greedy)


def epsilon_greedy_probs(q: torch.Tensor, epsilon: float) -> torch.Tensor:
    """pi(a|s) of the epsilon-greedy policy: epsilon / n everywhere, plus 1 - epsilon on the argmax. (B, n)"""
    n = q.shape[-1]
    probs = torch.full_like(q, epsilon / n)
    probs[torch.arange(len(q)), q.argmax(-1)] += 1.0 - epsilon
    return probs


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    """epsilon falls linearly from start_e to end_e over `duration` steps, then stays."""
    return max(end_e, start_e + (end_e - start_e) * t / max(duration, 1))
