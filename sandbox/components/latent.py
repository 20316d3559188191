"""The "latent" backbone: a trained autoencoder's encoder, so an agent or a population drives from its code.

    backbone = make_backbone("latent", pixels_space, checkpoint="runs/vae/checkpoint.pt")   # frozen
    backbone = make_backbone("latent", both_space, checkpoint=..., freeze=False)             # fine-tuned
    features = backbone(obs)     # (B, 64, 64, 3) -> (B, latent_dim); a Dict: (B, latent_dim + rays)

World Models (Ha & Schmidhuber 2018) trains the VAE first and keeps it fixed while the controller learns:
hence frozen by default (no gradient reaches the encoder, and its batch-norm statistics stay as trained).
For a Dict observation the pixels go through the encoder and the other keys (the rays) are appended, scaled
to [-1, 1]. The checkpoint is read when the backbone is built; the encoder's weights are part of the
state_dict too, so an agent's checkpoint carries the whole network. A checkpoint that names code outside the
sandbox (`sandbox.runs.trust`) is refused: an autoencoder never needs any.
"""

from __future__ import annotations

import os

import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.inputs import BoxScaler, check_obs_shape, is_image_space, is_vector_space, refuse
from sandbox.components.base import load_component

ACCEPTS = "an image Box (H, W, C) uint8 of the autoencoder's shape, or a Dict holding one (vector keys appended)"


class LatentBackbone(nn.Module):
    """A trained autoencoder's encoder as a backbone: (B, H, W, C) -> (B, latent_dim).

    Args:
        observation_space: the image Box the autoencoder was trained on, or a Dict with it and 1-D Boxes.
        checkpoint: path to an autoencoder or VAE checkpoint (`sandbox fit autoencoder|vae`).
        freeze: keep the encoder fixed (the World Models recipe); False fine-tunes it with the learner.
    """

    def __init__(self, observation_space: spaces.Space, checkpoint: str | os.PathLike | None = None,
                 freeze: bool = True) -> None:
        super().__init__()
        if checkpoint is None:
            raise ValueError("backbone 'latent' needs checkpoint=PATH, a trained autoencoder or VAE "
                             "(`sandbox fit vae --data FILE --run-dir DIR` writes DIR/checkpoint.pt)")
        # never trusted: these options may themselves come from a checkpoint, so no option may grant trust; and an
        # autoencoder builds only the built-in cnn or mlp encoder, so a trustworthy one never names code
        autoencoder = load_component(checkpoint, trust_code=False)
        if not hasattr(autoencoder, "encode"):
            raise ValueError(f"{checkpoint} holds a {autoencoder.kind}, not an autoencoder: no encoder to use")
        self.image_key, self.extra = _split(observation_space, autoencoder.space)
        self.is_dict = isinstance(observation_space, spaces.Dict)
        self.image_space = observation_space[self.image_key] if self.is_dict else observation_space
        self.backbone, self.to_latent = autoencoder.backbone, autoencoder.to_latent  # the decoder is left behind
        self.variational = autoencoder.config.variational
        self.scalers = nn.ModuleDict({key: BoxScaler(space) for key, space in self.extra.items()})
        self.freeze = freeze
        for p in self.parameters():
            p.requires_grad_(not freeze)
        self.out_dim = autoencoder.config.latent_dim + sum(int(s.shape[0]) for s in self.extra.values())
        self.trainable_by_gradient = not freeze

    def train(self, mode: bool = True) -> LatentBackbone:
        super().train(mode)
        if self.freeze:  # a frozen encoder stays in eval mode: its batch norm keeps the trained statistics
            self.backbone.eval()
        return self

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """The code of each frame (a VAE's mean): (B, H, W, C) -> (B, latent_dim)."""
        check_obs_shape(pixels, self.image_space, self.image_key if self.is_dict else None)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            h = self.to_latent(self.backbone(pixels))
        return h.chunk(2, dim=1)[0] if self.variational else h  # (B, latent_dim)

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.is_dict:
            return self.encode(obs)
        if not isinstance(obs, dict):
            raise TypeError(f"this backbone reads a Dict space; expected a dict of tensors, got {type(obs)}")
        parts = [self.encode(obs[self.image_key])] + [self.scalers[key](obs[key]) for key in self.extra]
        return torch.cat(parts, dim=1)  # (B, latent_dim + sum of the vector sizes)


def _split(space: spaces.Space, trained: spaces.Box) -> tuple[str | None, dict[str, spaces.Box]]:
    """The image key of a Dict (None for an image Box) and its vector keys; errors name the mismatch."""
    subspaces = space.spaces if isinstance(space, spaces.Dict) else {None: space}
    images = [key for key, sub in subspaces.items() if is_image_space(sub)]
    others = {key: sub for key, sub in subspaces.items() if key not in images}
    if len(images) != 1 or not all(is_vector_space(sub) for sub in others.values()):
        raise refuse("latent", space, ACCEPTS)
    if tuple(subspaces[images[0]].shape) != tuple(trained.shape):
        raise ValueError(f"backbone 'latent': the autoencoder was trained on frames of shape {trained.shape}, "
                         f"the observations are {subspaces[images[0]].shape}")
    return images[0], others

