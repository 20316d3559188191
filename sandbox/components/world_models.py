"""World Models on CarDrive (Ha & Schmidhuber, "World Models", 2018): V, a VAE that compresses each frame to
z; M, an MDN-RNN that predicts the next z from (z, a) (mdn_rnn.py), whose hidden state h remembers what one
frame cannot show (the car's speed, the turn it is in); C, a linear controller a = tanh(W [z, h, 1]) evolved
with CMA-ES (Hansen & Ostermeier 2001). Without M (`memory=None`) it is the paper's V + C: a = tanh(W [z, 1]).

    V:  z_t = mu(x_t)                               a frozen VAE encoder, the "latent" backbone
    M:  h_{t+1} = LSTM([z_t, a_t], h_t)             frozen, trained first on recorded episodes (MDN-RNN's NLL)
    C:  a_t = tanh(W [z_t, h_t, 1]),  W in R^{(latent + hidden + 1) x 2}   (steer, throttle)
    for each generation: P controllers ~ CMA-ES; each drives `tracks` training tracks from pixels;
        fitness = mean return; the strategy updates its mean and covariance from the ranking
    the controller kept: of each generation's best and the final mean, the one with the best mean return
        on `select_tracks` fresh training tracks (the paper, too, re-ran its best agents over many rollouts;
        one generation's best on a few tracks is the luckiest draw as often as the best driver)

The whole population drives at once: one car per (controller, track) in one `CarDriveVectorEnv`, one encoder
forward for every frame, one M step for every car and one `torch.bmm` for every controller; M's state is one
row per car, zero where an episode starts.

    controller = evolve_controller(encoder, WorldModelsConfig(generations=20)); controller.act(pixels)   # V + C
    controller = evolve_controller(encoder, WorldModelsConfig(level="normal", max_steps=600), memory=M)  # V + M + C
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from deap import base, cma

from sandbox.components.mdn_rnn import MDNRNN, State


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
    """episode step limit while evolving (a lap on normal takes the expert ~370 steps, a slower driver more)"""
    level: str = "easy"
    """the level it evolves on (training tracks)"""
    seed: int = 0


class _Fitness(base.Fitness):
    weights = (1.0,)  # maximise the return


class _Individual(list):
    """What `deap.cma.Strategy` generates and ranks: a weight vector with a fitness."""

    def __init__(self, values: Any) -> None:
        super().__init__(values)
        self.fitness = _Fitness()


class Controller:
    """C driving a batch of cars from pixels: a = tanh([z, h, 1] W), through a frozen encoder `encoder` (pixels ->
    z) and, with `memory`, M's hidden state h per car (stepped with (z_t, a_t) after every action, zeroed where
    an episode ends: `observe`). Without `memory`, V + C: a = tanh([z, 1] W).
    """

    def __init__(self, encoder: torch.nn.Module, weights: np.ndarray, level: str = "easy",
                 memory: MDNRNN | None = None) -> None:
        self.encoder, self.memory = encoder.eval(), memory.eval() if memory is not None else None
        weights = np.asarray(weights, np.float32)
        if weights.size != n_inputs(encoder, memory) * 2:
            raise ValueError(f"C reads {n_inputs(encoder, memory)} inputs ([z, h, 1]) into 2 actions: "
                             f"{n_inputs(encoder, memory) * 2} weights, got {weights.size}")
        self.weights = torch.as_tensor(weights).view(1, -1, 2)  # (1, inputs, 2)
        self.env_kwargs = {"level": level, "obs": "pixels", "continuous": True}
        self.state: State | None = None
        self.skip = torch.zeros(0, dtype=torch.bool)

    def reset(self, n: int) -> None:
        """Zero memory for n cars."""
        self.state = self.memory.initial_state(n) if self.memory is not None else None
        self.skip = torch.zeros(n, dtype=torch.bool)

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """One step of every car: its action, and M's state after (z_t, a_t)."""
        frames = torch.as_tensor(np.asarray(obs))
        if len(self.skip) != len(frames):
            self.reset(len(frames))
        actions, self.state = policy_step(self.encoder, self.memory, self.weights, frames, self.state)
        if self.state is not None and self.skip.any():  # that step was the env's autoreset: no transition
            self.state = _zero_where(self.state, self.skip)
        self.skip[:] = False
        return actions[0].numpy()

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Zero M's state of every car whose episode ended, and again after the next step (the env's autoreset
        step, whose observation is the old episode's last): each episode starts from a zero state, as M learnt."""
        done = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated), dtype=torch.bool)
        if self.state is not None and len(done) == len(self.skip):
            self.state = _zero_where(self.state, done)
            self.skip |= done


def _zero_where(state: State, done: torch.Tensor) -> State:
    keep = (~done).float().unsqueeze(1)  # (N, 1)
    return state[0] * keep, state[1] * keep


def policy_step(encoder: torch.nn.Module, memory: MDNRNN | None, weights: torch.Tensor, frames: torch.Tensor,
                state: State | None, live: np.ndarray | None = None) -> tuple[torch.Tensor, State | None]:
    """P controllers on their own cars, one step: a = tanh([z, h, 1] W), then M's next state.

    Args:
        encoder: V, pixels -> z.
        memory: M (None: V + C, the input is [z, 1]).
        weights: (P, latent + hidden + 1, 2), one controller per row.
        frames: (P * S, H, W, C), controller p's S cars at rows p * S ... p * S + S - 1.
        state: M's (h, c), each (P * S, hidden); None without M.
        live: (P * S,) cars still driving; the others' frames are not encoded (their z is 0, their actions
            unused), which saves the encoder's time, most of a step's.

    Returns:
        actions (P, S, 2) and M's state after (z_t, a_t) (None without M).
    """
    P = weights.shape[0]
    with torch.no_grad():
        if live is None or live.all():
            z = encoder(frames)  # (P * S, latent)
        else:
            rows = torch.as_tensor(np.flatnonzero(live))
            z = torch.zeros(len(frames), encoder.out_dim)
            if len(rows):
                z[rows] = encoder(frames[rows])
        parts = [z] if memory is None else [z, state[0]]  # C reads [z_t, h_t]
        x = torch.cat([*parts, torch.ones(len(z), 1)], dim=1).view(P, -1, weights.shape[1])  # (P, S, inputs)
        actions = torch.tanh(torch.bmm(x, weights))  # (P, S, 2)
        if memory is not None:
            state = memory.step(z, actions.reshape(len(z), 2), state)  # h_{t+1} from (z_t, a_t)
    return actions, state


def controller_actions(encoder: torch.nn.Module, weights: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """V + C: P controllers on their own cars, weights (P, latent + 1, 2), frames (P * S, H, W, C) -> (P, S, 2)."""
    return policy_step(encoder, None, weights, frames, None)[0]


def n_inputs(encoder: torch.nn.Module, memory: MDNRNN | None = None) -> int:
    """What C reads: z, M's h (with M) and 1 (its bias)."""
    return encoder.out_dim + (memory.config.hidden if memory is not None else 0) + 1


def population_returns(encoder: torch.nn.Module, population: np.ndarray, config: WorldModelsConfig,
                       seed: int, memory: MDNRNN | None = None) -> np.ndarray:
    """Mean return of each of P controllers (P, n_params) over `config.tracks` training tracks: (P,)."""
    from envs import CarDriveVectorEnv, track_seeds

    P, S = len(population), config.tracks
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.choice(track_seeds("train", config.level), S, replace=False)]
    env = CarDriveVectorEnv(P * S, level=config.level, obs="pixels", continuous=True, tracks=seeds,
                            max_episode_steps=config.max_steps)
    obs, _ = env.reset(seed=seed, options={"track_index": np.tile(np.arange(S), P)})
    weights = torch.as_tensor(population, dtype=torch.float32).view(P, -1, 2)  # (P, inputs, 2)
    state = memory.initial_state(P * S) if memory is not None else None
    total, done = np.zeros(P * S), np.zeros(P * S, bool)
    while not done.all():
        actions, state = policy_step(encoder, memory, weights, torch.as_tensor(obs), state, live=~done)
        obs, reward, terminated, truncated, _ = env.step(actions.reshape(P * S, 2).numpy())
        total += np.where(done, 0.0, reward)
        done |= terminated | truncated  # one episode per car: a car that ended is left out from here on
    env.close()
    return total.reshape(P, S).mean(axis=1)


def evolve_controller(encoder: torch.nn.Module, config: WorldModelsConfig,
                      log: Callable[[dict[str, Any]], None] | None = None,
                      memory: MDNRNN | None = None) -> tuple[Controller, dict[str, list]]:
    """CMA-ES over C's weights, V (and M, if given) frozen; the controller selected (see the module docstring),
    and the per-generation best and mean and the candidates' selection returns."""
    n_params = n_inputs(encoder, memory) * 2
    np.random.seed(config.seed)  # deap.cma samples from numpy's global generator
    strategy = cma.Strategy(centroid=[0.0] * n_params, sigma=config.sigma, lambda_=config.population)
    candidates, history = [], {"best": [], "mean": []}
    for generation in range(config.generations):
        population = strategy.generate(_Individual)
        returns = population_returns(encoder, np.asarray(population), config, config.seed * 1000 + generation,
                                     memory)
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
                                              config.seed * 1000 + config.generations, memory).tolist()
    best = candidates[int(np.argmax(history["selection"]))]
    return Controller(encoder, best, config.level, memory), history
