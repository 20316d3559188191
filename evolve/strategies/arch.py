"""`arch`: architecture evolution: genomes carry `ArchGenes` (backbone family, widths, activation) beside their
weights, and mutation may change them (in the spirit of neuroevolution of topologies, Stanley & Miikkulainen
2002, without NEAT's speciation). A generation is DEAP's `eaMuPlusLambda`:

    offspring = varOr(parents): crossover between parents of one architecture, or mutation: with arch_mutpb a
                new architecture (and fresh weights for it), else Gaussian noise on the weights
    evaluate the offspring (individuals of one architecture as one batch)
    the next population = the best `population` of parents + offspring

    run_evolution({"strategy": "arch", "arch_families": ("mlp", "attention")}, "runs/arch-0")
"""

from __future__ import annotations

import random
from typing import Any

from deap import base, tools

from evolve.genome import mutate_arch, random_arch
from evolve.strategies.common import Individual, Strategy, check_mu_plus_lambda, mu_plus_lambda, new_weights


def operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """Individuals of random architectures among `config.arch_families`, with their operators."""
    families = tuple(config.arch_families)

    def individual() -> Individual:
        arch = random_arch(random, families)
        return Individual(new_weights(spaces, arch.family, arch.backbone_options()), arch)

    toolbox.register("mutate", mutate, spaces=spaces, families=families, arch_mutpb=config.arch_mutpb,
                     sigma=config.sigma, indpb=config.indpb)
    toolbox.register("mate", mate_same_arch)
    toolbox.register("individual", individual)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)


def mutate(individual: Individual, spaces: tuple, families: tuple[str, ...], arch_mutpb: float, sigma: float,
           indpb: float) -> tuple[Individual]:
    """Change an architecture gene (with fresh weights for the new architecture), else perturb the weights."""
    if random.random() < arch_mutpb:
        individual.arch = mutate_arch(individual.arch, random, families)
        individual[:] = new_weights(spaces, individual.arch.family, individual.arch.backbone_options())
        return (individual,)
    return tools.mutGaussian(individual, 0.0, sigma, indpb)


def mate_same_arch(a: Individual, b: Individual) -> tuple[Individual, Individual]:
    """Two-point crossover between parents of one architecture; parents of different ones pass unchanged."""
    if a.arch == b.arch and len(a) > 2:
        return tools.cxTwoPoint(a, b)
    return a, b


ARCH = Strategy(
    name="arch",
    help="architecture evolution: mutation may change the backbone's family, widths, activation (eaMuPlusLambda)",
    generation=mu_plus_lambda,
    operators=operators,
    check=check_mu_plus_lambda,
)
