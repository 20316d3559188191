"""Videos and PNGs of the viewer: a playable MP4 (imageio-ffmpeg), a GIF, atomic files, clear errors."""

import time

import imageio
import numpy as np
import pygame
import pytest
from PIL import Image

from sandbox.viewer.video import Recorder


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


def test_a_missing_folder_is_made_and_a_file_in_the_way_is_one_line(tmp_path):
    Recorder(tmp_path / "new" / "deeper" / "clip.gif")
    assert (tmp_path / "new" / "deeper").is_dir() and not list((tmp_path / "new" / "deeper").iterdir())
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match=r"--record .*file is a file, not a folder"):
        Recorder(tmp_path / "file" / "clip.mp4")
    (tmp_path / "folder.gif").mkdir()
    with pytest.raises(ValueError, match="--record .*folder.gif: is a folder"):
        Recorder(tmp_path / "folder.gif")


def test_a_single_frame_still_makes_a_video(tmp_path):
    for name in ("one.gif", "one.mp4"):
        recorder = Recorder(tmp_path / name)
        recorder.add(next(_frames(1)))
        assert recorder.close() == tmp_path / name
    assert Image.open(tmp_path / "one.gif").size == (32, 24)
    assert len([frame for frame in imageio.get_reader(tmp_path / "one.mp4")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.gif", "one.mp4"]


def test_no_frame_means_no_file_and_says_so(tmp_path, capsys):
    assert Recorder(tmp_path / "clip.gif").close() is None
    assert "no frame was drawn, so no video was written" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_discard_removes_the_half_written_video(tmp_path):
    recorder = Recorder(tmp_path / "clip.mp4")
    for surface in _frames(60):  # past x264's lookahead: ffmpeg starts writing
        recorder.add(surface)
    deadline = time.monotonic() + 10
    while not (tmp_path / ".clip.tmp.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # ffmpeg reads the frames in its own process, a little later
    assert (tmp_path / ".clip.tmp.mp4").exists()
    recorder.discard()
    assert recorder.close() is None and not list(tmp_path.iterdir())
