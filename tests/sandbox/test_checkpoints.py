"""Checkpoints are atomic, versioned, weights_only, and say what is wrong with a bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sandbox.runs.checkpoints import (
    FORMAT_VERSION,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
    to_numpy,
    to_tensors,
)


def test_round_trip(tmp_path):
    net = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "run" / "ckpt.pt", {"model": net.state_dict(), "step": 7, "name": "a2c"})
    payload = load_checkpoint(path)
    assert payload["format_version"] == FORMAT_VERSION and payload["step"] == 7 and payload["name"] == "a2c"
    torch.testing.assert_close(payload["model"]["weight"], net.weight.detach())
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temporary file left


def test_rng_states_continue_the_same_stream(tmp_path):
    generator = np.random.default_rng(5)
    torch.manual_seed(1)
    np.random.seed(2)
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_states(generator)})
    expected = (torch.rand(3), np.random.rand(3), generator.random(3))
    torch.manual_seed(99)
    np.random.seed(99)
    generator = np.random.default_rng(99)
    restore_rng_states(load_checkpoint(tmp_path / "c.pt")["rng"], generator)
    got = (torch.rand(3), np.random.rand(3), generator.random(3))
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[2], expected[2])


def test_a_truncated_file_names_itself(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": torch.nn.Linear(30, 30).state_dict()})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"c\.pt is not a readable sandbox checkpoint"):
        load_checkpoint(path)


def test_missing_file_and_wrong_version(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"format_version": FORMAT_VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="checkpoint format"):
        load_checkpoint(tmp_path / "future.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a sandbox checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_code_in_a_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))

    torch.save({"format_version": FORMAT_VERSION, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")


def test_numpy_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    state = {"arrays": {"pos": np.arange(6.0).reshape(3, 2), "hit": np.array([True, False])},
             "rngs": [np.random.default_rng(1).bit_generator.state], "n": 3}
    save_checkpoint(tmp_path / "s.pt", {"env": to_tensors(state)})
    back = to_numpy(load_checkpoint(tmp_path / "s.pt")["env"])
    np.testing.assert_array_equal(back["arrays"]["pos"], state["arrays"]["pos"])
    assert back["arrays"]["hit"].dtype == bool and back["rngs"] == state["rngs"] and back["n"] == 3


def test_non_finite_weights_are_never_saved(tmp_path):
    import pytest
    import torch

    from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint

    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}})
    before = path.read_bytes()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(FloatingPointError, match=r"refusing to save .*\['model'\]\['w'\]"):
            save_checkpoint(path, {"model": {"w": torch.tensor([1.0, bad])}})
    assert path.read_bytes() == before and load_checkpoint(path)["model"]["w"].sum() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left
