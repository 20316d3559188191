"""`sandbox fit`: run directory (checkpoint, history, loss plot, images), resume, bad input named, a diverging
fit stopped in one line with its last good checkpoint kept, and the progress line."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from sandbox.cli import main
from sandbox.components.fit import run_fit
from sandbox.runs.checkpoints import load_checkpoint
from sandbox.runs.trajectories import load_trajectories, save_trajectories
from tests.sandbox.components_data import tiny_file

TINY_AE = {"latent_dim": 4, "batch_size": 32}


def test_fit_writes_the_run_and_resumes(tmp_path):
    data = tiny_file(tmp_path, steps=64)
    run_fit("vae", data, 1, tmp_path / "run", TINY_AE, progress=False)
    for name in ("checkpoint.pt", "history.csv", "loss.png", "reconstructions.png", "samples.png"):
        assert (tmp_path / "run" / name).is_file()
    summary = run_fit("vae", data, 2, tmp_path / "run", resume=True, progress=False)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and summary["epochs"] == 2


def test_resume_continues_exactly(tmp_path):
    data = tiny_file(tmp_path, obs="rays", steps=128)
    run_fit("bc", data, 2, tmp_path / "straight", progress=False)
    run_fit("bc", data, 1, tmp_path / "stopped", progress=False)
    resumed = run_fit("bc", data, 2, tmp_path / "stopped", resume=True, progress=False)
    straight = [r["loss"] for r in csv.DictReader(open(tmp_path / "straight" / "history.csv"))]
    assert resumed["loss"] == pytest.approx(float(straight[-1]), rel=1e-6)


def test_cli_fit_transformer_and_gan(tmp_path):
    data = tiny_file(tmp_path, steps=64)
    assert main(["fit", "transformer", "--data", str(data), "--epochs", "1", "--context", "4",
                 "--run-dir", str(tmp_path / "dt")]) == 0
    assert main(["fit", "gan", "--data", str(data), "--epochs", "1", "--batch-size", "32", "--latent-dim", "8",
                 "--run-dir", str(tmp_path / "gan")]) == 0
    assert (tmp_path / "gan" / "samples.png").is_file()


def test_bad_data_files_are_named(tmp_path, capsys):
    data = tiny_file(tmp_path, obs="rays", steps=64)
    assert main(["fit", "vae", "--data", str(data), "--run-dir", str(tmp_path / "r")]) == 2
    assert str(data) in capsys.readouterr().err  # rays only: the autoencoder needs pixels, and says so
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data.read_bytes()[:500])
    assert main(["fit", "bc", "--data", str(truncated)]) == 2
    assert "truncated" in capsys.readouterr().err
    arrays, meta = load_trajectories(data)
    arrays["rays"] = arrays["rays"][:, :, None]
    np.savez(tmp_path / "shape.npz", meta=np.array('{"format": "sandbox-trajectories", "version": 1}'), **arrays)
    assert main(["fit", "bc", "--data", str(tmp_path / "shape.npz")]) == 2
    assert "'rays' has shape" in capsys.readouterr().err
    del arrays["action"]
    with pytest.raises(ValueError, match="missing key"):
        save_trajectories(tmp_path / "missing.npz", arrays, meta)
    assert main(["fit", "bc", "--data", str(tmp_path / "nothing.npz")]) == 2
    assert main(["fit", "bc", "--data", str(data), "--epochs", "1", "--run-dir", str(tmp_path / "x"),
                 "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


# a 64-step file is one mini-batch of behaviour cloning (batch_size 256): its first step starts from sane weights
# and moves each by about the learning rate, 1e36; the next forward overflows float32 (logits ~ 64 x 1e36 x ...)
DIVERGES = 1e36


def _all_finite(path) -> bool:
    model = load_checkpoint(path)["model"]
    return all(bool(torch.isfinite(t).all()) for t in model.values() if t.is_floating_point())


def test_a_diverging_fit_stops_in_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    data, run = tiny_file(tmp_path, obs="rays", steps=64), tmp_path / "run"
    run_fit("bc", data, 1, run, {"learning_rate": DIVERGES}, progress=False)  # one step: huge weights, finite
    good = (run / "checkpoint.pt").read_bytes()
    assert _all_finite(run / "checkpoint.pt")
    with pytest.raises(FloatingPointError) as info:
        run_fit("bc", data, 5, run, resume=True, progress=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("fit bc: the loss became ")
    assert "at epoch 2" in message and "learning_rate (now 1e+36)" in message
    assert f"the last good checkpoint is {run / 'checkpoint.pt'} (epoch 1)" in message
    assert "unchanged" in message
    assert (run / "checkpoint.pt").read_bytes() == good  # byte for byte the last good one
    assert len(list(csv.DictReader(open(run / "history.csv")))) == 1
    with pytest.raises(FloatingPointError, match="at epoch 2;.*the last good checkpoint .*(epoch 1)"):
        run_fit("bc", data, 5, tmp_path / "fresh", {"learning_rate": DIVERGES}, progress=False)  # in one run too
    assert load_checkpoint(tmp_path / "fresh" / "checkpoint.pt")["epoch"] == 1


@pytest.mark.parametrize("rate, what", [(float("inf"), "the weight backbone.trunk.0.weight became nan or inf"),
                                        (1e38, "the optimiser's step overflowed float32")])
def test_a_fit_diverging_in_its_first_epoch_writes_no_checkpoint(tmp_path, rate, what):
    data, run = tiny_file(tmp_path, obs="rays", steps=64), tmp_path / "run"
    with pytest.raises(FloatingPointError) as info:
        run_fit("bc", data, 2, run, {"learning_rate": rate}, progress=False)
    assert str(info.value).startswith(f"fit bc: {what} at epoch 1;")
    assert str(info.value).endswith("; no checkpoint was written yet") and "\n" not in str(info.value)
    assert not (run / "checkpoint.pt").exists()


def test_a_diverging_gail_stops_in_one_line(tmp_path):
    data, run = tiny_file(tmp_path, obs="rays", steps=64), tmp_path / "run"
    small = {"warm_start": False, "steps_per_epoch": 128, "num_envs": 4, "num_steps": 16, "max_episode_steps": 64,
             "batch_size": 64}
    with pytest.raises(FloatingPointError) as info:  # the discriminator: NaN rewards would reach A2C
        run_fit("gail", data, 2, run, {**small, "learning_rate": float("inf")}, progress=False)
    assert str(info.value) == ("fit gail: the discriminator's weight backbone.trunk.0.weight became nan or inf at "
                               "epoch 1; lower learning_rate (now inf); no checkpoint was written yet")
    with pytest.raises(FloatingPointError) as info:  # A2C's policy, before its next rollout samples from it
        run_fit("gail", data, 2, run, {**small, "a2c_learning_rate": float("inf")}, progress=False)
    assert str(info.value).startswith("fit gail: the A2C policy's weight ") and "\n" not in str(info.value)
    assert "a2c_learning_rate (now inf)" in str(info.value) and not (run / "checkpoint.pt").exists()


def test_cli_a_diverging_fit_is_one_line(tmp_path, capsys):
    data = tiny_file(tmp_path, obs="rays", steps=64)
    assert main(["fit", "bc", "--data", str(data), "--learning-rate", "1e36", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("fit bc: epoch 1/10  loss ")  # the progress line, ended before the error
    assert len(err) == 2 and err[1].startswith("sandbox fit: error: fit bc: the loss became ")
    assert "(epoch 1)" in err[1] and "unchanged" in err[1]


def test_the_progress_line_is_one_line_per_epoch_and_ends_with_a_newline(tmp_path, capsys):
    data = tiny_file(tmp_path, obs="rays", steps=64)
    run_fit("bc", data, 3, tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    assert err.endswith("\n") and "\r" not in err  # not a terminal: a log file reads line by line
    assert [line.split("  ")[0] for line in err.splitlines()] == [f"fit bc: epoch {i}/3" for i in (1, 2, 3)]
    with pytest.raises(FloatingPointError):
        run_fit("bc", data, 3, tmp_path / "diverged", {"learning_rate": DIVERGES}, progress=True)
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.splitlines()[0].startswith("fit bc: epoch 1/3")
