"""`ga`: a genetic algorithm over the weights of one network (Holland 1975; DEAP's `eaSimple`).

    select by tournament (tournsize) -> two-point crossover (cxpb) -> Gaussian mutation (mutpb, sigma, indpb)
    -> evaluate the changed offspring as one batch -> the hall of fame's best replace the worst offspring

With fresh tracks (`fresh_tracks`) every offspring is evaluated on the generation's tracks (an unchanged copy
of a parent too) and the elites come from the hall of fame as re-evaluated there (`evolve.run`).

With algorithm="mu+lambda" a generation is `eaMuPlusLambda` instead: parents compete with their offspring, so
no elites are needed.

    run_evolution({"strategy": "ga", "population": 256, "generations": 30}, "runs/ga-0")
"""

from __future__ import annotations

from typing import Any

from deap import algorithms, base, tools

from evolve.strategies.common import (
    Individual,
    Strategy,
    check_mu_plus_lambda,
    fresh_selection,
    mu_plus_lambda,
    weight_operators,
)


def generation(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
               stats: tools.Statistics, state: None) -> tuple[list[Individual], tools.Logbook]:
    """One generation of `eaSimple` with elitism (or of `eaMuPlusLambda`); the new population and its logbook."""
    if config.algorithm != "simple":
        return mu_plus_lambda(config, toolbox, population, hof, stats, state)
    # fresh tracks: the parents' fitness is from the last generation's tracks, so they stay out of the hall of
    # fame, which takes the offspring (all evaluated on this generation's) once eaSimple is done
    offspring, logbook = algorithms.eaSimple(population, toolbox, config.cxpb, config.mutpb, ngen=1, stats=stats,
                                             halloffame=None if config.fresh_tracks else hof, verbose=False)
    if config.fresh_tracks:
        hof.update(offspring)
    return with_elites(offspring, hof, config.elites), logbook


def operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """The weight operators; with fresh tracks (eaSimple) a selection whose picks are all evaluated again."""
    weight_operators(config, spaces, toolbox)
    fresh_selection(config, toolbox)


def with_elites(offspring: list[Individual], hof: tools.HallOfFame, elites: int) -> list[Individual]:
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


def check(config: Any) -> None:
    """Only eaMuPlusLambda limits cxpb + mutpb (eaSimple applies crossover and mutation independently)."""
    if config.algorithm == "mu+lambda":
        check_mu_plus_lambda(config)


GA = Strategy(
    name="ga",
    help="genetic algorithm: tournament selection, two-point crossover, Gaussian mutation, elites (eaSimple)",
    generation=generation,
    operators=operators,
    check=check,
)
