"""`sandbox play`: the arrow keys' events drive the car, and the recorded demonstration holds those actions."""

import numpy as np
import pygame
import pytest

from sandbox.cli import main
from sandbox.runs.trajectories import load_trajectories
from sandbox.viewer.play import HumanDriver, run_play


def _press(key, down=True):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN if down else pygame.KEYUP, key=key))


def _drive(driver, script):
    """script: (keys to press, keys to release, steps) per phase."""
    for press, release, steps in script:
        for key in press:
            _press(key)
        for key in release:
            _press(key, down=False)
        for _ in range(steps):
            assert driver.tick()


@pytest.mark.parametrize("discrete", [False, True])
def test_play_records_the_actions_of_the_posted_keys(tmp_path, discrete):
    driver = HumanDriver(level="easy", tracks="heldout", discrete=discrete, seed=0, episodes=3)
    try:
        _drive(driver, [((pygame.K_UP,), (), 6), ((pygame.K_LEFT,), (), 4), ((), (pygame.K_UP, pygame.K_LEFT), 3),
                        ((pygame.K_DOWN, pygame.K_RIGHT), (), 2)])
        path = driver.save(tmp_path / "demo.npz")
    finally:
        driver.close()
    arrays, meta = load_trajectories(path)
    if discrete:
        expected = [3] * 6 + [1] * 4 + [0] * 3 + [2] * 2  # steering comes before throttle
    else:
        expected = [(0, 1)] * 6 + [(-1, 1)] * 4 + [(0, 0)] * 3 + [(1, -1)] * 2
    np.testing.assert_array_equal(arrays["action"], np.array(expected))
    assert meta["driver"] == "human" and meta["level"] == "easy" and meta["continuous"] is not discrete
    assert arrays["rays"].shape == (15, 11) and arrays["reward"].shape == (15,)
    assert arrays["reward"][:6].sum() > 0  # accelerating along the road earns progress
    assert (arrays["episode"] == 0).all()


def test_escape_ends_the_drive():
    driver = HumanDriver(episodes=1)
    try:
        _press(pygame.K_ESCAPE)
        assert not driver.tick()
    finally:
        driver.close()


def test_play_without_a_display_says_so(capsys, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    assert main(["play"]) == 2
    assert "play needs a window" in capsys.readouterr().err


def test_a_bad_record_is_refused_before_the_drive(tmp_path, monkeypatch):
    # under SDL's dummy driver, were the display checked first, "play needs a window" would be the error
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # headless even where a display is at hand (the Xvfb run)
    with pytest.raises(ValueError, match=r"--record .*demo\.txt: a demonstration is saved as a \.npz file"):
        run_play(record=str(tmp_path / "demo.txt"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--record .*file is a file, not a folder"):
        run_play(record=str(tmp_path / "file" / "demo.npz"))
    with pytest.raises(ValueError, match="play needs a window"):  # a good place passes; its folder is made
        run_play(record=str(tmp_path / "new" / "demo.npz"))
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())
