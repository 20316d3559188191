"""A DCGAN on frames (Goodfellow et al., "Generative Adversarial Nets", NIPS 2014; the convolutional recipe of
Radford et al., ICLR 2016).

    G: z ~ N(0, I) -> image in [-1, 1]        (the transposed-convolution decoder, decoders.ConvDecoder)
    D: image -> logit of "real"                (the "cnn" backbone + a Linear)
    discriminator:  max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]
    generator:      max_G  E_z[log D(G(z))]    (the non-saturating loss of section 3 of Goodfellow et al.)
    Adam(2e-4, beta1 = 0.5), one D step then one G step per batch, as DCGAN.

    gan = GAN({"pixels": (64, 64, 3)}, GANConfig()); gan.fit({"pixels": frames}, epochs=5); gan.sample(16)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones import make_backbone
from sandbox.components.autoencoder import Autoencoder
from sandbox.components.base import Dataset, fit_epochs, load_component, save_component
from sandbox.components.decoders import ConvDecoder


@dataclass
class GANConfig:
    """Hyper-parameters of the DCGAN."""

    latent_dim: int = 64
    """width of the noise z"""
    channels: tuple[int, ...] = (32, 64, 128)
    """the discriminator's CNN stages; the generator mirrors them"""
    learning_rate: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 64
    seed: int = 0


class GAN(nn.Module):
    """Generator and discriminator over uint8 HWC frames.

    Args:
        shapes: {"pixels": (H, W, C)}.
        config: a `GANConfig`.
    """

    kind = "gan"
    config_class = GANConfig

    def __init__(self, shapes: dict[str, Any], config: GANConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or GANConfig()
        self.shapes = {"pixels": tuple(int(s) for s in shapes["pixels"])}
        torch.manual_seed(c.seed)
        space = spaces.Box(0, 255, self.shapes["pixels"], dtype=np.uint8)
        self.generator = ConvDecoder(c.latent_dim, self.shapes["pixels"], tuple(reversed(c.channels)), out="tanh")
        self.discriminator = nn.Sequential(
            make_backbone("cnn", space, channels=c.channels, activation="relu", out_dim=128), nn.Linear(128, 1))
        betas = (c.beta1, 0.999)
        self.optimizers = {"generator": torch.optim.Adam(self.generator.parameters(), c.learning_rate, betas=betas),
                           "discriminator": torch.optim.Adam(self.discriminator.parameters(), c.learning_rate,
                                                             betas=betas)}

    dataset = staticmethod(Autoencoder.dataset)
    shapes_of = staticmethod(Autoencoder.shapes_of)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) as frames the discriminator reads: (B, latent_dim) -> (B, H, W, C) float in 0..255."""
        return (self.generator(z).permute(0, 2, 3, 1) + 1.0) * 127.5  # [-1, 1] CHW -> [0, 255] HWC

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n frames from z ~ N(0, I): (n, H, W, C) float in [0, 1]."""
        with torch.no_grad():
            return self.generate(torch.randn(n, self.config.latent_dim, generator=generator)) / 255.0

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-(E[log D(x)] + E[log(1 - D(G(z)))]), G held fixed."""
        bce = nn.functional.binary_cross_entropy_with_logits
        real_logit = self.discriminator(real).squeeze(1)
        fake_logit = self.discriminator(self.generate(z).detach()).squeeze(1)
        return bce(real_logit, torch.ones_like(real_logit)) + bce(fake_logit, torch.zeros_like(fake_logit))

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        """-E[log D(G(z))], the non-saturating generator loss."""
        fake_logit = self.discriminator(self.generate(z)).squeeze(1)
        return nn.functional.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One discriminator step, then one generator step, on a batch {"pixels": (B, H, W, C)}."""
        z = torch.randn(len(batch["pixels"]), self.config.latent_dim)
        d_loss = self.discriminator_loss(batch["pixels"], z)
        self.optimizers["discriminator"].zero_grad()
        d_loss.backward()
        self.optimizers["discriminator"].step()
        g_loss = self.generator_loss(z)
        self.optimizers["generator"].zero_grad()
        g_loss.backward()
        self.optimizers["generator"].step()
        return {"discriminator_loss": d_loss.item(), "generator_loss": g_loss.item()}

    fit = fit_epochs
    save = save_component
    load = staticmethod(load_component)
