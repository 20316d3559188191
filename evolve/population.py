"""All the networks of a population in one forward pass, one network per car.

    nets = PopulationNet.build(template, vectors)       # vectors: (P, n_params)
    outputs = nets(obs)                                 # (P, B, *obs_shape) -> (P, B, n_out)
    nets = nets.select(rows)                            # keep networks `rows` (cars still driving)

MLPs (the usual driver) run as a `sandbox.backbones.StackedMLP`: one `baddbmm` per layer for all P networks.
Any other backbone (CNN, attention, a plug-in) runs through `torch.func.vmap` over `functional_call`: the
template's own code with each network's parameters, vectorised over P. Either way network p's output depends
on its own parameters and observations alone, whichever others share the batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from sandbox.backbones import StackedMLP, stack_flat


class PopulationNet:
    """P networks of one architecture, evaluated together."""

    def __init__(self, template: nn.Module, stacked: StackedMLP | None, params: dict[str, torch.Tensor] | None):
        self.template, self.stacked, self.params = template, stacked, params

    @classmethod
    def build(cls, template: nn.Module, vectors: np.ndarray) -> PopulationNet:
        flat = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        try:
            return cls(template, stack_flat(template, flat), None)
        except TypeError:  # not a plain MLP: vectorise the template's own forward
            names, shapes = zip(*[(name, p.shape) for name, p in template.named_parameters()], strict=True)
            parts = torch.split(flat, [int(np.prod(shape)) for shape in shapes], dim=1)
            return cls(template, None, {name: part.reshape(len(flat), *shape)  # (P, *shape) per parameter
                                        for name, part, shape in zip(names, parts, shapes, strict=True)})

    def select(self, rows: np.ndarray) -> PopulationNet:
        """The networks `rows` (indices), in that order."""
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        if self.stacked is not None:
            layers = self.stacked.layers()
            stacked = StackedMLP([w[index] for w, _ in layers], [b[index] for _, b in layers],
                                 self.stacked.activations, self.stacked.scaler)
            return PopulationNet(self.template, stacked, None)
        return PopulationNet(self.template, None, {name: p[index] for name, p in self.params.items()})

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, *obs_shape) -> (P, B, n_out)."""
        with torch.no_grad():
            if self.stacked is not None:
                return self.stacked(obs)
            buffers = dict(self.template.named_buffers())
            one = lambda p, x: functional_call(self.template, (p, buffers), (x,))  # noqa: E731
            return vmap(one)(self.params, obs)
