"""All the networks of a population in one forward pass, one network per car.

    nets = PopulationNet.build(template, vectors)       # vectors: (P, n_params)
    outputs = nets(obs)                                 # (P, B, *obs_shape) -> (P, B, n_out)
    nets = nets.select(rows)                            # keep networks `rows` (cars still driving)
    nets.assign(rows, bank, members)                    # rows become networks `members` of bank, in place

MLPs (the usual driver) run as a `sandbox.backbones.StackedMLP`: one `baddbmm` per layer for all P networks.
Any other backbone (CNN, attention, a plug-in) runs through `torch.func.vmap` over `functional_call`: the
template's own code with each network's parameters, vectorised over P. A recurrent driver (a "gru" or "lstm"
backbone) runs as a `RecurrentPopulationNet` (recurrent_population.py), which carries one state per network
from call to call. Either way network p's output depends on its own parameters and observations alone,
whichever others share the batch, bit for bit: the stacked tensors are padded to a multiple of 32 networks
(`aligned`), so that torch computes every element of an elementwise op the same way in any batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from sandbox.backbones import StackedMLP, is_recurrent, stack_flat
from sandbox.backbones.population import ELEMENTWISE

if TYPE_CHECKING:
    from evolve.recurrent_population import RecurrentPopulationNet


ROWS_ALIGN = 32  # the stacked tensors hold a multiple of this many networks (see `aligned`)


def aligned(n: int) -> int:
    """n rounded up to a multiple of ROWS_ALIGN. torch computes an elementwise op over a tensor in SIMD
    blocks of two vectors and the elements past the last whole block by another path, which for sigmoid (so
    the tanh activation too) can round differently in the last bit: network p's numbers would depend on how
    many networks share the call. With every tensor a multiple of 32 rows long (two AVX-512 vectors of
    float32), every element is computed in a block, the same way in any batch. (With several torch threads,
    an op over 32k elements or more is split between them at points that need not fall on a block: the
    evaluator drives its slots on one thread, evolve/slots.py.)"""
    return -(-n // ROWS_ALIGN) * ROWS_ALIGN


class PopulationNet:
    """P networks of one architecture, evaluated together: MLPs as per-layer (weight (P', in, out), bias
    (P', 1, out), activation), anything else as its parameters stacked (P', *shape) for `vmap`; P' =
    `aligned(P)`, the rows past P filler that is computed and thrown away."""

    def __init__(self, template: nn.Module, layers: list[tuple] | None, params: dict[str, torch.Tensor] | None,
                 size: int):
        self.template, self.layers, self.params, self.size = template, layers, params, size

    @classmethod
    def build(cls, template: nn.Module, vectors: np.ndarray) -> PopulationNet | RecurrentPopulationNet:
        """P networks shaped like `template` from (P, n_params) vectors: a `PopulationNet`, or for a recurrent
        driver a `RecurrentPopulationNet` (the same calls, and a state per network)."""
        if is_recurrent(getattr(template, "backbone", template)):
            from evolve.recurrent_population import RecurrentPopulationNet  # it builds its stem with this class

            return RecurrentPopulationNet.build(template, vectors)
        flat = pad_rows(torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32)))  # (P', n_params)
        try:
            return cls(template, _folded(stack_flat(template, flat)), None, len(vectors))
        except TypeError:  # not a plain MLP: vectorise the template's own forward
            names, shapes = zip(*[(name, p.shape) for name, p in template.named_parameters()], strict=True)
            parts = torch.split(flat, [int(np.prod(shape)) for shape in shapes], dim=1)
            return cls(template, None, {name: part.reshape(len(flat), *shape)  # (P', *shape) per parameter
                                        for name, part, shape in zip(names, parts, shapes, strict=True)},
                       len(vectors))

    def select(self, rows: np.ndarray) -> PopulationNet:
        """The networks `rows` (indices), in that order."""
        index = aligned_index(rows)
        if self.layers is not None:
            return PopulationNet(self.template, [(w[index], b[index], fn) for w, b, fn in self.layers], None,
                                 len(rows))
        return PopulationNet(self.template, None, {name: p[index] for name, p in self.params.items()}, len(rows))

    def assign(self, rows: np.ndarray, source: PopulationNet, members: np.ndarray) -> None:
        """Networks `rows` become `source`'s networks `members` (same architecture), in place: only those rows'
        weights are written (a slot of the evaluator starting another individual's episode)."""
        index, pick = torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(members, dtype=torch.int64)
        if self.layers is not None:
            for (w, b, _), (source_w, source_b, _) in zip(self.layers, source.layers, strict=True):
                w[index], b[index] = source_w[pick], source_b[pick]
            return
        for name, p in self.params.items():
            p[index] = source.params[name][pick]

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, *obs_shape) -> (P, B, n_out)."""
        obs = pad_rows(obs, self.size)  # (P', B, *obs_shape)
        if self.layers is not None:  # the hot loop of evolution: plain tensor calls, nothing else
            x = obs.reshape(obs.shape[0], obs.shape[1], -1)  # (P', B, in)
            for w, b, fn in self.layers:
                x = torch.baddbmm(b, x, w)  # (P', B, out) = b + x @ w, per network
                if fn is not None:
                    x = fn(x)
            return x[: self.size]
        with torch.no_grad():
            buffers = dict(self.template.named_buffers())
            one = lambda p, x: functional_call(self.template, (p, buffers), (x,))  # noqa: E731
            return vmap(one)(self.params, obs)[: self.size]


def pad_rows(x: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """`x` (`size` rows, `len(x)` if None) with zero rows after them up to `aligned(size)`."""
    size = len(x) if size is None else size
    if len(x) != size:
        raise ValueError(f"{len(x)} rows of input for {size} networks")
    if size == aligned(size):
        return x
    return torch.cat([x, x.new_zeros(aligned(size) - size, *x.shape[1:])])


def aligned_index(rows: np.ndarray) -> torch.Tensor:
    """`rows` as a tensor index, repeating its first row up to `aligned(len(rows))` (the filler networks)."""
    rows = np.asarray(rows, dtype=np.int64)
    return torch.as_tensor(np.concatenate([rows, np.full(aligned(len(rows)) - len(rows), rows[0])]))


def _folded(stacked: StackedMLP) -> list[tuple[torch.Tensor, torch.Tensor, Any]]:
    """(weight, bias, activation) per layer, the input scaling folded into the first layer:
    (shift + x * scale) @ W + b = x @ (scale * W) + (shift @ W + b)."""
    layers = [[w, b, ELEMENTWISE[a] if a is not None else None]
              for (w, b), a in zip(stacked.layers(), stacked.activations, strict=True)]
    if stacked.scaler is not None:
        w, b = layers[0][0], layers[0][1]
        scale, shift = stacked.scaler.scale, stacked.scaler.shift  # (in,), (in,)
        layers[0][0] = w * scale[None, :, None]  # (P, in, out)
        layers[0][1] = b + (shift @ w).unsqueeze(1)  # (P, 1, out)
    return [tuple(layer) for layer in layers]
