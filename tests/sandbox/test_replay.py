"""`sandbox replay`: a trained agent's or an evolved driver's checkpoint, driven on held-out tracks and drawn."""

import numpy as np
import pytest
from PIL import Image

from sandbox.cli import main
from sandbox.replay import load_policy, run_replay
from sandbox.scene import distinct_colours
from sandbox.train import run_training


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
    _, env_kwargs, title = load_policy(path)
    assert env_kwargs["level"] == "easy" and "evolved" in title
    result = run_replay(path, cars=1, headless=True, record=tmp_path / "champion.mp4", max_steps=10)
    assert result["episodes"] == 1


def test_replay_of_something_else_is_one_line(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.pt"), "--headless"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
