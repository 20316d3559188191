"""The kill -9 contract of `sandbox train`, shared by every family's test of it: a run killed with SIGKILL
after its first checkpoint and resumed with `--resume` ends as the run that was never stopped."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sandbox.runs.checkpoints import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


def assert_resume_after_kill_9_equals_uninterrupted(tmp_path: Path, command: Callable[[Path], list[str]],
                                                    total: int) -> tuple[Path, Path]:
    """Run `command(run_dir)` whole, and again killed at its first checkpoint then resumed; assert both end at
    `total` steps with the same weights and the same progress.csv rows; return (whole, killed) run folders."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy"}
    whole = tmp_path / "whole"
    subprocess.run(command(whole), cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = load_checkpoint(killed / "checkpoint.pt")["global_step"]
    assert stopped_at < total  # it really was stopped part way
    subprocess.run([sys.executable, "-m", "sandbox", "train", "--resume", str(killed)], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=300)
    a, b = load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt")
    assert a["global_step"] == b["global_step"] == total
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=0, atol=0, msg=name)
    # the logs too: no step twice, every row the uninterrupted run's (but its wall-clock speed)
    assert progress_rows(killed) == progress_rows(whole)
    return whole, killed


def progress_rows(run: Path) -> list[dict[str, str]]:
    """A run's progress.csv rows without the wall-clock speed column."""
    with open(run / "progress.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "charts/SPS"} for row in csv.DictReader(f)]
