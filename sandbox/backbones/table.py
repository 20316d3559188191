"""The table family: the one-hot code of a discretised observation, so that a linear head over it is a
lookup table. Tabular Q-learning and SARSA are then the deep loops with this backbone.

    backbone = make_backbone("table", space, bins=6, low=(-2.4, -3, -0.21, -3), high=(2.4, 3, 0.21, 3))
    features = backbone(obs)   # (B, *obs_shape) -> (B, n_states), one 1 per row
    Q(s, .) = W[:, index(s)] + b   # a linear head over it reads column index(s) of a table

A Discrete observation is its own index. A Box is cut per entry into `bins` equal cells between `low` and
`high` (values beyond fall into the end cells), and the cells combine mixed-radix into one index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.config import build_config
from sandbox.backbones.inputs import refuse


@dataclass(frozen=True)
class TableConfig:
    """Options of the table family (`make_backbone("table", space, **options)`)."""

    bins: int = 8
    """cells per Box entry"""
    low: tuple[float, ...] | None = None
    """lower edge per Box entry; None takes the space's bounds (which must then be finite)"""
    high: tuple[float, ...] | None = None
    """upper edge per Box entry, as `low`"""
    max_states: int = 1_000_000
    """refuse a table larger than this (bins ** entries grows fast)"""

    def __post_init__(self) -> None:
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < 1:
            raise ValueError(f"bins must be an integer >= 1, got {self.bins!r}")


class TableBackbone(nn.Module):
    """(B, *obs_shape) observations -> (B, n_states) one-hot rows; `out_dim` = n_states."""

    def __init__(self, observation_space: spaces.Space, config: TableConfig | None = None, **options) -> None:
        super().__init__()
        config = build_config(TableConfig, config, options, "table")
        if isinstance(observation_space, spaces.Discrete):
            self.box = False
            self.out_dim = int(observation_space.n)
            self.register_buffer("offset", torch.tensor(int(observation_space.start)), persistent=False)
            return
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise refuse("table", observation_space, "a Discrete space or a flat Box")
        entries = observation_space.shape[0]
        low, high = (_edges(name, given, bound, entries)
                     for name, given, bound in (("low", config.low, observation_space.low),
                                                ("high", config.high, observation_space.high)))
        if not (high > low).all():
            raise ValueError(f"table backbone: need high > low in every entry, got low={low}, high={high}")
        n_states = config.bins ** entries
        if n_states > config.max_states:
            raise ValueError(f"table backbone: {config.bins} bins over {entries} entries make {n_states:,} states, "
                             f"more than max_states={config.max_states:,}; lower bins")
        self.box, self.bins, self.out_dim = True, config.bins, n_states
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32), persistent=False)
        self.register_buffer("width", torch.as_tensor((high - low) / config.bins, dtype=torch.float32),
                             persistent=False)
        radix = config.bins ** np.arange(entries - 1, -1, -1)
        self.register_buffer("radix", torch.as_tensor(radix, dtype=torch.int64), persistent=False)

    def index(self, obs: torch.Tensor) -> torch.Tensor:
        """(B,) table row of each observation."""
        if not self.box:
            return obs.reshape(-1).long() - self.offset
        cells = ((obs.float() - self.low) / self.width).floor().long().clamp(0, self.bins - 1)  # (B, entries)
        return (cells * self.radix).sum(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.index(obs), self.out_dim).float()


def _edges(name: str, given: tuple[float, ...] | None, bound: np.ndarray, entries: int) -> np.ndarray:
    """The `low` or `high` edges: given ones (one per entry), else the space's finite bounds."""
    if given is None:
        if not np.isfinite(bound).all():
            raise ValueError(f"table backbone: the observation space has infinite bounds; pass {name}= "
                             f"({entries} numbers) to say where its cells end")
        return np.asarray(bound, dtype=np.float64)
    edges = np.asarray(given, dtype=np.float64).reshape(-1)
    if edges.shape != (entries,):
        raise ValueError(f"table backbone: {name} needs {entries} numbers, one per entry, got {given!r}")
    return edges
