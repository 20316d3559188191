"""The compiled MLP step chooses the actions the torch population forward chooses, for every activation."""

import numpy as np
import pytest
import torch

from envs.spaces import decode_actions
from evolve.compiled import CompiledMLPs
from evolve.evaluate import EvalSpec, spaces_of
from evolve.genome import make_driver, outputs_to_actions, to_vector
from evolve.population import PopulationNet


def _bank(spec, count=6):
    spaces = spaces_of(spec)
    vectors = np.stack([to_vector(make_driver(*spaces, spec.backbone, spec.backbone_options, seed=i)) * (1 + i % 3)
                        for i in range(count)])
    return PopulationNet.build(make_driver(*spaces, spec.backbone, spec.backbone_options, seed=0), vectors), spaces


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "abs", "gelu", "step"])
@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "box"])
def test_compiled_actions_match_the_torch_forward(activation, continuous):
    options = {"widths": (16, 8), "activation": activation}
    spec = EvalSpec(level="normal", continuous=continuous, backbone_options=options)
    bank, (obs_space, _) = _bank(spec)
    rng = np.random.default_rng(0)
    obs = rng.uniform(obs_space.low, obs_space.high, (40, *obs_space.shape)).astype(np.float32)
    members = rng.integers(0, 6, 40)  # car i driven by network members[i], a network driving several cars
    steer, throttle = CompiledMLPs.of(bank, not continuous).actions(obs, members)
    outputs = bank.select(members)(torch.from_numpy(obs[:, None]))[:, 0]
    want_steer, want_throttle = decode_actions(outputs_to_actions(outputs, not continuous), continuous, 40)
    np.testing.assert_allclose(steer, want_steer, atol=1e-5)
    np.testing.assert_allclose(throttle, want_throttle, atol=1e-5)
    assert len(set(zip(steer.round(3), throttle.round(3), strict=True))) > 1  # not one action for everyone


def test_only_plain_mlps_are_compiled():
    gru = EvalSpec(level="normal", backbone="gru",
                   backbone_options={"hidden_size": 8, "stem_options": {"widths": (8,)}})
    attention = EvalSpec(backbone="attention", backbone_options={"d_model": 8, "n_heads": 1, "n_layers": 1})
    assert CompiledMLPs.of(_bank(gru)[0], True) is None
    assert CompiledMLPs.of(_bank(attention)[0], True) is None
    assert CompiledMLPs.of(_bank(EvalSpec())[0], True) is not None


def test_banks_of_several_shapes_concatenate():
    shapes = [{"widths": (16,), "activation": "tanh"}, {"widths": (8, 12), "activation": "relu"},
              {"widths": (4, 4, 4), "activation": "gelu"}]
    banks = [_bank(EvalSpec(level="normal", backbone_options=options), count=3)[0] for options in shapes]
    compiled = [CompiledMLPs.of(bank, True) for bank in banks]
    together = CompiledMLPs.concat(compiled)
    obs_space = spaces_of(EvalSpec(level="normal"))[0]
    obs = np.random.default_rng(1).uniform(obs_space.low, obs_space.high, (9, *obs_space.shape)).astype(np.float32)
    members = np.arange(9)  # network 3 b + m of the concatenation is network m of bank b
    steer, throttle = together.actions(obs, members)
    for b, bank in enumerate(compiled):
        rows = slice(3 * b, 3 * b + 3)
        want = bank.actions(obs[rows], np.arange(3))
        np.testing.assert_array_equal(steer[rows], want[0])
        np.testing.assert_array_equal(throttle[rows], want[1])
    assert len(together) == 9
