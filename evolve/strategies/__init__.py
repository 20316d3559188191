"""The evolution strategies, one file each, and the registry that names them.

    ga         genetic algorithm: eaSimple + elites from the hall of fame (or eaMuPlusLambda)   `ga.py`
    cma        CMA-ES (Hansen & Ostermeier 2001) through eaGenerateUpdate                      `cma.py`
    arch       architecture evolution: mutation may change the backbone (the GA's loop)          `arch.py`
    openai-es  OpenAI-ES (Salimans et al. 2017): mirrored noise from seeds, centred ranks, Adam `openai_es.py`

Each is a `Strategy` (`common.py`): a name, a help line, and plain functions over a DEAP toolbox, the
generation step among them (DEAP's own algorithm for one generation, so the loop checkpoints in between).
Adding a strategy is one file that defines its `Strategy` and one entry in `STRATEGIES` below; code outside
the package calls `register_strategy`. `evolve.run`, `evolve.checkpoint` and `evolve.config` reach a strategy
only through `STRATEGIES[config.strategy]`.

    from evolve.strategies import Strategy, register_strategy
    register_strategy(Strategy(name="random", help="random search", generation=my_generation))
"""

from __future__ import annotations

from typing import Any

from deap import base, tools

from evolve.strategies.arch import ARCH
from evolve.strategies.cma import CMA
from evolve.strategies.common import FitnessMax, Individual, Strategy, new_weights, payload, refresh_hall_of_fame
from evolve.strategies.ga import GA
from evolve.strategies.openai_es import OPENAI_ES

STRATEGIES: dict[str, Strategy] = {strategy.name: strategy for strategy in (GA, CMA, ARCH, OPENAI_ES)}
"""Every strategy by name, in the order `--strategy` lists them."""


def register_strategy(strategy: Strategy, replace: bool = False) -> Strategy:
    """Add `strategy` to `STRATEGIES` (so `EvolveConfig` and `run_evolution` accept its name); return it.

    Raises:
        TypeError: `strategy` is not a `Strategy`.
        ValueError: a strategy of that name is registered already and `replace` is False.
    """
    if not isinstance(strategy, Strategy):
        raise TypeError(f"register_strategy takes a Strategy, got {type(strategy).__name__}")
    if strategy.name in STRATEGIES and not replace:
        raise ValueError(f"a strategy named {strategy.name!r} is registered already (replace=True replaces it)")
    STRATEGIES[strategy.name] = strategy
    return strategy


def make_toolbox(config: Any, spaces: tuple, evaluate: Any, map_fn: Any) -> base.Toolbox:
    """The DEAP toolbox of `config.strategy`, with `evaluate` (a batch evaluator) and `map_fn` (its map)."""
    toolbox = base.Toolbox()
    toolbox.register("evaluate", evaluate)
    toolbox.register("map", map_fn)  # the one seam for parallelism: it receives the whole list of individuals
    toolbox.register("select", tools.selTournament, tournsize=config.tournsize)
    STRATEGIES[config.strategy].operators(config, spaces, toolbox)
    return toolbox


__all__ = ["STRATEGIES", "FitnessMax", "Individual", "Strategy", "make_toolbox", "new_weights", "payload",
           "refresh_hall_of_fame", "register_strategy"]
