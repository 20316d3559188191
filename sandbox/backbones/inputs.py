"""What a backbone does to observations before its first layer: classify the space, scale the values.

    is_vector_space(space)  # a 1-D Box (rays, CartPole)
    is_image_space(space)   # a uint8 Box (H, W, C) with C <= 4 (pixels)
    BoxScaler(space)        # finite bounds -> [-1, 1]; unbounded dims pass through unchanged
    ImageScaler(space)      # uint8 (B, H, W, C) -> float (B, C, H, W) in [0, 1]
    DictBackbone(encoders)  # one encoder per key of a Dict space, features concatenated

Scaling lives in the backbone, not in a wrapper, so a state_dict or an evolved parameter vector carries the
whole network and every learner sees the same inputs. The scale factors are buffers derived from the space,
not saved in the state_dict: rebuilding from the same space gives them back.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.activations import trainable_by_gradient


def is_vector_space(space: spaces.Space) -> bool:
    """A flat Box: one value per entry (ray distances, speed, heading; CartPole's state)."""
    return isinstance(space, spaces.Box) and len(space.shape) == 1


def is_image_space(space: spaces.Space) -> bool:
    """A uint8 Box in HWC layout, as gymnasium and pygame give frames."""
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] <= 4
    )


def refuse(family: str, space: spaces.Space, accepts: str) -> ValueError:
    """The error a family raises for a space it cannot read: names the family, the space and what it takes."""
    return ValueError(f"backbone {family!r} cannot read observation space {space}; it accepts {accepts}")


class BoxScaler(nn.Module):
    """Affine map of a Box's finite bounds onto [-1, 1]; entries with an infinite bound are left alone."""

    def __init__(self, space: spaces.Box) -> None:
        super().__init__()
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        finite = np.isfinite(low) & np.isfinite(high) & (high > low)
        low, high = np.where(finite, low, -1.0), np.where(finite, high, 1.0)  # unbounded: identity map
        half, mid = (high - low) / 2, (high + low) / 2
        self.shape = tuple(space.shape)
        self.register_buffer("scale", torch.as_tensor(1.0 / half, dtype=torch.float32), persistent=False)
        self.register_buffer("shift", torch.as_tensor(-mid / half, dtype=torch.float32), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.to(torch.float32).reshape(obs.shape[0], -1)  # (B, n): the Box flattened
        return torch.addcmul(self.shift, x, self.scale)  # one new tensor, not two: frames are large


class ImageScaler(nn.Module):
    """uint8 HWC frames (or floats in 0..255) -> float CHW in [0, 1], the layout torch convolutions take."""

    def __init__(self, space: spaces.Box) -> None:
        super().__init__()
        height, width, channels = space.shape
        self.shape = (channels, height, width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # copy=True so the in-place division never touches the caller's float tensor
        x = obs.to(torch.float32, copy=True).div_(255.0)
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


def check_obs_shape(obs: torch.Tensor, space: spaces.Box, key: str | None = None) -> None:
    """Raise a ValueError naming the expected shape when `obs` is not (B, *space.shape)."""
    if tuple(obs.shape[1:]) != tuple(space.shape):
        where = f" for key {key!r}" if key is not None else ""
        raise ValueError(
            f"observation{where} has shape {tuple(obs.shape)}; expected (B, *{tuple(space.shape)})"
        )


class DictBackbone(nn.Module):
    """One encoder per key of a Dict observation; their features are concatenated in key order.

    Args:
        encoders: key -> backbone module with an `out_dim`; keys must match the Dict space's keys.
    """

    def __init__(self, encoders: dict[str, nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.out_dim = sum(int(e.out_dim) for e in self.encoders.values())
        self.trainable_by_gradient = trainable_by_gradient(self)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if not isinstance(obs, dict):
            raise TypeError(f"this backbone reads a Dict space; expected a dict of tensors, got {type(obs)}")
        missing = set(self.encoders) - set(obs)
        if missing:
            raise ValueError(
                f"observation dict lacks key(s) {sorted(missing)}; it needs {list(self.encoders)}"
            )
        return torch.cat([enc(obs[key]) for key, enc in self.encoders.items()], dim=-1)  # (B, out_dim)
