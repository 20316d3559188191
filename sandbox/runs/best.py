"""The best evaluated driver of a run: `best.pt` and `best.json` beside `checkpoint.pt` (SB3's `EvalCallback`
with `best_model_save_path`).

An on-policy learner's last weights are not always its best: A2C's greedy LunarLander lander lands in every
episode on one seed and crashes in half of them on another, and a PPO pixels driver swings by 20-30 points of
clean laps from one evaluation to the next while its learning rate is high. With `--eval-every N` the run keeps
the weights of its best periodic evaluation in `best.pt` (a whole checkpoint: `sandbox eval`, `replay` and
`watch` read it as they read `checkpoint.pt`) and that evaluation in `best.json`.

Best means the higher clean-lap rate on CarDrive (mean return breaks a tie) and the higher mean return
elsewhere; a later evaluation must beat it, not equal it, so the earliest of equal drivers is kept. The
evaluations are seeded, so a resumed run finds the same best as the uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.runs.checkpoints import save_checkpoint
from sandbox.runs.runlog import write_json

BEST, BEST_JSON = "best.pt", "best.json"


def score(result: dict[str, Any]) -> tuple[float, ...]:
    """What "better" compares: (clean-lap rate, mean return) on CarDrive, (mean return,) elsewhere."""
    if "clean_lap_rate" in result:
        return float(result["clean_lap_rate"]), float(result["mean_return"])
    return (float(result["mean_return"]),)


class BestDriver:
    """Keeps `run_dir/best.pt` the checkpoint of the best evaluation offered so far.

    Args:
        run_dir: the run's directory.
        resume: a resumed run goes on from the best its `best.json` records (if any); a new one from none.
    """

    def __init__(self, run_dir: str | os.PathLike, resume: bool) -> None:
        self.run_dir = Path(run_dir)
        self.best: dict[str, Any] | None = None
        record = self.run_dir / BEST_JSON
        if resume and record.is_file():
            try:
                self.best = json.loads(record.read_text())
                score(self.best)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{record} is not a best-driver record ({exc}); remove it to go on") from None

    def offer(self, result: dict[str, Any], update: int, global_step: int,
              payload: Callable[[], dict[str, Any]]) -> bool:
        """Save `payload()` as best.pt if `result` beats the best so far; return whether it did."""
        if self.best is not None and score(result) <= score(self.best):
            return False
        save_checkpoint(self.run_dir / BEST, payload())  # the weights first: best.json never names a missing file
        self.best = {"update": update, "global_step": global_step, **result}
        write_json(self.run_dir / BEST_JSON, self.best)
        return True
