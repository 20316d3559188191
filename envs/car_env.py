"""`CarDriveEnv`: one car, a `gymnasium.Env` front over the batched core (N = 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from envs.core import INFO_KEYS, CarDriveCore, WorldConfig, draw_pool
from envs.levels import Level
from envs.physics import DISCRETE_ACTIONS
from envs.spaces import ACTION_MEANINGS, action_space, observation_space

# (steer, throttle) of each discrete action as the (1,) arrays the core takes, made once: the kernel only
# reads them, and building two arrays a step cost as much as the step's physics
_CONTROLS = [(np.array([steer]), np.array([throttle])) for steer, throttle in DISCRETE_ACTIONS]


class CarDriveEnv(gym.Env):
    """A car on a procedurally generated closed track, seen from above.

    ## Description
    A kinematic bicycle car (`envs.physics`) starts at rest on the start line of a track drawn from a pool
    of the chosen set (`envs.track`) and must drive laps. Pedestrians cross the road at the crosswalks. The
    `level` (`envs.levels`) sets the road's width and bends, the tyres' grip, how pedestrians time their
    crossings, traffic, and what a contact does: `easy` (the default), `normal`, `hard`, or any level added
    with `envs.register_level`.

    ## Action Space
    `Discrete(5)`: 0 no-op, 1 steer left, 2 steer right, 3 accelerate, 4 brake/reverse. With
    `continuous=True`, `Box(-1, 1, (2,))` = (steer, throttle): steer -1 is full left, throttle < 0 brakes
    and then reverses.

    ## Observation Space
    `obs="rays"`: float32 (n_rays + 2,) where the level's `ray_kinds` is False (easy: 11 with the default 9
    rays), (3 * n_rays + 2,) where it is True (normal, hard: 29). First the distances to the first thing met
    on the road (the road's edge, a pedestrian, a traffic car) along n_rays rays spread over 180 degrees
    (left to right), each divided by the 64-cell range so in [0, 1], exact to the grid; then speed / max
    speed and the heading relative to the track / pi, both in [-1, 1]; then, where `ray_kinds`, n_rays
    distances along the same rays to the nearest pedestrian and n_rays to the nearest traffic car, divided
    by the range (1: none within range). These two read on through the road's edge, as a lidar sees a
    person on the pavement: a pedestrian waiting beyond the kerb is seen before it steps out; one behind
    the car, or beyond the range, is not. Each is exact (ray-circle, ray-box).
    `obs="pixels"`: uint8 (64, 64, 3) top-down image turned with the car, which sits facing up at column
    32, three quarters down. `obs="both"`: `Dict(rays=..., pixels=...)`.

    ## Rewards
    Progress along the centreline: a full lap is worth 100 (driving backwards costs the same). -10 and the
    end of the episode for leaving the road; for each new contact with a pedestrian or a traffic car -10 and
    the car stops (easy), or -20 and the end of the episode (normal, hard), as the level's `contact_penalty`
    and `contact_ends_episode` say; +50 for completing the lap, which ends the episode.

    ## Starting State
    At rest on the start line, facing along the track; a track of the pool drawn from the env's generator.

    ## Episode End
    Terminated: the car's centre leaves the road, a lap is completed, or (normal, hard) a contact.
    Truncated: `max_episode_steps`.

    ## Arguments
    `obs` ("rays" | "pixels" | "both"), `continuous`, `level` (a name in `envs.LEVELS`: "easy" | "normal" |
    "hard" | a registered one; or an `envs.Level`), `tracks` ("train" | "heldout", the level's seed sets, | a
    list of seeds),
    `num_tracks` (pool size drawn from a named set), `n_rays`, `image_size`, `cells_per_pixel` (the world one
    pixel of `pixels` covers, cells), `speedometer` (the speed as a bar in the image's bottom rows),
    `pedestrians`, `action_repeat` (world steps each step holds its action for, rewards summed: frame skip),
    `max_episode_steps` (world steps), `render_mode` ("human" | "rgb_array"), `show_rays`.

    `info`: `progress` (fraction of the lap), `lap_completed`, `clean_lap` (completed with no crash and no
    contact), `lap_steps` (world steps the lap took, on the step it completes; else 0), `crashed`,
    `pedestrian_hits`, `traffic_hits`, `track_seed`.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 30}

    def __init__(self, *, obs: str = "rays", continuous: bool = False, level: str | Level = "easy",
                 tracks: str | Sequence[int] = "train", num_tracks: int = 8, n_rays: int = 9,
                 image_size: int = 64, cells_per_pixel: float = 1.5, speedometer: bool = False,
                 pedestrians: bool = True, action_repeat: int = 1,
                 max_episode_steps: int = 1000, render_mode: str | None = None, show_rays: bool = False):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; choose one of "
                             f"{self.metadata['render_modes']} or None")
        self.config = WorldConfig(obs=obs, level=level, n_rays=n_rays, image_size=image_size,
                                  cells_per_pixel=cells_per_pixel, speedometer=speedometer,
                                  pedestrians=pedestrians, action_repeat=action_repeat,
                                  max_episode_steps=max_episode_steps, tracks=tracks, num_tracks=num_tracks)
        self.continuous, self.render_mode, self.show_rays = bool(continuous), render_mode, show_rays
        self.observation_space = observation_space(self.config)
        self.action_space = action_space(self.continuous)
        self.core = CarDriveCore(1, self.config)
        self._active = np.ones(1, bool)
        self._renderer = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or not self.core.tracks:
            pool_seed = seed if seed is not None else int(self.np_random.integers(2**62))
            self.core.load_tracks(draw_pool(self.config, np.random.default_rng([pool_seed, 1])))
        self.core.rngs = [self.np_random]  # all randomness through the env's generator
        self.core.reset_cars(np.zeros(1, np.int64))
        if self.render_mode == "human":
            self.render()
        return self._observe(), self._info(None)

    def step(self, action):
        if not self.core.tracks:
            raise RuntimeError("call reset() before step()")
        steer, throttle = self._decode(action)
        out = self.core.step(steer, throttle, self._active)
        if self.render_mode == "human":
            self.render()
        return (self._observe(), out["reward"].tolist()[0], out["terminated"].tolist()[0],
                out["truncated"].tolist()[0], self._info(out))

    def _decode(self, action) -> tuple[np.ndarray, np.ndarray]:
        if self.continuous:
            a = np.asarray(action, dtype=np.float64)
            if a.shape != (2,) or not (np.abs(a) <= 1.0).all():  # also catches NaN
                raise ValueError(f"action {action!r} is outside Box(-1, 1, (2,)) = (steer, throttle)")
            return a[:1].copy(), a[1:].copy()
        if type(action) is int and 0 <= action < 5:  # the common case first
            return _CONTROLS[action]
        if isinstance(action, np.ndarray) and action.size == 1 and action.dtype.kind in "iu":
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) or not (
            0 <= action < 5
        ):
            raise ValueError(f"action {action!r} is outside Discrete(5): " + ", ".join(
                f"{i} {m}" for i, m in enumerate(ACTION_MEANINGS)))
        return _CONTROLS[action]

    def _observe(self):
        obs = self.core.observe()
        if isinstance(obs, dict):
            return {key: value[0] for key, value in obs.items()}
        return obs[0]

    def _info(self, out: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """The step's info as Python scalars; `out` is the core's step result (None at reset)."""
        arrays = self.core.reset_info() if out is None else out
        return {key: arrays[key].tolist()[0] for key in INFO_KEYS}  # tolist: 3x faster than [0].item()

    def render(self):
        """The car, its track, pedestrians and a HUD: an (H, W, 3) array in rgb_array mode."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'")
            return None
        if self._renderer is None:
            from envs.render import Renderer  # pygame is imported here, never by step()

            self._renderer = Renderer(self.render_mode, fps=self.metadata["render_fps"])
        return self._renderer.draw(self.core, show_rays=self.show_rays)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
