"""World Models' controller: batched actions per controller, population returns, and the selection of the
controller kept (each generation's best and the final CMA-ES mean, compared on fresh tracks)."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from sandbox.backbones import make_backbone
from sandbox.components.world_models import (
    Controller,
    WorldModelsConfig,
    controller_actions,
    evolve_controller,
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
