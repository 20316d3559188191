"""Evolved recurrent drivers: the stacked population forward equals each Driver stepped alone through torch's own
nn.GRU / nn.LSTM, batched fitness equals each alone, and an evolved GRU champion drives with its state."""

import numpy as np
import pytest
import torch

import envs
from evolve import load_evolved_driver, run_evolution
from evolve.genome import make_driver, outputs_to_actions, to_vector
from evolve.population import PopulationNet, RecurrentPopulationNet
from sandbox.cli import build_parser
from sandbox.cli.evolve import settings_from_args
from sandbox.commands.drivers import load_driver


def _spaces(continuous):
    env = envs.CarDriveVectorEnv(1, continuous=continuous)
    return env.single_observation_space, env.single_action_space


@pytest.mark.parametrize("cell, num_layers, continuous, stem, stem_options", [
    ("gru", 1, False, "mlp", {"widths": (16,)}),
    ("gru", 2, True, "mlp", {"widths": (8, 8), "activation": "relu"}),
    ("lstm", 1, True, "mlp", {"widths": (16,)}),
    ("lstm", 2, False, "mlp", {"widths": (16,), "activation": "step"}),
    ("gru", 1, False, "attention", {"d_model": 8, "n_heads": 1, "n_layers": 1}),  # a stem through vmap
])
def test_population_forward_equals_each_driver_stepped_alone(cell, num_layers, continuous, stem, stem_options):
    spaces = _spaces(continuous)
    options = {"hidden_size": 8, "num_layers": num_layers, "stem": stem, "stem_options": stem_options}
    drivers = [make_driver(*spaces, cell, options, seed=i) for i in range(4)]
    rng = torch.Generator().manual_seed(0)
    for d in drivers:  # not the recurrent family's init: its zero biases and orthogonal blocks would test less
        torch.nn.utils.vector_to_parameters(torch.randn(len(to_vector(d)), generator=rng) * 0.5, d.parameters())
    nets = PopulationNet.build(drivers[0], np.stack([to_vector(d) for d in drivers]))
    assert isinstance(nets, RecurrentPopulationNet)
    states, B = [d.initial_state(3) for d in drivers], 3
    rows = list(range(4))
    for step in range(8):
        if step == 4:  # cars 2 and 0 drive on; the others are dropped, as the evaluator compacts its batch
            rows = [2, 0]
            nets = nets.select(np.array(rows))
        obs = torch.rand(len(rows), B, *spaces[0].shape, generator=rng) * 4  # (P, B, *obs_shape)
        outputs = nets(obs)  # (P, B, n_out)
        assert outputs.shape == (len(rows), B, spaces[1].n if not continuous else 2)
        for p, row in enumerate(rows):
            alone, states[row] = drivers[row].step(obs[p], states[row], torch.zeros(B))
            torch.testing.assert_close(outputs[p], alone, rtol=1e-5, atol=1e-5)


def test_population_state_resets_and_refuses_another_batch():
    spaces = _spaces(False)
    driver = make_driver(*spaces, "gru", {"hidden_size": 4, "stem_options": {"widths": (4,)}}, seed=0)
    nets = PopulationNet.build(driver, to_vector(driver)[None].repeat(2, 0))
    obs = torch.rand(2, 1, *spaces[0].shape)
    first = nets(obs)
    assert not torch.equal(nets(obs), first)  # the state moved on
    nets.reset_state()
    torch.testing.assert_close(nets(obs), first, rtol=0, atol=0)
    with pytest.raises(ValueError, match="reset_state"):
        nets(torch.rand(2, 3, *spaces[0].shape))


def test_evolved_gru_champion_drives_with_its_state(tmp_path):
    """A tiny GA over GRU drivers: its champion loads, and `sandbox eval`'s driver zeroes a car's state where its
    episode ended, at the next act (as the agents' `Policy`), and carries it everywhere else."""
    result = run_evolution({"population": 6, "generations": 2, "episodes": 1, "max_steps": 60, "heldout_episodes": 3,
                            "continuous": True, "backbone": "gru",
                            "backbone_options": {"hidden_size": 8, "stem_options": {"widths": [8]}}},
                           tmp_path, progress=False)
    assert 0 <= result["heldout_lap_rate"] <= 1
    path = tmp_path / "hall_of_fame" / "rank0.pt"
    net, env_kwargs = load_evolved_driver(path)
    assert net.recurrent and env_kwargs["continuous"] and net.backbone.config.hidden_size == 8
    policy = load_driver(path)  # what `sandbox eval`, `replay` and `watch` drive
    obs = [np.random.default_rng(t).uniform(0, 4, (2, 11)).astype(np.float32) for t in range(5)]
    no, ends_0 = np.zeros(2, bool), np.array([True, False])

    def expected(t, state, start):
        outputs, state = net.step(torch.from_numpy(obs[t]), state, torch.tensor(start, dtype=torch.float32))
        return outputs_to_actions(outputs, discrete=False), state

    state = net.initial_state(2)
    for t, start, (terminated, truncated) in [(0, [1, 1], (no, no)), (1, [0, 0], (ends_0, no)),
                                              (2, [1, 0], (no, no)), (3, [0, 0], (no, no)), (4, [0, 0], (no, no))]:
        carried, _ = expected(t, state, [0, 0])  # what the car would do had its state not been zeroed
        want, state = expected(t, state, start)
        np.testing.assert_array_equal(policy.act(obs[t]), want)
        if t == 2:
            assert not np.array_equal(want[0], carried[0]) and np.array_equal(want[1], carried[1])
        policy.observe(np.zeros(2), terminated, truncated)
    with pytest.raises(TypeError, match="recurrent driver"):
        net(torch.from_numpy(obs[0]))


def test_cli_backbone_options_reach_a_recurrent_run():
    args = build_parser().parse_args(["evolve", "--backbone", "gru", "--backbone-options",
                                      '{"hidden_size": 12, "num_layers": 2}', "--widths", "8,8"])
    settings = settings_from_args(args, "cma")
    assert settings["backbone"] == "gru"
    assert settings["backbone_options"] == {"hidden_size": 12, "num_layers": 2, "stem_options": {"widths": (8, 8)}}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evolve", "--backbone-options", "[16]"])
