"""Levels of the world: `easy`, `normal`, `hard`, each one frozen config in this one place.

    easy    wide road, gentle bends, pedestrians on a steady timetable that only cost reward. Every learner
            laps it within seconds: the place to watch learning happen.
    normal  narrower road, bends to slow for (the tyres grip only so hard), 3-4 crosswalks per lap whose
            pedestrians wait at the kerb a random time before they step out, so a driver must watch rather
            than memorise; touching one ends the episode with a penalty larger than leaving the road.
    hard    normal, narrower and twistier still, plus traffic: slower cars driving the lap that a car must
            follow or overtake; touching one ends the episode too.

On normal and hard the rays observation also says what each ray hit (road edge, pedestrian, car), so that
waiting for a pedestrian is learnable. Each level has its own disjoint `train` and `heldout` track seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.pedestrians import PED_SPEED
from envs.track import EASY_SHAPE, HARD_SHAPE, NORMAL_SHAPE, TrackShape
from envs.traffic import MAX_TRAFFIC

PEDESTRIAN_TIMINGS = ("timetable", "random")


@dataclass(frozen=True)
class Level:
    """Everything a level changes. Build a variant with `dataclasses.replace(LEVELS["normal"], ...)`.

    Attributes:
        name: what the level is called.
        shape: the track geometry (road width, bend tightness, crosswalks per lap).
        pedestrian_timing: "timetable" (walk back and forth without a stop, a phase drawn at reset) or
            "random" (wait at the kerb a random time, cross, wait, cross back ...).
        pedestrian_speed: cells per step.
        pedestrian_wait: (lo, hi) steps a pedestrian waits at the kerb, uniform; "random" timing only.
        contact_penalty: reward lost per contact with a pedestrian or a traffic car.
        contact_ends_episode: a contact terminates the episode (else the car stops dead and drives on).
        grip: largest lateral acceleration the tyres hold, cells/step^2; beyond it the car runs wide
            (inf: the plain kinematic car, which turns as tight at any speed).
        traffic: traffic cars in each car's world.
        traffic_speed: (lo, hi) cruising speeds of traffic, cells/step, uniform (top speed is 4).
        ray_kinds: the rays observation also says what each ray hit.
        train_seeds: [start, stop) of the training track seeds.
        heldout_seeds: [start, stop) of the held-out track seeds.
    """

    name: str
    shape: TrackShape
    pedestrian_timing: str
    pedestrian_speed: float
    pedestrian_wait: tuple[float, float]
    contact_penalty: float
    contact_ends_episode: bool
    grip: float
    traffic: int
    traffic_speed: tuple[float, float]
    ray_kinds: bool
    train_seeds: tuple[int, int]
    heldout_seeds: tuple[int, int]

    def __post_init__(self) -> None:
        if not isinstance(self.shape, TrackShape):
            raise ValueError(f"shape must be a TrackShape, got {type(self.shape).__name__}")
        if self.pedestrian_timing not in PEDESTRIAN_TIMINGS:
            raise ValueError(f"pedestrian_timing must be one of {PEDESTRIAN_TIMINGS}, got "
                             f"{self.pedestrian_timing!r}")
        _check_range("pedestrian_speed", self.pedestrian_speed, 0.01, 1.0)
        _check_pair("pedestrian_wait", self.pedestrian_wait, 0.0, 10_000.0)
        _check_range("contact_penalty", self.contact_penalty, 0.0, 1_000.0)
        if not (self.grip == math.inf or 0.05 <= self.grip <= 100.0):
            raise ValueError(f"grip must be in [0.05, 100] or inf, got {self.grip!r}")
        if isinstance(self.traffic, bool) or not isinstance(self.traffic, (int, np.integer)) or not (
            0 <= self.traffic <= MAX_TRAFFIC
        ):
            raise ValueError(f"traffic must be an integer in [0, {MAX_TRAFFIC}], got {self.traffic!r}")
        _check_pair("traffic_speed", self.traffic_speed, 0.1, 3.5)
        for name in ("train_seeds", "heldout_seeds"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi:
                raise ValueError(f"{name} must be [start, stop) with 0 <= start < stop, got {(lo, hi)}")
        (a, b), (c, d) = self.train_seeds, self.heldout_seeds
        if a < d and c < b:
            raise ValueError(f"train_seeds {self.train_seeds} and heldout_seeds {self.heldout_seeds} overlap")

    def seeds(self, tracks: str) -> np.ndarray:
        """The seeds of the named track set, `train` or `heldout`."""
        sets = {"train": self.train_seeds, "heldout": self.heldout_seeds}
        if tracks not in sets:
            raise ValueError(f"tracks: unknown track set {tracks!r}; known sets: {sorted(sets)}, or a list of "
                             "int seeds")
        return np.arange(*sets[tracks])


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
        lo <= value <= hi
    ):
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")


def _check_pair(name: str, pair: tuple[float, float], lo: float, hi: float) -> None:
    if not (isinstance(pair, tuple) and len(pair) == 2) or not all(
        isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in pair
    ) or not lo <= pair[0] <= pair[1] <= hi:
        raise ValueError(f"{name} must be a pair (lo, hi) with {lo} <= lo <= hi <= {hi}, got {pair!r}")


EASY = Level(
    name="easy", shape=EASY_SHAPE, pedestrian_timing="timetable", pedestrian_speed=PED_SPEED,
    pedestrian_wait=(0.0, 0.0), contact_penalty=10.0, contact_ends_episode=False, grip=math.inf, traffic=0,
    traffic_speed=(2.0, 2.0), ray_kinds=False, train_seeds=(0, 100_000), heldout_seeds=(1_000_000, 1_000_100),
)
NORMAL = Level(
    name="normal", shape=NORMAL_SHAPE, pedestrian_timing="random", pedestrian_speed=0.12,
    pedestrian_wait=(5.0, 120.0), contact_penalty=20.0, contact_ends_episode=True, grip=0.35, traffic=0,
    traffic_speed=(2.0, 2.0), ray_kinds=True, train_seeds=(100_000, 200_000),
    heldout_seeds=(2_000_000, 2_000_100),
)
HARD = Level(
    name="hard", shape=HARD_SHAPE, pedestrian_timing="random", pedestrian_speed=0.12,
    pedestrian_wait=(5.0, 120.0), contact_penalty=20.0, contact_ends_episode=True, grip=0.3, traffic=4,
    traffic_speed=(1.0, 1.8), ray_kinds=True, train_seeds=(200_000, 300_000),
    heldout_seeds=(3_000_000, 3_000_100),
)
LEVELS = {level.name: level for level in (EASY, NORMAL, HARD)}


def get_level(level: str | Level) -> Level:
    """The `Level` named `level` (or `level` itself if it already is one)."""
    if isinstance(level, Level):
        return level
    if not isinstance(level, str) or level not in LEVELS:
        raise ValueError(f"level: unknown level {level!r}; choose one of {', '.join(LEVELS)} "
                         "(or pass an envs.Level)")
    return LEVELS[level]


def track_seeds(name: str, level: str | Level = "easy") -> np.ndarray:
    """The seeds of a level's named track set (`train` or `heldout`)."""
    return get_level(level).seeds(name)
