"""What a training run leaves in its run directory: a CSV and TensorBoard logs under CleanRL's tag names,
a progress line on stderr, and a learning-curve PNG at the end.

    log = RunLog("runs/a2c", total_steps=100_000)
    log.write(global_step, {"charts/episodic_return": 123.0, "losses/value_loss": 0.4})
    log.close()   # writes learning_curve.png
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

TAGS = {  # history key of the agents -> CleanRL's tag
    "episodic_return": "charts/episodic_return",
    "sps": "charts/SPS",
    "policy_loss": "losses/policy_loss",
    "value_loss": "losses/value_loss",
    "q_loss": "losses/td_loss",
    "td_loss": "losses/td_loss",
    "entropy": "losses/entropy",
    "epsilon": "charts/epsilon",
}


class RunLog:
    """CSV rows (one per write, columns as they first appear), TensorBoard scalars, a progress line."""

    def __init__(self, run_dir: str | os.PathLike, total_steps: int, resume: bool = False):
        from torch.utils.tensorboard import SummaryWriter  # imported here: only training needs it

        self.dir, self.total = Path(run_dir), total_steps
        self.dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.dir / "progress.csv"
        self.rows: list[dict[str, float]] = self._read_rows() if resume else []
        self.tb = SummaryWriter(str(self.dir / "tensorboard"))
        self.started, self.last_print = time.perf_counter(), 0.0

    def _read_rows(self) -> list[dict[str, float]]:
        if not self.csv_path.is_file():
            return []
        with open(self.csv_path, newline="") as f:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Log one row at `step`: CSV (rewritten whole and atomically), TensorBoard, the progress line."""
        row = {"global_step": float(step), **{k: float(v) for k, v in scalars.items()}}
        self.rows.append(row)
        for key, value in scalars.items():
            if math.isfinite(value):
                self.tb.add_scalar(key, value, step)
        self._write_csv()
        now = time.perf_counter()
        if now - self.last_print > 0.5 or step >= self.total:
            self.last_print = now
            ret = scalars.get("charts/episodic_return", float("nan"))
            sps = scalars.get("charts/SPS", float("nan"))
            print(f"\rstep {step:,}/{self.total:,} ({step / self.total:4.0%})  return {ret:8.2f}  "
                  f"SPS {sps:,.0f}  elapsed {now - self.started:5.0f} s", end="", file=sys.stderr, flush=True)

    def _write_csv(self) -> None:
        write_csv(self.csv_path, self.rows)

    def close(self) -> Path | None:
        """Flush the logs, end the progress line and write learning_curve.png; return its path."""
        self.tb.close()
        print(file=sys.stderr)
        return plot_learning_curve(self.rows, self.dir / "learning_curve.png")


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
