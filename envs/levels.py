"""Levels of the world, and `LEVELS`, the one registry of them: name -> the level's frozen `Level`.

    easy    wide road, gentle bends, pedestrians on a steady timetable that only cost reward. Every learner
            laps it within seconds: the place to watch learning happen.
    normal  narrower road, bends to slow for (the tyres grip only so hard), 3-4 crosswalks per lap whose
            pedestrians wait at the kerb a random time before they step out, so a driver must watch rather
            than memorise; touching one ends the episode with a penalty larger than leaving the road.
    hard    normal, narrower and twistier still, plus traffic: slower cars driving the lap that a car must
            follow or overtake; touching one ends the episode too.

On normal and hard the rays observation also gives, per ray, the distance to the nearest pedestrian and to
the nearest traffic car, read on through the road's edge, so that a pedestrian waiting at the kerb is seen
and waiting for it is learnable. Each level has its own disjoint `train` and `heldout` track seeds.

A `Level` holds everything a level changes, its track shape and its seed sets included, so a new level is one
`Level` and one `register_level` call, wherever it is defined; its name then works everywhere a level name
does (the envs, `gymnasium.make("sandbox/CarDrive-v0", level=...)`, `track_seeds`):

    easy = envs.LEVELS["easy"]
    envs.register_level(dataclasses.replace(easy, name="wide", shape=dataclasses.replace(easy.shape, half_width=10.0),
                                            train_seeds=(5_000_000, 5_100_000), heldout_seeds=(6_000_000, 6_000_100)))
    env = envs.CarDriveVectorEnv(64, level="wide")
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from envs.pedestrians import PED_SPEED
from envs.track import TrackShape
from envs.traffic import MAX_TRAFFIC

PEDESTRIAN_TIMINGS = ("timetable", "random")
SEED_SETS = ("train_seeds", "heldout_seeds")  # the fields holding a level's [start, stop) track seeds


@dataclass(frozen=True)
class Level:
    """Everything a level changes. Build a variant with `dataclasses.replace(LEVELS["normal"], ...)` and pass
    it as `level=`, or give it a name of its own and `register_level` it.

    Attributes:
        name: what the level is called (its key in `LEVELS`), no whitespace.
        shape: the track geometry (road width, bend tightness, crosswalks per lap), `envs.track.TrackShape`.
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
        ray_kinds: the rays observation also gives each ray's distance to the nearest pedestrian and to the
            nearest traffic car, through the road's edge (`envs.sensors.sense`).
        train_seeds: [start, stop) of the training track seeds.
        heldout_seeds: [start, stop) of the held-out track seeds; a registered level's two sets overlap no
            other registered level's.
        description: a few words for `--help` (what the level asks of a driver).
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
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name.split() != [self.name]:
            raise ValueError(f"name must be a non-empty string without whitespace, got {self.name!r}")
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
        for name in SEED_SETS:
            pair = getattr(self, name)
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair
            ) and 0 <= pair[0] < pair[1]):
                raise ValueError(f"{name} must be integers [start, stop) with 0 <= start < stop, got {pair!r}")
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
    name="easy", shape=TrackShape(half_width=8.0, control_points=(8, 13), radius_range=(0.45, 1.0),
                                  min_radius=16.0, crosswalks=(1, 3), crosswalk_min_radius=60.0),
    pedestrian_timing="timetable", pedestrian_speed=PED_SPEED, pedestrian_wait=(0.0, 0.0), contact_penalty=10.0,
    contact_ends_episode=False, grip=math.inf, traffic=0, traffic_speed=(2.0, 2.0), ray_kinds=False,
    train_seeds=(0, 100_000), heldout_seeds=(1_000_000, 1_000_100),
    description="wide road, gentle bends, pedestrians that only cost reward",
)
NORMAL = Level(
    name="normal", shape=TrackShape(half_width=6.5, control_points=(9, 14), radius_range=(0.4, 1.0),
                                    min_radius=11.0, crosswalks=(3, 4), crosswalk_min_radius=40.0),
    pedestrian_timing="random", pedestrian_speed=0.12, pedestrian_wait=(5.0, 120.0), contact_penalty=20.0,
    contact_ends_episode=True, grip=0.35, traffic=0, traffic_speed=(2.0, 2.0), ray_kinds=True,
    train_seeds=(100_000, 200_000), heldout_seeds=(2_000_000, 2_000_100),
    description="pedestrians stepping out at random, a contact ends the episode, bends to slow for",
)
HARD = Level(
    name="hard", shape=TrackShape(half_width=6.0, control_points=(10, 15), radius_range=(0.35, 1.0),
                                  min_radius=9.0, crosswalks=(3, 4), crosswalk_min_radius=40.0),
    pedestrian_timing="random", pedestrian_speed=0.12, pedestrian_wait=(5.0, 120.0), contact_penalty=20.0,
    contact_ends_episode=True, grip=0.3, traffic=4, traffic_speed=(1.0, 1.8), ray_kinds=True,
    train_seeds=(200_000, 300_000), heldout_seeds=(3_000_000, 3_000_100),
    description="normal plus traffic to follow or overtake, tighter still",
)

_registry: dict[str, Level] = {}
LEVELS: Mapping[str, Level] = MappingProxyType(_registry)  # read-only: levels come and go by the functions below


def register_level(level: Level, replace: bool = False) -> Level:
    """Make `level` known by its name everywhere a level name is accepted, and return it.

    Args:
        level: the level; its `train_seeds` and `heldout_seeds` must overlap no registered level's seeds
            (neither set of its own with either set of another's), so that held-out tracks stay unseen.
        replace: replace a registered level of the same name (else a taken name is refused).

    Raises:
        TypeError: `level` is not a `Level`.
        ValueError: the name is taken (and not `replace`), or a seed set overlaps another level's.
    """
    if not isinstance(level, Level):
        raise TypeError(f"register_level takes an envs.Level, got {type(level).__name__}")
    if level.name in _registry and not replace:
        raise ValueError(f"level {level.name!r} is registered already; pass replace=True to replace it")
    others = [other for other in _registry.values() if other.name != level.name]
    for other, mine, theirs in itertools.product(others, SEED_SETS, SEED_SETS):
        (a, b), (c, d) = getattr(level, mine), getattr(other, theirs)
        if a < d and c < b:
            free = max(getattr(o, name)[1] for o in others for name in SEED_SETS)
            raise ValueError(f"level {level.name!r}: {mine} {(a, b)} overlap {other.name!r}'s {theirs} {(c, d)}; "
                             f"every level needs seeds of its own (seeds from {free:,} on are free)")
    _registry[level.name] = level
    return level


def unregister_level(name: str) -> Level:
    """Forget the level registered as `name` and return it (a level defined for a test or a session)."""
    if name not in _registry:
        raise ValueError(f"level: unknown level {name!r}; registered: {', '.join(_registry)}")
    return _registry.pop(name)


for _level in (EASY, NORMAL, HARD):
    register_level(_level)
TRAIN_SEEDS, HELDOUT_SEEDS = EASY.seeds("train"), EASY.seeds("heldout")  # the default level's sets


def get_level(level: str | Level) -> Level:
    """The `Level` registered as `level` (or `level` itself if it already is one)."""
    if isinstance(level, Level):
        return level
    if not isinstance(level, str) or level not in _registry:
        raise ValueError(f"level: unknown level {level!r}; choose one of {', '.join(_registry)} "
                         "(or pass an envs.Level, or register one with envs.register_level)")
    return _registry[level]


def track_seeds(name: str, level: str | Level = "easy") -> np.ndarray:
    """The seeds of a level's named track set (`train` or `heldout`)."""
    return get_level(level).seeds(name)
