"""Drawing the world with pygame: tracks, every car of the batch, pedestrians, optional rays, a small HUD.

The only module of `envs` that imports pygame, and only the envs' `render()` imports it, so stepping never
pays for it. A batch may drive several tracks of its pool at once: each track in use gets a tile of the
frame, with the cars driving on it. Headless machines set `SDL_VIDEODRIVER=dummy`.
"""

from __future__ import annotations

import math

import numpy as np
import pygame

from envs.core import CarDriveCore
from envs.sensors import CAR_HALF_LENGTH, CAR_HALF_WIDTH, PALETTE, PED_COLOUR, TRAFFIC_COLOUR
from envs.track import GRID_SIZE

FRAME = 768  # pixels per side of a frame
MAX_TILES = 16  # tracks shown at once; a larger pool shows the first 16 in use
MAX_DETAILED = 16  # per tile, cars whose pedestrians and rays are drawn (more would hide the road)
CAR_COLOURS = [(230, 57, 70), (29, 53, 87), (255, 183, 3), (42, 157, 143), (131, 56, 236), (251, 133, 0),
               (0, 180, 216), (244, 162, 97)]


class Renderer:
    """Keeps the window (or an off-screen surface), the font and each track's background between frames."""

    def __init__(self, mode: str, fps: int = 30):
        self.mode, self.fps = mode, fps
        pygame.font.init()
        if mode == "human":
            pygame.display.init()
            pygame.display.set_caption("sandbox: CarDrive")
            self.screen = pygame.display.set_mode((FRAME, FRAME))
            self.clock = pygame.time.Clock()
        else:
            self.screen = pygame.Surface((FRAME, FRAME))
        self.font = pygame.font.Font(None, 20)
        self._backgrounds: dict[tuple[int, int], pygame.Surface] = {}

    def draw(self, core: CarDriveCore, show_rays: bool = False) -> np.ndarray | None:
        """Draw one frame of `core`; return it as (H, W, 3) uint8 in rgb_array mode."""
        in_use = list(dict.fromkeys(core.track_id.tolist()))[:MAX_TILES]  # pool indices, first seen first
        cols = math.ceil(math.sqrt(len(in_use)))
        rows = math.ceil(len(in_use) / cols)
        tile = FRAME // cols
        self._ensure_size((cols * tile, rows * tile))
        self.screen.fill(PALETTE[0])
        rays = core.rays()[:, : core.config.n_rays] * core.config.ray_range if show_rays else None
        for t, k in enumerate(in_use):
            origin = ((t % cols) * tile, (t // cols) * tile)
            self.screen.blit(self._background(core, k, tile), origin)
            cars = np.flatnonzero(core.track_id == k)
            self._draw_cars(core, cars, origin, tile / GRID_SIZE, rays)
            label = f"track {core.tracks[k].seed}  cars {len(cars)}"
            self.screen.blit(self.font.render(label, True, (255, 255, 255)), (origin[0] + 6, origin[1] + 6))
        self._draw_hud(core)
        if self.mode == "human":
            pygame.event.pump()
            pygame.display.flip()
            self.clock.tick(self.fps)
            return None
        return np.transpose(pygame.surfarray.array3d(self.screen), (1, 0, 2)).copy()

    def _ensure_size(self, size: tuple[int, int]) -> None:
        if self.screen.get_size() != size:
            self.screen = pygame.display.set_mode(size) if self.mode == "human" else pygame.Surface(size)

    def _background(self, core: CarDriveCore, k: int, tile: int) -> pygame.Surface:
        key = (core.tracks[k].seed, tile)
        if key not in self._backgrounds:
            rgb = np.asarray(PALETTE, np.uint8)[core.tracks[k].material]  # (H, W, 3)
            surface = pygame.surfarray.make_surface(np.ascontiguousarray(rgb.transpose(1, 0, 2)))
            self._backgrounds[key] = pygame.transform.scale(surface, (tile, tile))
        return self._backgrounds[key]

    def _draw_cars(self, core, cars, origin, scale, rays) -> None:
        ox, oy = origin
        for rank, i in enumerate(cars):
            x, y, h = core.pos[i, 0], core.pos[i, 1], core.heading[i]
            centre = (ox + x * scale, oy + y * scale)
            if rank < MAX_DETAILED:
                for px, py, present in core.peds[i]:
                    if present:
                        pygame.draw.circle(self.screen, PED_COLOUR, (ox + px * scale, oy + py * scale),
                                           max(2.0, 1.2 * scale))
                for tx, ty, tc, ts, present in core.traffic[i]:
                    if present:
                        corners = _box_corners((ox + tx * scale, oy + ty * scale), math.atan2(ts, tc), scale)
                        pygame.draw.polygon(self.screen, TRAFFIC_COLOUR, corners)
                if rays is not None:
                    for angle, dist in zip(core.ray_angles, rays[i], strict=True):
                        end = (centre[0] + dist * scale * math.cos(h + angle),
                               centre[1] + dist * scale * math.sin(h + angle))
                        pygame.draw.line(self.screen, (255, 255, 160), centre, end, 1)
                        pygame.draw.circle(self.screen, (255, 80, 80), end, 2)
            corners = _box_corners(centre, h, scale)
            pygame.draw.polygon(self.screen, CAR_COLOURS[i % len(CAR_COLOURS)], corners)
            pygame.draw.line(self.screen, (255, 255, 255), centre, corners[0], 1)  # the nose

    def _draw_hud(self, core: CarDriveCore) -> None:
        progress = core.progress / core.tracks.lengths[core.track_id]
        text = (f"{core.level.name}   cars {core.num_cars}   step {int(core.clock.max())}   progress best "
                f"{progress.max():.0%}  mean {progress.mean():.0%}   pedestrian hits {int(core.ped_hits.sum())}"
                f"   traffic hits {int(core.traffic_hits.sum())}")
        label = self.font.render(text, True, (255, 255, 255))
        bar = pygame.Surface((label.get_width() + 12, label.get_height() + 8), pygame.SRCALPHA)
        bar.fill((0, 0, 0, 150))
        bottom = self.screen.get_height() - bar.get_height()
        self.screen.blit(bar, (0, bottom))
        self.screen.blit(label, (6, bottom + 4))

    def close(self) -> None:
        if self.mode == "human":
            pygame.display.quit()


def _box_corners(centre: tuple[float, float], heading: float, scale: float) -> list[tuple[float, float]]:
    """Screen corners of a car box (front-right first, so corners[0] marks the nose's side)."""
    c, s = math.cos(heading), math.sin(heading)
    return [(centre[0] + scale * (a * CAR_HALF_LENGTH * c - b * CAR_HALF_WIDTH * s),
             centre[1] + scale * (a * CAR_HALF_LENGTH * s + b * CAR_HALF_WIDTH * c))
            for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
