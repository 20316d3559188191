"""`cma`: CMA-ES, the covariance matrix adaptation evolution strategy (Hansen & Ostermeier 2001), through
DEAP's `deap.cma.Strategy` and `eaGenerateUpdate`.

    centroid = a freshly initialised network's weights; C = I; sigma = cma_sigma
    each generation: sample lambda (= population) individuals ~ N(centroid, sigma^2 C), evaluate them as one
    batch, move the centroid towards the best mu, adapt C and sigma along the evolution paths

Its state between generations is the whole `cma.Strategy` (centroid, sigma, paths, C and its decomposition),
which the checkpoint saves as tensors; sampling draws from numpy's global generator, which the checkpoint
saves too. CMA-ES keeps an n x n covariance, so it suits small networks (a few thousand weights).

    run_evolution({"strategy": "cma", "population": 64, "backbone_options": {"widths": (16,)}}, "runs/cma-0")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from deap import algorithms, base, cma, tools

from evolve.strategies.common import Individual, Strategy, new_weights
from sandbox.runs.checkpoints import to_tensors

CMA_MAX_PARAMS = 3000  # CMA-ES keeps an n x n covariance and decomposes it every generation
_STATE_FIELDS = ("centroid", "sigma", "pc", "ps", "C", "B", "diagD", "BD", "cond", "update_count")


def make_cma(config: Any, spaces: tuple) -> cma.Strategy:
    """CMA-ES around a freshly initialised network, lambda = the population size."""
    centroid = new_weights(spaces, config.backbone, config.backbone_options)
    if len(centroid) > CMA_MAX_PARAMS:
        raise ValueError(f"CMA-ES keeps an n x n covariance; this network has {len(centroid)} parameters (at most "
                         f"{CMA_MAX_PARAMS}): choose a smaller backbone, e.g. --widths 16")
    return cma.Strategy(centroid=centroid, sigma=config.cma_sigma, lambda_=config.population)


def start(config: Any, toolbox: base.Toolbox, spaces: tuple) -> tuple[list[Individual], cma.Strategy]:
    """No population yet (the first generation samples it), and the strategy around a fresh network."""
    return [], make_cma(config, spaces)


def generation(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
               stats: tools.Statistics, state: cma.Strategy) -> tuple[list[Individual], tools.Logbook]:
    """One generation of `eaGenerateUpdate`: sample, evaluate, update the distribution."""
    toolbox.register("generate", state.generate, Individual)
    toolbox.register("update", state.update)
    return algorithms.eaGenerateUpdate(toolbox, ngen=1, halloffame=hof, stats=stats, verbose=False)


def no_operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """CMA-ES samples its individuals itself (`generation` registers generate and update)."""


def save_state(state: cma.Strategy) -> dict[str, Any]:
    """The strategy's fields as tensors and numbers (a `weights_only` checkpoint holds no numpy)."""
    values = {name: getattr(state, name) for name in _STATE_FIELDS}
    return to_tensors({name: value.item() if isinstance(value, np.generic) else value
                       for name, value in values.items()})


def restore_state(config: Any, spaces: tuple, saved: dict[str, Any]) -> cma.Strategy:
    """A strategy built as `start` builds it (its constants: weights, mu, damping), then its saved fields."""
    state = make_cma(config, spaces)
    for name in _STATE_FIELDS:
        value = saved[name]
        setattr(state, name, value.numpy().copy() if isinstance(value, torch.Tensor) else value)
    return state


CMA = Strategy(
    name="cma",
    help="CMA-ES (Hansen & Ostermeier 2001) around one network; --population is lambda; small networks only",
    generation=generation,
    operators=no_operators,
    start=start,
    save_state=save_state,
    restore_state=restore_state,
)
