"""The live window: watch agents learn and populations evolve, through the loops' one hook.

    viewer = Viewer("A2C · easy · rays · mlp", total=500_000)
    run_training("a2c", settings, run_dir, on_event=viewer)     # or run_evolution(..., on_event=viewer)
    viewer.close()

The viewer is the hook (`sandbox.runs.hooks.Hook`). It reads `step` events (the env to draw, what the step returned,
and for a population each car's running fitness) and `update` / `generation` events (the learning curve, and
`save_checkpoint` or, for a population, `checkpoint_path`). It stays out of the training's way:

- drawing runs on a timer (`fps`, 30 by default), not on every step: between frames a step event costs the
  tally's few numpy calls and a clock read;
- speed is how many batch steps run between frames: 1 moves the cars smoothly (the training waits for the
  frame rate), `max` trains flat out and draws whenever a frame is due (`sandbox bench watch` measures it);
- the side panel is redrawn five times a second, the world every frame.

Keys: space pause (the hook blocks, pumping events), + / - speed, R sensor rays, F follow the leading car,
S save a checkpoint, Esc (or closing the window) save a checkpoint and quit. A checkpoint is saved at the next
`update` or `generation` event, the only moment the loop's state is whole; quitting then raises `StopRun`
out of the loop. Headless (no display, or `window=False`), the same frames are drawn off screen and go to a
video and PNG snapshots (`sandbox.viewer.video.Recorder`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pygame

from sandbox.viewer.hud import Hud, Tally
from sandbox.viewer.scene import CrashMarks, Scene, distinct_colours, fitness_colours
from sandbox.viewer.video import Recorder

SPEEDS = (1, 2, 4, 8, 16, 32, 64, 0)  # batch steps between frames; 0: as fast as training goes
SIZE = (1280, 800)  # the window: a square world view, the HUD panel beside it
HUD_EVERY = 0.2  # seconds between redraws of the HUD panel


class StopRun(Exception):  # noqa: N818 (not an error: the person asked the run to stop)
    """Raised out of the loop when the person quits; `checkpoint` is the path saved first, if any."""

    def __init__(self, checkpoint: Path | None):
        super().__init__(f"stopped from the viewer; checkpoint {checkpoint}")
        self.checkpoint = checkpoint


def open_display() -> None:
    """`pygame.display.init()`, once more if it fails: SDL 2.28's x11 driver fails every second init after a
    `pygame.display.quit()` in one process ("x11 not available"), and succeeds on the next."""
    try:
        pygame.display.init()
    except pygame.error:
        pygame.display.init()


def display_available() -> bool:
    """Whether a window can open here: a real video driver and (on Linux) a display to show it on."""
    if os.environ.get("SDL_VIDEODRIVER", "") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def speed_label(speed: int) -> str:
    """'max' or '4 steps/frame'."""
    return "max" if speed == 0 else f"{speed} step{'s' if speed > 1 else ''}/frame"


class Viewer:
    """The hook that draws a run; see the module docstring.

    Args:
        title: the HUD's first line (algorithm, level, observation, backbone).
        window: open a window; False draws off screen (headless).
        fps: frames per second the timer aims at.
        speed: batch steps between frames, one of SPEEDS (0 = max).
        record: a .mp4 or .gif the frames are written to (None: no video).
        png_dir: where PNG snapshots go, every `png_every` seconds (None: none).
        population: cars are a population (coloured by fitness, the curve by generation).
        total: total steps (agents) or generations (evolution), for the progress line.
        saves: quitting waits for a checkpoint at the next update (False: a replay quits at once).
        min_episodes: episodes a point of the learning curve averages at least (an agent's num_envs).
    """

    def __init__(self, title: str, *, window: bool = True, fps: int = 30, speed: int = 0,
                 record: str | os.PathLike | None = None, png_dir: str | os.PathLike | None = None,
                 png_every: float = 10.0, population: bool = False, total: int | None = None, saves: bool = True,
                 min_episodes: int = 1, size: tuple[int, int] = SIZE):
        if speed not in SPEEDS:
            raise ValueError(f"--speed must be one of {', '.join(str(s) for s in SPEEDS[:-1])} or max, got {speed}")
        self.title, self.window, self.fps, self.speed = title, window, fps, speed
        self.population, self.total, self.saves = population, total, saves
        self.recorder = Recorder(record, fps, png_dir, png_every) if record or png_dir else None
        pygame.font.init()
        if window:
            open_display()
            pygame.display.set_caption(f"sandbox: {title}")
            self.surface = pygame.display.set_mode(size)
        else:
            self.surface = pygame.Surface(size)
        height = size[1]
        self.world_rect = pygame.Rect(0, 0, min(height, size[0]), height)
        self.panel_rect = pygame.Rect(self.world_rect.right, 0, size[0] - self.world_rect.right, height)
        self.scene = Scene(pygame.font.Font(None, 18))
        self.hud = Hud(pygame.font.Font(None, 30), pygame.font.Font(None, 22), pygame.font.Font(None, 18))
        self.tally, self.marks = Tally(min_episodes), CrashMarks()
        self.clock = pygame.time.Clock()
        self.env: Any = None
        self.fitness: np.ndarray | None = None
        self.paused = self.quitting = self.save_requested = False
        self.show_rays, self.following = False, False
        self.frames, self.saved = 0, []
        self.message, self._message_until = "", 0.0
        self._since, self._next_frame, self._hud_at, self._frame_start = 0, 0.0, -math.inf, 0.0
        self._leader, self._leader_progress, self._hud_drawn = 0, 0.0, False
        self._colours: list = []

    # -- the hook ----------------------------------------------------------------------------------
    def __call__(self, event: dict[str, Any]) -> None:
        """Take one event of an agent's or a population's loop."""
        kind = event["kind"]
        if kind == "step":
            self._on_step(event)
        elif kind == "update":
            self.tally.on_update(event)
            self._at_checkpoint(event)
        elif kind == "generation":
            self.tally.on_generation(event)
            self._at_checkpoint(event)

    def _on_step(self, event: dict[str, Any]) -> None:
        self.env = event["env"]
        crashed = self.tally.step(event)
        if len(crashed):
            self.marks.add(self.env.core, crashed, time.perf_counter())
        if "car_fitness" in event:
            self.fitness = event["car_fitness"]
        self._since += 1
        due = self._since >= self.speed if self.speed else time.perf_counter() >= self._next_frame
        if due:
            self.frame()

    def _at_checkpoint(self, event: dict[str, Any]) -> None:
        """Save now if asked (the loop's state is whole only here); then quit if asked."""
        path = None
        save = event.get("save_checkpoint") or event.get("checkpoint_path")  # an agent's writes; a population's is
        if (self.save_requested or self.quitting) and save is not None:  # written every generation: its path
            path = Path(save())
            self.saved.append(path)
            self._say(f"checkpoint saved: {path}")
            print(f"saved checkpoint {path}", file=sys.stderr)
        self.save_requested = False
        if self.quitting:
            raise StopRun(path)

    # -- frames ------------------------------------------------------------------------------------
    def frame(self) -> None:
        """Handle the keys, draw a frame, show or record it; while paused, keep doing so without returning."""
        if self.env is None:
            return
        self._frame_start = time.perf_counter()
        self._handle_events()
        self._draw()
        self._present(record=True)
        while self.paused and not self.quitting:
            self.clock.tick(self.fps)
            self._handle_events()
            self._draw()
            self._present(record=False)
        if self.quitting and not self.saves:
            raise StopRun(None)

    def _present(self, record: bool) -> None:
        now = time.perf_counter()
        self.frames += 1
        # the next frame is due a period after this one began, so that drawing time does not lower the rate
        self._since, self._next_frame = 0, self._frame_start + 1.0 / self.fps
        self.tally.rates(now, self.frames)
        if self.window:  # the panel only when it was redrawn: sending the window to an X server is the costly part
            pygame.display.update(self.surface.get_rect() if self._hud_drawn else self.world_rect)
            self._hud_drawn = False
        if record and self.recorder is not None:
            self.recorder.add(self.surface)
        if self.window and self.speed and not self.paused:
            self.clock.tick(self.fps)  # a fixed speed waits for the frame time: the cars move at `fps` steps/s

    def _handle_events(self) -> None:
        if not self.window:
            return
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self._quit()
            elif event.type == pygame.KEYDOWN:
                self._key(event.key)

    def _key(self, key: int) -> None:
        self._hud_at = -math.inf  # show the change at once
        if key == pygame.K_SPACE:
            self.paused = not self.paused
        elif key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.speed = SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)]
        elif key in (pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE):
            self.speed = SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)]
        elif key == pygame.K_r:
            self.show_rays = not self.show_rays
        elif key == pygame.K_f:
            self.following = not self.following
        elif key == pygame.K_s:
            self.save_requested = self.saves
            self._say("checkpoint at the next update" if self.saves else "a replay has nothing to save")
        elif key == pygame.K_ESCAPE:
            self._quit()

    def _quit(self) -> None:
        self.quitting, self.paused = True, False
        self._say("saving a checkpoint, then quitting" if self.saves else "quitting")

    def _say(self, message: str, seconds: float = 4.0) -> None:
        self.message, self._message_until = message, time.perf_counter() + seconds
        self._hud_at = -math.inf

    # -- drawing -----------------------------------------------------------------------------------
    def _draw(self) -> None:
        core = self.env.core
        colours = self._car_colours(core.num_cars)
        leader = self._pick_leader(core)
        fitness = self.fitness if self.population and self.fitness is not None else None
        self.scene.priority = np.asarray(fitness if fitness is not None and len(fitness) == core.num_cars
                                         else core.progress, float)
        marks = self.marks.recent(time.perf_counter())
        if self.following:
            self.scene.follow(self.surface, self.world_rect, core, colours, leader, self.show_rays, marks)
        else:
            self.scene.overview(self.surface, self.world_rect, core, colours, leader, self.show_rays, marks)
        now = time.perf_counter()
        if now - self._hud_at >= HUD_EVERY:
            self._hud_at, self._hud_drawn = now, True
            banner = "PAUSED (space resumes)" if self.paused else (self.message if now < self._message_until else "")
            self.hud.draw(self.surface, self.panel_rect, self.title, self._lines(core), self.tally, self.population,
                          banner)

    def _car_colours(self, n: int) -> list:
        if self.population and self.fitness is not None and len(self.fitness) == n:
            return fitness_colours(np.asarray(self.fitness, float))
        if len(self._colours) != n:
            self._colours = distinct_colours(n)
        return self._colours

    def _pick_leader(self, core: Any) -> int:
        """The car furthest round its lap; the camera keeps its car until another is clearly ahead or its
        episode restarts, so that it does not hop between cars neck and neck."""
        progress = core.progress / core.tracks.lengths[core.track_id]
        best = int(np.argmax(progress))
        mine = float(progress[self._leader]) if self._leader < len(progress) else -1.0
        if mine < self._leader_progress - 0.05 or progress[best] > mine + 0.1:
            self._leader = best
        self._leader_progress = float(progress[self._leader])
        return self._leader

    def _lines(self, core: Any) -> list[str]:
        tally, latest = self.tally, self.tally.latest
        curve = tally.curve
        lap = f"{curve['lap'][-1]:.0%}" if curve["lap"] else "-"
        clean = f"{curve['clean'][-1]:.0%}" if curve["clean"] else "-"
        if self.population:
            done = f"generation {tally.generation}" + (f" / {self.total}" if self.total else "")
            figures = (f"best {latest.get('best', math.nan):.1f}   mean {latest.get('mean', math.nan):.1f}   "
                       f"held-out laps {latest.get('heldout_lap_rate', math.nan):.0%}")
        else:
            done = f"step {tally.global_step:,}" + (f" / {self.total:,}  ({tally.global_step / self.total:.0%})"
                                                    if self.total else "")
            ret = curve["return"][-1] if curve["return"] else math.nan
            figures = f"update {tally.update}   episodes {tally.total_episodes:,}   return {ret:.1f}"
        return [done, figures, f"lap rate {lap}   clean-lap rate {clean}   laps so far {tally.total_laps:,}",
                f"training {tally.steps_per_s:,.0f} env-steps/s   drawing {tally.fps:.0f} fps",
                f"speed {speed_label(self.speed)}   cars {core.num_cars}   "
                f"{'follow camera' if self.following else 'overview'}"]

    def close(self) -> Path | None:
        """Record the final state, finish the video and PNGs, close the window; return the video's path (None if
        none was written). Whatever fails, no temporary video is left and the window closes."""
        try:
            if self.recorder is None:
                return None
            self._final_frame()
            return self.recorder.close()
        finally:
            if self.recorder is not None:
                self.recorder.discard()  # a no-op after a written video; removes the half file a failure left
            if self.window:
                pygame.display.quit()

    def _final_frame(self) -> None:
        """Draw and record the state the cars ended in, unless the last frame already shows it. Frames come every
        `speed` steps or on the timer, so without this the video misses the last steps, and a run shorter than one
        frame's worth of steps (one car crashing within 8 steps at speed 8) records nothing and writes no file."""
        if self.env is None or self._since == 0:  # nothing was driven, or the last step was drawn
            return
        self._hud_at = -math.inf  # the panel, too, shows the final figures
        self._draw()
        self.recorder.add(self.surface)
