"""Decoders: a code vector back to an image. The transposed mirror of the backbone families' encoders.

    ConvDecoder(latent_dim, (64, 64, 3), channels=(128, 64, 32))   # (B, latent) -> (B, 3, 64, 64)
    MLPDecoder(latent_dim, (64, 64, 3), widths=(256,))             # (B, latent) -> (B, 3, 64, 64)

The convolutional one is DCGAN's generator (Radford et al., "Unsupervised Representation Learning with Deep
Convolutional GANs", ICLR 2016): a Linear to a 4x4 map, then stride-2 transposed convolutions, each doubling
the image, with batch norm and ReLU between. The autoencoders' decoders and the GAN's generator are this one
module; the last activation (sigmoid for [0, 1] pixels, tanh for [-1, 1]) is the caller's choice.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _doublings(size: int) -> int:
    n = math.log2(size / 4)
    if size < 8 or n != int(n):
        raise ValueError(f"the convolutional decoder draws square images of 8, 16, 32, 64 ... pixels, got {size}")
    return int(n)


class ConvDecoder(nn.Module):
    """(B, latent_dim) -> (B, C, H, W): a 4x4 map, doubled by transposed convolutions up to H = W."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], channels: tuple[int, ...] = (128, 64, 32),
                 norm: bool = True, out: str = "sigmoid") -> None:
        super().__init__()
        height, width, c_img = image_shape
        if height != width:
            raise ValueError(f"the convolutional decoder draws square images, got {height}x{width}")
        n = _doublings(height)
        widths = [channels[min(i, len(channels) - 1)] for i in range(n)]  # one width per doubling, last repeated
        self.start = widths[0]
        self.project = nn.Sequential(nn.Linear(latent_dim, widths[0] * 16), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(n - 1):  # 4 -> 8 -> ... -> H/2, each (B, c_i, s, s) -> (B, c_i+1, 2s, 2s)
            layers += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1),
                       *([nn.BatchNorm2d(widths[i + 1])] if norm else []), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], c_img, 4, stride=2, padding=1))  # H/2 -> H, C image channels
        layers.append(nn.Sigmoid() if out == "sigmoid" else nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.start, 4, 4)  # (B, c_0, 4, 4)
        return self.net(x)  # (B, C, H, W)


class MLPDecoder(nn.Module):
    """(B, latent_dim) -> (B, C, H, W) through fully connected layers (the plain autoencoder's decoder)."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: tuple[int, ...] = (256,)) -> None:
        super().__init__()
        self.shape = image_shape
        sizes = [latent_dim, *widths]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], math.prod(image_shape)), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        height, width, channels = self.shape
        return self.net(z).view(z.shape[0], channels, height, width)  # (B, C, H, W)
