"""The attention family: a transformer encoder over tokens (Vaswani 2017; ViT, Dosovitskiy 2021).

    backbone = make_backbone("attention", space, d_model=32, n_heads=2, n_layers=2)

Tokens: every entry of a vector observation is one token (each ray, then speed and heading); an image is cut
into patch_size x patch_size patches, one token each (ViT). Each token gets a learned positional embedding,
and with a Dict every key's tokens join one sequence, told apart by a learned type embedding. The blocks are
small named modules in the minGPT style (`SelfAttention`, `FeedForward`, `Block`, `TransformerEncoder`) that
the transformer component reuses; `SelfAttention(causal=True)` is its masked variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.activations import check_activation, make_activation, trainable_by_gradient
from sandbox.backbones.config import build_config, choice
from sandbox.backbones.inputs import BoxScaler, check_obs_shape, is_image_space, is_vector_space, refuse

ACCEPTS = (
    "a 1-D Box (one token per entry), an image Box (H, W, C) uint8 (one token per patch), or a Dict of those"
)


@dataclass(frozen=True)
class AttentionConfig:
    """Options of the attention family (`make_backbone("attention", space, **options)`)."""

    d_model: int = 32
    """Width of every token embedding; also `out_dim`."""
    n_heads: int = 2
    """Attention heads; must divide d_model."""
    n_layers: int = 2
    """Transformer blocks (attention + feed-forward, each with a residual and a layer norm)."""
    ff_mult: int = 2
    """Hidden width of the feed-forward layer, as a multiple of d_model (GPT uses 4)."""
    activation: str = "gelu"
    """Activation of the feed-forward layer (see activations.py)."""
    patch_size: int = 8
    """Side of the square image patches that become tokens; must divide the image height and width."""
    dropout: float = 0.0
    """Dropout on attention weights and residual branches (inactive in eval mode)."""
    pool: str = "mean"
    """How tokens become features: mean over tokens, or cls (a learned extra token, as BERT and ViT)."""

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_layers", "ff_mult", "patch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        check_activation(self.activation)
        choice("pool", self.pool, ("mean", "cls"))


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention: (B, T, d) -> (B, T, d)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, causal: bool = False) -> None:
        super().__init__()
        self.n_heads, self.dropout, self.causal = n_heads, dropout, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads)  # (B, T, 3, heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, head_dim)
        p = self.dropout if self.training else 0.0
        y = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(B, T, d))  # (B, T, d)


class FeedForward(nn.Module):
    """The position-wise MLP of a block: d -> hidden -> d."""

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden),
            make_activation(activation),
            nn.Linear(hidden, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Block(nn.Module):
    """A pre-norm transformer block (GPT-2): attention and feed-forward, each on a residual branch."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        hidden: int,
        activation: str = "gelu",
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout, causal)
        self.drop = nn.Dropout(dropout)
        self.ff = FeedForward(d_model, hidden, activation, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.ff(self.ln2(x))


class TransformerEncoder(nn.Module):
    """`n_layers` blocks and a final layer norm: (B, T, d) -> (B, T, d)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_layers: int,
        hidden: int,
        activation: str = "gelu",
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *[Block(d_model, n_heads, hidden, activation, dropout, causal) for _ in range(n_layers)]
        )
        self.ln = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.blocks(x))


class VectorTokens(nn.Module):
    """One token per entry of a 1-D Box: value * w_i + p_i, a per-entry embedding plus a position."""

    def __init__(self, space: spaces.Box, d_model: int) -> None:
        super().__init__()
        self.space = space
        self.scale = BoxScaler(space)
        n = space.shape[0]
        self.weight = nn.Parameter(torch.randn(n, d_model) * 0.02)
        self.pos = nn.Parameter(torch.randn(n, d_model) * 0.02)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.space)
        return self.scale(obs).unsqueeze(-1) * self.weight + self.pos  # (B, n, 1) * (n, d) -> (B, n, d)


class PatchTokens(nn.Module):
    """ViT's patch embedding of a uint8 HWC image: one token per patch, plus a learned position."""

    def __init__(self, space: spaces.Box, d_model: int, patch_size: int) -> None:
        super().__init__()
        height, width, channels = space.shape
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"patch_size {patch_size} must divide the image height and width {height, width}"
            )
        self.space, self.p = space, patch_size
        self.embed = nn.Linear(patch_size * patch_size * channels, d_model)
        self.pos = nn.Parameter(torch.randn((height // patch_size) * (width // patch_size), d_model) * 0.02)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.space)
        B, H, W, C = obs.shape
        p = self.p
        x = obs.to(torch.float32).div(255.0).view(B, H // p, p, W // p, p, C)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, (H // p) * (W // p), p * p * C)  # (B, T, patch pixels)
        return self.embed(x) + self.pos  # (B, T, d)


def _tokenizer(key: str, space: spaces.Space, config: AttentionConfig, whole: spaces.Space) -> nn.Module:
    if is_vector_space(space):
        return VectorTokens(space, config.d_model)
    if is_image_space(space):
        return PatchTokens(space, config.d_model, config.patch_size)
    raise refuse("attention", whole, ACCEPTS)


class AttentionBackbone(nn.Module):
    """A transformer encoder over observation tokens: (B, *obs_shape) or a dict of those -> (B, d_model).

    Args:
        observation_space: a 1-D Box, a uint8 HWC image Box, or a Dict of those.
        config: an `AttentionConfig`; `options` override its fields.
    """

    def __init__(
        self, observation_space: spaces.Space, config: AttentionConfig | None = None, **options
    ) -> None:
        super().__init__()
        self.config = c = build_config(AttentionConfig, config, options, "attention")
        self.is_dict = isinstance(observation_space, spaces.Dict)
        subspaces = observation_space.spaces if self.is_dict else {"obs": observation_space}
        self.tokens = nn.ModuleDict({k: _tokenizer(k, s, c, observation_space) for k, s in subspaces.items()})
        # which key a token came from, once several keys share one sequence
        n_keys = len(subspaces)
        self.type_embed = nn.Parameter(torch.randn(n_keys, c.d_model) * 0.02) if self.is_dict else None
        self.cls = nn.Parameter(torch.randn(1, 1, c.d_model) * 0.02) if c.pool == "cls" else None
        self.encoder = TransformerEncoder(
            c.d_model, c.n_heads, c.n_layers, c.ff_mult * c.d_model, c.activation, c.dropout
        )
        self.out_dim = c.d_model
        self.trainable_by_gradient = trainable_by_gradient(self)

    def _embed(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.is_dict:
            return self.tokens["obs"](obs)
        if not isinstance(obs, dict):
            raise TypeError(f"this backbone reads a Dict space; expected a dict of tensors, got {type(obs)}")
        parts = [tok(obs[key]) + self.type_embed[i] for i, (key, tok) in enumerate(self.tokens.items())]
        return torch.cat(parts, dim=1)  # (B, T_rays + T_patches, d)

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        x = self._embed(obs)  # (B, T, d)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + T, d)
        x = self.encoder(x)
        return x[:, 0] if self.cls is not None else x.mean(dim=1)  # (B, d)
