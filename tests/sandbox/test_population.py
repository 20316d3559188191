"""The batched population forward gives what a loop over the P modules gives, from modules or flat vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sandbox.backbones import StackedMLP, flat_parameters, make_backbone, stack_flat, stack_modules
from tests.sandbox.spaces import cardrive_space, cartpole_space, sample_batch


def sequential(sizes: tuple[int, ...], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def loop(modules, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([m(x[i]) for i, m in enumerate(modules)])  # (P, B, out)


@pytest.mark.parametrize(("sizes", "P", "B"), [((4, 32, 2), 7, 1), ((11, 64, 64, 5), 5, 3), ((3, 2), 1, 4)])
def test_stacked_equals_loop(sizes, P, B):
    torch.manual_seed(0)
    modules = [sequential(sizes) for _ in range(P)]
    x = torch.randn(P, B, sizes[0])
    stack = stack_modules(modules)
    assert isinstance(stack, StackedMLP) and stack.population_size == P
    assert torch.allclose(stack(x), loop(modules, x), atol=1e-5)
    assert torch.allclose(stack(x[:, 0]), loop(modules, x)[:, 0], atol=1e-5)  # (P, in): one obs each


@pytest.mark.parametrize("activation", ["step", "sigmoid", "relu", "abs", "gelu", "tanh"])
def test_backbone_plus_head_with_input_scaling_stacks(activation):
    torch.manual_seed(1)
    space = cardrive_space("rays")

    def network() -> nn.Module:
        backbone = make_backbone("mlp", space, widths=(16, 16), activation=activation)
        return nn.Sequential(backbone, nn.Linear(backbone.out_dim, 5))

    modules = [network().eval() for _ in range(6)]
    obs = torch.stack([sample_batch(space, 2, seed=i) for i in range(6)])  # (P, B, 11)
    assert torch.allclose(stack_modules(modules)(obs), loop(modules, obs), atol=1e-5)


def test_flat_vectors_round_trip_and_match_the_loop():
    torch.manual_seed(2)
    space = cartpole_space()
    template = nn.Sequential(make_backbone("mlp", space, widths=(32,)), nn.Linear(32, 2))
    modules = [nn.Sequential(make_backbone("mlp", space, widths=(32,)), nn.Linear(32, 2)) for _ in range(4)]
    flat = torch.stack([flat_parameters(m) for m in modules])  # (P, n_params), as DEAP individuals
    stack = stack_flat(template, flat)
    assert torch.equal(stack.to_flat(), flat)
    assert torch.equal(stack_modules(modules).to_flat(), flat)
    obs = torch.randn(4, 3, 4) * 3
    assert torch.allclose(stack(obs), loop(modules, obs), atol=1e-5)
    individuals = flat.tolist()  # DEAP hands in lists of floats
    assert torch.allclose(stack_flat(template, individuals)(obs), stack(obs), atol=1e-6)
    champion = stack.load_into(nn.Sequential(make_backbone("mlp", space, widths=(32,)), nn.Linear(32, 2)), 2)
    assert torch.equal(flat_parameters(champion), flat[2])


def test_stacking_refuses_what_it_cannot_batch():
    with pytest.raises(TypeError, match="LayerNorm"):
        stack_modules([make_backbone("mlp", cardrive_space("rays"), norm="layer")])
    with pytest.raises(TypeError, match="cannot stack"):
        stack_modules([make_backbone("attention", cardrive_space("rays"))])
    with pytest.raises(ValueError, match="one architecture"):
        stack_modules([sequential((4, 8, 2)), sequential((4, 9, 2))])
    with pytest.raises(ValueError, match=r"needs \(P, 58\)"):
        stack_flat(sequential((4, 8, 2)), np.zeros((3, 57)))


def test_a_forward_that_is_not_its_layers_in_sequence_is_caught():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.b(self.a(x)) + x

    with pytest.raises(TypeError, match="not its layers in sequence"):
        stack_modules([Skip()])
