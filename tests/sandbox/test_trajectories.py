"""The trajectory file: round trip, and errors that name the file and the problem."""

import numpy as np
import pytest

from sandbox.runs.trajectories import load_trajectories, save_trajectories, split_obs


def _arrays(steps=6):
    rng = np.random.default_rng(0)
    return {"rays": rng.random((steps, 11), dtype=np.float32), "action": rng.integers(0, 5, steps),
            "reward": rng.random(steps, dtype=np.float32), "terminated": np.eye(1, steps, steps - 1, dtype=bool)[0],
            "truncated": np.zeros(steps, bool), "episode": np.zeros(steps, np.int64)}


def test_round_trip(tmp_path):
    arrays = _arrays()
    save_trajectories(tmp_path / "d.npz", arrays, {"level": "easy", "obs": "rays", "driver": "expert"})
    loaded, meta = load_trajectories(tmp_path / "d.npz")
    assert meta["level"] == "easy" and meta["driver"] == "expert" and meta["version"] == 1
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_trajectories(tmp_path / "nothing.npz")
    save_trajectories(tmp_path / "d.npz", _arrays(), {"level": "easy"})
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes((tmp_path / "d.npz").read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.npz.*truncated or corrupt"):
        load_trajectories(truncated)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz.*no 'meta'"):
        load_trajectories(tmp_path / "other.npz")
    arrays = _arrays()
    del arrays["reward"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['reward'\]"):
        save_trajectories(tmp_path / "e.npz", arrays, {})
    arrays = _arrays()
    arrays["action"] = arrays["action"][:3]
    with pytest.raises(ValueError, match="'action' has shape"):
        save_trajectories(tmp_path / "e.npz", arrays, {})
    assert not (tmp_path / "e.npz").exists()


def test_split_obs():
    assert set(split_obs(np.zeros((2, 11)))) == {"rays"}
    assert set(split_obs(np.zeros((2, 8, 8, 3), np.uint8))) == {"pixels"}
    assert set(split_obs({"rays": np.zeros((2, 11)), "pixels": np.zeros((2, 8, 8, 3))})) == {"rays", "pixels"}
