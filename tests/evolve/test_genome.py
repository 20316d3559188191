"""Genomes: vector -> network -> vector, every backbone family, the step activation, architecture genes."""

import random

import numpy as np
import pytest
import torch

import envs
from evolve.genome import ArchGenes, from_vector, make_driver, mutate_arch, random_arch, to_vector


@pytest.fixture(scope="module")
def spaces():
    env = envs.CarDriveVectorEnv(1)
    return env.single_observation_space, env.single_action_space


@pytest.mark.parametrize("backbone, options", [
    ("mlp", {"widths": (16,)}),
    ("mlp", {"widths": (8, 8), "activation": "step"}),
    ("attention", {"d_model": 8, "n_heads": 1, "n_layers": 1}),
    ("tests.agents.plugin:TinyBackbone", {}),
])
def test_round_trip(spaces, backbone, options):
    """vector -> network -> vector is the identity, and the network computes with those parameters."""
    net = make_driver(*spaces, backbone, options, seed=0)
    vector = np.random.default_rng(0).normal(size=to_vector(net).shape).astype(np.float32)
    other = from_vector(make_driver(*spaces, backbone, options, seed=1), vector)
    np.testing.assert_array_equal(to_vector(other), vector)
    twin = from_vector(make_driver(*spaces, backbone, options, seed=2), to_vector(other))
    obs = torch.rand(5, *spaces[0].shape)
    torch.testing.assert_close(other(obs), twin(obs), rtol=0, atol=0)
    assert other.act(obs).shape == (5,) and set(other.act(obs)) <= set(range(5))


def test_seeded_and_sized(spaces):
    a, b = make_driver(*spaces, seed=3), make_driver(*spaces, seed=3)
    np.testing.assert_array_equal(to_vector(a), to_vector(b))
    with pytest.raises(ValueError, match="does not fit this network"):
        from_vector(a, np.zeros(7))


def test_continuous_actions_are_in_the_box():
    env = envs.CarDriveVectorEnv(1, continuous=True)
    net = make_driver(env.single_observation_space, env.single_action_space, seed=0)
    actions = net.act(torch.rand(4, *env.single_observation_space.shape) * 10)
    assert actions.shape == (4, 2) and (np.abs(actions) <= 1).all()


def test_architecture_genes_mutate_within_the_menu(spaces):
    rng = random.Random(0)
    genes = random_arch(rng, ("mlp", "attention"))
    for _ in range(50):
        genes = mutate_arch(genes, rng, ("mlp", "attention"))
        assert 1 <= len(genes.widths) <= 3 and genes.family in ("mlp", "attention")
        assert ArchGenes.from_key(genes.key) == genes
        net = make_driver(*spaces, genes.family, genes.backbone_options(), seed=0)
        assert net(torch.rand(2, *spaces[0].shape)).shape == (2, 5)


def test_an_architecture_mutation_inherits_the_weights_that_still_fit(spaces):
    from evolve.strategies.arch import inherit

    random.seed(0)
    parent_arch = ArchGenes("mlp", (16,), "tanh")
    parent = make_driver(*spaces, "mlp", parent_arch.backbone_options(), seed=3)
    vector = to_vector(parent).tolist()
    # another activation: every parameter keeps its name and shape, so the child is the parent's weights
    same = inherit(spaces, parent_arch, vector, ArchGenes("mlp", (16,), "relu"))
    np.testing.assert_array_equal(np.float32(same), np.float32(vector))
    # a second hidden layer: the first keeps the parent's weights; the new layer and the head start afresh
    wider = ArchGenes("mlp", (16, 8), "tanh")
    child = from_vector(make_driver(*spaces, "mlp", wider.backbone_options(), seed=0),
                        inherit(spaces, parent_arch, vector, wider))
    kept = dict(parent.named_parameters())
    shared = [name for name, p in child.named_parameters() if name in kept and kept[name].shape == p.shape]
    assert shared and len(shared) < len(list(child.parameters()))
    for name, param in child.named_parameters():
        if name in shared:
            torch.testing.assert_close(param, kept[name], rtol=0, atol=0)
