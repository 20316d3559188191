"""The multilayer perceptron family: Linear -> [norm] -> activation, repeated.

    backbone = make_backbone("mlp", space, widths=(64, 64), activation="tanh", norm="layer")

From Rosenblatt's perceptron (activation="step", trainable by evolution only) to a modern MLP (gelu + layer
norm). Any Box is flattened after scaling; a Dict gets one MLP per key (see `build_mlp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.activations import check_activation, make_activation, trainable_by_gradient
from sandbox.backbones.config import build_config, choice, positive_ints
from sandbox.backbones.inputs import BoxScaler, DictBackbone, check_obs_shape, refuse

NORMS = ("none", "batch", "layer")


@dataclass(frozen=True)
class MLPConfig:
    """Options of the MLP family (`make_backbone("mlp", space, **options)`)."""

    widths: tuple[int, ...] = (64, 64)
    """Width of each hidden layer; its length is the depth. The last width is `out_dim`."""
    activation: str = "tanh"
    """One of step, sigmoid, tanh, relu, abs, gelu. `step` is trainable by evolution only."""
    norm: str = "none"
    """Normalisation after each Linear: none, batch (BatchNorm1d, needs B > 1 in training) or layer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", positive_ints("widths", self.widths))
        check_activation(self.activation)
        choice("norm", self.norm, NORMS)


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm1d(width)]
    if kind == "layer":
        return [nn.LayerNorm(width)]
    return []


class MLP(nn.Sequential):
    """The trunk alone, features in -> features out: (B, in_dim) -> (B, widths[-1])."""

    def __init__(self, in_dim: int, config: MLPConfig) -> None:
        layers: list[nn.Module] = []
        for width in config.widths:
            norm = _norm(config.norm, width)
            layers += [nn.Linear(in_dim, width), *norm, make_activation(config.activation)]
            in_dim = width
        super().__init__(*layers)
        self.out_dim = config.widths[-1]


class MLPBackbone(nn.Module):
    """An MLP over one Box observation (flattened): (B, *space.shape) -> (B, out_dim).

    Args:
        observation_space: a Box of any shape; finite bounds (a uint8 image's 0..255 too) are scaled to
            [-1, 1], unbounded entries pass through.
        config: an `MLPConfig`; `options` override its fields.
    """

    def __init__(self, observation_space: spaces.Space, config: MLPConfig | None = None, **options) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Box):
            raise refuse("mlp", observation_space, "a Box of any shape, or a Dict of Boxes")
        self.config = build_config(MLPConfig, config, options, "mlp")
        self.space = observation_space
        self.scale = BoxScaler(observation_space)
        self.trunk = MLP(int(np.prod(observation_space.shape)), self.config)
        self.out_dim = self.trunk.out_dim
        self.trainable_by_gradient = trainable_by_gradient(self)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.space)
        return self.trunk(self.scale(obs))


def build_mlp(observation_space: spaces.Space, config: MLPConfig | None = None, **options) -> nn.Module:
    """The registered "mlp" backbone: an `MLPBackbone`, or for a Dict one per key (`DictBackbone`)."""
    if isinstance(observation_space, spaces.Dict):
        config = build_config(MLPConfig, config, options, "mlp")
        return DictBackbone({k: MLPBackbone(sub, config) for k, sub in observation_space.spaces.items()})
    return MLPBackbone(observation_space, config, **options)
