"""The batched world: N independent cars, each on a track of a shared pool, stepped in one call.

`CarDriveCore` owns the state arrays (shape (N, ...)) and the stacked track pool, and composes the compiled
kernels of `physics`, `pedestrians` and `sensors`. It knows nothing of gymnasium: `CarDriveVectorEnv` and
`CarDriveEnv` are thin fronts over it, so the single car and car i of a batch run the very same code.

Randomness is per car: car i draws its track from the pool and its pedestrians' phases from its own
generator, seeded `seed + i` (gymnasium's convention for sub-environments), so car i of a batch and a
one-car world seeded `seed + i` on the same pool live the same episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from envs import pedestrians, physics, sensors
from envs.track import Track, make_track, track_seeds

OBS_MODES = ("rays", "pixels", "both")

LAP_REWARD = 100.0  # progress reward for a whole lap, paid as the car moves along the centreline
LAP_BONUS = 50.0  # extra reward on completing the lap (the episode ends there)
CRASH_PENALTY = 10.0  # leaving the road (the episode ends there)
PEDESTRIAN_PENALTY = 10.0  # each new contact with a pedestrian (the car stops dead)


@dataclass(frozen=True)
class WorldConfig:
    """What a world is built from; every env argument that is not about gymnasium lands here.

    Attributes:
        obs: "rays", "pixels" or "both".
        n_rays: number of distance rays, spread evenly over `ray_fov`.
        ray_fov: angle covered by the rays, radians, centred on the heading (left to right).
        ray_range: longest distance a ray reports, cells; distances are divided by it.
        image_size: side of the egocentric image, pixels.
        cells_per_pixel: how much of the world one pixel covers.
        pedestrians: whether pedestrians walk across the crosswalks.
        max_episode_steps: truncation limit.
        tracks: "train", "heldout", or explicit track seeds.
        num_tracks: pool size drawn from a named set (ignored for explicit seeds).
    """

    obs: str = "rays"
    n_rays: int = 9
    ray_fov: float = np.pi
    ray_range: float = 64.0
    image_size: int = 64
    cells_per_pixel: float = 1.5
    pedestrians: bool = True
    max_episode_steps: int = 1000
    tracks: str | Sequence[int] = "train"
    num_tracks: int = 8

    def __post_init__(self) -> None:
        if self.obs not in OBS_MODES:
            raise ValueError(f"unknown obs mode {self.obs!r}; choose one of {OBS_MODES}")
        for name in ("n_rays", "image_size", "max_episode_steps", "num_tracks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0 < self.ray_fov <= 2 * np.pi or not self.ray_range > 0 or not self.cells_per_pixel > 0:
            raise ValueError("ray_fov must be in (0, 2*pi], ray_range and cells_per_pixel > 0")
        if isinstance(self.tracks, str):
            track_seeds(self.tracks)  # raises on an unknown set name
        elif len(self.tracks) == 0 or not all(isinstance(s, (int, np.integer)) for s in self.tracks):
            raise ValueError(f"tracks must be 'train', 'heldout' or a non-empty list of int seeds, got "
                             f"{self.tracks!r}")


def draw_pool(config: WorldConfig, rng: np.random.Generator) -> list[int]:
    """The track seeds a world drives on: explicit seeds as given, else `num_tracks` drawn from the set."""
    if not isinstance(config.tracks, str):
        return [int(s) for s in config.tracks]
    seeds = track_seeds(config.tracks)
    count = min(config.num_tracks, len(seeds))
    return [int(s) for s in rng.choice(seeds, size=count, replace=False)]


class CarDriveCore:
    """State and step of N cars. Arrays are public for the renderer and tests; treat them as read-only."""

    def __init__(self, num_cars: int, config: WorldConfig):
        n = num_cars
        self.num_cars, self.config = n, config
        self.ray_angles = np.linspace(-config.ray_fov / 2, config.ray_fov / 2, config.n_rays)
        if config.n_rays == 1:
            self.ray_angles = np.zeros(1)
        self.palette = np.array(sensors.PALETTE, dtype=np.uint8)
        self.pos = np.zeros((n, 2))
        self.heading, self.speed = np.zeros(n), np.zeros(n)
        self.track_id, self.index = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.arc, self.progress = np.zeros(n), np.zeros(n)  # place on the lap; net arc driven, cells
        self.clock, self.ped_hits = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.ped_phase = np.zeros((n, pedestrians.MAX_CROSSWALKS))
        self.ped_contact = np.zeros((n, pedestrians.MAX_CROSSWALKS), bool)
        self.peds = np.zeros((n, pedestrians.MAX_CROSSWALKS, 3))
        self.rngs = [np.random.default_rng(i) for i in range(n)]
        self.tracks: list[Track] = []

    # -- tracks -------------------------------------------------------------------------------------
    def load_tracks(self, seeds: Sequence[int]) -> None:
        """Build (or fetch from the cache) the pool and stack it into the arrays the kernels read."""
        self.tracks = [make_track(int(s)) for s in seeds]
        k, m_max = len(self.tracks), max(int(t.length) for t in self.tracks)
        self.material = np.stack([t.material for t in self.tracks])  # (K, H, W)
        self.centrelines = np.zeros((k, m_max, 2))
        self.tangents = np.zeros((k, m_max, 2))
        self.lengths = np.array([int(t.length) for t in self.tracks], np.int64)
        self.walks = np.zeros((k, pedestrians.MAX_CROSSWALKS, 2, 2))
        self.num_walks = np.array([len(t.crosswalks) for t in self.tracks], np.int64)
        for j, t in enumerate(self.tracks):
            m = int(t.length)
            self.centrelines[j, :m], self.tangents[j, :m] = t.centreline, t.tangents
            c = t.crosswalks
            self.walks[j, : len(c)] = pedestrians.walk_segments(t.centreline[c], t.tangents[c], t.half_width)

    def seed(self, seed: int | None) -> None:
        """Give car i its own generator, seeded seed + i (fresh OS entropy if seed is None)."""
        base = np.random.SeedSequence(seed).entropy if seed is None else seed
        self.rngs = [np.random.default_rng(base + i) for i in range(self.num_cars)]

    # -- episodes -----------------------------------------------------------------------------------
    def reset_cars(self, which: np.ndarray, track_index: np.ndarray | None = None) -> None:
        """Start a new episode for the cars in `which` (indices), at the start line of a track of the pool:
        `track_index[j]` for car `which[j]` if given, else one drawn from the car's generator."""
        for j, i in enumerate(which):
            rng = self.rngs[i]
            k = int(rng.integers(len(self.tracks))) if track_index is None else int(track_index[j])
            t = self.tracks[k]
            s = t.start_index
            self.track_id[i], self.index[i], self.arc[i] = k, s, float(s)
            self.pos[i] = t.centreline[s]
            self.heading[i] = np.arctan2(t.tangents[s, 1], t.tangents[s, 0])
            self.ped_phase[i] = rng.uniform(0.0, 2.0, pedestrians.MAX_CROSSWALKS)
        self.speed[which] = 0.0
        self.progress[which] = 0.0
        self.clock[which] = 0
        self.ped_hits[which] = 0
        self.ped_contact[which] = False
        self._place_pedestrians()

    def _place_pedestrians(self) -> None:
        pedestrians.place(self.walks, self.num_walks, self.track_id, self.clock, self.ped_phase,
                          self.config.pedestrians, self.peds)

    def step(self, steer: np.ndarray, throttle: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
        """Advance the active cars one step. steer, throttle (N,) in [-1, 1]; active (N,) bool.

        Returns fresh per-car arrays: reward, terminated, truncated, crashed, lap_completed, new_hits.
        Inactive cars do not move and get zeros.
        """
        n = self.num_cars
        out = {"reward": np.zeros(n), "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool),
               "crashed": np.zeros(n, bool), "lap_completed": np.zeros(n, bool),
               "new_hits": np.zeros(n, np.int64)}
        _step_kernel(self.material, self.centrelines, self.tangents, self.lengths, self.walks, self.num_walks,
                     self.config.pedestrians, self.config.max_episode_steps,
                     self.pos, self.heading, self.speed, self.track_id, self.index, self.arc, self.progress,
                     self.clock, self.ped_phase, self.ped_contact, self.peds, self.ped_hits,
                     steer, throttle, active, out["reward"], out["terminated"], out["truncated"],
                     out["crashed"], out["lap_completed"], out["new_hits"])
        return out

    # -- observations -------------------------------------------------------------------------------
    def rays(self) -> np.ndarray:
        """(N, n_rays + 2) float32: ray distances / range, speed / MAX_SPEED, heading to track / pi."""
        n, r = self.num_cars, self.config.n_rays
        dist = np.empty((n, r))
        sensors.cast_rays(self.material, self.track_id, self.pos, self.heading, self.ray_angles,
                          self.config.ray_range, self.peds, dist)
        rel = np.empty(n)
        physics.heading_to_track(self.tangents, self.track_id, self.index, self.heading, rel)
        out = np.empty((n, r + 2), np.float32)
        out[:, :r] = dist
        out[:, r] = self.speed / physics.MAX_SPEED
        out[:, r + 1] = rel / np.pi
        return out

    def pixels(self) -> np.ndarray:
        """(N, S, S, 3) uint8 egocentric images, the car facing up."""
        size = self.config.image_size
        out = np.empty((self.num_cars, size, size, 3), np.uint8)
        sensors.ego_pixels(self.material, self.palette, self.track_id, self.pos, self.heading,
                           self.config.cells_per_pixel, self.peds, out)
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
        return np.array([self.tracks[k].seed for k in self.track_id], np.int64)


@njit(cache=True)
def _step_kernel(material, centrelines, tangents, lengths, walks, num_walks, peds_on, max_steps,
                 pos, heading, speed, track_id, index, arc, progress, clock, ped_phase, ped_contact, peds,
                 ped_hits, steer, throttle, active, reward, terminated, truncated, crashed, lap, new_hits):
    """One step of the whole batch in one compiled call (a single car pays one dispatch, not twenty).

    Order: move (bicycle), check the road, follow the centreline, move pedestrians and count contacts,
    then reward = LAP_REWARD * (arc moved / lap length) - penalties (+ LAP_BONUS on completing the lap).
    """
    for i in range(pos.shape[0]):
        clock[i] += active[i]
    physics.bicycle_step(pos, heading, speed, steer, throttle, active)
    road = np.empty(pos.shape[0], np.bool_)
    physics.on_road(material, track_id, pos, road)
    moved = physics.follow_centreline(centrelines, tangents, lengths, track_id, pos, index, arc, active)
    pedestrians.place(walks, num_walks, track_id, clock, ped_phase, peds_on, peds)
    hits = pedestrians.collide(pos, peds, ped_contact, active)
    for i in range(pos.shape[0]):
        if not active[i]:
            continue
        if hits[i] > 0:
            speed[i] = 0.0
        ped_hits[i] += hits[i]
        new_hits[i] = hits[i]
        progress[i] += moved[i]
        length = lengths[track_id[i]]
        crashed[i] = not road[i]
        lap[i] = progress[i] >= length
        reward[i] = LAP_REWARD * moved[i] / length - CRASH_PENALTY * crashed[i] - PEDESTRIAN_PENALTY * hits[i]
        if lap[i]:
            reward[i] += LAP_BONUS
        terminated[i] = crashed[i] or lap[i]
        truncated[i] = not terminated[i] and clock[i] >= max_steps
