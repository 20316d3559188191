"""DEAP's `toolbox.map` seam: a map that receives the whole population and evaluates it batched, here, in
local processes, or on a Ray cluster.

    fitness = BatchFitness(spec, seed)                  # toolbox.evaluate
    toolbox.register("map", BatchMap(workers=4))        # or BatchMap(ray_address="auto"), or BatchMap()
    algorithms.eaSimple(pop, toolbox, ...)              # DEAP's own algorithms, unchanged

DEAP calls `toolbox.map(toolbox.evaluate, individuals)`. When the function is a `BatchFitness`, the map cuts
the individuals into one shard per worker and each worker evaluates its shard in one batch; any other
function is mapped one item at a time, as `map` would. A shard is plain data (architecture key, numpy
vector; for OpenAI-ES a seed and a sign per individual and the generation's centre once), so nothing a worker
receives needs DEAP's `creator`. Because each car is seeded by its track alone,
serial, process-pool and Ray evaluations give identical fitnesses.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from evolve.evaluate import EvalSpec, PopulationEvaluator, evaluate_together
from evolve.genome import ArchGenes
from evolve.strategies import payload
from sandbox.runs.ray_cluster import connect

Genome = tuple[str | None, Any]  # (architecture key or None, parameter vector or what rebuilds it: `vector()`)


class BatchFitness:
    """`toolbox.evaluate`: the fitness of one individual, or of a whole list at once (`batch`)."""

    def __init__(self, spec: EvalSpec, seed: int):
        self.spec, self.seed = spec, seed
        self._evaluators: dict[str | None, PopulationEvaluator] = {}
        self.generation = 0  # whose tracks the next batch drives (`EvalSpec.fresh_tracks`); workers get it too
        self.hook: Callable[[dict[str, Any]], None] | None = None  # a viewer, in this process only
        self.context: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "seed": self.seed, "generation": self.generation, "_evaluators": {}, "hook": None,
                "context": {}}

    def evaluator(self, arch_key: str | None) -> PopulationEvaluator:
        if arch_key not in self._evaluators:
            spec = self.spec
            if arch_key is not None:
                arch = ArchGenes.from_key(arch_key)
                spec = spec.with_arch(arch.family, arch.backbone_options())
            self._evaluators[arch_key] = PopulationEvaluator(spec, self.seed)
        return self._evaluators[arch_key]

    def __call__(self, individual: Any) -> tuple[float]:
        return self.batch([payload(individual)])[0]

    def batch(self, genomes: Sequence[Genome]) -> list[tuple[float]]:
        """(fitness,) per genome: all in one batch (several plain MLP architectures too), else one batch per
        architecture."""
        out: list[Any] = [None] * len(genomes)
        keys = dict.fromkeys(key for key, _ in genomes)  # each architecture once, in order of appearance
        groups = {key: [i for i, (k, _) in enumerate(genomes) if k == key] for key in keys}
        parts = [(self.evaluator(key), np.stack([_vector(genomes[i][1]) for i in rows]))
                 for key, rows in groups.items()]
        # several architectures (arch evolution): one batch when all are plain MLPs, else one batch each
        results = evaluate_together(parts, self.hook, self.context, self.generation) if len(parts) > 1 else None
        if results is None:
            results = [evaluator.evaluate(vectors, self.hook, self.context, self.generation)
                       for evaluator, vectors in parts]
        for rows, (fitness, _) in zip(groups.values(), results, strict=True):
            for i, f in zip(rows, fitness, strict=True):
                out[i] = (float(f),)
        return out


def _vector(genome: Any) -> np.ndarray:
    """A genome's parameters: the vector sent, or rebuilt here from what was sent in its place (a seed)."""
    return genome if isinstance(genome, np.ndarray) else genome.vector()


def _evaluate_shard(fitness: BatchFitness, shard: list[Genome]) -> list[tuple[float]]:
    return fitness.batch(shard)


class BatchMap:
    """`toolbox.map`: whole-population evaluation, serial (default), in `workers` local processes, or on
    the Ray cluster at `ray_address` ("auto" for the one this machine belongs to)."""

    def __init__(self, workers: int = 0, ray_address: str | None = None):
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers, self.ray_address = workers, ray_address
        self._pool: ProcessPoolExecutor | None = None
        self._ray_task = None

    def __call__(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> list[Any]:
        items = list(iterable)
        if isinstance(func, functools.partial) and not func.args and not func.keywords:
            func = func.func  # toolbox.register wraps what it registers in a partial
        if not isinstance(func, BatchFitness):
            return list(map(func, items))
        genomes = [payload(item) for item in items]
        if not genomes:
            return []
        self._connect()
        shards = [genomes[s.start:s.stop] for s in _slices(len(genomes), self._n_shards())]
        return [fitness for shard in self._run(func, shards) for fitness in shard]

    def _connect(self) -> None:
        if self.ray_address is not None:
            connect(self.ray_address, needs="--ray", alternative="use --workers N")

    def _n_shards(self) -> int:
        if self.ray_address is not None:
            import ray

            return max(1, int(ray.cluster_resources().get("CPU", 1)))  # one shard per CPU of the cluster
        return max(1, self.workers)

    def _run(self, func: BatchFitness, shards: list[list[Genome]]) -> list[list[Any]]:
        if self.ray_address is not None:
            return self._run_ray(func, shards)
        if self.workers <= 0:
            return [func.batch(shard) for shard in shards]
        if self._pool is None:  # spawned, not forked: torch and numba threads do not survive a fork
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return list(self._pool.map(_evaluate_shard, [func] * len(shards), shards))

    def _run_ray(self, func: BatchFitness, shards: list[list[Genome]]) -> list[list[Any]]:
        import ray

        if self._ray_task is None:
            self._ray_task = ray.remote(_evaluate_shard)
        fitness_ref = ray.put(func)
        return ray.get([self._ray_task.remote(fitness_ref, shard) for shard in shards])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _slices(n: int, parts: int) -> list[slice]:
    bounds = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
