"""DEAP's toolbox.map seam: serial, a local process pool and a real Ray cluster give identical fitnesses, and
DEAP's own algorithms run unchanged over it."""

import dataclasses
import random

import numpy as np
import pytest
from deap import algorithms, base, tools

from evolve.distributed import BatchFitness, BatchMap
from evolve.evaluate import EvalSpec, spaces_of
from evolve.genome import make_driver, to_vector
from evolve.strategies import Individual

SPEC = EvalSpec(level="normal", backbone_options={"widths": (8,)}, episodes=2, max_steps=80)


def _population(count=7):
    spaces = spaces_of(SPEC)
    return [Individual(to_vector(make_driver(*spaces, "mlp", {"widths": (8,)}, seed=i)) * (1 + i % 3))
            for i in range(count)]


@pytest.fixture(scope="module")
def serial_fitness():
    return BatchMap()(BatchFitness(SPEC, seed=0), _population())


def test_serial_map_is_one_batch_and_equals_one_at_a_time(serial_fitness):
    fitness = BatchFitness(SPEC, seed=0)
    one_at_a_time = [fitness(ind) for ind in _population()]
    assert serial_fitness == one_at_a_time
    assert len(set(serial_fitness)) > 1


def test_process_pool_gives_identical_fitness(serial_fitness):
    pool = BatchMap(workers=2)
    fresh = BatchFitness(dataclasses.replace(SPEC, fresh_tracks=True), seed=0)
    fresh.generation = 3  # the workers drive generation 3's tracks, as this process would
    try:
        assert pool(BatchFitness(SPEC, seed=0), _population()) == serial_fitness
        assert pool(fresh, _population()) == BatchMap()(fresh, _population()) != serial_fitness
    finally:
        pool.close()


def test_ray_cluster_gives_identical_fitness(serial_fitness):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a real local cluster of 2 CPUs
    try:
        assert BatchMap(ray_address="auto")(BatchFitness(SPEC, seed=0), _population()) == serial_fitness
    finally:
        ray.shutdown()


def test_deap_algorithms_run_unchanged_over_the_batched_map():
    random.seed(0)
    toolbox = base.Toolbox()
    calls = []
    batch_map = BatchMap()
    toolbox.register("map", lambda f, items: calls.append(len(items)) or batch_map(f, items))
    toolbox.register("evaluate", BatchFitness(SPEC, seed=0))
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=0.1, indpb=0.2)
    toolbox.register("select", tools.selTournament, tournsize=2)
    population, logbook = algorithms.eaSimple(_population(6), toolbox, 0.5, 0.5, ngen=2, verbose=False)
    assert all(ind.fitness.valid for ind in population)
    assert len(calls) == 3 and calls[0] == 6  # one call per generation, the whole list at once


def test_a_plain_function_is_mapped_item_by_item():
    assert BatchMap()(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    with pytest.raises(ValueError, match="workers must be >= 0"):
        BatchMap(workers=-1)
    assert np.isfinite(BatchFitness(SPEC, seed=0)(_population(1)[0])[0])


def test_an_address_with_no_ray_cluster_is_one_clear_error():
    pytest.importorskip("ray")
    with pytest.raises(ValueError, match="no Ray cluster answers there"):
        BatchMap(ray_address="127.0.0.1:1")(BatchFitness(SPEC, seed=0), _population(2))
