"""World Models' controller: batched actions per controller, population returns, and the selection of the
controller kept (each generation's best and the final CMA-ES mean, compared on fresh tracks); with M (V + M + C),
C reads [z, h], the batched step equals each controller alone, and the controller carries and resets M's state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from sandbox.backbones import make_backbone
from sandbox.components.mdn_rnn import MDNRNN, MDNRNNConfig
from sandbox.components.world_models import (
    Controller,
    WorldModelsConfig,
    controller_actions,
    evolve_controller,
    n_inputs,
    policy_step,
    population_returns,
)

PIXELS = spaces.Box(0, 255, (64, 64, 3), np.uint8)
TINY = WorldModelsConfig(population=4, generations=2, tracks=1, select_tracks=2, max_steps=8)


def encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return make_backbone("cnn", PIXELS, channels=(4,), out_dim=3).eval()  # a stand-in for the VAE's (latent 3)


def test_each_controller_drives_its_own_cars():
    enc = encoder()
    frames = torch.randint(0, 256, (6, 64, 64, 3), dtype=torch.uint8)
    weights = torch.randn(2, 4, 2)  # 2 controllers, latent 3 + bias
    actions = controller_actions(enc, weights, frames)
    assert actions.shape == (2, 3, 2) and actions.abs().max() <= 1.0
    alone = controller_actions(enc, weights[1:], frames[3:])  # controller 1 alone on its 3 frames
    assert torch.allclose(actions[1], alone[0], atol=1e-6)


def test_population_returns_one_number_per_controller():
    population = np.random.default_rng(0).normal(size=(3, 8))
    returns = population_returns(encoder(), population, TINY, seed=0)
    assert returns.shape == (3,) and np.isfinite(returns).all()
    assert np.allclose(returns, population_returns(encoder(), population, TINY, seed=0))  # seeded


def test_evolve_keeps_the_candidate_best_on_fresh_tracks():
    controller, history = evolve_controller(encoder(), TINY)
    assert len(history["best"]) == 2 and len(history["selection"]) == 3  # 2 generation bests + the final mean
    assert isinstance(controller, Controller) and controller.env_kwargs["obs"] == "pixels"
    actions = controller.act(np.zeros((5, 64, 64, 3), np.uint8))
    assert actions.shape == (5, 2) and np.abs(actions).max() <= 1.0


def memory() -> MDNRNN:
    return MDNRNN({"latent": 3, "action": 2}, MDNRNNConfig(hidden=4, mixtures=2))


def test_with_memory_each_controller_reads_z_and_its_cars_h():
    enc, m = encoder(), memory()
    assert n_inputs(enc, m) == 3 + 4 + 1
    frames = torch.randint(0, 256, (6, 64, 64, 3), dtype=torch.uint8)
    weights = torch.randn(2, 8, 2)
    state = (torch.randn(6, 4), torch.randn(6, 4))
    actions, after = policy_step(enc, m, weights, frames, state)
    alone, alone_after = policy_step(enc, m, weights[1:], frames[3:], (state[0][3:], state[1][3:]))
    assert actions.shape == (2, 3, 2) and torch.allclose(actions[1], alone[0], atol=1e-6)
    assert torch.allclose(after[0][3:], alone_after[0], atol=1e-6)
    # C reads h: another state, other actions; M steps with (z_t, a_t)
    other, _ = policy_step(enc, m, weights, frames, (torch.zeros(6, 4), torch.zeros(6, 4)))
    assert not torch.allclose(actions, other)
    assert torch.allclose(after[0], m.step(enc(frames), actions.reshape(6, 2), state)[0], atol=1e-6)
    # a car whose episode ended is not encoded, and the others do not change
    live = np.array([True, False, True, True, True, True])
    part, _ = policy_step(enc, m, weights, frames, state, live=live)
    assert torch.allclose(part.reshape(6, 2)[live], actions.reshape(6, 2)[live], atol=1e-6)


def test_v_m_c_evolves_end_to_end():
    controller, history = evolve_controller(encoder(), TINY, memory=memory())
    assert len(history["best"]) == 2 and np.isfinite(history["selection"]).all()
    assert controller.weights.shape == (1, 8, 2) and controller.memory is not None
    returns = population_returns(encoder(), controller.weights.view(1, -1).numpy(), TINY, seed=0, memory=memory())
    assert np.isfinite(returns).all()


def test_the_controller_carries_m_state_per_car_and_zeroes_it_where_an_episode_ends():
    rng = np.random.default_rng(0)
    controller = Controller(encoder(), rng.normal(size=16), memory=memory())
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    controller.act(frames)
    assert controller.state[0].shape == (3, 4) and controller.state[0].abs().sum(dim=1).min() > 0
    first = controller.state[0].clone()
    controller.observe(np.zeros(3), np.array([False, True, False]), np.zeros(3, bool))
    assert controller.state[0][1].abs().sum() == 0 and torch.equal(controller.state[0][0], first[0])
    controller.act(frames)  # the env's autoreset step for car 1: no transition, its state stays zero
    assert controller.state[0][1].abs().sum() == 0 and controller.state[0][0].abs().sum() > 0
    controller.act(frames)  # car 1's new episode: from a zero state, as car 1 began
    assert torch.allclose(controller.state[0][1], first[1], atol=1e-6)
    controller.act(frames[:2])  # another batch: fresh memory
    assert controller.state[0].shape == (2, 4)
    with pytest.raises(ValueError, match="16 weights, got 8"):
        Controller(encoder(), rng.normal(size=8), memory=memory())  # V + C's weights for V + M + C
