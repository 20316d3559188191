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
