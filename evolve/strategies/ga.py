"""`ga`: a genetic algorithm over the weights of one network (Holland 1975; DEAP's `eaSimple`).

    select by tournament (tournsize) -> two-point crossover (cxpb) -> Gaussian mutation (mutpb, sigma, indpb)
    -> evaluate the changed offspring as one batch -> the hall of fame's best replace the worst offspring

With algorithm="mu+lambda" a generation is `eaMuPlusLambda` instead: parents compete with their offspring, so
no elites are needed.

    run_evolution({"strategy": "ga", "population": 256, "generations": 30}, "runs/ga-0")
"""

from __future__ import annotations

from typing import Any

from deap import algorithms, base, tools

from evolve.strategies.common import Individual, Strategy, check_mu_plus_lambda, mu_plus_lambda


def generation(config: Any, toolbox: base.Toolbox, population: list[Individual], hof: tools.HallOfFame,
               stats: tools.Statistics, state: None) -> tuple[list[Individual], tools.Logbook]:
    """One generation of `eaSimple` with elitism (or of `eaMuPlusLambda`); the new population and its logbook."""
    if config.algorithm != "simple":
        return mu_plus_lambda(config, toolbox, population, hof, stats, state)
    offspring, logbook = algorithms.eaSimple(population, toolbox, config.cxpb, config.mutpb, ngen=1, stats=stats,
                                             halloffame=hof, verbose=False)
    return with_elites(offspring, hof, config.elites), logbook


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
    check=check,
)
