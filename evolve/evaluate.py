"""Fitness of a whole population at once: its episodes driven as one batch of cars in a `CarDriveVectorEnv`,
all networks in one batched forward a step.

    evaluator = PopulationEvaluator(EvalSpec(level="easy", episodes=4), seed=0)
    fitness, laps = evaluator.evaluate(vectors)          # vectors (P, n_params) -> (P,), (P,)

Every individual drives the same `episodes` training tracks (drawn once from the run's seed, or with
`fresh_tracks` anew for each generation from the seed and the generation), and episode (i, k) is seeded by
track k alone, so fitness is comparable across the population and does not depend on which other
individuals share the batch (a shard on a worker gets what one batch would). Fitness is the mean
episode return over the tracks; an episode ends at the env's end or after `patience` steps without new
progress (a car that has stopped would otherwise hold the whole batch to the step limit). The P * episodes
episodes queue for `slots` cars (evolve/slots.py): each score is bit for bit what the individual scores
driving alone, whatever the slot count and the order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evolve.compiled import CompiledMLPs
from evolve.genome import Driver, make_driver
from evolve.population import PopulationNet
from evolve.slots import Queue, drive_queue
from sandbox.runs.validate import check_positive_ints

Hook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class EvalSpec:
    """What each individual is and where it drives."""

    level: str = "easy"
    obs: str = "rays"
    continuous: bool = False
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    episodes: int = 4
    """training tracks per individual (one episode each): more gives a champion that holds on new tracks"""
    max_steps: int = 1000
    patience: int = 100
    """steps without new progress that end an episode early"""
    fresh_tracks: bool = False
    """draw the `episodes` tracks (and their pedestrians) anew each generation instead of once for the run: a
    driver must then do well on tracks it has not met, and an elite keeps its place only by doing well again"""
    lap_time_bonus: float = 0.0
    """added to a clean lap's return, scaled by the share of `max_steps` the lap left unused: of two drivers
    that lap cleanly, the faster has the higher fitness (0: the return alone, where a crawl scores as a race)"""
    slots: int = 4096
    """cars driven at once: the P * episodes episodes queue for them, a slot taking the next as its own ends
    (evolve/slots.py). It bounds the batch; measured, fewer slots than episodes is slower (each step's fixed
    cost is paid over more steps) and the same numbers come out whatever the count"""

    def __post_init__(self) -> None:
        check_positive_ints(self, "episodes", "max_steps", "patience", "slots")
        if not self.lap_time_bonus >= 0:
            raise ValueError(f"lap_time_bonus must be >= 0, got {self.lap_time_bonus!r}")

    def env_kwargs(self) -> dict[str, Any]:
        """The CarDrive arguments of this spec (what `sandbox eval` drives an evolved champion with)."""
        return {"level": self.level, "obs": self.obs, "continuous": self.continuous}

    def with_arch(self, backbone: str, options: dict[str, Any]) -> EvalSpec:
        return dataclasses.replace(self, backbone=backbone, backbone_options=dict(options))


def spaces_of(spec: EvalSpec) -> tuple[Any, Any]:
    """(observation space, action space) of one car."""
    from envs import CarDriveVectorEnv

    env = CarDriveVectorEnv(1, **spec.env_kwargs())
    return env.single_observation_space, env.single_action_space


class PopulationEvaluator:
    """Evaluates lists of genome vectors as one batch; picklable (workers rebuild what they need)."""

    def __init__(self, spec: EvalSpec, seed: int = 0):
        from envs import track_seeds

        self.spec, self.seed = spec, seed
        self._train_tracks = track_seeds("train", spec.level)
        self.tracks, self.car_seeds = self.tracks_of(0)
        self._template: Driver | None = None

    def tracks_of(self, generation: int) -> tuple[list[int], list[int]]:
        """(track seeds, car seeds) of the episodes a generation drives: the run's own, or with `fresh_tracks`
        the generation's (generation 0 is the run's: what an evaluation outside a run drives)."""
        key = [self.seed, 7] if not self.spec.fresh_tracks or generation == 0 else [self.seed, 7, generation]
        rng = np.random.default_rng(key)
        tracks = rng.choice(self._train_tracks, self.spec.episodes, replace=False)
        return [int(s) for s in tracks], [int(s) for s in rng.integers(2**31, size=self.spec.episodes)]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_template": None}  # the network is rebuilt where it is used

    def template(self) -> Driver:
        if self._template is None:
            self._template = make_driver(*spaces_of(self.spec), self.spec.backbone, self.spec.backbone_options, seed=0)
        return self._template

    def n_params(self) -> int:
        return sum(p.numel() for p in self.template().parameters())

    def evaluate(self, vectors: np.ndarray, hook: Hook | None = None,
                 context: dict[str, Any] | None = None, generation: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(fitness (P,), lap rate (P,)) of P genome vectors on `generation`'s tracks (`tracks_of`); `hook` sees
        every step (a viewer)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        bank = PopulationNet.build(self.template(), vectors)  # network i: individual i
        return self.drive(bank, len(vectors), hook, context, generation)

    def drive(self, bank: Any, P: int, hook: Hook | None = None, context: dict[str, Any] | None = None,
              generation: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(fitness (P,), lap rate (P,)) of the P networks of `bank` (a `PopulationNet`, recurrent or not, or
        `CompiledMLPs`), each driving this spec's episodes of `generation`."""
        from envs import CarDriveVectorEnv

        K, spec = self.spec.episodes, self.spec
        tracks, car_seeds = self.tracks_of(generation)
        queue = Queue(member=np.repeat(np.arange(P), K), track=np.tile(np.arange(K), P),  # episode i * K + k
                      car_seeds=np.asarray(car_seeds, np.int64))
        env = CarDriveVectorEnv(min(spec.slots, P * K), tracks=tracks, max_episode_steps=spec.max_steps,
                                **spec.env_kwargs())
        returns, lapped = drive_queue(env, self.seed, bank, queue, spec.patience, self.template().discrete, hook,
                                      context, spec.lap_time_bonus)
        return returns.reshape(P, K).mean(1), lapped.reshape(P, K).mean(1)  # (P,), (P,)


def evaluate_together(groups: list[tuple[PopulationEvaluator, np.ndarray]], hook: Hook | None = None,
                      context: dict[str, Any] | None = None,
                      generation: int = 0) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(fitness, lap rate) per group of several architectures' populations (each group its evaluator, of
    one spec but for the backbone, and its vectors) driven as one batch: one env, one queue, one compiled
    bank (evolve/compiled.py), so the generation's tail is paid once rather than once per architecture.
    Each score is what that group's own `evaluate` gives. None when a group is not plain MLPs."""
    banks = []
    for evaluator, vectors in groups:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        compiled = CompiledMLPs.of(PopulationNet.build(evaluator.template(), vectors),
                                   evaluator.template().discrete)
        if compiled is None:
            return None
        banks.append(compiled)
    fitness, laps = groups[0][0].drive(CompiledMLPs.concat(banks), sum(len(bank) for bank in banks), hook,
                                       context, generation)
    bounds = np.cumsum([0] + [len(bank) for bank in banks])
    return [(fitness[a:b], laps[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
