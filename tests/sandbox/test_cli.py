"""The `sandbox` front door: help, the headless demo's files, clear errors on bad input."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sandbox.cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("demo", "baseline", "bench"):
        assert command in text


@pytest.mark.parametrize("argv", [["demo", "--help"], ["baseline", "--help"], ["bench", "env", "--help"],
                                  ["bench", "backbones", "--help"]])
def test_each_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: sandbox" in capsys.readouterr().out


def test_demo_writes_a_png_and_a_gif(tmp_path, capsys):
    assert main(["demo", "--num-cars", "3", "--steps", "24", "--out", str(tmp_path), "--gif-every", "6"]) == 0
    frame = np.asarray(Image.open(tmp_path / "frame.png"))
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0  # a real picture, not a blank
    gif = Image.open(tmp_path / "drive.gif")
    assert gif.n_frames == 5  # steps 0, 6, 12, 18 and the last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drive.gif", "frame.png"]  # no temp files left
    assert "wrote" in capsys.readouterr().out


def test_unknown_track_set_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--tracks", "nope", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--tracks" in err and "'nope'" in err and "heldout" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_bad_flag_value_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--num-cars", "0"])
    assert exit_info.value.code == 2
    assert "--num-cars" in capsys.readouterr().err


def test_python_dash_m_sandbox_runs():
    result = subprocess.run([sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "bench" in result.stdout


def test_baseline_prints_every_driver_on_a_level(capsys):
    assert main(["baseline", "--level", "normal", "--count", "3"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("|") and "---" not in line}
    expert = rows["expert (envs.drive_expert)"]
    assert expert[:2] == ["100%", "100%"]  # laps, clean laps
    assert rows["full throttle, no steering"][0] == "0%"
    assert "rays controller (envs.drive_controller)" in rows


def test_baseline_bad_level_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["baseline", "--level", "expert"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--level" in err and "easy" in err and "hard" in err
