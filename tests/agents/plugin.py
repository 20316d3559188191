"""A backbone of a user's own, plugged in by "tests.agents.plugin:TinyBackbone" (no registration)."""

from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn


class TinyBackbone(nn.Module):
    """One Linear and a ReLU over a flat Box: the whole backbone contract (constructor, out_dim, forward)."""

    def __init__(self, observation_space: spaces.Box, width: int = 16) -> None:
        super().__init__()
        self.out_dim = width
        self.layer = nn.Linear(int(observation_space.shape[0]), width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.layer(obs.float()))
