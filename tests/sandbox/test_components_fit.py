"""`sandbox fit`: run directory (checkpoint, history, loss plot, images), resume, and bad input named."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from sandbox.cli import main
from sandbox.components.fit import run_fit
from sandbox.trajectories import load_trajectories, save_trajectories
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
