"""Fitness of a whole population at once: one car per individual per track in one `CarDriveVectorEnv`, all
networks in one batched forward a step.

    evaluator = PopulationEvaluator(EvalSpec(level="easy", episodes=4), seed=0)
    fitness, laps = evaluator.evaluate(vectors)          # vectors (P, n_params) -> (P,), (P,)

Every individual drives the same `episodes` training tracks (drawn once from the run's seed), and car
(i, k) is seeded by track k alone, so fitness is comparable across the population and does not depend on
which other individuals share the batch (a shard on a worker gets what one batch would). Fitness is the mean
episode return over the tracks; an episode ends at the env's end or after `patience` steps without new
progress (a car that has stopped would otherwise hold the whole batch to the step limit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from evolve.genome import Driver, make_driver, outputs_to_actions
from evolve.population import PopulationNet
from sandbox.runs.validate import check_positive_ints

Hook = Callable[[dict[str, Any]], None]
COMPACT_BELOW = 0.6  # rebuild the batch without its ended cars once fewer than this fraction still drive


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

    def __post_init__(self) -> None:
        check_positive_ints(self, "episodes", "max_steps", "patience")

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
        rng = np.random.default_rng([seed, 7])
        self.tracks = [int(s) for s in rng.choice(track_seeds("train", spec.level), spec.episodes, replace=False)]
        self.car_seeds = [int(s) for s in rng.integers(2**31, size=spec.episodes)]
        self._template: Driver | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_template": None}  # the network is rebuilt where it is used

    def template(self) -> Driver:
        if self._template is None:
            self._template = make_driver(*spaces_of(self.spec), self.spec.backbone, self.spec.backbone_options, seed=0)
        return self._template

    def n_params(self) -> int:
        return sum(p.numel() for p in self.template().parameters())

    def evaluate(self, vectors: np.ndarray, hook: Hook | None = None,
                 context: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(fitness (P,), lap rate (P,)) of P genome vectors; `hook` sees every step (a viewer)."""
        from envs import CarDriveVectorEnv

        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        P, K, spec = len(vectors), self.spec.episodes, self.spec
        nets = PopulationNet.build(self.template(), np.repeat(vectors, K, axis=0))  # car i * K + k: network i
        env = CarDriveVectorEnv(P * K, tracks=self.tracks, max_episode_steps=spec.max_steps, **spec.env_kwargs())
        obs, _ = env.reset(seed=self.seed, options={"track_index": np.tile(np.arange(K), P),
                                                    "car_seeds": self.car_seeds * P})
        # per env row (compacted with the env): return, best progress, steps since it improved, lapped, still scored
        total, best, idle = np.zeros(P * K), np.zeros(P * K), np.zeros(P * K, np.int64)
        laps, going = np.zeros(P * K, bool), np.ones(P * K, bool)
        cars, step = np.arange(P * K), 0  # which of the P * K cars each env row is
        fitness, lapped = np.zeros(P * K), np.zeros(P * K, bool)  # per car, written when its row is dropped
        discrete = self.template().discrete
        while going.any():
            outputs = nets(torch.from_numpy(obs).float().unsqueeze(1))[:, 0]  # (rows, 1, *obs) -> (rows, n_out)
            obs, reward, terminated, truncated, info = env.step(outputs_to_actions(outputs, discrete))
            total += reward * going  # ended rows drive on, unscored, until dropped
            laps |= info["lap_completed"] & going
            improved = info["progress"] > best + 1e-9
            np.maximum(best, info["progress"], out=best)
            idle += 1
            idle[improved] = 0
            going &= ~(terminated | truncated) & (idle < spec.patience)
            step += 1
            if hook is not None:
                hook({"kind": "step", "global_step": step, "env": env, "reward": reward, "terminated": terminated,
                      "truncated": truncated, "info": info, "car_fitness": total, **(context or {})})
            if 0 < going.sum() <= COMPACT_BELOW * len(cars):  # drop ended rows: they cost every later step
                ended, keep = np.flatnonzero(~going), np.flatnonzero(going)
                fitness[cars[ended]], lapped[cars[ended]] = total[ended], laps[ended]
                env, nets, obs, cars = env.subset(keep), nets.select(keep), obs[keep], cars[keep]
                total, best, idle, laps, going = total[keep], best[keep], idle[keep], laps[keep], going[keep]
        fitness[cars], lapped[cars] = total, laps
        return fitness.reshape(P, K).mean(1), lapped.reshape(P, K).mean(1)  # (P,), (P,)
