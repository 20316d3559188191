"""`arch`: architecture evolution: genomes carry `ArchGenes` (backbone family, widths, activation) beside their
weights, and mutation may change them (in the spirit of neuroevolution of topologies, Stanley & Miikkulainen
2002, without NEAT's speciation). The first population has the run's backbone architecture (`start_arch`;
arch_start="random" draws each from the menu instead). A generation is the GA's (`ga.generation`: eaSimple
with elites, or with algorithm="mu+lambda" eaMuPlusLambda), over these operators:

    crossover between parents of one architecture (parents of two pass unchanged)
    mutation: with arch_mutpb a new architecture, its weights the parent's wherever a parameter keeps its name
              and shape (`inherit`: an activation change keeps them all, a width change the layers before it)
              and fresh elsewhere, else Gaussian noise on the weights
    evaluate the offspring: every architecture in one batch where all are MLPs (evolve/compiled.py)

    run_evolution({"strategy": "arch", "arch_families": ("mlp", "attention")}, "runs/arch-0")
"""

from __future__ import annotations

import random
from typing import Any

import torch
from deap import base, tools

from evolve.genome import ArchGenes, from_vector, make_driver, mutate_arch, random_arch, to_vector
from evolve.strategies import ga
from evolve.strategies.common import Individual, Strategy, fresh_selection, new_weights


def operators(config: Any, spaces: tuple, toolbox: base.Toolbox) -> None:
    """Individuals of the run's backbone architecture (`arch_start="backbone"`) or of random ones among
    `config.arch_families` ("random"), with their operators."""
    families = tuple(config.arch_families)

    def individual() -> Individual:
        arch = start_arch(config) if config.arch_start == "backbone" else random_arch(random, families)
        return Individual(new_weights(spaces, arch.family, arch.backbone_options()), arch)

    toolbox.register("mutate", mutate, spaces=spaces, families=families, arch_mutpb=config.arch_mutpb,
                     sigma=config.sigma, indpb=config.indpb)
    toolbox.register("mate", mate_same_arch)
    toolbox.register("individual", individual)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    fresh_selection(config, toolbox)


def start_arch(config: Any) -> ArchGenes:
    """The first population's architecture: the run's MLP (its widths and activation) where mlp is among the
    families, else the first family's default genes. Measured on hard (10 minutes, fresh tracks): random first
    architectures (step and abs activations, four layers deep among them) reached 50% clean laps, a start
    from the GA's network 76-86%, beside the GA's 82-87%."""
    options = config.backbone_options if config.backbone == "mlp" else {}
    family = "mlp" if "mlp" in config.arch_families else config.arch_families[0]
    return ArchGenes(family, tuple(options.get("widths", (16,))), options.get("activation", "tanh"))


def mutate(individual: Individual, spaces: tuple, families: tuple[str, ...], arch_mutpb: float, sigma: float,
           indpb: float) -> tuple[Individual]:
    """Change an architecture gene (the weights inherited where they still fit), else perturb the weights."""
    if random.random() < arch_mutpb:
        old = individual.arch
        individual.arch = mutate_arch(old, random, families)
        individual[:] = inherit(spaces, old, list(individual), individual.arch)
        return (individual,)
    return tools.mutGaussian(individual, 0.0, sigma, indpb)


def inherit(spaces: tuple, old: ArchGenes, vector: list[float], new: ArchGenes) -> list[float]:
    """Weights for architecture `new`: fresh ones (`new_weights`), then every parameter whose name and shape
    the parent's network (`old` with `vector`) has too copied from it, so a mutation keeps what the parent
    learned wherever it still fits rather than restarting the whole network."""
    fresh = new_weights(spaces, new.family, new.backbone_options())
    # throwaway networks to read the vectors by parameter name (seeded: the run's generators are not touched)
    parent = from_vector(make_driver(*spaces, old.family, old.backbone_options(), seed=0), vector)
    child = from_vector(make_driver(*spaces, new.family, new.backbone_options(), seed=0), fresh)
    kept = dict(parent.named_parameters())
    with torch.no_grad():
        for name, param in child.named_parameters():
            if name in kept and kept[name].shape == param.shape:
                param.copy_(kept[name])
    return to_vector(child).tolist()


def mate_same_arch(a: Individual, b: Individual) -> tuple[Individual, Individual]:
    """Two-point crossover between parents of one architecture; parents of different ones pass unchanged."""
    if a.arch == b.arch and len(a) > 2:
        return tools.cxTwoPoint(a, b)
    return a, b


ARCH = Strategy(
    name="arch",
    help="architecture evolution: mutation may change the backbone's family, widths, activation (the GA's loop)",
    generation=ga.generation,
    operators=operators,
    check=ga.check,
)
