"""The settings of an evolution run, checked field by field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from evolve.evaluate import EvalSpec
from evolve.genome import ARCH_FAMILIES
from evolve.strategies import STRATEGIES
from sandbox.runs.validate import check_positive_ints, check_unit_interval

RECURRENT = ("gru", "lstm")


@dataclass
class EvolveConfig:
    """Hyper-parameters, named as DEAP's algorithms name them."""

    strategy: str = "ga"
    """a name in `evolve.strategies.STRATEGIES`: ga (genetic algorithm), cma (CMA-ES), arch (architecture
    evolution), openai-es (OpenAI-ES), or one added with `register_strategy`"""
    population: int = 256
    """individuals per generation (CMA-ES: lambda; OpenAI-ES: population // 2 mirrored pairs, + the mean if odd)"""
    generations: int = 30
    level: str = "easy"
    obs: str = "rays"
    continuous: bool = False
    backbone: str = "mlp"
    """any `make_backbone` spec (arch evolves its own)"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    """the backbone's options; an MLP with none gets one hidden layer of 16, a GRU or LSTM a state of 16 over
    an MLP stem of 16 (small genomes evolve fast)"""
    episodes: int = 4
    """training tracks each individual drives (one episode each); fitness is the mean return"""
    fresh_tracks: bool = False
    """draw the training tracks anew each generation (`EvalSpec.fresh_tracks`): every individual, elites and the
    hall of fame included, is evaluated again on them, so a champion is one that holds on tracks it has not met"""
    lap_time_bonus: float = 0.0
    """fitness added to a clean lap, scaled by the share of max_steps it left unused (`EvalSpec.lap_time_bonus`)"""
    max_steps: int = 1000
    patience: int = 100
    algorithm: str = "simple"
    """ga and arch: simple (eaSimple + elites from the hall of fame) or mu+lambda (eaMuPlusLambda)"""
    cxpb: float = 0.2
    mutpb: float = 0.8
    sigma: float = 0.2
    """standard deviation of the Gaussian mutation"""
    indpb: float = 0.1
    """probability that a gene is mutated"""
    tournsize: int = 3
    elites: int | None = None
    """the best individuals carried over unchanged (ga simple); None: min(4, population // 2)"""
    hof_size: int = 5
    cma_sigma: float = 0.5
    es_sigma: float = 0.05
    """openai-es: standard deviation of the parameter noise"""
    es_learning_rate: float = 0.1
    """openai-es: Adam's step size on the mean"""
    es_weight_decay: float = 0.005
    """openai-es: L2 coefficient pulling the mean towards 0 (Salimans et al.'s weight decay)"""
    arch_mutpb: float = 0.2
    """arch: probability that a mutation changes the architecture instead of the weights"""
    arch_families: tuple[str, ...] = ("mlp",)
    """arch: backbone families to choose among (mlp, attention)"""
    arch_start: str = "backbone"
    """arch: the first population's architecture: the run's backbone (its MLP widths and activation), or
    "random" (each drawn from the menu of families, depths, widths and activations)"""
    heldout_episodes: int = 100
    seed: int = 0
    workers: int = 0
    """local processes evaluating shards of the population (0: this process)"""
    ray: str | None = None
    """a Ray cluster's address ("auto" for the local one): shards evaluated there"""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.algorithm not in ("simple", "mu+lambda"):
            raise ValueError(f"algorithm must be simple or mu+lambda, got {self.algorithm!r}")
        check_positive_ints(self, "population", "generations", "episodes", "max_steps", "patience", "tournsize",
                            "hof_size", "heldout_episodes")
        if self.population < 2:
            raise ValueError(f"population must be at least 2, got {self.population}")
        check_unit_interval(self, "cxpb", "mutpb", "indpb", "arch_mutpb")
        for name in ("sigma", "cma_sigma", "es_sigma", "es_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.es_weight_decay >= 0:
            raise ValueError(f"es_weight_decay must be >= 0, got {self.es_weight_decay!r}")
        if self.elites is None:  # 4, or half a small population (2 individuals keep 1)
            self.elites = min(4, self.population // 2)
        if not 0 <= self.elites <= self.population:
            raise ValueError(f"--elites must be in [0, --population {self.population}], got {self.elites}")
        if self.arch_start not in ("backbone", "random"):
            raise ValueError(f"arch_start must be backbone or random, got {self.arch_start!r}")
        bad = [f for f in self.arch_families if f not in ARCH_FAMILIES]
        if bad or not self.arch_families:
            raise ValueError(f"arch_families must be among {', '.join(ARCH_FAMILIES)}, got {self.arch_families!r}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if not isinstance(self.backbone_options, dict):
            raise ValueError(f"backbone_options must be a dict of option names to values, got "
                             f"{self.backbone_options!r}")
        self.backbone_options = _tuples(self.backbone_options)
        if self.backbone == "mlp" and "widths" not in self.backbone_options:
            self.backbone_options["widths"] = (16,)
        if self.backbone in RECURRENT:
            self.backbone_options = _small_recurrent(self.backbone_options)
        self.arch_families = tuple(self.arch_families)
        self.eval_spec()  # the level, obs and episode fields are checked there
        STRATEGIES[self.strategy].check(self)  # last: what only its algorithm requires, on the whole config

    def eval_spec(self) -> EvalSpec:
        """What each individual is and where it drives."""
        from envs import get_level

        get_level(self.level)
        return EvalSpec(self.level, self.obs, self.continuous, self.backbone, dict(self.backbone_options),
                        self.episodes, self.max_steps, self.patience, fresh_tracks=self.fresh_tracks,
                        lap_time_bonus=self.lap_time_bonus)


def _tuples(value: Any) -> Any:
    """Lists -> tuples at any depth of lists and dicts (JSON and checkpoints give lists; the configs hold tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {key: _tuples(v) for key, v in value.items()}
    return value


def _small_recurrent(options: dict[str, Any]) -> dict[str, Any]:
    """A GRU's or LSTM's options with evolution's small defaults where unset: a state of 16, an MLP stem of 16."""
    options = {"hidden_size": 16, **options}
    if options.get("stem", "mlp") == "mlp" and isinstance(options.get("stem_options", {}), dict):
        options["stem_options"] = {"widths": (16,), **options.get("stem_options", {})}
    return options


def make_config(settings: dict[str, Any]) -> EvolveConfig:
    """An `EvolveConfig` from settings; an unknown setting is an error that names it."""
    known = {f.name for f in dataclasses.fields(EvolveConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown evolve setting(s) {unknown}; known: {sorted(known)}")
    return EvolveConfig(**settings)
