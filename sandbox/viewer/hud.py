"""The viewer's heads-up display: what a run is doing, and a live learning curve.

`Tally` gathers the figures from the hook's events (agents' `step` / `update`, evolution's `step` /
`generation`); `Hud` draws them into the side panel: the algorithm and level, steps or generation, the
curves of return (or best and mean fitness), lap rate and clean-lap rate, training throughput and frame rate.

A step event costs the tally three or four numpy calls on (N,) arrays (microseconds against the millisecond
an env step of a batch takes): episodes end between frames, and a lap rate that only counted the frames'
steps would miss most of them.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pygame

BACKGROUND = (24, 26, 32)
TEXT = (235, 235, 240)
DIM = (150, 155, 165)
RETURN_COLOUR = (90, 170, 255)
MEAN_COLOUR = (170, 120, 255)
LAP_COLOUR = (80, 220, 120)
CLEAN_COLOUR = (255, 200, 60)
MAX_POINTS = 512  # a curve keeps at most this many points (pairs merge beyond it)


class Tally:
    """Episodes, laps and curve points from the hook's events."""

    def __init__(self, min_episodes: int = 1):
        self.min_episodes = min_episodes  # episodes a curve point of an agent's run averages at least
        self.curve: dict[str, list[float]] = {key: [] for key in ("x", "return", "mean", "lap", "clean")}
        self.returns: np.ndarray | None = None  # each car's return so far this episode
        self.ended = self.laps = self.clean = 0  # since the last curve point
        self.return_sum = 0.0
        self.total_episodes = self.total_laps = self.total_clean = 0
        self.global_step = self.update = self.generation = 0
        self.latest: dict[str, Any] = {}  # the last update's or generation's figures
        self.steps_per_s = self.fps = 0.0
        self._rate_at = (time.perf_counter(), 0, 0)  # (time, global step, frames) of the last rate reading

    def step(self, event: dict[str, Any]) -> np.ndarray:
        """Count a batch step's episode ends; return the cars that crashed on it (indices)."""
        reward, terminated, info = event["reward"], event["terminated"], event["info"]
        if self.returns is None or len(self.returns) != len(reward):
            self.returns = np.zeros(len(reward))
        self.returns += reward
        self.global_step = event["global_step"]
        done = terminated | event["truncated"]
        if not done.any():
            return done.nonzero()[0]
        lap, clean = info["lap_completed"], info["clean_lap"]
        ended, laps, cleans = int(done.sum()), int(lap.sum()), int(clean.sum())
        self.ended, self.laps, self.clean = self.ended + ended, self.laps + laps, self.clean + cleans
        self.total_episodes += ended
        self.total_laps, self.total_clean = self.total_laps + laps, self.total_clean + cleans
        self.return_sum += float(self.returns[done].sum())
        self.returns[done] = 0.0
        return (terminated & ~lap).nonzero()[0]  # a crash, or a contact that ended the episode

    def on_update(self, event: dict[str, Any]) -> None:
        """An agent's update: a curve point once enough episodes have ended since the last."""
        self.update, self.global_step = event["update"], event["global_step"]
        self.latest = {k: v for k, v in event.items() if isinstance(v, (int, float)) and k != "kind"}
        if self.ended >= self.min_episodes:
            self._point(self.global_step, self.return_sum / self.ended, math.nan)

    def on_generation(self, event: dict[str, Any]) -> None:
        """A generation: a curve point of its best and mean fitness and its cars' lap rates."""
        self.generation = event["generation"]
        self.latest = {k: v for k, v in event.items() if isinstance(v, (int, float)) and k != "kind"}
        self._point(self.generation, float(event.get("best", math.nan)), float(event.get("mean", math.nan)))

    def _point(self, x: float, ret: float, mean: float) -> None:
        ended = max(self.ended, 1)
        for key, value in (("x", x), ("return", ret), ("mean", mean), ("lap", self.laps / ended),
                           ("clean", self.clean / ended)):
            self.curve[key].append(float(value))
        self.ended = self.laps = self.clean = 0
        self.return_sum = 0.0
        if len(self.curve["x"]) > MAX_POINTS:  # merge neighbours: the curve keeps its shape, drawing stays cheap
            for key, values in self.curve.items():
                self.curve[key] = [values[i] for i in range(0, len(values), 2)]

    def rates(self, now: float, frames: int) -> None:
        """Refresh the training throughput and the frame rate, at most once a second."""
        then, step, frame = self._rate_at
        if now - then >= 1.0:
            self.steps_per_s = (self.global_step - step) / (now - then)
            self.fps = (frames - frame) / (now - then)
            self._rate_at = (now, self.global_step, frames)


class Hud:
    """Draws the side panel: title, figures, two charts and the keys."""

    def __init__(self, title_font: pygame.font.Font, font: pygame.font.Font, small: pygame.font.Font):
        self.title_font, self.font, self.small = title_font, font, small

    def draw(self, target: pygame.Surface, rect: pygame.Rect, title: str, lines: list[str], tally: Tally,
             population: bool, banner: str = "") -> None:
        """The whole panel: `title`, then `lines` (figures), the charts, then `banner` (pause, messages)."""
        target.fill(BACKGROUND, rect)
        x, y = rect.x + 14, rect.y + 12
        target.blit(self.title_font.render(title, True, TEXT), (x, y))
        y += self.title_font.get_linesize() + 6
        for line in lines:
            target.blit(self.font.render(line, True, TEXT), (x, y))
            y += self.font.get_linesize() + 2
        curve, width = tally.curve, rect.width - 28
        first = [(curve["return"], RETURN_COLOUR, "best fitness" if population else "return")]
        if population:
            first.append((curve["mean"], MEAN_COLOUR, "mean fitness"))
        chart = pygame.Rect(x, y + 22, width, 150)
        self._chart(target, chart, curve["x"], first, None)
        chart = pygame.Rect(x, chart.bottom + 30, width, 120)
        self._chart(target, chart, curve["x"], [(curve["lap"], LAP_COLOUR, "lap rate"),
                                                (curve["clean"], CLEAN_COLOUR, "clean-lap rate")], (0.0, 1.0))
        keys = "space pause   + / - speed   R rays   F follow   S save   Esc quit"
        target.blit(self.small.render(keys, True, DIM), (x, rect.bottom - self.small.get_linesize() - 10))
        if banner:
            label = self.font.render(banner, True, (20, 20, 20))
            box = pygame.Rect(x, chart.bottom + 34, label.get_width() + 16, label.get_height() + 10)
            pygame.draw.rect(target, CLEAN_COLOUR, box, border_radius=6)
            target.blit(label, (box.x + 8, box.y + 5))

    def _chart(self, target: pygame.Surface, rect: pygame.Rect, xs: list[float],
               series: list[tuple[list[float], tuple, str]], y_range: tuple[float, float] | None) -> None:
        """Lines of `series` against `xs` in `rect`, with a legend and the y range's ends."""
        pygame.draw.rect(target, (34, 37, 45), rect)
        pygame.draw.rect(target, (70, 74, 86), rect, 1)
        legend_x = rect.x
        for _, colour, label in series:
            text = self.small.render(label, True, colour)
            target.blit(text, (legend_x, rect.y - text.get_height() - 2))
            legend_x += text.get_width() + 14
        finite = [v for values, _, _ in series for v in values if math.isfinite(v)]
        if len(xs) < 2 or not finite:
            target.blit(self.small.render("waiting for episodes to end ...", True, DIM), (rect.x + 8, rect.y + 8))
            return
        lo, hi = y_range if y_range is not None else (min(finite), max(finite))
        hi = hi if hi > lo else lo + 1.0
        x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1
        px = rect.x + 2 + (np.asarray(xs) - x0) / (x1 - x0) * (rect.width - 4)
        for values, colour, _ in series:
            py = rect.bottom - 3 - (np.asarray(values) - lo) / (hi - lo) * (rect.height - 6)
            points = [(a, b) for a, b in zip(px.tolist(), py.tolist(), strict=True) if math.isfinite(b)]
            if len(points) >= 2:
                pygame.draw.lines(target, colour, False, points, 2)
        for value, at in ((hi, rect.y + 2), (lo, rect.bottom - 14)):
            target.blit(self.small.render(_short(value), True, DIM), (rect.right - 48, at))


def _short(value: float) -> str:
    """A number in at most six characters: 0.95, 123, 45.6k."""
    if abs(value) >= 1e4:
        return f"{value / 1e3:.0f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
