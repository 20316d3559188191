"""Videos and PNGs of the viewer: a playable MP4 (imageio-ffmpeg), a GIF, atomic files, clear errors."""

import imageio
import numpy as np
import pygame
import pytest
from PIL import Image

from sandbox.video import Recorder


def _frames(count):
    for i in range(count):
        surface = pygame.Surface((64, 48))
        surface.fill((200, 40, 40))
        pygame.draw.rect(surface, (40, 200, 40), (i * 4, 10, 12, 12))
        yield surface


def test_mp4_plays_back_every_frame(tmp_path):
    recorder = Recorder(tmp_path / "clip.mp4", fps=30, png_dir=tmp_path / "png", png_every=1e9)
    for surface in _frames(12):
        recorder.add(surface)
    assert recorder.close() == tmp_path / "clip.mp4"
    frames = [frame for frame in imageio.get_reader(tmp_path / "clip.mp4")]  # (list() sizes by nframes: inf)
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    assert abs(int(frames[0][40, 5, 0]) - 200) < 30  # red where the frame is red
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["frame_000000.png", "last.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "png"]  # no temporary file left


def test_gif_keeps_the_clip(tmp_path):
    recorder = Recorder(tmp_path / "clip.gif", fps=10)
    for surface in _frames(5):
        recorder.add(surface)
    recorder.close()
    gif = Image.open(tmp_path / "clip.gif")
    assert gif.n_frames == 5 and gif.size == (32, 24)


def test_other_formats_are_refused():
    with pytest.raises(ValueError, match="--record clip.avi"):
        Recorder("clip.avi")


def test_a_png_is_a_real_picture(tmp_path):
    recorder = Recorder(None, png_dir=tmp_path, png_every=0.0)
    for surface in _frames(2):
        recorder.add(surface)
    recorder.close()
    image = np.asarray(Image.open(tmp_path / "last.png"))
    assert image.shape == (48, 64, 3) and image.std() > 10
