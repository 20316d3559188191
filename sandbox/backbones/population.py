"""A population of P MLPs with one architecture and different weights, evaluated in one call.

    stack = stack_modules(networks)        # P nn.Modules: Linear layers, activations, input scaling
    stack = stack_flat(template, flat)     # or a (P, n_params) matrix, e.g. DEAP individuals
    actions = stack(obs)                   # (P, B, in) -> (P, B, out); (P, in) -> (P, out)

Evolution evaluates a whole population per step (one car per individual). A Python loop over P modules costs
~20-50 us per module call whatever the size, so at B = 1 it caps at ~20-50k forwards/s. Stacking the weights
as (P, in, out) and running one `torch.baddbmm` per layer does all P at once: 16-75x faster at B = 1 in
LEARN-RESULTS.md section 6, where `vmap(functional_call)` reached only 5-22x, hence bmm here.

The flat layout is `torch.nn.utils.parameters_to_vector(module.parameters())`: per Linear, its weight
(out, in) row-major, then its bias, in module order. `flat_parameters` writes it, `StackedMLP.load_into`
reads a row back into a module.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from sandbox.backbones.activations import ACTIVATIONS, activation_name, tanh
from sandbox.backbones.inputs import BoxScaler

# elementwise activations on stacked tensors; the step needs no warning here: populations are evolved
ELEMENTWISE = {
    "step": lambda x: (x > 0).to(x.dtype),
    "sigmoid": torch.sigmoid,
    "tanh": tanh,  # as the tanh module computes it, so a stack equals its members
    "relu": torch.relu,
    "abs": torch.abs,
    "gelu": nn.functional.gelu,
}


@dataclass
class _Layout:
    linears: list[nn.Linear]
    activations: list[str | None]  # the activation after each Linear, None for none
    scaler: BoxScaler | None

    @property
    def sizes(self) -> list[int]:
        return [self.linears[0].in_features] + [lin.out_features for lin in self.linears]


def _unsupported(m: nn.Module) -> TypeError:
    return TypeError(
        f"cannot stack {type(m).__name__}: a stacked population supports Linear layers (with bias), "
        f"elementwise activations ({', '.join(ACTIVATIONS)}) and input scaling, in sequence; "
        "normalisation, convolution and attention layers are not stacked"
    )


def _layout(module: nn.Module) -> _Layout:
    """The Linear layers and activations of `module`, in order; a TypeError for anything else."""
    layout = _Layout([], [], None)
    for m in module.modules():
        if isinstance(m, nn.Linear) and m.bias is not None:
            layout.linears.append(m)
            layout.activations.append(None)
        elif isinstance(m, BoxScaler) and not layout.linears and layout.scaler is None:
            layout.scaler = m
        elif activation_name(m) is not None and layout.linears and layout.activations[-1] is None:
            layout.activations[-1] = activation_name(m)
        elif list(m.children()) or isinstance(m, (nn.Flatten, nn.Identity)):
            continue  # a container: its leaves follow
        else:
            raise _unsupported(m)
    counted = sum(lin.weight.numel() + lin.bias.numel() for lin in layout.linears)
    if not layout.linears or counted != sum(p.numel() for p in module.parameters()):
        raise TypeError(f"cannot stack {type(module).__name__}: it has parameters outside its Linear layers")
    return layout


class StackedMLP(nn.Module):
    """P MLPs of one architecture as stacked weights: one `baddbmm` per layer for the whole population.

    Args:
        weights: per layer, a (P, in, out) tensor (the transpose of nn.Linear's weight).
        biases: per layer, a (P, 1, out) tensor.
        activations: per layer, an activation name or None.
        scaler: the input scaling shared by all P networks, or None.
    """

    def __init__(
        self,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        activations: Sequence[str | None],
        scaler: BoxScaler | None = None,
    ) -> None:
        super().__init__()
        self.activations = list(activations)
        self.n_layers = len(weights)
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            self.register_buffer(f"weight{i}", w.contiguous())
            self.register_buffer(f"bias{i}", b.contiguous())
        self.scaler = copy.deepcopy(scaler)

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (P, in, out), bias (P, 1, out)) per layer."""
        return [(getattr(self, f"weight{i}"), getattr(self, f"bias{i}")) for i in range(self.n_layers)]

    @property
    def population_size(self) -> int:
        return self.weight0.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(P, B, in) -> (P, B, out), or (P, in) -> (P, out) for one observation per network."""
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(1)  # (P, 1, in)
        P, B = x.shape[:2]
        if self.scaler is not None:
            x = self.scaler(x.reshape(P * B, -1)).view(P, B, -1)  # (P, B, in), scaled
        x = x.to(self.weight0.dtype)
        for (w, b), act in zip(self.layers(), self.activations, strict=True):
            x = torch.baddbmm(b, x, w)  # (P, B, out) = b + x @ w, per network
            if act is not None:
                x = ELEMENTWISE[act](x)
        return x.squeeze(1) if single else x

    def to_flat(self) -> torch.Tensor:
        """(P, n_params) in `parameters_to_vector` layout, the inverse of `stack_flat`."""
        parts = []
        for w, b in self.layers():
            P = w.shape[0]
            parts += [w.transpose(1, 2).reshape(P, -1), b.reshape(P, -1)]  # (P, out * in), (P, out)
        return torch.cat(parts, dim=1)

    def load_into(self, module: nn.Module, index: int) -> nn.Module:
        """Write network `index` of the population into `module` (same architecture), e.g. the champion."""
        vector_to_parameters(self.to_flat()[index].to(next(module.parameters()).dtype), module.parameters())
        return module


def _check_same(layout: _Layout, module: nn.Module, index: int, reference: _Layout) -> None:
    if layout.sizes != reference.sizes or layout.activations != reference.activations:
        raise ValueError(
            f"module {index} has layers {layout.sizes} with activations {layout.activations}; "
            f"module 0 has {reference.sizes} with {reference.activations}: a stack needs one architecture"
        )


def _verified(template: nn.Module, layout: _Layout) -> _Layout:
    """Check on a random probe that the template computes its layers in sequence (no skips, no reuse)."""
    stack = _stack_layouts([layout])
    in_shape = layout.scaler.shape if layout.scaler is not None else (layout.sizes[0],)
    probe = torch.randn(3, *in_shape)
    with torch.no_grad():
        expected = template(probe)
        got = stack(probe.reshape(1, 3, -1))[0]
    if expected.shape != got.shape or not torch.allclose(expected, got, atol=1e-5):
        raise TypeError(f"cannot stack {type(template).__name__}: its forward is not its layers in sequence")
    return layout


def _stack_layouts(layouts: Sequence[_Layout]) -> StackedMLP:
    depth = range(len(layouts[0].linears))
    # (P, in, out) per layer: x @ w with x (P, B, in)
    weights = [torch.stack([lay.linears[i].weight.detach().t() for lay in layouts]) for i in depth]
    biases = [torch.stack([lay.linears[i].bias.detach() for lay in layouts]).unsqueeze(1) for i in depth]
    return StackedMLP(weights, biases, layouts[0].activations, layouts[0].scaler)


def stack_modules(modules: Sequence[nn.Module]) -> StackedMLP:
    """Stack P modules of one MLP architecture (e.g. `nn.Sequential(MLPBackbone, nn.Linear)`)."""
    if not modules:
        raise ValueError("stack_modules needs at least one module")
    reference = _verified(modules[0], _layout(modules[0]))
    layouts = [reference]
    for i, m in enumerate(modules[1:], start=1):
        layouts.append(_layout(m))
        _check_same(layouts[-1], m, i, reference)
    return _stack_layouts(layouts)


def flat_parameters(module: nn.Module) -> torch.Tensor:
    """A module's parameters as one flat vector (the layout of a DEAP individual)."""
    return parameters_to_vector(module.parameters()).detach()


def stack_flat(
    template: nn.Module, flat: torch.Tensor | np.ndarray | Sequence[Sequence[float]]
) -> StackedMLP:
    """Stack P networks shaped like `template` from a (P, n_params) matrix, e.g. DEAP individuals."""
    layout = _verified(template, _layout(template))
    flat = torch.as_tensor(np.asarray(flat, dtype=np.float32)) if not torch.is_tensor(flat) else flat
    n_params = sum(p.numel() for p in template.parameters())
    if flat.dim() != 2 or flat.shape[1] != n_params:
        raise ValueError(
            f"flat parameters have shape {tuple(flat.shape)}; this template needs (P, {n_params})"
        )
    P, offset, weights, biases = flat.shape[0], 0, [], []
    for lin in layout.linears:
        n_w, n_b = lin.weight.numel(), lin.bias.numel()
        w = flat[:, offset : offset + n_w].reshape(P, lin.out_features, lin.in_features)  # (P, out, in)
        weights.append(w.transpose(1, 2))  # (P, in, out)
        biases.append(flat[:, offset + n_w : offset + n_w + n_b].reshape(P, 1, n_b))  # (P, 1, out)
        offset += n_w + n_b
    return StackedMLP(weights, biases, layout.activations, layout.scaler)
