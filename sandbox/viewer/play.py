"""`sandbox play`: drive a car yourself with the arrow keys, and record the drive as a demonstration.

    up accelerate   down brake / reverse   left / right steer   Esc (or closing the window) end

The keys held are tracked from the key events themselves (KEYDOWN / KEYUP), not from the keyboard's state
array, so a drive is exactly what its events say (and a test can post them). Actions are (steer, throttle) =
(right - left, up - down), or with `discrete=True` one Discrete(5) action a step: steering before throttle,
as `envs.drive_controller` chooses. `--record FILE.npz` writes the trajectory format of `sandbox.runs.trajectories`
(what `sandbox collect` writes and the trainable components read), with driver "human".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pygame

from sandbox.runs.trajectories import save_trajectories, split_obs
from sandbox.viewer.scene import Scene, distinct_colours
from sandbox.viewer.video import check_writable
from sandbox.viewer.window import display_available, open_display

ARROWS = (pygame.K_LEFT, pygame.K_RIGHT, pygame.K_UP, pygame.K_DOWN)
SIZE = (800, 800)


def keys_to_action(held: set[int], discrete: bool) -> np.ndarray:
    """The action (one car's) for the arrow keys held: (steer, throttle) float32, or a Discrete(5) int."""
    steer = float(pygame.K_RIGHT in held) - float(pygame.K_LEFT in held)
    throttle = float(pygame.K_UP in held) - float(pygame.K_DOWN in held)
    if not discrete:
        return np.array([steer, throttle], np.float32)
    if steer:
        return np.array(1 if steer < 0 else 2)
    return np.array(3 if throttle > 0 else 4 if throttle < 0 else 0)


class HumanDriver:
    """One car driven from key events, drawn by a follow camera, its steps recorded.

    Args:
        level: world level.
        tracks: track set ("train", "heldout") or explicit seeds.
        obs: the observation recorded ("rays", "pixels", "both").
        discrete: record Discrete(5) actions instead of (steer, throttle).
        seed: seed of the track choice and the pedestrians.
        episodes: `tick` returns False after this many episodes.
    """

    def __init__(self, level: str = "easy", tracks: str = "heldout", obs: str = "rays", discrete: bool = False,
                 seed: int = 0, episodes: int = 3):
        from envs import CarDriveVectorEnv

        self.env = CarDriveVectorEnv(1, obs=obs, continuous=not discrete, level=level, tracks=tracks)
        self.level, self.obs_mode, self.discrete, self.episodes = level, obs, discrete, episodes
        self.obs, _ = self.env.reset(seed=seed)
        open_display()
        pygame.font.init()
        pygame.display.set_caption("sandbox play: arrows drive, Esc ends")
        self.surface = pygame.display.set_mode(SIZE)
        self.font = pygame.font.Font(None, 24)
        self.scene = Scene(pygame.font.Font(None, 18))
        self.held: set[int] = set()
        self.steps: dict[str, list] = {k: [] for k in ("obs", "action", "reward", "terminated", "truncated",
                                                       "episode")}
        self.episode, self.laps, self.episode_return, self.quit = 0, 0, 0.0, False

    def tick(self) -> bool:
        """Read the key events, drive one step, record it, draw; False once the drive is over."""
        for event in pygame.event.get():
            if event.type == pygame.QUIT or event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
                self.quit = True
            elif event.type == pygame.KEYDOWN and event.key in ARROWS:
                self.held.add(event.key)
            elif event.type == pygame.KEYUP:
                self.held.discard(event.key)
        if self.quit or self.episode >= self.episodes:
            return False
        action = keys_to_action(self.held, self.discrete)
        obs, reward, terminated, truncated, info = self.env.step(action[None])
        for key, value in (("obs", self.obs), ("action", action), ("reward", reward[0]),
                           ("terminated", terminated[0]), ("truncated", truncated[0]), ("episode", self.episode)):
            self.steps[key].append(value)
        self.obs, self.episode_return = obs, self.episode_return + float(reward[0])
        if terminated[0] or truncated[0]:
            self.laps += int(info["lap_completed"][0])
            print(f"episode {self.episode}: return {self.episode_return:.1f}, "
                  f"{'lap' if info['lap_completed'][0] else 'crash' if info['crashed'][0] else 'ended'}",
                  file=sys.stderr)
            self.episode, self.episode_return = self.episode + 1, 0.0
            self.obs, *_ = self.env.step(action[None])  # next-step autoreset: this step only starts the episode
        self.draw()
        return self.episode < self.episodes

    def draw(self) -> None:
        """The follow camera on the car, and a line of figures."""
        core = self.env.core
        self.scene.follow(self.surface, self.surface.get_rect(), core, distinct_colours(1), 0)
        lap = core.progress[0] / core.tracks.lengths[core.track_id[0]]
        text = (f"{self.level}   episode {self.episode + 1}/{self.episodes}   lap {lap:.0%}   speed "
                f"{core.speed[0]:.1f}   return {self.episode_return:.1f}   laps {self.laps}")
        label = self.font.render(text, True, (255, 255, 255))
        pygame.draw.rect(self.surface, (0, 0, 0), (0, SIZE[1] - 30, SIZE[0], 30))
        self.surface.blit(label, (8, SIZE[1] - 24))
        pygame.display.flip()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the steps driven so far as a trajectory file."""
        if not self.steps["reward"]:
            raise ValueError(f"--record {path}: nothing was driven, so there is nothing to save")
        arrays = {k: np.asarray(v) for k, v in self.steps.items() if k != "obs"}
        arrays["action"] = arrays["action"].astype(np.int64 if self.discrete else np.float32)
        arrays["reward"] = arrays["reward"].astype(np.float32)
        arrays["episode"] = arrays["episode"].astype(np.int64)
        first = self.steps["obs"]
        stacked = {k: np.concatenate([split_obs(o)[k] for o in first]) for k in split_obs(first[0])}
        meta = {"level": self.level, "obs": self.obs_mode, "continuous": not self.discrete, "driver": "human"}
        return save_trajectories(path, {**arrays, **stacked}, meta)

    def close(self) -> None:
        self.env.close()
        pygame.display.quit()


def run_play(level: str = "easy", tracks: str = "heldout", obs: str = "rays", discrete: bool = False,
             record: str | None = None, episodes: int = 3, seed: int = 0, fps: int = 30) -> Path | None:
    """Drive until `episodes` are done or the window closes; save the drive to `record`; return its path.
    A bad `record` (not .npz, an unwritable place) is refused before the drive, not after it."""
    if record is not None:
        if not str(record).endswith(".npz"):
            raise ValueError(f"--record {record}: a demonstration is saved as a .npz file")
        check_writable(record)
    if not display_available():
        raise ValueError("play needs a window, and there is no display here (DISPLAY is unset, or "
                         "SDL_VIDEODRIVER is dummy)")
    driver = HumanDriver(level, tracks, obs, discrete, seed, episodes)
    clock = pygame.time.Clock()
    try:
        while driver.tick():
            clock.tick(fps)
    finally:
        driver.close()
        path = _save(driver, record)  # even when the drive ended in an error (Ctrl-C): what was driven is kept
    return path


def _save(driver: HumanDriver, record: str | os.PathLike | None) -> Path | None:
    """Say what was driven; write it to `record` (if given and anything was driven) and say where."""
    steps = len(driver.steps["reward"])
    print(f"drove {steps} steps, {driver.laps} lap(s)")
    if record is None:
        return None
    if not steps:
        print(f"--record {record}: nothing was driven, so nothing was saved", file=sys.stderr)
        return None
    path = driver.save(record)
    print(f"wrote {path} ({steps} steps, level {driver.level}, obs {driver.obs_mode})")
    return path
