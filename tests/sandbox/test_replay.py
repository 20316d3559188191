"""`sandbox replay`: a trained agent's or an evolved driver's checkpoint, driven on held-out tracks and drawn."""

import os
import subprocess
import sys

import imageio
import numpy as np
import pytest
from PIL import Image

from sandbox.cli import main
from sandbox.commands.train import run_training
from sandbox.viewer.replay import drive, load_replay_driver, run_replay
from sandbox.viewer.scene import distinct_colours


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("a2c")
    settings = {"env_kwargs": {"level": "easy"}, "num_envs": 4, "total_timesteps": 128, "seed": 0}
    run_training("a2c", settings, run_dir, eval_episodes=2)
    return run_dir / "checkpoint.pt"


def _car_pixels(path, colour):
    image = np.asarray(Image.open(path).convert("RGB"))[:, :800].astype(int)
    return int((np.abs(image - np.array(colour)).max(-1) == 0).sum())


def test_replay_draws_its_car(checkpoint, tmp_path):
    result = run_replay(checkpoint, cars=2, headless=True, record=tmp_path / "replay.mp4", png_dir=tmp_path,
                        max_steps=30)
    assert result["episodes"] == 2 and (tmp_path / "replay.mp4").is_file()
    for colour in distinct_colours(2):
        assert _car_pixels(tmp_path / "last.png", colour) > 15  # each car, in its own colour


def test_replay_cli_writes_the_video(checkpoint, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["replay", str(checkpoint), "--cars", "1", "--record", str(out), "--headless", "--speed", "8",
                 "--level", "easy"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out


def test_an_evolved_driver_replays(tmp_path):
    checkpoint_module = pytest.importorskip("evolve.checkpoint")
    from evolve.evaluate import EvalSpec, spaces_of
    from evolve.genome import make_driver

    net = make_driver(*spaces_of(EvalSpec(level="easy")), seed=0)
    path = checkpoint_module.save_driver(tmp_path / "rank0.pt", net, EvalSpec(level="easy").env_kwargs(), "mlp", {})
    _, env_kwargs, title = load_replay_driver(path)
    assert env_kwargs["level"] == "easy" and "evolved" in title
    result = run_replay(path, cars=1, headless=True, record=tmp_path / "champion.mp4", max_steps=10)
    assert result["episodes"] == 1


def test_replay_of_something_else_is_one_line(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.pt"), "--headless"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["x.gif", "x.mp4"])
def test_record_into_a_missing_folder_writes_even_the_shortest_replay(checkpoint, tmp_path, capsys, name):
    # one car, episodes of 3 steps, a frame every 64 steps: no frame is ever due, yet the video holds the end
    out = tmp_path / "missing" / "folder" / name
    result = run_replay(checkpoint, cars=1, headless=True, speed=64, record=out, max_steps=3)
    assert result["video"] == str(out) and f"wrote {out}" in capsys.readouterr().out
    if name.endswith(".gif"):
        gif = Image.open(out)
        assert gif.n_frames >= 1 and gif.size == (640, 400) and np.asarray(gif.convert("RGB")).std() > 10
    else:
        assert out.stat().st_size > 0
        assert [frame for frame in imageio.get_reader(out)][-1].shape == (800, 1280, 3)
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary file beside it


class FailingPolicy:
    """The checkpoint's own policy, raising at its `steps`-th action: an error in the middle of a drive."""

    def __init__(self, policy, steps):
        self.policy, self.left = policy, steps

    def act(self, obs):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("the policy broke mid-drive")
        return self.policy.act(obs)

    def observe(self, reward, terminated, truncated):
        self.policy.observe(reward, terminated, truncated)


@pytest.mark.parametrize("name", ["x.gif", "x.mp4"])
def test_an_error_mid_drive_leaves_no_temporary_file(checkpoint, tmp_path, capsys, name):
    policy, env_kwargs, title = load_replay_driver(checkpoint)
    out = tmp_path / "videos" / name
    with pytest.raises(RuntimeError, match="broke mid-drive"):
        drive(FailingPolicy(policy, 40), env_kwargs, title, cars=1, episodes=1000, record=out, speed=1)
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # the drive up to the error, no .x.tmp file
    assert f"wrote {out}" in capsys.readouterr().out


def test_a_bad_record_is_refused_before_anything_runs(tmp_path):
    missing = tmp_path / "nope.pt"  # were the checkpoint read first, this would be the error
    with pytest.raises(ValueError, match=r"--record .*x\.avi: the video must be a \.mp4 or a \.gif"):
        run_replay(missing, headless=True, record=tmp_path / "sub" / "x.avi")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--record .*file is a file, not a folder"):
        run_replay(missing, headless=True, record=tmp_path / "file" / "x.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no folder made for the refused .avi


def test_replay_prints_the_video_and_no_pygame_banner(checkpoint, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYGAME_HIDE_SUPPORT_PROMPT"}  # as a fresh shell has it
    out = tmp_path / "new" / "x.gif"
    done = subprocess.run([sys.executable, "-m", "sandbox", "replay", str(checkpoint), "--headless", "--cars", "1",
                           "--speed", "64", "--record", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pygame" not in done.stdout + done.stderr  # not "pygame 2.6.1 (SDL ...)", not "Hello from the pygame ..."
    assert f"wrote {out}" in done.stdout and Image.open(out).n_frames >= 1
