"""Autoencoders on frames: plain (MLP), convolutional (CNN) and variational (VAE).

    x -> encoder (an "mlp" or "cnn" backbone) -> z -> decoder -> x_hat
    plain / convolutional:  loss = mean (x_hat - x)^2
    variational (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, eq. 10), beta as in
    Higgins et al. 2017:
        q(z|x) = N(mu(x), diag sigma(x)^2),  z = mu + sigma * eps,  eps ~ N(0, I)   (the reparameterisation)
        -ELBO  = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))
        KL     = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
        with p(x|z) a Bernoulli per pixel value, so -log p(x|z) is the binary cross-entropy summed over pixels
    with `aux_coef` > 0, z also predicts the frame's rays (a file collected with `--obs both`), each standardised:
        loss += aux_coef * sum_k (head(mu)_k - rays_k)^2
    A VAE fitted on reconstruction alone drops CarDrive's pedestrians (a 1-2 pixel disc in a 64x64 frame: none
    of 381 held-out frames holding one reconstructed), and a controller on its z drives blind to them; the rays'
    pedestrian channel (the distance along each ray to the nearest one) makes z carry them. The head is a
    training device only: the encoder, and the "latent" backbone made from it, read pixels alone.

The encoder is a backbone family, so the trained encoder becomes a backbone (`make_backbone("latent", space,
checkpoint=PATH)`, see latent.py). `sandbox fit autoencoder` (convolutional, `--backbone mlp` for plain) and
`sandbox fit vae` train it on a trajectory file's pixels.

    model = Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(variational=True))
    history = model.fit({"pixels": frames}, epochs=5); z = model.encode(frames)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones import make_backbone
from sandbox.backbones.inputs import ImageScaler
from sandbox.components.base import Dataset, fit_epochs, load_component, need, save_component
from sandbox.components.decoders import ConvDecoder, MLPDecoder
from sandbox.runs.validate import check_non_negative


@dataclass
class AutoencoderConfig:
    """Hyper-parameters of the autoencoders."""

    backbone: str = "cnn"
    """the encoder's family: cnn (convolutional autoencoder) or mlp (plain)"""
    variational: bool = False
    """a VAE: the encoder gives a Gaussian q(z|x), the loss is the negative ELBO"""
    latent_dim: int = 32
    """width of the code z (World Models uses 32)"""
    channels: tuple[int, ...] = (32, 64, 128)
    """the CNN encoder's stages; the decoder mirrors them"""
    widths: tuple[int, ...] = (256,)
    """the MLP encoder's hidden widths; the plain decoder mirrors them"""
    beta: float = 1.0
    """weight of the KL term (1 = the ELBO)"""
    aux_coef: float = 0.0
    """weight of the auxiliary loss: z (the VAE's mean) also predicts the frame's standardised rays through a
    linear head; needs a trajectory file with rays (`sandbox collect --obs both`); 0: reconstruction alone"""
    learning_rate: float = 1e-3
    """Adam's step size; the plain (mlp) one over 12288 pixel values wants ~1e-4"""
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backbone not in ("cnn", "mlp"):
            raise ValueError(f"backbone must be 'cnn' (convolutional) or 'mlp' (plain), got {self.backbone!r}")
        for name in ("latent_dim", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        check_non_negative(self, "aux_coef")


def ray_statistics(rays: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-column mean and standard deviation (floored at 1e-3) that standardise the auxiliary task's rays
    (T, R): each (R,)."""
    return rays.mean(0), rays.std(0).clamp_min(1e-3)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per example: -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2), (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def negative_elbo(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(-ELBO, reconstruction term, KL term), each a batch mean; x and x_hat in [0, 1], (B, C, H, W)."""
    recon = nn.functional.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(dim=1)  # (B,)
    kl = kl_divergence(mu, logvar)
    return (recon + beta * kl).mean(), recon.mean(), kl.mean()


class Autoencoder(nn.Module):
    """Encoder (a backbone + a Linear to z, or to (mu, log sigma^2)) and decoder over uint8 HWC frames.

    Args:
        shapes: {"pixels": (H, W, C)}.
        config: an `AutoencoderConfig`.
    """

    config_class = AutoencoderConfig

    def __init__(self, shapes: dict[str, Any], config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        self.kind = "vae" if config.variational else "autoencoder"
        self.shapes = {key: tuple(int(s) for s in shape) for key, shape in shapes.items() if key in ("pixels", "rays")}
        if config.aux_coef > 0 and "rays" not in self.shapes:
            raise ValueError("aux_coef > 0 needs rays to predict: fit on a file collected with --obs both")
        self.space = spaces.Box(0, 255, self.shapes["pixels"], dtype=np.uint8)
        torch.manual_seed(config.seed)
        if config.backbone == "cnn":
            self.backbone = make_backbone("cnn", self.space, channels=config.channels, out_dim=256)
            self.decoder = ConvDecoder(config.latent_dim, self.shapes["pixels"], tuple(reversed(config.channels)))
        else:
            self.backbone = make_backbone("mlp", self.space, widths=config.widths, activation="relu")
            self.decoder = MLPDecoder(config.latent_dim, self.shapes["pixels"], tuple(reversed(config.widths)))
        self.to_latent = nn.Linear(self.backbone.out_dim, config.latent_dim * (2 if config.variational else 1))
        self.scale = ImageScaler(self.space)
        if config.aux_coef > 0:
            self.aux_head = nn.Linear(config.latent_dim, self.shapes["rays"][0])  # z -> the standardised rays
        self.optimizers = {"model": torch.optim.Adam(self.parameters(), lr=config.learning_rate)}

    @staticmethod
    def dataset(arrays: dict[str, np.ndarray], meta: dict[str, Any], aux_coef: float = 0.0) -> Dataset:
        """The frames of a trajectory file: {"pixels": (T, H, W, C) uint8}; with `aux_coef` > 0 also its rays,
        standardised per column over the file (T, R) (a constant column, e.g. normal's traffic channel, becomes 0)."""
        frames = need(arrays, "pixels", "autoencoder", "collect with `sandbox collect --obs pixels` (or both)")
        if not aux_coef > 0:
            return {"pixels": torch.as_tensor(frames)}
        rays = need(arrays, "rays", "autoencoder with aux_coef", "collect with `sandbox collect --obs both`")
        rays = torch.as_tensor(rays, dtype=torch.float32)
        mean, std = ray_statistics(rays)
        return {"pixels": torch.as_tensor(frames), "rays": (rays - mean) / std}  # (T, R): every column weighs alike

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]:
        return {key: tuple(dataset[key].shape[1:]) for key in ("pixels", "rays") if key in dataset}

    def encode_distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, log sigma^2) of q(z|x) for a VAE, (z, None) otherwise; obs (B, H, W, C) -> (B, latent_dim)."""
        h = self.to_latent(self.backbone(obs))  # (B, latent) or (B, 2 * latent)
        if not self.config.variational:
            return h, None
        mu, logvar = h.chunk(2, dim=1)  # each (B, latent)
        return mu, logvar.clamp(-10.0, 10.0)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The code of each frame (a VAE's mean): (B, H, W, C) -> (B, latent_dim)."""
        return self.encode_distribution(obs)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] from codes: (B, latent_dim) -> (B, H, W, C) float."""
        return self.decoder(z).permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)

    def reconstruct(self, obs: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): (B, H, W, C) uint8 -> (B, H, W, C) float in [0, 1]."""
        with torch.no_grad():
            return self.decode(self.encode(obs))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n frames decoded from z ~ N(0, I) (meaningful for a VAE): (n, H, W, C) float in [0, 1]."""
        with torch.no_grad():
            return self.decode(torch.randn(n, self.config.latent_dim, generator=generator))

    def loss(self, obs: torch.Tensor, rays: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The training loss of a batch of frames (with `aux_coef`, and their standardised rays (B, R)), and the
        reconstruction's mean squared error per pixel."""
        x = self.scale(obs)  # (B, C, H, W) in [0, 1]
        mu, logvar = self.encode_distribution(obs)
        if logvar is None:
            x_hat = self.decoder(mu)
            mse = (x_hat - x).pow(2).mean()
            losses = {"loss": mse, "recon_mse": mse}
        else:
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # the reparameterisation trick
            x_hat = self.decoder(z)
            loss, recon, kl = negative_elbo(x_hat, x, mu, logvar, self.config.beta)
            losses = {"loss": loss, "recon": recon, "kl": kl, "recon_mse": (x_hat - x).pow(2).mean()}
        if self.config.aux_coef > 0 and rays is not None:
            aux = (self.aux_head(mu) - rays).pow(2).sum(dim=1).mean()  # from the code itself (the mean), not a sample
            losses["loss"] = losses["loss"] + self.config.aux_coef * aux
            losses["aux"] = aux
        return losses

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One Adam step on a batch {"pixels": (B, H, W, C)} (and "rays" (B, R) with `aux_coef`); its losses."""
        losses = self.loss(batch["pixels"], batch.get("rays"))
        optimizer = self.optimizers["model"]
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        return {key: value.item() for key, value in losses.items()}

    def reconstruction_error(self, frames: torch.Tensor, batch_size: int = 256) -> float:
        """Mean squared error per pixel value in [0, 1] of decode(encode(x)) (held-out frames: the bench)."""
        self.eval()
        errors = [(self.reconstruct(chunk) - chunk.float() / 255.0).pow(2).mean().item() * len(chunk)
                  for chunk in frames.split(batch_size)]
        return float(np.sum(errors) / len(frames))

    fit = fit_epochs
    save = save_component
    load = staticmethod(load_component)
