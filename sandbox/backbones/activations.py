"""Activations by name, including the field's history: the perceptron's Heaviside step.

    make_activation("tanh")   # -> Tanh(), torch's tanh computed as 2 sigmoid(2x) - 1 (faster on CPU)
    ACTIVATIONS               # name -> module class: step, sigmoid, tanh, relu, abs, gelu

The step has zero gradient everywhere (Rosenblatt's perceptron, 1958), so a gradient learner cannot train the
layers in front of it; only evolution can. It still returns a tensor that takes part in autograd (with zero
gradient), so `loss.backward()` runs instead of failing deep inside torch, and it warns once, in training mode
with gradients enabled, saying why nothing will learn.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


class ZeroGradientWarning(UserWarning):
    """A layer with zero gradient (the step activation) is being used where gradients are being recorded."""


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """H(x) = 1 if x > 0 else 0, elementwise, in x's dtype."""
    return (x > 0).to(x.dtype)


class _HeavisideFn(torch.autograd.Function):
    """H(x) with the true derivative: zero (almost) everywhere. Written in the functorch style (a forward
    without ctx, `setup_context`, a generated vmap rule) so that evolution's `torch.func.vmap` over a
    population of networks can run it."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return heaviside(x)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        pass  # the gradient is zero: nothing to keep

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad_output)


STEP_MESSAGE = (
    "the 'step' (Heaviside) activation has zero gradient, so gradient descent cannot train the layers before "
    "it; train this network by evolution (evolve/), or pick a differentiable activation "
    "(sigmoid, tanh, relu, abs, gelu) for a gradient learner"
)


class Heaviside(nn.Module):
    """The perceptron's step, trainable only by evolution (see `STEP_MESSAGE`)."""

    trainable_by_gradient = False

    def __init__(self) -> None:
        super().__init__()
        self._warned = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.requires_grad and torch.is_grad_enabled() and not self._warned:
            warnings.warn(STEP_MESSAGE, ZeroGradientWarning, stacklevel=2)
            self._warned = True
        if x.requires_grad and torch.is_grad_enabled():
            return _HeavisideFn.apply(x)
        return heaviside(x)  # nothing records a gradient: the plain comparison


class _TanhFn(torch.autograd.Function):
    """tanh(x) = 2 sigmoid(2x) - 1, with tanh's derivative 1 - tanh(x)^2 from the saved output.

    Why not torch.tanh: on a CPU build (torch 2.13, AVX-512) its kernel is ~3x slower than sigmoid's, and the
    tanh of a 128-wide MLP was ~20% of a PPO update on CarDrive. Within 2e-7 of torch.tanh in float32.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = _tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad_output, y)  # grad * (1 - y^2)


_MINUS_ONE = torch.tensor(-1.0)


def _tanh(x: torch.Tensor) -> torch.Tensor:
    # -1 + 2 sigmoid(2x) in three kernels, not four: torch.add's alpha does the doubling (exact in floating
    # point, so the same bits as sigmoid(2x) * 2 - 1), ~20% less time on a 512 x 64 batch
    return torch.add(_MINUS_ONE, torch.sigmoid(x * 2.0), alpha=2.0)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent, as the `tanh` activation computes it (see `_TanhFn`)."""
    if x.requires_grad and torch.is_grad_enabled():
        return _TanhFn.apply(x)
    return _tanh(x)  # _TanhFn's forward, without Function.apply's few us


class Tanh(nn.Module):
    """The `tanh` activation (`nn.Tanh`'s function, computed faster on CPU: see `_TanhFn`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)


class Abs(nn.Module):
    """|x|: symmetric, used in early evolved networks and as a cheap even nonlinearity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "step": Heaviside,
    "sigmoid": nn.Sigmoid,
    "tanh": Tanh,
    "relu": nn.ReLU,
    "abs": Abs,
    "gelu": nn.GELU,
}


def check_activation(name: str) -> str:
    """Return `name` if it is a known activation, else raise a ValueError listing the known ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(ACTIVATIONS)}")
    return name


def make_activation(name: str, inplace: bool = False) -> nn.Module:
    """A fresh activation module by name (see `ACTIVATIONS`).

    `inplace=True` lets relu overwrite its input, sparing a large allocation after a convolution (safe there:
    a convolution's backward does not need its output); the other activations ignore it.
    """
    if check_activation(name) == "relu":
        return nn.ReLU(inplace=inplace)
    return ACTIVATIONS[name]()


def activation_name(module: nn.Module) -> str | None:
    """The registered name of an activation module, or None if it is not one of ours."""
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    return "tanh" if type(module) is nn.Tanh else None  # torch's own module: the same function


def trainable_by_gradient(module: nn.Module) -> bool:
    """False if any submodule (e.g. a step activation) blocks gradient learning."""
    return all(getattr(m, "trainable_by_gradient", True) for m in module.modules())
