"""Images as PNG grids: reconstructions beside their frames, a GAN's samples (written atomically)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 as is; floats in [0, 1] scaled to 0..255."""
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grid(images: torch.Tensor | np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """N images (N, H, W, C) tiled row by row into one (rows * (H + pad) + pad, ...) image on grey."""
    images = to_uint8(images)
    n, height, width, channels = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (height + pad) + pad, ncols * (width + pad) + pad, channels), 128, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        y, x = pad + r * (height + pad), pad + c * (width + pad)
        out[y:y + height, x:x + width] = image
    return out


def save_grid(images: torch.Tensor | np.ndarray, path: str | os.PathLike, ncols: int | None = None) -> Path:
    """Write `grid(images)` as a PNG at `path`, atomically."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid(images, ncols)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def reconstruction_pairs(frames: torch.Tensor, reconstructions: torch.Tensor) -> np.ndarray:
    """Frames and their reconstructions interleaved (frame, reconstruction, frame, ...): (2N, H, W, C) uint8."""
    a, b = to_uint8(frames), to_uint8(reconstructions)
    return np.stack([a, b], axis=1).reshape(-1, *a.shape[1:])  # (N, 2, H, W, C) -> (2N, H, W, C)
