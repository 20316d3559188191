"""`CarDriveVectorEnv`: N cars stepped as one batch, a native `gymnasium.vector.VectorEnv`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.core import INFO_KEYS, CarDriveCore, WorldConfig, draw_pool
from envs.levels import Level
from envs.spaces import action_space, decode_actions, observation_space


class CarDriveVectorEnv(VectorEnv):
    """N independent cars, each on a track of the pool, stepped in one compiled call.

    Same world, spaces, rewards and episode rules as `CarDriveEnv` (see its docstring); this is the fast
    path for learners and populations. Cars do not collide with one another.

    Autoreset is next-step (`metadata["autoreset_mode"]`, as gymnasium's own vector envs): the step after a
    car's episode ends ignores that car's action, starts its next episode, and returns the new first
    observation with reward 0 and both flags False. `reset(seed=s)` seeds car i with s + i, so car i lives
    the same episodes as a `CarDriveEnv` seeded s + i on the same explicit track list.

    `info` holds per-car arrays: `progress` (fraction of the lap), `lap_completed`, `clean_lap` (completed with
    no crash and no contact), `lap_steps` (world steps the lap took, on the step it completes; else 0), `crashed`,
    `pedestrian_hits` and `traffic_hits` (this episode), `track_seed`.

    `render()` returns (or shows) one frame with every car of the batch, the tracks in use side by side.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 30,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, *, obs: str = "rays", continuous: bool = False,
                 level: str | Level = "easy", tracks: str | Sequence[int] = "train", num_tracks: int = 8,
                 n_rays: int = 9, image_size: int = 64, cells_per_pixel: float = 1.5, speedometer: bool = False,
                 pedestrians: bool = True, action_repeat: int = 1,
                 max_episode_steps: int = 1000, render_mode: str | None = None, show_rays: bool = False):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; choose one of "
                             f"{self.metadata['render_modes']} or None")
        self.config = WorldConfig(obs=obs, level=level, n_rays=n_rays, image_size=image_size,
                                  cells_per_pixel=cells_per_pixel, speedometer=speedometer,
                                  pedestrians=pedestrians, action_repeat=action_repeat,
                                  max_episode_steps=max_episode_steps, tracks=tracks, num_tracks=num_tracks)
        self.num_envs, self.continuous = int(num_envs), bool(continuous)
        self.render_mode, self.show_rays = render_mode, show_rays
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.continuous)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.core = CarDriveCore(self.num_envs, self.config)
        self._arguments = {"obs": obs, "continuous": continuous, "level": level, "tracks": tracks,
                           "num_tracks": num_tracks, "n_rays": n_rays, "image_size": image_size,
                           "cells_per_pixel": cells_per_pixel, "speedometer": speedometer,
                           "pedestrians": pedestrians, "action_repeat": action_repeat,
                           "max_episode_steps": max_episode_steps}
        self._running, self._ended = np.ones(self.num_envs, bool), 0  # per car; how many episodes just ended
        self._renderer = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start every car's episode. A seed fixes the track pool, each car's track and its pedestrians.

        Options: `track_index` (num_envs ints) puts car i on pool track track_index[i]; `car_seeds` (num_envs
        ints) seeds car i's own generator (its pedestrians, traffic and later tracks) with car_seeds[i].
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        super().reset(seed=seed)
        if seed is not None or not self.core.tracks:
            pool_seed = seed if seed is not None else int(self.np_random.integers(2**62))
            self.core.load_tracks(draw_pool(self.config, np.random.default_rng([pool_seed, 1])))
            if not (options and "car_seeds" in options):  # (car seeds replace every generator seed() would make)
                self.core.seed(pool_seed)
        if options and "car_seeds" in options:
            self.core.seed_cars(options["car_seeds"])
        self.core.reset_cars(np.arange(self.num_envs), self._track_index(options))
        self._running, self._ended = np.ones(self.num_envs, bool), 0
        return self.core.observe(), self.core.reset_info()

    def _track_index(self, options: dict[str, Any] | None) -> np.ndarray | None:
        """`options={"track_index": idx}` puts car i on pool track idx[i] for this episode (evaluation)."""
        if not options or "track_index" not in options:
            return None
        idx = np.asarray(options["track_index"])
        if idx.shape != (self.num_envs,) or idx.dtype.kind not in "iu" or not (
            (idx >= 0) & (idx < len(self.core.tracks))
        ).all():
            raise ValueError(f"options['track_index'] must be {self.num_envs} ints in [0, "
                             f"{len(self.core.tracks)}), got {options['track_index']!r}")
        return idx

    def step(self, actions):
        """Step every car; cars whose episode ended last step start a new one instead (next-step autoreset)."""
        if not self.core.tracks:
            raise RuntimeError("call reset() before step()")
        steer, throttle = decode_actions(actions, self.continuous, self.num_envs)
        if self._ended:  # the cars whose episode ended last step sit this step out and start a new one
            self.core.reset_cars(np.flatnonzero(~self._running))
        out = self.core.step(steer, throttle, self._running)
        self._running, self._ended = out["running"], out["ended"]
        info = {key: out[key] for key in INFO_KEYS}
        if self.render_mode == "human":
            self.render()
        return self.core.observe(), out["reward"], out["terminated"], out["truncated"], info

    def state_dict(self) -> dict:
        """The batch's whole state (numpy arrays, numbers, dicts), to continue it later exactly."""
        return {"core": self.core.state_dict(), "running": self._running.copy(), "ended": int(self._ended),
                "np_random": self.np_random.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict` of an env built with the same arguments."""
        self.core.load_state_dict(state["core"])
        self._running, self._ended = np.asarray(state["running"], bool).copy(), int(state["ended"])
        self.np_random.bit_generator.state = state["np_random"]

    def subset(self, cars: Sequence[int] | np.ndarray) -> CarDriveVectorEnv:
        """A new batch of the given cars of this one, each as it is now: their episodes go on exactly as they
        would have here (each car keeps its own generator). `keep` does the same in place, without copying."""
        cars = np.asarray(cars, dtype=np.int64)
        if cars.ndim != 1 or len(cars) == 0 or not ((cars >= 0) & (cars < self.num_envs)).all():
            raise ValueError(f"subset needs a non-empty list of car indices in [0, {self.num_envs}), got {cars!r}")
        sub = CarDriveVectorEnv(len(cars), **self._arguments)
        sub.core.load_state_dict(self.core.subset_state(cars))
        sub._running = self._running[cars].copy()
        sub._ended = int((~sub._running).sum())
        sub.np_random.bit_generator.state = self.np_random.bit_generator.state
        return sub

    def keep(self, cars: Sequence[int] | np.ndarray) -> None:
        """Drop every car of this batch but `cars` (distinct indices, in that order), in place: what `subset`
        does without building a new batch (no generator is made, no track pool loaded). Evolution's slots
        drop cars whose evaluation is over this way once its queue is dry (evolve/slots.py)."""
        cars = np.asarray(cars, dtype=np.int64)
        if (cars.ndim != 1 or len(cars) == 0 or not ((cars >= 0) & (cars < self.num_envs)).all()
                or len(np.unique(cars)) != len(cars)):
            raise ValueError(f"keep needs a non-empty list of distinct car indices in [0, {self.num_envs}), got "
                             f"{cars!r}")
        self.core.keep(cars)
        self._running = self._running[cars]
        self._ended = int((~self._running).sum())
        self.num_envs = len(cars)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def observe(self):
        """The current observation of every car (fresh arrays), e.g. after `load_state_dict`."""
        return self.core.observe()

    def render(self):
        """One frame of the whole batch: an (H, W, 3) uint8 array in rgb_array mode, a window in human."""
        if self.render_mode is None:
            raise ValueError("render() needs render_mode='rgb_array' or 'human' at construction")
        if self._renderer is None:
            from envs.render import Renderer  # pygame is imported here, never by step()

            self._renderer = Renderer(self.render_mode, fps=self.metadata["render_fps"])
        return self._renderer.draw(self.core, show_rays=self.show_rays)

    def close_extras(self, **kwargs: Any) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
