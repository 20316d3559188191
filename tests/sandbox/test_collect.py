"""`sandbox collect`: the trajectory file it writes (format, episodes whole, no autoreset steps) and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.cli import main
from sandbox.commands.collect import collect
from sandbox.runs.trajectories import load_trajectories


def test_expert_file_has_every_key_and_whole_episodes(tmp_path):
    summary = collect("expert", level="easy", steps=200, out=tmp_path / "e.npz", num_envs=4, max_episode_steps=40,
                      progress=False)
    arrays, meta = load_trajectories(tmp_path / "e.npz")
    assert summary["steps"] == len(arrays["reward"]) >= 200
    assert arrays["rays"].shape[1] == 11 and arrays["pixels"].shape[1:] == (64, 64, 3)
    assert meta["driver"] == "expert" and meta["level"] == "easy" and meta["obs"] == "both"
    episode = arrays["episode"]
    assert (np.diff(episode) >= 0).all() and (np.diff(episode) <= 1).all()  # one after another
    ends = np.flatnonzero(arrays["terminated"] | arrays["truncated"])
    assert set(ends) == set(np.flatnonzero(np.append(np.diff(episode), 1)))  # each episode ends on its last step
    assert (arrays["reward"] != 0).mean() > 0.5  # no autoreset steps (reward 0, action ignored) in the file


def test_episodes_mode_controller_and_rays_only(tmp_path):
    summary = collect("controller", level="normal", out=tmp_path / "c.npz", obs="rays", episodes=3, num_envs=8,
                      max_episode_steps=30, progress=False)
    arrays, _ = load_trajectories(tmp_path / "c.npz")
    assert summary["episodes"] == 3 and set(np.unique(arrays["episode"])) == {0, 1, 2}
    assert "pixels" not in arrays and arrays["rays"].shape[1] == 29


def test_continuous_actions_and_noise(tmp_path):
    collect("expert", steps=50, out=tmp_path / "n.npz", obs="rays", num_envs=2, continuous=True, noise=0.5,
            progress=False)
    arrays, meta = load_trajectories(tmp_path / "n.npz")
    assert arrays["action"].shape[1] == 2 and arrays["action"].dtype == np.float32 and meta["continuous"]
    collect("expert", steps=50, out=tmp_path / "again.npz", obs="rays", num_envs=2, continuous=True, noise=0.5,
            progress=False)
    again, _ = load_trajectories(tmp_path / "again.npz")  # the noise's random actions are seeded too
    for key, value in arrays.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_cli_collect_and_bad_driver(tmp_path, capsys):
    assert main(["collect", "--steps", "20", "--num-envs", "2", "--obs", "rays", "--out",
                 str(tmp_path / "x.npz")]) == 0
    assert (tmp_path / "x.npz").is_file()
    assert main(["collect", "--driver", "nobody.pt", "--out", str(tmp_path / "y.npz")]) == 2
    assert "nobody.pt" in capsys.readouterr().err
    with pytest.raises(ValueError, match="noise"):
        collect("expert", steps=5, out=tmp_path / "z.npz", noise=2.0, progress=False)


def test_n_rays_sets_the_recorded_rays_and_a_checkpoints_own_count_holds(tmp_path, capsys):
    assert main(["collect", "--level", "normal", "--steps", "20", "--num-envs", "2", "--obs", "rays", "--n-rays",
                 "25", "--out", str(tmp_path / "r.npz")]) == 0
    arrays, meta = load_trajectories(tmp_path / "r.npz")
    assert arrays["rays"].shape[1] == 3 * 25 + 2 and meta["n_rays"] == 25
    run = tmp_path / "run"
    assert main(["train", "--agent", "a2c", "--level", "normal", "--n-rays", "13", "--total-timesteps", "64",
                 "--num-envs", "4", "--set", "num_steps=16", "--eval-episodes", "1", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["collect", "--driver", str(run / "checkpoint.pt"), "--level", "normal", "--n-rays", "25",
                 "--steps", "10", "--out", str(tmp_path / "c.npz")]) == 2
    assert "reads 13 rays" in capsys.readouterr().err and not (tmp_path / "c.npz").exists()
