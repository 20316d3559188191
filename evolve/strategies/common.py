"""What every strategy is made of: the `Strategy` record the registry holds, the individual DEAP evolves, and
the toolbox parts that a strategy over plain weight vectors shares.

A strategy is data, not a subclass: a name, a help line, and plain functions the generation loop
(`evolve.run`) calls at fixed points:

    toolbox = base toolbox (evaluate, map, select) + strategy.operators(config, spaces, toolbox)
    population, state = strategy.start(config, toolbox, spaces)           # a fresh run
    state = strategy.restore_state(config, spaces, saved)                 # or a resumed one
    each generation:
        population, logbook = strategy.generation(config, toolbox, population, hof, stats, state)
        checkpoint["strategy_state"] = strategy.save_state(state)

`state` is whatever the strategy keeps between generations beyond the population, the hall of fame and the
logbook (CMA-ES's `deap.cma.Strategy`), an object `generation` updates in place; the defaults keep none.
Individuals are module-level classes (not `creator.create`), so they pickle in any process and no worker needs
DEAP's global `creator` state.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from deap import algorithms, base, tools

from evolve.genome import ArchGenes, make_driver, to_vector

Generation = Callable[[Any, base.Toolbox, list, tools.HallOfFame, tools.Statistics, Any], tuple[list, tools.Logbook]]


class FitnessMax(base.Fitness):
    """One objective, maximised: the mean episode return over the evaluation tracks (with the lap-time bonus)."""

    weights = (1.0,)


class Individual(list):
    """A genome: the network's parameters as a list of floats (DEAP's operators work on sequences), and for
    architecture evolution its `arch` genes (None otherwise)."""

    def __init__(self, values: Any = (), arch: ArchGenes | None = None):
        super().__init__(float(v) for v in values)
        self.fitness = FitnessMax()
        self.arch = arch


def payload(individual: Individual) -> tuple[str | None, Any]:
    """What a worker needs to evaluate an individual: its architecture key and its vector, or for an
    individual drawn around a centre (OpenAI-ES's `perturbation`) the seed and sign that rebuild it
    (anything with `vector()`: the worker calls it)."""
    key = individual.arch.key if individual.arch is not None else None
    perturbation = getattr(individual, "perturbation", None)
    return (key, perturbation) if perturbation is not None else (key, np.asarray(individual, dtype=np.float32))


def new_weights(spaces: tuple, backbone: str, options: dict[str, Any]) -> list[float]:
    """A fresh network's parameters (torch's default initialisation, seeded from Python's `random`)."""
    return to_vector(make_driver(*spaces, backbone, options, seed=random.getrandbits(31))).tolist()


# -- the defaults: a population of weight vectors of `config.backbone`, no state between generations --------
def weight_operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """Individuals of `config.backbone` with fresh weights, Gaussian mutation and two-point crossover."""
    def individual() -> Individual:
        return Individual(new_weights(spaces, config.backbone, config.backbone_options))

    toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=config.sigma, indpb=config.indpb)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("individual", individual)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)


def start_population(config: Any, toolbox: base.Toolbox, spaces: tuple) -> tuple[list[Individual], None]:
    """A fresh run: `config.population` new individuals from the toolbox, and no state."""
    return toolbox.population(n=config.population), None


def save_nothing(state: Any) -> None:
    """The checkpoint state of a strategy that keeps none."""
    return None


def restore_nothing(config: Any, spaces: tuple, saved: Any) -> None:
    """The state a strategy that keeps none resumes with."""
    return None


def check_nothing(config: Any) -> None:
    """A strategy whose settings `EvolveConfig` checks entirely."""


# -- fresh tracks (`EvolveConfig.fresh_tracks`): fitness measured on each generation's own tracks ------------
def evaluate_again(toolbox: base.Toolbox, individuals: list[Individual]) -> None:
    """Give `individuals` their fitness on the tracks the toolbox's evaluator drives now (one batch through
    `toolbox.map`)."""
    for individual, fitness in zip(individuals, toolbox.map(toolbox.evaluate, individuals), strict=True):
        individual.fitness.values = fitness


def refresh_hall_of_fame(toolbox: base.Toolbox, hof: tools.HallOfFame) -> None:
    """Re-evaluate the hall of fame on this generation's tracks and re-rank it: a champion stays one only by
    driving well again, and its fitness compares with this generation's offspring (elites come from here)."""
    members = list(hof)
    evaluate_again(toolbox, members)
    hof.clear()
    hof.update(members)


def fresh_selection(config: Any, toolbox: base.Toolbox) -> None:
    """With fresh tracks under eaSimple, a selection whose picks are all evaluated again (`select_again`)."""
    if config.fresh_tracks and config.algorithm == "simple":
        toolbox.register("select", select_again, tournsize=config.tournsize)


def select_again(individuals: list[Individual], k: int, tournsize: int) -> list[Individual]:
    """Tournament selection whose picks lose their fitness (copies; the parents keep theirs), so that every
    offspring, changed by crossover and mutation or not, is evaluated on this generation's tracks."""
    chosen = [copy.deepcopy(individual) for individual in tools.selTournament(individuals, k, tournsize)]
    for individual in chosen:
        del individual.fitness.values
    return chosen


# -- shared by the strategies that run eaMuPlusLambda (ga with algorithm="mu+lambda", arch) ---------------
def mu_plus_lambda(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
                   stats: tools.Statistics, state: Any) -> tuple[list[Individual], tools.Logbook]:
    """One generation of `eaMuPlusLambda`: mu = lambda = the population size, parents compete with offspring
    (with fresh tracks the parents are evaluated again first, on the tracks their offspring drive)."""
    if config.fresh_tracks:
        for individual in population:
            del individual.fitness.values  # eaMuPlusLambda evaluates every invalid parent before it varies them
    return algorithms.eaMuPlusLambda(population, toolbox, config.population, config.population, config.cxpb,
                                     config.mutpb, ngen=1, stats=stats, halloffame=hof, verbose=False)


def check_mu_plus_lambda(config: Any) -> None:
    """eaMuPlusLambda's `varOr` draws crossover, mutation or reproduction: one of them, so cxpb + mutpb <= 1."""
    if config.cxpb + config.mutpb > 1.0 + 1e-9:
        raise ValueError(f"cxpb + mutpb must be <= 1 for eaMuPlusLambda, got {config.cxpb + config.mutpb}")


@dataclass(frozen=True)
class Strategy:
    """An evolution strategy as the registry (`evolve.strategies.STRATEGIES`) holds it.

    Attributes:
        name: what `--strategy` and `EvolveConfig.strategy` call it (no spaces: run directories carry it).
        help: one line the CLI shows beside the name.
        generation: one generation, `(config, toolbox, population, hof, stats, state) -> (population, logbook)`:
            DEAP's algorithm for ngen=1 over the toolbox (the loop checkpoints between generations).
        operators: registers `individual`, `population`, `mate`, `mutate` (whatever `generation` uses) on the
            toolbox, which already holds `evaluate`, `map` (the batched seam) and `select` (tournament).
        start: a fresh run's `(population, state)`, called right after the seeds are set; `generation`
            updates the state in place (it returns only the population and the logbook).
        save_state: the state as a checkpoint holds it (tensors, numbers, lists, dicts: `weights_only`), or None.
        restore_state: `(config, spaces, saved) -> state`, the state `save_state` saved, for `--resume`.
        check: raises ValueError for settings this strategy cannot run (after `EvolveConfig`'s own checks).
    """

    name: str
    help: str
    generation: Generation
    operators: Callable[[Any, tuple, base.Toolbox], None] = weight_operators
    start: Callable[[Any, base.Toolbox, tuple], tuple[list, Any]] = start_population
    save_state: Callable[[Any], Any] = save_nothing
    restore_state: Callable[[Any, tuple, Any], Any] = restore_nothing
    check: Callable[[Any], None] = check_nothing

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"a strategy's name is one word, got {self.name!r}")
        if not self.help or "\n" in self.help:
            raise ValueError(f"strategy {self.name!r} needs a one-line help, got {self.help!r}")
