"""The convolutional family: conv + pooling stages (LeNet / AlexNet / VGG lineage), optional ResNet blocks.

    backbone = make_backbone("cnn", pixels_space, channels=(16, 32, 64), residual=True)

Each stage is conv -> [batch norm] -> activation -> [residual block] -> 2x downsampling, so the image halves
per stage while the channels grow (VGG's recipe, LeCun et al. 1998; Simonyan & Zisserman 2014). The residual
block is He et al. 2016's basic block. A stride-2 stem halves the image once more before the first stage,
which keeps a 64x64 frame cheap on a CPU. The flattened size is found with one dummy forward pass (as SB3's
NatureCNN does), so any HWC image size works. A Dict gets a CNN per image key and an MLP per vector key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.activations import check_activation, make_activation, trainable_by_gradient
from sandbox.backbones.config import build_config, choice, positive_ints
from sandbox.backbones.inputs import DictBackbone, ImageScaler, check_obs_shape, is_image_space, refuse
from sandbox.backbones.mlp import MLPBackbone, MLPConfig

IMAGE_ONLY = "an image Box (H, W, C) of dtype uint8, or a Dict holding one (vector keys get an MLP)"


@dataclass(frozen=True)
class CNNConfig:
    """Options of the CNN family (`make_backbone("cnn", space, **options)`)."""

    channels: tuple[int, ...] = (16, 32, 64)
    """Output channels of each stage; every stage halves the image (its length = the number of halvings)."""
    kernel_size: int = 3
    """Square kernel of every convolution (odd, padded to keep the size)."""
    stem_stride: int = 2
    """Extra stride of the first convolution: 2 halves a 64x64 frame at once (AlexNet's strided stem). With
    pool "none" the first stage's own halving joins it: that convolution strides 2 * stem_stride."""
    stem_kernel: int | None = None
    """Kernel of the first convolution (None: kernel_size). A kernel smaller than the stride skips pixels: a
    3x3 kernel at stride 8 reads 9 of every 64, and a 1-2 pixel pedestrian can fall between its taps. Make it
    at least the stride (8 at stride 4 is NatureCNN's stem; 4 at stride 4 cuts the frame into patches)."""
    pool: str = "max"
    """Downsampling per stage: max or avg pooling (2x2), or none for a stride-2 convolution instead."""
    residual: bool = False
    """Add a ResNet basic block (two convolutions and a skip connection) to every stage."""
    norm: str = "none"
    """none, or batch (BatchNorm2d after every convolution)."""
    activation: str = "relu"
    """Activation after every convolution and after the final Linear (see activations.py)."""
    out_dim: int = 128
    """Width of the final Linear layer: the number of features."""
    vector_widths: tuple[int, ...] = (64,)
    """MLP widths for the vector keys of a Dict observation (e.g. rays beside pixels)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", positive_ints("channels", self.channels))
        object.__setattr__(self, "vector_widths", positive_ints("vector_widths", self.vector_widths))
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {self.kernel_size!r}")
        if self.stem_kernel is not None and self.stem_kernel < 1:
            raise ValueError(f"stem_kernel must be a positive integer or None, got {self.stem_kernel!r}")
        if self.stem_stride < 1 or self.out_dim < 1:
            raise ValueError(
                f"stem_stride and out_dim must be positive, got {self.stem_stride, self.out_dim}"
            )
        choice("pool", self.pool, ("max", "avg", "none"))
        choice("norm", self.norm, ("none", "batch"))
        check_activation(self.activation)


def _conv(c_in: int, c_out: int, config: CNNConfig, stride: int = 1, stem: bool = False) -> list[nn.Module]:
    """conv -> [norm] -> activation, size-preserving at stride 1. A `stem_kernel` is padded so that its windows
    reach both edges of the frame: 4 at stride 4 cuts 64 pixels into 16 whole patches, 9 at stride 8 reads
    pixel 0 to 63 (padding 4, as an odd kernel elsewhere, would leave the last three unread)."""
    if stem and config.stem_kernel is not None:
        kernel, padding = config.stem_kernel, max(0, (config.stem_kernel - stride + 1) // 2)
    else:
        kernel, padding = config.kernel_size, config.kernel_size // 2
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
    norm = [nn.BatchNorm2d(c_out)] if config.norm == "batch" else []
    return [conv, *norm, make_activation(config.activation, inplace=True)]


class ResidualBlock(nn.Module):
    """He et al. 2016's basic block: x + F(x), with F two convolutions, then the activation."""

    def __init__(self, channels: int, config: CNNConfig) -> None:
        super().__init__()
        body = _conv(channels, channels, config) + _conv(channels, channels, config)
        self.body = nn.Sequential(*body[:-1])  # the last activation comes after the sum
        self.act = make_activation(config.activation, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


def _stage(c_in: int, c_out: int, config: CNNConfig, first: bool) -> nn.Sequential:
    """One stage: conv (+ residual block), then a 2x downsampling (pooling, or a stride-2 convolution)."""
    stride = (config.stem_stride if first else 1) * (2 if config.pool == "none" else 1)
    layers = _conv(c_in, c_out, config, stride=stride, stem=first)
    if config.residual:
        layers.append(ResidualBlock(c_out, config))
    if config.pool == "max":
        layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil_mode: a 1x1 map stays 1x1 instead of failing
    elif config.pool == "avg":
        layers.append(nn.AvgPool2d(2, ceil_mode=True))
    return nn.Sequential(*layers)


class CNNBackbone(nn.Module):
    """A CNN over one uint8 HWC image: (B, H, W, C) -> (B, out_dim).

    Args:
        observation_space: an image Box (H, W, C), dtype uint8.
        config: a `CNNConfig`; `options` override its fields.
    """

    def __init__(self, observation_space: spaces.Space, config: CNNConfig | None = None, **options) -> None:
        super().__init__()
        if not is_image_space(observation_space):
            raise refuse("cnn", observation_space, IMAGE_ONLY + "; use 'mlp' or 'attention' for vectors")
        self.config = config = build_config(CNNConfig, config, options, "cnn")
        self.space = observation_space
        self.scale = ImageScaler(observation_space)
        c_in = self.scale.shape[0]
        stages = []
        for i, c_out in enumerate(config.channels):
            stages.append(_stage(c_in, c_out, config, first=i == 0))
            c_in = c_out
        self.features = nn.Sequential(*stages, nn.Flatten())
        with torch.no_grad():  # size the Linear layer from one dummy frame, as SB3's NatureCNN does
            n_flat = self.features.eval()(torch.zeros(1, *self.scale.shape)).shape[1]
        self.features.train()
        self.head = nn.Sequential(nn.Linear(n_flat, config.out_dim), make_activation(config.activation))
        self.out_dim = config.out_dim
        self.trainable_by_gradient = trainable_by_gradient(self)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.space)
        return self.head(self.features(self.scale(obs)))  # (B, C, H, W) -> (B, n_flat) -> (B, out_dim)


def build_cnn(observation_space: spaces.Space, config: CNNConfig | None = None, **options) -> nn.Module:
    """The "cnn" backbone: a `CNNBackbone`; for a Dict a CNN per image key, MLP per vector key."""
    if not isinstance(observation_space, spaces.Dict):
        return CNNBackbone(observation_space, config, **options)
    config = build_config(CNNConfig, config, options, "cnn")
    if not any(is_image_space(s) for s in observation_space.spaces.values()):
        raise refuse("cnn", observation_space, IMAGE_ONLY)
    vector_config = MLPConfig(widths=config.vector_widths, activation=config.activation)
    encoders: dict[str, nn.Module] = {}
    for key, sub in observation_space.spaces.items():
        if is_image_space(sub):
            encoders[key] = CNNBackbone(sub, config)
        elif isinstance(sub, spaces.Box):
            encoders[key] = MLPBackbone(sub, vector_config)
        else:
            raise refuse("cnn", observation_space, f"{IMAGE_ONLY}; key {key!r} is {sub}")
    return DictBackbone(encoders)
