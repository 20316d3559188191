"""The world as the viewer draws it: tracks, cars as oriented car shapes, pedestrians, traffic, crash markers.

Two views of one `CarDriveCore`, both drawn into a rectangle of a pygame surface:

- the overview: every track in use gets a tile (as `envs.render` lays them out), with every car on it;
- the follow camera: a zoomed view that glides after one car (the leader), at the world's true scale.

Each car of a batch lives in its own world: its pedestrians and traffic are its own (cars of a batch do not
meet). A view therefore draws the pedestrians and traffic of one car per track, the leading one, so that
what is drawn is a world some car really sees. Cars on the overview are drawn larger than life (a true-scale
car is 3 pixels long there) so that each car's colour and heading stay readable.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pygame

from envs.core import CarDriveCore
from envs.sensors import PALETTE, PED_COLOUR, TRAFFIC_COLOUR
from envs.track import GRID_SIZE
from envs.traffic import CAR_HALF_LENGTH, CAR_HALF_WIDTH

MAX_TILES = 16  # tracks the overview shows at once
MIN_CAR_PX = 13.0  # the overview draws a car at least this many pixels long
FOLLOW_ZOOM = 4.0  # pixels per cell in the follow camera
CRASH_COLOUR = (255, 40, 40)
OUTLINE = (20, 20, 24)
GRASS = PALETTE[0]

# A car in its own frame, in units of its half length / half width: a tapered nose, square tail.
_BODY = np.array([(1.0, 0.55), (0.8, 1.0), (-0.85, 1.0), (-1.0, 0.8), (-1.0, -0.8), (-0.85, -1.0), (0.8, -1.0),
                  (1.0, -0.55)])
_GLASS = np.array([(0.5, 0.72), (0.5, -0.72), (0.15, -0.8), (0.15, 0.8)])  # the windscreen


def distinct_colours(n: int) -> list[tuple[int, int, int]]:
    """n bright colours, hues spread by the golden ratio so that neighbours differ."""
    hues = (np.arange(n) * 0.618034 + 0.05) % 1.0
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.75, 0.98)) for h in hues]


def fitness_colours(fitness: np.ndarray) -> list[tuple[int, int, int]]:
    """Colours of a population by fitness rank: red (worst) through amber to green (best)."""
    n = len(fitness)
    rank = np.empty(n)
    rank[np.argsort(fitness, kind="stable")] = np.linspace(0.0, 1.0, n) if n > 1 else 1.0
    stops = np.array([(230, 50, 60), (255, 190, 20), (40, 210, 90)], float)
    low = np.minimum((rank * 2).astype(int), 1)  # which of the two gradient segments
    t = (rank * 2 - low)[:, None]
    rgb = stops[low] * (1 - t) + stops[low + 1] * t
    return [tuple(c) for c in rgb.astype(int).tolist()]


class CrashMarks:
    """Where cars recently crashed (left the road, or a contact ended the episode): a ring of places that
    fade out. Filled from every step event, so the crashes between two frames are marked too."""

    def __init__(self, capacity: int = 128, lifetime: float = 1.0):
        self.lifetime = lifetime
        self.where = np.zeros((capacity, 3))  # track index, x, y
        self.when = np.full(capacity, -np.inf)
        self._next = 0

    def add(self, core: CarDriveCore, cars: np.ndarray, now: float) -> None:
        """Mark the current places of `cars` (indices) at time `now`."""
        for i in cars[: len(self.when)]:
            self.where[self._next] = core.track_id[i], core.pos[i, 0], core.pos[i, 1]
            self.when[self._next] = now
            self._next = (self._next + 1) % len(self.when)

    def recent(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) places and (M,) ages in [0, 1) of the marks still showing."""
        age = (now - self.when) / self.lifetime
        keep = age < 1.0
        return self.where[keep], age[keep]


class Scene:
    """Draws the world; keeps each track's background picture and the follow camera between frames."""

    def __init__(self, font: pygame.font.Font):
        self.font = font
        self._backgrounds: dict[tuple[int, int], pygame.Surface] = {}
        self._labels: dict[str, pygame.Surface] = {}
        self.camera: np.ndarray | None = None  # follow camera's centre, cells
        self.priority = np.zeros(0)  # per car: who is drawn on top (fitness or progress); set by the viewer
        self.followed = 0

    # -- the two views -----------------------------------------------------------------------------
    def overview(self, target: pygame.Surface, rect: pygame.Rect, core: CarDriveCore, colours: list,
                 leader: int, show_rays: bool = False, marks: tuple | None = None) -> None:
        """Every track in use, one tile each, with every car on it."""
        in_use = list(dict.fromkeys(core.track_id.tolist()))[:MAX_TILES]  # first seen first
        cols = math.ceil(math.sqrt(len(in_use)))
        rows = math.ceil(len(in_use) / cols)
        tile = min(rect.width // cols, rect.height // rows)
        left = rect.x + (rect.width - cols * tile) // 2  # the grid centred in the view (6 tracks: 3 x 2)
        top = rect.y + (rect.height - rows * tile) // 2
        target.fill(GRASS, rect)
        scale = tile / GRID_SIZE
        car_scale = max(scale, MIN_CAR_PX / (2 * CAR_HALF_LENGTH))
        for t, k in enumerate(in_use):
            origin = np.array([left + (t % cols) * tile, top + (t // cols) * tile], float)
            target.blit(self._background(core, k, tile), origin.tolist())
            cars = np.flatnonzero(core.track_id == k)
            ahead = cars[np.argmax(core.progress[cars])]
            self._world(target, core, ahead, origin, scale, max(scale, 0.5 * car_scale))
            if marks is not None:
                self._marks(target, marks, k, origin, scale)
            if show_rays:
                self._rays(target, core, cars[:16], origin, scale)
            self._cars(target, core, cars, colours, origin, scale, car_scale, leader)
            pygame.draw.rect(target, (30, 30, 30), (*origin.tolist(), tile, tile), 1)
            target.blit(self._label(f"track {core.tracks[k].seed}  ·  {len(cars)} cars"),
                        (origin[0] + 5, origin[1] + 4))

    def follow(self, target: pygame.Surface, rect: pygame.Rect, core: CarDriveCore, colours: list, car: int,
               show_rays: bool = False, marks: tuple | None = None) -> None:
        """A zoomed camera that glides after `car`, with the other cars of its track and its own world."""
        want = core.pos[car].astype(float)
        if self.camera is None or car != self.followed and np.abs(self.camera - want).max() > 60:
            self.camera = want.copy()  # a new track or far away: cut, do not sweep across the map
        self.camera += 0.25 * (want - self.camera)
        self.followed = car
        k = int(core.track_id[car])
        scale = FOLLOW_ZOOM
        origin = np.array([rect.centerx, rect.centery], float) - self.camera * scale
        target.fill(GRASS, rect)
        clip = target.get_clip()
        target.set_clip(rect)
        target.blit(self._background(core, k, int(GRID_SIZE * scale)), origin.tolist())
        self._world(target, core, car, origin, scale, scale)
        if marks is not None:
            self._marks(target, marks, k, origin, scale)
        if show_rays:
            self._rays(target, core, np.array([car]), origin, scale)
        cars = np.flatnonzero(core.track_id == k)
        others = cars[cars != car]
        self._cars(target, core, np.append(others, car), colours, origin, scale, scale, car)
        target.blit(self._label(f"following car {car}  ·  track {core.tracks[k].seed}"), (rect.x + 6, rect.y + 4))
        target.set_clip(clip)

    # -- pieces ------------------------------------------------------------------------------------
    def _background(self, core: CarDriveCore, k: int, size: int) -> pygame.Surface:
        key = (int(core.tracks[k].seed), size)
        if key not in self._backgrounds:
            if len(self._backgrounds) > 64:  # a long run visits many tracks: keep memory bounded
                self._backgrounds.clear()
            rgb = np.asarray(PALETTE, np.uint8)[core.tracks[k].material]  # (H, W, 3), rows are y
            surface = pygame.surfarray.make_surface(np.ascontiguousarray(rgb.transpose(1, 0, 2)))
            scaled = pygame.transform.scale(surface, (size, size))
            on_screen = pygame.display.get_init() and pygame.display.get_surface() is not None
            self._backgrounds[key] = scaled.convert() if on_screen else scaled  # the screen's format blits fastest
        return self._backgrounds[key]

    def _label(self, text: str) -> pygame.Surface:
        if text not in self._labels:
            if len(self._labels) > 256:
                self._labels.clear()
            self._labels[text] = self.font.render(text, True, (255, 255, 255))
        return self._labels[text]

    def _cars(self, target, core, cars, colours, origin, scale, car_scale, leader) -> None:
        """Car shapes (body, windscreen, outline), the leader ringed in white."""
        if len(cars) == 0:
            return
        if len(self.priority) == core.num_cars:
            cars = cars[np.argsort(self.priority[cars], kind="stable")]  # the best drawn last, on top
        centre = origin + core.pos[cars] * scale  # (C, 2)
        c, s = np.cos(core.heading[cars])[:, None], np.sin(core.heading[cars])[:, None]
        body = _place(_BODY, centre, c, s, car_scale).tolist()
        glass = _place(_GLASS, centre, c, s, car_scale).tolist()
        for j, i in enumerate(cars.tolist()):
            if i == leader:
                pygame.draw.circle(target, (255, 255, 255), centre[j].tolist(), 1.6 * CAR_HALF_LENGTH * car_scale, 2)
            pygame.draw.polygon(target, colours[i % len(colours)], body[j])
            pygame.draw.polygon(target, (40, 50, 70), glass[j])
            pygame.draw.polygon(target, OUTLINE, body[j], 1)

    def _world(self, target, core, car, origin, scale, size_scale) -> None:
        """The pedestrians and traffic of `car`'s world."""
        radius = max(4.0, 1.2 * size_scale)
        for px, py, present in core.peds[car].tolist():
            if present:
                at = (origin[0] + px * scale, origin[1] + py * scale)
                pygame.draw.circle(target, PED_COLOUR, at, radius)
                pygame.draw.circle(target, OUTLINE, at, radius, 1)
        for tx, ty, tc, ts, present in core.traffic[car].tolist():
            if present:
                centre = (origin + np.array([tx, ty]) * scale)[None]
                # a touch larger than the learners' cars, with a dark rim: traffic must stand out on the road
                body = _place(_BODY, centre, np.array([[tc]]), np.array([[ts]]), 1.3 * size_scale)[0].tolist()
                pygame.draw.polygon(target, TRAFFIC_COLOUR, body)
                pygame.draw.polygon(target, OUTLINE, body, 2)

    def _marks(self, target, marks, k, origin, scale) -> None:
        """A red cross where a car crashed, shrinking as it fades."""
        where, age = marks
        for (track, x, y), a in zip(where.tolist(), age.tolist(), strict=True):
            if int(track) != k:
                continue
            at, r = origin + np.array([x, y]) * scale, 3.0 + 4.0 * (1.0 - a)
            pygame.draw.line(target, CRASH_COLOUR, (at[0] - r, at[1] - r), (at[0] + r, at[1] + r), 2)
            pygame.draw.line(target, CRASH_COLOUR, (at[0] - r, at[1] + r), (at[0] + r, at[1] - r), 2)

    def _rays(self, target, core, cars, origin, scale) -> None:
        """Each ray from the car to what it met, the hit point dotted."""
        dist = core.rays()[cars, : core.config.n_rays] * core.config.ray_range  # (C, R), cells
        for j, i in enumerate(cars.tolist()):
            start = origin + core.pos[i] * scale
            angles = core.heading[i] + core.ray_angles
            ends = start + (dist[j] * scale)[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
            for end in ends.tolist():
                pygame.draw.line(target, (255, 255, 170), start.tolist(), end, 1)
                pygame.draw.circle(target, (255, 90, 90), end, 2)


def _place(shape: np.ndarray, centre: np.ndarray, c: np.ndarray, s: np.ndarray, scale: float) -> np.ndarray:
    """A car-frame polygon (K, 2) put at C centres with headings (cos, sin) (C, 1): screen points (C, K, 2)."""
    a = shape[None, :, 0] * CAR_HALF_LENGTH * scale  # along the heading, (1, K)
    b = shape[None, :, 1] * CAR_HALF_WIDTH * scale  # across it
    return np.stack([centre[:, :1] + a * c - b * s, centre[:, 1:] + a * s + b * c], axis=-1)
