"""The batched world: N independent cars, each on a track of a shared pool, stepped in one call.

`CarDriveCore` owns the state arrays (shape (N, ...)) and the track pool (`envs.pool`), and composes the
compiled kernels of `physics`, `pedestrians`, `traffic` and `sensors`. It knows nothing of gymnasium:
`CarDriveVectorEnv` and `CarDriveEnv` are thin fronts over it, so the single car and car i of a batch run the
very same code. The level (`envs.levels`) sets the track shape, the pedestrians' timing, the grip, traffic
and what a contact does.

Randomness is per car: car i draws its track from the pool, its pedestrians' timing and its traffic from its
own generator, seeded `seed + i` (gymnasium's convention for sub-environments), so car i of a batch and a
one-car world seeded `seed + i` on the same pool live the same episode.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from envs import pedestrians, physics, sensors, traffic
from envs.levels import Level, get_level
from envs.pool import TrackPool

OBS_MODES = ("rays", "pixels", "both")
INFO_KEYS = ("progress", "lap_completed", "clean_lap", "lap_steps", "crashed", "pedestrian_hits", "traffic_hits",
             "track_seed")  # what the envs' `info` reports, per car

LAP_REWARD = 100.0  # progress reward for a whole lap, paid as the car moves along the centreline
LAP_BONUS = 50.0  # extra reward on completing the lap (the episode ends there)
CRASH_PENALTY = 10.0  # leaving the road (the episode ends there)
PEDESTRIAN_PENALTY = 10.0  # easy: each new contact with a pedestrian (the car stops dead); see Level


@dataclass(frozen=True)
class WorldConfig:
    """What a world is built from; every env argument that is not about gymnasium lands here.

    Attributes:
        obs: "rays", "pixels" or "both".
        level: a name in `envs.LEVELS` or a `Level` (stored resolved, as the `Level`).
        n_rays: number of distance rays, spread evenly over `ray_fov`.
        ray_fov: angle covered by the rays, radians, centred on the heading (left to right).
        ray_range: longest distance a ray reports, cells; distances are divided by it.
        image_size: side of the egocentric image, pixels.
        cells_per_pixel: how much of the world one pixel covers.
        speedometer: draw the car's speed into the image's bottom rows (a bar, as CarRacing's dashboard shows
            it): one frame of the road cannot tell how fast the car goes, and the rays carry it.
        pedestrians: whether pedestrians walk across the crosswalks.
        action_repeat: world steps each step holds its action for (ALE's frameskip, the control suite's action
            repeat): the rewards are summed, the episode ends on the world step it ends, and the observation is
            drawn once, after the last. `max_episode_steps` and `lap_steps` count world steps.
        max_episode_steps: truncation limit, world steps.
        tracks: "train", "heldout" (the level's sets), or explicit track seeds.
        num_tracks: pool size drawn from a named set (ignored for explicit seeds).
    """

    obs: str = "rays"
    level: str | Level = "easy"
    n_rays: int = 9
    ray_fov: float = np.pi
    ray_range: float = 64.0
    image_size: int = 64
    cells_per_pixel: float = 1.5
    speedometer: bool = False
    pedestrians: bool = True
    action_repeat: int = 1
    max_episode_steps: int = 1000
    tracks: str | Sequence[int] = "train"
    num_tracks: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", get_level(self.level))
        if self.obs not in OBS_MODES:
            raise ValueError(f"unknown obs mode {self.obs!r}; choose one of {OBS_MODES}")
        for name in ("n_rays", "image_size", "action_repeat", "max_episode_steps", "num_tracks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0 < self.ray_fov <= 2 * np.pi or not self.ray_range > 0 or not self.cells_per_pixel > 0:
            raise ValueError("ray_fov must be in (0, 2*pi], ray_range and cells_per_pixel > 0")
        if isinstance(self.tracks, str):
            self.level.seeds(self.tracks)  # raises on an unknown set name
        elif len(self.tracks) == 0 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                              for s in self.tracks):
            raise ValueError(f"tracks must be 'train', 'heldout' or a non-empty list of int seeds, got "
                             f"{self.tracks!r}")

    @property
    def rays_size(self) -> int:
        """Length of the rays observation: distances, speed, heading, and on levels with moving things
        two more distances per ray (the nearest pedestrian, the nearest traffic car)."""
        return self.n_rays * (3 if self.level.ray_kinds else 1) + 2


@functools.lru_cache(maxsize=4096)
def _seeded_state(seed: int) -> dict:
    """The bit generator state of `np.random.default_rng(seed)` (never modified: setting a state copies it)."""
    return np.random.default_rng(seed).bit_generator.state


def draw_pool(config: WorldConfig, rng: np.random.Generator) -> list[int]:
    """The track seeds a world drives on: explicit seeds as given, else `num_tracks` drawn from the set."""
    if not isinstance(config.tracks, str):
        return [int(s) for s in config.tracks]
    seeds = config.level.seeds(config.tracks)
    count = min(config.num_tracks, len(seeds))
    return [int(s) for s in rng.choice(seeds, size=count, replace=False)]


class CarDriveCore:
    """State and step of N cars. Arrays are public for the renderer, the expert and tests; treat them as
    read-only."""

    def __init__(self, num_cars: int, config: WorldConfig):
        n, level = num_cars, config.level
        self.num_cars, self.config, self.level = n, config, level
        self.ray_angles = np.linspace(-config.ray_fov / 2, config.ray_fov / 2, config.n_rays)
        if config.n_rays == 1:
            self.ray_angles = np.zeros(1)
        self.palette = np.array(sensors.PALETTE, dtype=np.uint8)
        self.pos = np.zeros((n, 2))
        self.heading, self.speed = np.zeros(n), np.zeros(n)
        self.track_id, self.index = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.arc, self.progress = np.zeros(n), np.zeros(n)  # place on the lap; net arc driven, cells
        self.clock, self.ped_hits = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.traffic_hits = np.zeros(n, np.int64)
        p, t = pedestrians.MAX_CROSSWALKS, traffic.MAX_TRAFFIC
        self.ped_phase, self.ped_plan = np.zeros((n, p)), np.zeros((n, p, pedestrians.PLAN_CROSSINGS + 1))
        self.ped_contact, self.ped_walking = np.zeros((n, p), bool), np.zeros((n, p))
        self.peds = np.zeros((n, p, 3))  # x, y, present
        self.traffic_arc, self.traffic_speed, self.traffic_cruise = np.zeros((n, t)), np.zeros((n, t)), np.zeros((n, t))
        self.traffic_contact = np.zeros((n, t), bool)
        self.traffic = np.zeros((n, t, 5))  # x, y, cos, sin, present (`envs.traffic`)
        self.rngs = [np.random.default_rng(i) for i in range(n)]
        self.tracks: TrackPool | list = []

    # -- tracks -------------------------------------------------------------------------------------
    def load_tracks(self, seeds: Sequence[int]) -> None:
        """Draw the pool from these seeds; each track is built when a car first drives it."""
        self.tracks = TrackPool(seeds, self.level.shape)

    @property
    def material(self) -> np.ndarray:
        """(K, H, W) uint8 material grids of the pool (grass where a track is not built yet)."""
        return self.tracks.material

    STATE = ("pos", "heading", "speed", "track_id", "index", "arc", "progress", "clock", "ped_hits", "traffic_hits",
             "ped_phase", "ped_plan", "ped_contact", "ped_walking", "peds", "traffic_arc", "traffic_speed",
             "traffic_cruise", "traffic_contact", "traffic")

    def state_dict(self) -> dict:
        """Everything that makes the next steps what they will be: the per-car arrays (copies), the pool's
        seeds and each car's generator state. `load_state_dict` on a core of the same config continues it."""
        return {"arrays": {name: getattr(self, name).copy() for name in self.STATE},
                "pool_seeds": self.tracks.seeds.copy(), "rngs": [rng.bit_generator.state for rng in self.rngs]}

    def subset_state(self, cars: np.ndarray) -> dict:
        """The `state_dict` of the given cars alone (indices), for a core of len(cars) cars."""
        return {"arrays": {name: getattr(self, name)[cars].copy() for name in self.STATE},
                "pool_seeds": self.tracks.seeds.copy(),
                "rngs": [self.rngs[i].bit_generator.state for i in cars]}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict` (the tracks in use are built again, or fetched from the cache)."""
        if len(state["rngs"]) != self.num_cars:
            raise ValueError(f"the saved world has {len(state['rngs'])} cars; this one has {self.num_cars}")
        self.load_tracks([int(s) for s in state["pool_seeds"]])
        for name in self.STATE:
            getattr(self, name)[...] = state["arrays"][name]
        self.tracks.ensure(self.track_id)
        for rng, saved in zip(self.rngs, state["rngs"], strict=True):
            rng.bit_generator.state = saved

    def seed(self, seed: int | None) -> None:
        """Give car i its own generator, seeded seed + i (fresh OS entropy if seed is None)."""
        base = np.random.SeedSequence(seed).entropy if seed is None else seed
        self.rngs = [np.random.default_rng(base + i) for i in range(self.num_cars)]

    def seed_cars(self, seeds: Sequence[int]) -> None:
        """Give car i a generator seeded seeds[i]: its draws then depend on that seed alone, not on where
        the car sits in the batch (a population evaluated in shards draws what it would in one batch)."""
        if len(seeds) != self.num_cars:
            raise ValueError(f"car_seeds needs {self.num_cars} seeds, one per car; got {len(seeds)}")
        for i, seed in enumerate(seeds):
            self._reseed(i, seed)

    def _reseed(self, i: int, seed: int) -> None:
        """Car i's generator becomes `np.random.default_rng(seed)`: set in place to that state when it is a
        PCG64 (~1.5 us, against ~10 us to build one: evolution reseeds a car per episode)."""
        rng = self.rngs[i]
        if type(rng.bit_generator) is np.random.PCG64:
            rng.bit_generator.state = _seeded_state(int(seed))
        else:
            self.rngs[i] = np.random.default_rng(int(seed))

    def keep(self, cars: np.ndarray) -> None:
        """Drop every car but `cars` (distinct indices, in that order), in place: each kept car goes on exactly
        as it would have, its arrays and its own generator moving with it. `subset_state` copies instead,
        generators included (~10 us a car to build); this builds nothing."""
        cars = np.asarray(cars, dtype=np.int64)
        for name in self.STATE:
            setattr(self, name, getattr(self, name)[cars])
        self.rngs = [self.rngs[i] for i in cars]
        self.num_cars = len(cars)

    # -- episodes -----------------------------------------------------------------------------------
    def reset_cars(self, which: np.ndarray, track_index: np.ndarray | None = None,
                   seeds: Sequence[int] | None = None) -> None:
        """Start a new episode for the cars in `which` (indices), at the start line of a track of the pool:
        `track_index[j]` for car `which[j]` if given, else one drawn from the car's generator. `seeds[j]`, if
        given, first reseeds car `which[j]`'s generator (as `seed_cars` does), so the episode is the one a world
        reset with that car seed starts, whatever the car drove before (evolution's slots start each queued
        episode this way)."""
        if seeds is not None:
            if len(seeds) != len(which):
                raise ValueError(f"seeds needs one seed per car reset ({len(which)}), got {len(seeds)}")
            for i, seed in zip(which, seeds, strict=True):
                self._reseed(i, seed)
        level, random_timing = self.level, self.level.pedestrian_timing == "random"
        ks = np.empty(len(which), np.int64)
        u = np.empty((len(which), pedestrians.draws_needed(random_timing) + 2 * level.traffic))
        for j, i in enumerate(which):  # each car's own generator: its track, then one call for the rest
            rng = self.rngs[i]
            ks[j] = rng.integers(len(self.tracks)) if track_index is None else track_index[j]
            u[j] = rng.random(u.shape[1])
        self.tracks.ensure(ks)
        pool, starts = self.tracks, np.array([self.tracks[k].start_index for k in ks], np.int64)
        self.track_id[which], self.index[which], self.arc[which] = ks, starts, starts
        self.pos[which] = pool.centrelines[ks, starts]
        self.heading[which] = np.arctan2(pool.tangents[ks, starts, 1], pool.tangents[ks, starts, 0])
        ped_draws = u[:, : u.shape[1] - 2 * level.traffic]
        self.ped_phase[which], self.ped_plan[which] = pedestrians.timing_from_draws(ped_draws, random_timing,
                                                                                    level.pedestrian_wait)
        self.traffic_arc[which], self.traffic_cruise[which] = traffic.spawn(
            u[:, u.shape[1] - 2 * level.traffic :], level.traffic, pool.lengths[ks].astype(float), starts,
            level.traffic_speed)
        self.speed[which] = 0.0
        self.progress[which] = 0.0
        self.clock[which] = 0
        self.ped_hits[which] = 0
        self.traffic_hits[which] = 0
        self.ped_contact[which] = False
        self.traffic_contact[which] = False
        self.traffic_speed[which] = 0.0
        self._place_movers(which)

    def _place_movers(self, which: np.ndarray) -> None:
        """Put the pedestrians and traffic of the cars in `which` where they stand at the cars' clocks."""
        pool, level, k = self.tracks, self.level, self.track_id[which]
        peds, walking, cars = self.peds[which], self.ped_walking[which], self.traffic[which]
        pedestrians.place(pool.walks, pool.num_walks, k, self.clock[which], self.ped_phase[which],
                          self.ped_plan[which], level.pedestrian_speed, level.pedestrian_timing == "random",
                          self.config.pedestrians, peds, walking)
        traffic.place(pool.centrelines, pool.tangents, pool.lengths, k, self.traffic_arc[which],
                      self.traffic_cruise[which], cars)
        self.peds[which], self.ped_walking[which], self.traffic[which] = peds, walking, cars

    def step(self, steer: np.ndarray, throttle: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
        """Advance the active cars one step: `config.action_repeat` world steps under the same controls, each
        car stopping on the world step its episode ends. steer, throttle (N,) in [-1, 1]; active (N,) bool.

        Returns fresh per-car arrays: reward, terminated, truncated, crashed, lap_completed, clean_lap,
        lap_steps, new_hits (pedestrian and traffic contacts this step), the state `info` reports (progress,
        the fraction of the lap; pedestrian_hits, traffic_hits, track_seed), running (the episode goes on),
        and `ended`, how many episodes ended (an int). Inactive cars do not move and get zero reward and no
        flags.
        """
        out = self._world_step(steer, throttle, active)
        for _ in range(self.config.action_repeat - 1):
            moving = active & out["running"]  # a car whose episode ended sits the rest of the step out
            if not moving.any():
                break
            more = self._world_step(steer, throttle, moving)
            for key in ("reward", "new_hits", "lap_steps", "ended"):  # a lap's steps are 0 but where it ends
                out[key] += more[key]
            for key in ("terminated", "truncated", "crashed", "lap_completed", "clean_lap"):
                out[key] |= more[key]  # set only on the world step an episode ends
            for key in ("progress", "pedestrian_hits", "traffic_hits", "track_seed"):
                out[key] = more[key]  # a car that stood still reports its state unchanged
            out["running"] &= more["running"]
        return out

    def _world_step(self, steer: np.ndarray, throttle: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
        """One world step of the active cars (what `step` repeats), in one compiled call."""
        n, pool, level = self.num_cars, self.tracks, self.level
        floats, flags, counts = np.empty((2, n)), np.empty((6, n), bool), np.empty((5, n), np.int64)
        ended = _step_kernel(
            pool.material, pool.centrelines, pool.tangents, pool.lengths, pool.walks, pool.num_walks, pool.seeds,
            # the level's rules
            level.grip, level.contact_penalty, level.contact_ends_episode, self.config.max_episode_steps,
            self.config.pedestrians, level.pedestrian_speed, level.pedestrian_timing == "random", level.traffic > 0,
            # the cars
            self.pos, self.heading, self.speed, self.track_id, self.index, self.arc, self.progress, self.clock,
            self.ped_hits, self.traffic_hits,
            # their pedestrians and traffic
            self.peds, self.ped_phase, self.ped_plan, self.ped_walking, self.ped_contact,
            self.traffic, self.traffic_arc, self.traffic_speed, self.traffic_cruise, self.traffic_contact,
            # this step
            steer, throttle, active, floats, flags, counts)
        return {"reward": floats[0], "progress": floats[1], "terminated": flags[0], "truncated": flags[1],
                "crashed": flags[2], "lap_completed": flags[3], "clean_lap": flags[4], "lap_steps": counts[0],
                "new_hits": counts[1], "pedestrian_hits": counts[2], "traffic_hits": counts[3],
                "track_seed": counts[4], "running": flags[5], "ended": ended}

    def reset_info(self) -> dict[str, np.ndarray]:
        """The INFO_KEYS arrays (N,) as they stand between steps: nothing completed, crashed or timed yet."""
        n = self.num_cars
        return {"progress": self.progress / self.tracks.lengths[self.track_id], "lap_completed": np.zeros(n, bool),
                "clean_lap": np.zeros(n, bool), "lap_steps": np.zeros(n, np.int64), "crashed": np.zeros(n, bool),
                "pedestrian_hits": self.ped_hits.copy(), "traffic_hits": self.traffic_hits.copy(),
                "track_seed": self.seeds_in_use()}

    # -- observations -------------------------------------------------------------------------------
    def rays(self) -> np.ndarray:
        """(N, rays_size) float32: ray distances / range, speed / MAX_SPEED, heading to track / pi, and on
        levels with moving things (`Level.ray_kinds`) each ray's distance / range to the nearest pedestrian,
        then to the nearest traffic car, read through the road's edge (1: none in range); see `sensors.sense`."""
        n, r = self.num_cars, self.config.n_rays
        out = np.empty((n, self.config.rays_size), np.float32)
        pool = self.tracks
        _rays_kernel(pool.material, pool.tangents, self.track_id, self.index, self.pos, self.heading, self.speed,
                     self.ray_angles, self.config.ray_range, self.peds, self.traffic, self.level.ray_kinds, r, out)
        return out

    def pixels(self) -> np.ndarray:
        """(N, S, S, 3) uint8 egocentric images, the car facing up."""
        size = self.config.image_size
        out = np.empty((self.num_cars, size, size, 3), np.uint8)
        sensors.ego_pixels(self.tracks.material, self.palette, self.track_id, self.pos, self.heading,
                           self.config.cells_per_pixel, self.peds, self.traffic, out)
        if self.config.speedometer:
            sensors.stamp_speedometer(out, self.speed / physics.MAX_SPEED)
        return out

    def observe(self) -> np.ndarray | dict[str, np.ndarray]:
        """Fresh observation arrays for the configured mode."""
        mode = self.config.obs
        if mode == "rays":
            return self.rays()
        if mode == "pixels":
            return self.pixels()
        return {"rays": self.rays(), "pixels": self.pixels()}

    def seeds_in_use(self) -> np.ndarray:
        """(N,) the track seed each car is driving on."""
        return self.tracks.seeds[self.track_id]


@njit(cache=True)
def _rays_kernel(material, tangents, track_id, index, pos, heading, speed, angles, max_dist, peds, traffic_,
                 movers_on, n_rays, out):
    """Fill the rays observation (N, rays_size) in one call: the rays, speed, heading to the track, and
    (movers_on) each ray's distance to the nearest pedestrian and traffic car through the road's edge."""
    n = pos.shape[0]
    dist = np.empty((n, n_rays))
    ped = np.empty((n, n_rays if movers_on else 0))  # no columns: `sense` skips them
    car = np.empty((n, n_rays if movers_on else 0))
    sensors.sense(material, track_id, pos, heading, angles, max_dist, peds, traffic_, dist, ped, car)
    rel = np.empty(n)
    physics.heading_to_track(tangents, track_id, index, heading, rel)
    for i in range(n):
        for r in range(n_rays):
            out[i, r] = dist[i, r]
        out[i, n_rays] = speed[i] / physics.MAX_SPEED
        out[i, n_rays + 1] = rel[i] / np.pi
        if movers_on:
            for r in range(n_rays):
                out[i, n_rays + 2 + r] = ped[i, r]
                out[i, 2 * n_rays + 2 + r] = car[i, r]


@njit(cache=True)
def _step_kernel(material, centrelines, tangents, lengths, walks, num_walks, seeds,
                 grip, contact_penalty, contact_ends, max_steps, peds_on, ped_speed, ped_random, traffic_on,
                 pos, heading, speed, track_id, index, arc, progress, clock, ped_hits, traffic_hits,
                 peds, ped_phase, ped_plan, ped_walking, ped_contact,
                 traffic_, traffic_arc, traffic_speed, traffic_cruise, traffic_contact,
                 steer, throttle, active, floats, flags, counts):
    """One step of the whole batch in one compiled call (a single car pays one dispatch, not twenty).

    Order: pedestrians walk and traffic drives (yielding to where the cars are now), the cars move
    (bicycle), then the road check, the centreline, contacts, and
    reward = LAP_REWARD * (arc moved / lap length) - CRASH_PENALTY * crashed - contact_penalty * contacts
             (+ LAP_BONUS on completing the lap).
    Writes floats (2, N) = reward, progress; flags (6, N) = terminated, truncated, crashed, lap, clean lap,
    running; counts (5, N) = lap steps, new contacts, pedestrian hits, traffic hits, track seed. Returns how
    many episodes ended.
    """
    n = pos.shape[0]
    for i in range(n):
        clock[i] += active[i]
    pedestrians.place(walks, num_walks, track_id, clock, ped_phase, ped_plan, ped_speed, ped_random, peds_on,
                      peds, ped_walking)
    if traffic_on:
        traffic.drive(traffic_, traffic_arc, traffic_speed, traffic_cruise, pos, peds, active)
    physics.bicycle_step(pos, heading, speed, steer, throttle, active, grip)
    road = np.empty(n, np.bool_)
    physics.on_road(material, track_id, pos, road)
    moved = physics.follow_centreline(centrelines, tangents, lengths, track_id, pos, index, arc, active)
    traffic.place(centrelines, tangents, lengths, track_id, traffic_arc, traffic_cruise, traffic_)
    hits = pedestrians.collide(pos, peds, ped_contact, active)
    car_hits = traffic.collide(pos, traffic_, traffic_contact, active)
    ended = 0
    for i in range(n):
        length = lengths[track_id[i]]
        reward, crashed, lap, clean, lap_steps, contacts = 0.0, False, False, False, 0, 0
        if active[i]:
            contacts = hits[i] + car_hits[i]
            if contacts > 0:
                speed[i] = 0.0
            ped_hits[i] += hits[i]
            traffic_hits[i] += car_hits[i]
            progress[i] += moved[i]
            crashed = not road[i]
            lap = progress[i] >= length
            reward = LAP_REWARD * moved[i] / length - CRASH_PENALTY * crashed - contact_penalty * contacts
            if lap:
                reward += LAP_BONUS
                lap_steps = clock[i]
                clean = not crashed and ped_hits[i] == 0 and traffic_hits[i] == 0
        terminated = crashed or lap or (contact_ends and contacts > 0)
        truncated = active[i] and not terminated and clock[i] >= max_steps
        ended += terminated or truncated
        floats[0, i], floats[1, i] = reward, progress[i] / length
        flags[0, i], flags[1, i], flags[5, i] = terminated, truncated, not (terminated or truncated)
        flags[2, i], flags[3, i], flags[4, i] = crashed, lap, clean
        counts[0, i], counts[1, i], counts[2, i], counts[3, i] = lap_steps, contacts, ped_hits[i], traffic_hits[i]
        counts[4, i] = seeds[track_id[i]]
    return ended
