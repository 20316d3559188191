"""Writing what the viewer shows: a video (MP4 through imageio-ffmpeg's own ffmpeg, or GIF through Pillow)
and PNG snapshots.

    recorder = Recorder("runs/a2c/watch.mp4", fps=30, png_dir="runs/a2c/frames", png_every=10.0)
    recorder.add(surface)          # each frame the viewer draws
    recorder.close()               # the video is renamed into place only now: never half a file

MP4 frames stream to ffmpeg as raw RGB (`pygame.image.tobytes`, no numpy copy); ffmpeg encodes in its own
process, on another core than the training. A GIF keeps every k-th frame at half size (k doubles whenever
the clip grows past `GIF_FRAMES`), so a long run's GIF stays small enough to hold in memory and to open.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygame

GIF_FRAMES = 300  # frames a GIF holds at most


class Recorder:
    """A video file being written, plus a PNG every `png_every` seconds (wall clock) into `png_dir`."""

    def __init__(self, video: str | os.PathLike | None, fps: int = 30, png_dir: str | os.PathLike | None = None,
                 png_every: float = 10.0):
        self.video = Path(video) if video is not None else None
        if self.video is not None and self.video.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"--record {self.video}: the video must be a .mp4 or a .gif file")
        self.fps, self.png_every = fps, png_every
        self.png_dir = Path(png_dir) if png_dir is not None else None
        self.pngs: list[Path] = []
        self.frames = 0
        self._writer = None
        self._gif: list = []
        self._gif_every = 1
        self._last_png = -float("inf")
        self._last_surface: pygame.Surface | None = None
        self._closed = False

    @property
    def _tmp(self) -> Path:
        return self.video.with_name(f".{self.video.stem}.tmp{self.video.suffix}")

    def add(self, surface: pygame.Surface) -> None:
        """Append one frame (and save it as a PNG when one is due)."""
        self._last_surface = surface
        if self.video is not None:
            if self.video.suffix.lower() == ".mp4":
                self._mp4(surface)
            elif self.frames % self._gif_every == 0:
                self._add_gif(surface)
        now = time.perf_counter()
        if self.png_dir is not None and now - self._last_png >= self.png_every:
            self._last_png = now
            self.snapshot(surface)
        self.frames += 1

    def snapshot(self, surface: pygame.Surface, name: str | None = None) -> Path | None:
        """Save `surface` as a PNG in the PNG folder (frame_000123.png, or `name`); return its path."""
        if self.png_dir is None:
            return None
        self.png_dir.mkdir(parents=True, exist_ok=True)
        path = self.png_dir / (name or f"frame_{self.frames:06d}.png")
        save_png(surface, path)
        self.pngs.append(path)
        return path

    def _mp4(self, surface: pygame.Surface) -> None:
        if self._writer is None:
            import imageio_ffmpeg

            self.video.parent.mkdir(parents=True, exist_ok=True)
            # yuv420p: the pixel format every player reads; macro_block_size 2 lets any even size through
            self._writer = imageio_ffmpeg.write_frames(
                str(self._tmp), surface.get_size(), fps=self.fps, codec="libx264", pix_fmt_out="yuv420p",
                macro_block_size=2, quality=None, bitrate=None, output_params=["-preset", "veryfast", "-crf", "23"],
                ffmpeg_log_level="error")
            self._writer.send(None)  # start the encoder
        self._writer.send(pygame.image.tobytes(surface, "RGB"))

    def _add_gif(self, surface: pygame.Surface) -> None:
        from PIL import Image

        w, h = surface.get_size()
        image = Image.frombytes("RGB", (w, h), pygame.image.tobytes(surface, "RGB")).resize((w // 2, h // 2))
        self._gif.append(image.quantize(colors=128))  # a palette image: a quarter of the memory
        if len(self._gif) > GIF_FRAMES:  # keep every other frame, and from now on take half as many
            self._gif, self._gif_every = self._gif[::2], self._gif_every * 2

    def close(self) -> Path | None:
        """Finish the video (rename it into place) and save the last frame as last.png; return the video."""
        if self._closed:
            return self.video if self.video is not None and self.video.is_file() else None
        self._closed = True
        if self._last_surface is not None:
            self.snapshot(self._last_surface, "last.png")
        if self.video is None or self.frames == 0:
            return None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        elif self._gif:
            self.video.parent.mkdir(parents=True, exist_ok=True)
            duration = max(20, round(1000 * self._gif_every / self.fps))
            self._gif[0].save(self._tmp, format="GIF", save_all=True, append_images=self._gif[1:],
                              duration=duration, loop=0)
            self._gif = []
        os.replace(self._tmp, self.video)
        return self.video


def save_png(surface: pygame.Surface, path: str | os.PathLike) -> Path:
    """Write `surface` as a PNG atomically (a temporary file renamed over `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    pygame.image.save(surface, str(tmp))
    os.replace(tmp, path)
    return path
