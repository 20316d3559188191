"""Writing what the viewer shows: a video (MP4 through imageio-ffmpeg's own ffmpeg, or GIF through Pillow)
and PNG snapshots.

    recorder = Recorder("runs/a2c/watch.mp4", fps=30, png_dir="runs/a2c/frames", png_every=10.0)
    recorder.add(surface)          # each frame the viewer draws
    recorder.close()               # the video is renamed into place only now: never half a file

MP4 frames stream to ffmpeg as raw RGB (`pygame.image.tobytes`, no numpy copy); ffmpeg encodes in its own
process, on another core than the training. A GIF keeps every k-th frame at half size (k doubles whenever
the clip grows past `GIF_FRAMES`), so a long run's GIF stays small enough to hold in memory and to open.

The video's place is checked when the recorder is made (its suffix, its folder created, a file written there
and removed), so a bad `--record` is one line before anything runs, not an error after the run. Until `close`
the video is a temporary file beside it (`.NAME.tmp.mp4`); a failure removes it, so none is ever left behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from pathlib import Path

import pygame

GIF_FRAMES = 300  # frames a GIF holds at most
WRITERS = {".mp4": ("imageio_ffmpeg", "imageio-ffmpeg"), ".gif": ("PIL", "Pillow")}  # suffix: (module, package)


def temporary(path: Path) -> Path:
    """The temporary file `path` is written to before it is renamed into place: .NAME.tmp.SUFFIX beside it."""
    return path.with_name(f".{path.stem}.tmp{path.suffix}")


def check_writable(path: str | os.PathLike, flag: str = "--record") -> Path:
    """Create `path`'s folder and write (then remove) its temporary file there; a place where no file can be made
    (a folder that is a file, no permission, a read-only disk) is one ValueError naming `flag` and `path`."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give a file name")
    folder = next((p for p in path.parents if p.exists()), None)  # the nearest that exists: the rest are made
    if folder is not None and not folder.is_dir():
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder")
    tmp = temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
        tmp.unlink()
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot write a file there ({exc.strerror or exc})") from None
    return path


def check_video(path: str | os.PathLike) -> Path:
    """`path` if a video can be written there (a .mp4 or .gif, its writer installed, its folder writable);
    otherwise one ValueError naming --record. Creates the folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITERS:
        raise ValueError(f"--record {path}: the video must be a .mp4 or a .gif file")
    module, package = WRITERS[suffix]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"--record {path}: writing a {suffix} needs the {package} package (pip install {package})")
    return check_writable(path)


def _first_line(exc: BaseException) -> str:
    """An error's message on one line (ffmpeg's errors carry its whole log)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class Recorder:
    """A video file being written, plus a PNG every `png_every` seconds (wall clock) into `png_dir`."""

    def __init__(self, video: str | os.PathLike | None, fps: int = 30, png_dir: str | os.PathLike | None = None,
                 png_every: float = 10.0):
        self.video = check_video(video) if video is not None else None
        self.fps, self.png_every = fps, png_every
        self.png_dir = Path(png_dir) if png_dir is not None else None
        self.pngs: list[Path] = []
        self.frames = 0
        self._writer = None
        self._gif: list = []
        self._gif_every = 1
        self._last_png = -float("inf")
        self._last_surface: pygame.Surface | None = None
        self._recording = self.video is not None  # False once the video is written or given up
        self._closed = False
        self._written: Path | None = None

    @property
    def _tmp(self) -> Path:
        return temporary(self.video)

    def add(self, surface: pygame.Surface) -> None:
        """Append one frame (and save it as a PNG when one is due)."""
        self._last_surface = surface
        if self._recording:
            self._add_video(surface)
        now = time.perf_counter()
        if self.png_dir is not None and now - self._last_png >= self.png_every:
            self._last_png = now
            self.snapshot(surface)
        self.frames += 1

    def _add_video(self, surface: pygame.Surface) -> None:
        try:
            if self.video.suffix.lower() == ".mp4":
                self._mp4(surface)
            elif self.frames % self._gif_every == 0:
                self._add_gif(surface)
        except (OSError, RuntimeError) as exc:  # ffmpeg gone (a full disk, killed): stop, and leave no half file
            self.discard()
            raise ValueError(f"--record {self.video}: the video could not be written ({_first_line(exc)})") from exc

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
        """Finish the video (rename it into place) and save the last frame as last.png; return the video (None
        when none was written). A failure to finish removes the temporary file and is one ValueError."""
        if self._closed:
            return self._written
        self._closed = True
        try:
            self._written = self._finish() if self._recording else None
        finally:
            self.discard()  # after a rename, nothing is left to remove; after a failure, the half file goes
        if self._last_surface is not None:
            self.snapshot(self._last_surface, "last.png")
        return self._written

    def _finish(self) -> Path | None:
        if self.frames == 0:  # said, not silent: a --record that ends with no file must say why
            print(f"--record {self.video}: no frame was drawn, so no video was written", file=sys.stderr)
            return None
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
            else:
                self._save_gif()
            os.replace(self._tmp, self.video)
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"--record {self.video}: the video could not be written ({_first_line(exc)})") from exc
        return self.video

    def _save_gif(self) -> None:
        self.video.parent.mkdir(parents=True, exist_ok=True)  # made when checked; made again if removed since
        duration = max(20, round(1000 * self._gif_every / self.fps))
        self._gif[0].save(self._tmp, format="GIF", save_all=True, append_images=self._gif[1:], duration=duration,
                          loop=0)
        self._gif = []

    def discard(self) -> None:
        """Stop recording and remove the temporary video, if any: what is left after a failure (a no-op once the
        video has been renamed into place). Later frames only go to the PNGs."""
        self._recording = False
        self._gif = []
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(Exception):  # ffmpeg may be the thing that failed; the file goes either way
                writer.close()
        if self.video is not None:
            self._tmp.unlink(missing_ok=True)


def save_png(surface: pygame.Surface, path: str | os.PathLike) -> Path:
    """Write `surface` as a PNG atomically (a temporary file renamed over `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    pygame.image.save(surface, str(tmp))
    os.replace(tmp, path)
    return path
