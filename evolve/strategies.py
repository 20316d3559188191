"""The strategies, as DEAP toolboxes and one generation of DEAP's own algorithms.

    ga    genetic algorithm: tournament selection, two-point crossover, Gaussian mutation, elitism from the
          hall of fame; `eaSimple` (or `eaMuPlusLambda` with algorithm="mu+lambda")
    cma   CMA-ES (`deap.cma.Strategy`, Hansen & Ostermeier 2001) through `eaGenerateUpdate`
    arch  architecture evolution: genomes carry `ArchGenes` that mutation may change (`eaMuPlusLambda`);
          individuals of equal architecture are evaluated as one batch

Each generation calls DEAP's algorithm for ngen=1 on the toolbox, so the loop can checkpoint between
generations. Individuals are module-level classes (not `creator.create`), so they pickle in any process and no
worker needs DEAP's global `creator` state; workers receive plain `(arch key, vector)` pairs anyway.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from deap import algorithms, base, cma, tools

from evolve.genome import ArchGenes, make_driver, mutate_arch, random_arch, to_vector

STRATEGIES = ("ga", "cma", "arch")
CMA_MAX_PARAMS = 3000  # CMA-ES keeps an n x n covariance and decomposes it every generation


class FitnessMax(base.Fitness):
    """One objective, maximised: the mean episode return over the evaluation tracks."""

    weights = (1.0,)


class Individual(list):
    """A genome: the network's parameters as a list of floats (DEAP's operators work on sequences), and for
    architecture evolution its `arch` genes (None otherwise)."""

    def __init__(self, values: Any = (), arch: ArchGenes | None = None):
        super().__init__(float(v) for v in values)
        self.fitness = FitnessMax()
        self.arch = arch


def payload(individual: Individual) -> tuple[str | None, np.ndarray]:
    """What a worker needs to evaluate an individual: its architecture key and its vector."""
    return (individual.arch.key if individual.arch is not None else None,
            np.asarray(individual, dtype=np.float32))


def new_weights(spaces: tuple, backbone: str, options: dict[str, Any]) -> list[float]:
    """A fresh network's parameters (torch's default initialisation, seeded from Python's `random`)."""
    return to_vector(make_driver(*spaces, backbone, options, seed=random.getrandbits(31))).tolist()


def _mutate_arch(individual: Individual, spaces: tuple, families: tuple[str, ...], arch_mutpb: float,
                 sigma: float, indpb: float) -> tuple[Individual]:
    """Change an architecture gene (with fresh weights for the new architecture), else perturb the weights."""
    if random.random() < arch_mutpb:
        individual.arch = mutate_arch(individual.arch, random, families)
        individual[:] = new_weights(spaces, individual.arch.family, individual.arch.backbone_options())
        return (individual,)
    return tools.mutGaussian(individual, 0.0, sigma, indpb)


def _mate_same_arch(a: Individual, b: Individual) -> tuple[Individual, Individual]:
    """Two-point crossover between parents of one architecture; parents of different ones pass unchanged."""
    if a.arch == b.arch and len(a) > 2:
        return tools.cxTwoPoint(a, b)
    return a, b


def make_toolbox(config: Any, spaces: tuple, evaluate: Any, map_fn: Any) -> base.Toolbox:
    """The DEAP toolbox of `config.strategy`, with `evaluate` (a batch evaluator) and `map_fn` (its map)."""
    toolbox = base.Toolbox()
    toolbox.register("evaluate", evaluate)
    toolbox.register("map", map_fn)
    toolbox.register("select", tools.selTournament, tournsize=config.tournsize)
    if config.strategy == "arch":
        families = tuple(config.arch_families)

        def individual() -> Individual:
            arch = random_arch(random, families)
            return Individual(new_weights(spaces, arch.family, arch.backbone_options()), arch)

        toolbox.register("mutate", _mutate_arch, spaces=spaces, families=families, arch_mutpb=config.arch_mutpb,
                         sigma=config.sigma, indpb=config.indpb)
        toolbox.register("mate", _mate_same_arch)
    else:
        def individual() -> Individual:
            return Individual(new_weights(spaces, config.backbone, config.backbone_options))

        toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=config.sigma, indpb=config.indpb)
        toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("individual", individual)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    return toolbox


def make_cma(config: Any, spaces: tuple) -> cma.Strategy:
    """CMA-ES around a freshly initialised network, lambda = the population size."""
    centroid = new_weights(spaces, config.backbone, config.backbone_options)
    if len(centroid) > CMA_MAX_PARAMS:
        raise ValueError(f"CMA-ES keeps an n x n covariance; this network has {len(centroid)} parameters (at most "
                         f"{CMA_MAX_PARAMS}): choose a smaller backbone, e.g. --widths 16")
    return cma.Strategy(centroid=centroid, sigma=config.cma_sigma, lambda_=config.population)


def one_generation(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
                   stats: tools.Statistics, strategy: cma.Strategy | None) -> tuple[list[Individual], Any]:
    """Run DEAP's algorithm of the strategy for one generation; return the new population and its logbook."""
    if config.strategy == "cma":
        toolbox.register("generate", strategy.generate, Individual)
        toolbox.register("update", strategy.update)
        return algorithms.eaGenerateUpdate(toolbox, ngen=1, halloffame=hof, stats=stats, verbose=False)
    if config.strategy == "ga" and config.algorithm == "simple":
        offspring, logbook = algorithms.eaSimple(population, toolbox, config.cxpb, config.mutpb, ngen=1, stats=stats,
                                                 halloffame=hof, verbose=False)
        return _with_elites(offspring, hof, config.elites), logbook
    return algorithms.eaMuPlusLambda(population, toolbox, config.population, config.population, config.cxpb,
                                     config.mutpb, ngen=1, stats=stats, halloffame=hof, verbose=False)


def _with_elites(offspring: list[Individual], hof: tools.HallOfFame, elites: int) -> list[Individual]:
    """Elitism: the hall of fame's best replace the worst offspring (eaSimple keeps no parent by itself)."""
    if elites <= 0 or len(hof) == 0:
        return offspring
    worst = sorted(range(len(offspring)), key=lambda i: offspring[i].fitness.values[0])[:elites]
    for i, champion in zip(worst, hof[:elites], strict=False):
        offspring[i] = _copy(champion)
    return offspring


def _copy(individual: Individual) -> Individual:
    twin = Individual(individual, individual.arch)
    twin.fitness.values = individual.fitness.values
    return twin
