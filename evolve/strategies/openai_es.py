"""`openai-es`: the natural evolution strategy of Salimans, Ho, Chen, Sidor & Sutskever (2017), "Evolution
Strategies as a Scalable Alternative to Reinforcement Learning", arXiv:1703.03864 (their Algorithm 2 with
mirrored sampling, centred-rank fitness shaping, weight decay and Adam).

    theta = a freshly initialised network's weights;  Adam moments m = v = 0;  t = 0
    each generation t:
        seeds s_1..s_k from (run seed, t);  eps_i = N(0, I) drawn from s_i alone        k = population // 2
        individuals theta + sigma * eps_i and theta - sigma * eps_i (+ theta itself when population is odd)
        F = returns, evaluated as one batch through toolbox.map (--workers, --ray unchanged)
        R = centred ranks of F over the 2k perturbations, in [-0.5, 0.5]                 (fitness shaping)
        g = 1 / (2k sigma) * sum_i (R_i+ - R_i-) eps_i  -  weight_decay * theta           (ascent direction)
        t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        theta += lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + 1e-8)                  (Adam, ascending)

Why it scales: a perturbation is regenerable from its seed, so a cluster's workers need only theta once, then
exchange (seed, return) pairs rather than vectors. Each individual here carries its `perturbation` (the
generation's shared `Center`, its seed and sign): through the one `toolbox.map` seam a worker receives, per
shard, theta once and then a seed and a sign per individual, rebuilds each vector (`Perturbation.vector`)
and sends back one return each, and the fitnesses equal serial ones on any map. The state between
generations is theta, the Adam moments and t, saved in the run's checkpoint; the noise draws from no global
generator, so a resumed run samples exactly what the uninterrupted run samples.

    run_evolution({"strategy": "openai-es", "population": 64, "generations": 10}, "runs/es-0")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from deap import base, tools

from evolve.strategies.common import Individual, Strategy, evaluate_again, new_weights

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass
class EsState:
    """The search distribution's mean and its Adam optimiser; `generation` updates it in place."""

    theta: np.ndarray  # (n_params,) float64
    m: np.ndarray  # Adam's first moment, (n_params,)
    v: np.ndarray  # Adam's second moment, (n_params,)
    t: int = 0  # Adam steps taken = generations done


# -- the maths ----------------------------------------------------------------------------------------------
def noise_seeds(run_seed: int, t: int, pairs: int) -> list[int]:
    """The noise seeds of generation `t`: one per antithetic pair, from the run's seed and `t` only."""
    return [int(s) for s in np.random.SeedSequence([run_seed % 2**32, t]).generate_state(pairs)]


@dataclass(frozen=True)
class Center:
    """A generation's theta and sigma, shared by its perturbations: pickled once per shard a worker receives."""

    theta: np.ndarray
    sigma: float


@dataclass(frozen=True)
class Perturbation:
    """theta + sign * sigma * noise(seed) (the mean itself for sign 0), as a worker receives it: a seed and a
    sign, the centre sent once for the whole shard (pickling keeps one copy of a shared object), not a vector
    per individual."""

    center: Center
    seed: int | None
    sign: int

    def vector(self) -> np.ndarray:
        """The individual's parameters, rebuilt from the seed exactly as `sample` made them."""
        if self.seed is None:
            return self.center.theta.astype(np.float32)
        eps = noise(self.seed, len(self.center.theta))
        return (self.center.theta + self.sign * self.center.sigma * eps).astype(np.float32)


def noise(seed: int, n_params: int) -> np.ndarray:
    """eps ~ N(0, I) of one perturbation, rebuilt from its seed alone (what a worker would do)."""
    return np.random.default_rng(seed).standard_normal(n_params)


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Salimans et al.'s fitness shaping: ranks scaled to [-0.5, 0.5] (the worst -0.5, the best +0.5); equal
    fitnesses share their mean rank, so the order among them changes nothing."""
    fitness = np.asarray(fitness, dtype=np.float64)
    ranks = np.empty(len(fitness))
    ranks[np.argsort(fitness, kind="stable")] = np.arange(len(fitness))
    _, tie, counts = np.unique(fitness, return_inverse=True, return_counts=True)
    ranks = (np.bincount(tie, weights=ranks) / counts)[tie]
    return ranks / max(len(fitness) - 1, 1) - 0.5


def es_gradient(eps: np.ndarray, shaped_plus: np.ndarray, shaped_minus: np.ndarray, sigma: float) -> np.ndarray:
    """g = 1 / (n sigma) sum_i F_i eps_i over n = 2k mirrored perturbations (eps: (k, n_params)), the
    Monte-Carlo gradient of E[F(theta + sigma eps)]; mirrored, each pair contributes (F_i+ - F_i-) eps_i."""
    return (shaped_plus - shaped_minus) @ eps / (2 * len(eps) * sigma)


def adam_ascent(state: EsState, gradient: np.ndarray, learning_rate: float) -> None:
    """One Adam step up `gradient` (Kingma & Ba 2015), as Salimans et al.'s code applies it; in place."""
    beta1, beta2 = ADAM_BETAS
    state.t += 1
    state.m = beta1 * state.m + (1 - beta1) * gradient
    state.v = beta2 * state.v + (1 - beta2) * gradient**2
    step = learning_rate * np.sqrt(1 - beta2**state.t) / (1 - beta1**state.t)
    state.theta = state.theta + step * state.m / (np.sqrt(state.v) + ADAM_EPS)


# -- the strategy ---------------------------------------------------------------------------------------------
def sample(config: Any, state: EsState) -> tuple[list[Individual], np.ndarray]:
    """This generation's individuals (+eps_1, -eps_1, +eps_2, ..., then the mean if the population is odd),
    each carrying its noise seed and sign, and the noise (k, n_params)."""
    seeds = noise_seeds(config.seed, state.t, config.population // 2)
    eps = np.stack([noise(seed, len(state.theta)) for seed in seeds])  # (k, n_params)
    center = Center(state.theta.copy(), config.es_sigma)
    population = []
    for seed, e in zip(seeds, eps, strict=True):
        for sign in (1, -1):
            population.append(_drawn(state.theta + sign * config.es_sigma * e, Perturbation(center, seed, sign)))
    if config.population % 2:
        population.append(_drawn(state.theta, Perturbation(center, None, 0)))
    return population, eps


def _drawn(vector: np.ndarray, perturbation: Perturbation) -> Individual:
    """An individual of this generation: its vector (for the hall of fame and the checkpoint) and what a
    worker needs to rebuild it (`evolve.strategies.payload` sends the perturbation, not the vector)."""
    individual = Individual(vector)
    individual.perturbation = perturbation
    individual.noise_seed, individual.sign = perturbation.seed, perturbation.sign
    return individual


def generation(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
               stats: tools.Statistics, state: EsState) -> tuple[list[Individual], tools.Logbook]:
    """Sample around theta, evaluate as one batch, step theta up the shaped gradient estimate."""
    population, eps = sample(config, state)
    evaluate_again(toolbox, population)
    hof.update(population)
    logbook = tools.Logbook()
    logbook.header = ["gen", "nevals", *stats.fields]
    logbook.record(gen=state.t + 1, nevals=len(population), **stats.compile(population))
    # update: only the 2k perturbations shape the gradient (the mean, if any, is evaluated for the hall of fame)
    shaped = centered_ranks([ind.fitness.values[0] for ind in population[:2 * len(eps)]])
    gradient = es_gradient(eps, shaped[0::2], shaped[1::2], config.es_sigma)
    adam_ascent(state, gradient - config.es_weight_decay * state.theta, config.es_learning_rate)
    return population, logbook


def start(config: Any, toolbox: base.Toolbox, spaces: tuple) -> tuple[list[Individual], EsState]:
    """No population yet (each generation samples its own), and theta = a fresh network's weights."""
    theta = np.asarray(new_weights(spaces, config.backbone, config.backbone_options), dtype=np.float64)
    return [], EsState(theta, np.zeros_like(theta), np.zeros_like(theta))


def no_operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """OpenAI-ES samples its individuals itself."""


def save_state(state: EsState) -> dict[str, Any]:
    """theta and the Adam moments as float64 tensors (exact), and t."""
    return {"theta": torch.from_numpy(state.theta.copy()), "m": torch.from_numpy(state.m.copy()),
            "v": torch.from_numpy(state.v.copy()), "t": int(state.t)}


def restore_state(config: Any, spaces: tuple, saved: dict[str, Any]) -> EsState:
    return EsState(saved["theta"].numpy().copy(), saved["m"].numpy().copy(), saved["v"].numpy().copy(),
                   int(saved["t"]))


OPENAI_ES = Strategy(
    name="openai-es",
    help="OpenAI-ES (Salimans et al. 2017): population // 2 mirrored pairs around one network (+ the mean if "
         "odd), centred ranks, Adam",
    generation=generation,
    operators=no_operators,
    start=start,
    save_state=save_state,
    restore_state=restore_state,
)
