"""What a training run leaves in its run directory: a CSV and TensorBoard logs under CleanRL's tag names,
a progress line on stderr, and a learning-curve PNG at the end.

    log = RunLog("runs/a2c", total_steps=100_000)     # creates nothing yet
    log.write(global_step, {"charts/episodic_return": 123.0, "losses/value_loss": 0.4})
    log.close()   # writes learning_curve.png
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.runs.progress import ProgressLine

CSV_EVERY = 5.0  # seconds between rewrites of progress.csv (and at every checkpoint, and at the end)
RECENT = 20  # the progress line's return: the mean over this many of the last updates that finished episodes


class RunLog:
    """CSV rows (one per write, columns as they first appear), TensorBoard scalars, a progress line.

    Nothing is created before the first `write` (a run that fails to start leaves no folder behind), and
    `before_first_write` is called just then (`--overwrite` clears the old run there). `resume_step` continues
    a run's logs: the CSV rows and TensorBoard events after that step (written after the checkpoint a killed
    run resumes from) are dropped, so the resumed run's logs equal the uninterrupted run's.
    """

    def __init__(self, run_dir: str | os.PathLike, total_steps: int, resume_step: int | None = None,
                 before_first_write: Callable[[], None] | None = None):
        self.dir, self.total, self.resume_step = Path(run_dir), total_steps, resume_step
        self.csv_path = self.dir / "progress.csv"
        self.rows: list[dict[str, float]] = self._read_rows(resume_step) if resume_step is not None else []
        self.tb = None
        self.before_first_write = before_first_write
        self.started = time.perf_counter()
        self.progress = ProgressLine()
        self.csv_written = -math.inf  # when the CSV was last rewritten (perf_counter)
        self.recent_returns: deque[float] = deque(maxlen=RECENT)  # the last updates' mean episode returns

    def _read_rows(self, up_to: int) -> list[dict[str, float]]:
        if not self.csv_path.is_file():
            return []
        with open(self.csv_path, newline="") as f:
            rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
        return [row for row in rows if row.get("global_step", 0.0) <= up_to]

    def _open(self) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported here: only training needs it

        if self.before_first_write is not None:
            self.before_first_write()
        self.dir.mkdir(parents=True, exist_ok=True)
        # purge_step: events at or after it (a killed run's steps past its checkpoint) are dropped on resume
        purge = self.resume_step + 1 if self.resume_step is not None else None
        self.tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=purge)

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Log one row at `step`: TensorBoard, the progress line, and the CSV (rewritten whole and atomically,
        at most every CSV_EVERY seconds: a run of 25k short updates would otherwise spend its time rewriting
        it; `flush` writes it now)."""
        if self.tb is None:
            self._open()
        row = {"global_step": float(step), **{k: float(v) for k, v in scalars.items()}}
        self.rows.append(row)
        for key, value in scalars.items():
            if math.isfinite(value):
                self.tb.add_scalar(key, value, step)
        if time.perf_counter() - self.csv_written >= CSV_EVERY or step >= self.total:
            self.flush()
        if math.isfinite(row.get("charts/episodic_return", math.nan)):
            self.recent_returns.append(row["charts/episodic_return"])
        self.progress.show(self._line(step, scalars), force=step >= self.total)

    def flush(self) -> None:
        """Write the CSV with every row so far (before a checkpoint: a resumed run's logs start from it)."""
        if self.rows:
            self._write_csv()
            self.csv_written = time.perf_counter()

    def _line(self, step: int, scalars: dict[str, float]) -> str:
        sps = scalars.get("charts/SPS", math.nan)
        # the mean over the last updates that finished episodes (an update of a few steps often finishes none)
        mean = sum(self.recent_returns) / len(self.recent_returns) if self.recent_returns else math.nan
        ret_text = f"return {mean:8.2f}" if math.isfinite(mean) else "no episode yet"
        sps_text = f"SPS {sps:,.0f}" if math.isfinite(sps) else "SPS -"
        return (f"step {step:,}/{self.total:,} ({step / self.total:4.0%})  {ret_text}  {sps_text}  "
                f"elapsed {time.perf_counter() - self.started:5.0f} s")

    def _write_csv(self) -> None:
        write_csv(self.csv_path, self.rows)

    def close(self) -> Path | None:
        """Flush the logs, end the progress line and write learning_curve.png; return its path (None when
        nothing was logged)."""
        self.progress.close()
        if self.tb is None:
            return None
        self.flush()
        self.tb.close()
        return plot_learning_curve(self.rows, self.dir / "learning_curve.png")


def write_json(path: Path, value: dict[str, Any]) -> Path:
    """`value` as indented JSON, written atomically (a temporary file renamed over `path`)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows of dicts as a CSV (every key seen, first seen first), written atomically: a temporary file renamed
    over `path`, so a reader never sees half a table."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def plot_learning_curve(rows: list[dict[str, float]], path: Path) -> Path | None:
    """Episodic return (and held-out lap rates where evaluated) against steps, as a PNG written atomically."""
    curves = [k for k in ("charts/episodic_return", "eval/lap_rate", "eval/clean_lap_rate")
              if any(math.isfinite(r.get(k, math.nan)) for r in rows)]
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(curves), 1, figsize=(7, 2.6 * len(curves)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], curves, strict=True):
        points = [(r["global_step"], r[key]) for r in rows if math.isfinite(r.get(key, math.nan))]
        ax.plot(*zip(*points, strict=True), marker="." if len(points) < 30 else None)
        ax.set_ylabel(key.split("/")[-1].replace("_", " "))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("env steps")
    fig.tight_layout()
    tmp = path.with_name(".learning_curve.png.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path
