"""World Models on CarDrive (Ha & Schmidhuber, "World Models", 2018): V, a VAE that compresses each frame to
z; C, a linear controller a = tanh(W [z, 1]) evolved with CMA-ES (Hansen & Ostermeier 2001). This is the
paper's V + C variant (its MDN-RNN "M" is left out: the paper's CarRacing result without M is the one
reproduced here).

    V:  z_t = mu(x_t)                      a frozen VAE encoder, the "latent" backbone
    C:  a_t = tanh(W [z_t, 1]),  W in R^{(latent + 1) x 2}   (steer, throttle)
    for each generation: P controllers ~ CMA-ES; each drives `tracks` training tracks from pixels;
        fitness = mean return; the strategy updates its mean and covariance from the ranking
    the controller kept: of each generation's best and the final mean, the one with the best mean return
        on `select_tracks` fresh training tracks (the paper, too, re-ran its best agents over many rollouts;
        one generation's best on a few tracks is the luckiest draw as often as the best driver)

The whole population drives at once: one car per (controller, track) in one `CarDriveVectorEnv`, one encoder
forward for every frame and one `torch.bmm` for every controller.

    controller = evolve_controller(encoder, WorldModelsConfig(generations=20)); controller.act(pixels)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from deap import base, cma


@dataclass
class WorldModelsConfig:
    """CMA-ES over the controller's weights."""

    population: int = 16
    """lambda: controllers per generation"""
    generations: int = 20
    sigma: float = 0.5
    """CMA-ES's initial step size"""
    tracks: int = 4
    """training tracks each controller drives per generation"""
    select_tracks: int = 16
    """fresh training tracks on which the candidates (each generation's best, the final mean) are compared"""
    max_steps: int = 300
    """episode step limit while evolving"""
    level: str = "easy"
    seed: int = 0


class _Fitness(base.Fitness):
    weights = (1.0,)  # maximise the return


class _Individual(list):
    """What `deap.cma.Strategy` generates and ranks: a weight vector with a fitness."""

    def __init__(self, values: Any) -> None:
        super().__init__(values)
        self.fitness = _Fitness()


class Controller:
    """C: a = tanh([z, 1] W) for a batch of frames, through a frozen encoder `encoder` (pixels -> z)."""

    def __init__(self, encoder: torch.nn.Module, weights: np.ndarray, level: str = "easy") -> None:
        self.encoder = encoder.eval()
        self.weights = torch.as_tensor(np.asarray(weights, np.float32)).view(1, -1, 2)  # (1, latent + 1, 2)
        self.env_kwargs = {"level": level, "obs": "pixels", "continuous": True}

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        return controller_actions(self.encoder, self.weights, torch.as_tensor(np.asarray(obs)))[0].numpy()

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Nothing to remember."""


def controller_actions(encoder: torch.nn.Module, weights: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """P controllers on their own cars: weights (P, latent + 1, 2), frames (P * S, H, W, C) -> (P, S, 2)."""
    P = weights.shape[0]
    with torch.no_grad():
        z = encoder(frames)  # (P * S, latent)
        x = torch.cat([z, torch.ones(len(z), 1)], dim=1).view(P, -1, z.shape[1] + 1)  # (P, S, latent + 1)
        return torch.tanh(torch.bmm(x, weights))  # (P, S, 2)


def population_returns(encoder: torch.nn.Module, population: np.ndarray, config: WorldModelsConfig,
                       seed: int) -> np.ndarray:
    """Mean return of each of P controllers (P, n_params) over `config.tracks` training tracks: (P,)."""
    from envs import CarDriveVectorEnv, track_seeds

    P, S = len(population), config.tracks
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.choice(track_seeds("train", config.level), S, replace=False)]
    env = CarDriveVectorEnv(P * S, level=config.level, obs="pixels", continuous=True, tracks=seeds,
                            max_episode_steps=config.max_steps)
    obs, _ = env.reset(seed=seed, options={"track_index": np.tile(np.arange(S), P)})
    weights = torch.as_tensor(population, dtype=torch.float32).view(P, -1, 2)  # (P, latent + 1, 2)
    total, done = np.zeros(P * S), np.zeros(P * S, bool)
    while not done.all():
        actions = controller_actions(encoder, weights, torch.as_tensor(obs)).reshape(P * S, 2)
        obs, reward, terminated, truncated, _ = env.step(actions.numpy())
        total += np.where(done, 0.0, reward)
        done |= terminated | truncated
    env.close()
    return total.reshape(P, S).mean(axis=1)


def evolve_controller(encoder: torch.nn.Module, config: WorldModelsConfig,
                      log: Callable[[dict[str, Any]], None] | None = None) -> tuple[Controller, dict[str, list]]:
    """CMA-ES over C's weights, V frozen; the controller selected (see the module docstring), and the
    per-generation best and mean and the candidates' selection returns."""
    n_params = (encoder.out_dim + 1) * 2
    np.random.seed(config.seed)  # deap.cma samples from numpy's global generator
    strategy = cma.Strategy(centroid=[0.0] * n_params, sigma=config.sigma, lambda_=config.population)
    candidates, history = [], {"best": [], "mean": []}
    for generation in range(config.generations):
        population = strategy.generate(_Individual)
        returns = population_returns(encoder, np.asarray(population), config, config.seed * 1000 + generation)
        for individual, value in zip(population, returns, strict=True):
            individual.fitness.values = (float(value),)
        strategy.update(population)
        candidates.append(np.asarray(population[int(np.argmax(returns))]))
        history["best"].append(float(returns.max()))
        history["mean"].append(float(returns.mean()))
        if log is not None:
            log({"generation": generation + 1, "best": history["best"][-1], "mean": history["mean"][-1]})
    candidates.append(np.asarray(strategy.centroid))
    selection = dataclasses.replace(config, tracks=config.select_tracks)
    history["selection"] = population_returns(encoder, np.stack(candidates), selection,
                                              config.seed * 1000 + config.generations).tolist()
    best = candidates[int(np.argmax(history["selection"]))]
    return Controller(encoder, best, config.level), history
