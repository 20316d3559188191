"""The best evaluated driver of a run (`best.pt`, `best.json`): which evaluation is best, that its checkpoint
drives as evaluated, and that a resumed run goes on from the best it had."""

from __future__ import annotations

import csv
import json

import pytest

from sandbox.cli import main
from sandbox.runs.best import BEST, BEST_JSON, BestDriver, score
from sandbox.runs.checkpoints import load_checkpoint


def _offer(best: BestDriver, result: dict, update: int) -> bool:
    return best.offer(result, update, update * 10, lambda: {"update": update})


def test_cardrive_ranks_by_clean_laps_then_return_and_elsewhere_by_return():
    fast = {"clean_lap_rate": 0.5, "mean_return": 200.0}
    careful = {"clean_lap_rate": 0.6, "mean_return": 100.0}
    assert score(careful) > score(fast)
    assert score({"clean_lap_rate": 0.6, "mean_return": 120.0}) > score(careful)
    assert score({"mean_return": 3.0}) > score({"mean_return": 2.0})


def test_only_a_strictly_better_evaluation_replaces_the_best(tmp_path):
    best = BestDriver(tmp_path, resume=False)
    assert _offer(best, {"mean_return": 10.0}, 1)
    assert not _offer(best, {"mean_return": 5.0}, 2)
    assert not _offer(best, {"mean_return": 10.0}, 3)  # equal: the earlier driver stays
    assert load_checkpoint(tmp_path / BEST)["update"] == 1
    assert _offer(best, {"mean_return": 11.0}, 4)
    assert load_checkpoint(tmp_path / BEST)["update"] == 4
    assert json.loads((tmp_path / BEST_JSON).read_text()) == {"update": 4, "global_step": 40, "mean_return": 11.0}


def test_a_resumed_run_goes_on_from_its_record_and_a_new_one_ignores_it(tmp_path):
    _offer(BestDriver(tmp_path, resume=False), {"mean_return": 10.0}, 1)
    assert not _offer(BestDriver(tmp_path, resume=True), {"mean_return": 9.0}, 2)
    assert _offer(BestDriver(tmp_path, resume=False), {"mean_return": 9.0}, 2)


def test_a_bad_record_is_an_error_naming_it(tmp_path):
    (tmp_path / BEST_JSON).write_text("{not json")
    with pytest.raises(ValueError, match=f"{tmp_path / BEST_JSON} is not a best-driver record"):
        BestDriver(tmp_path, resume=True)


def test_eval_every_keeps_the_best_evaluation_and_its_checkpoint_drives_as_evaluated(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--agent", "a2c", "--env", "CartPole-v1", "--total-timesteps", "8000", "--eval-every",
                 "40", "--eval-episodes", "3", "--run-dir", str(run)]) == 0
    record = json.loads((run / BEST_JSON).read_text())
    with open(run / "progress.csv", newline="") as f:
        evaluations = [(float(row["global_step"]), float(row["eval/mean_return"])) for row in csv.DictReader(f)
                       if row["eval/mean_return"] not in ("", "nan")]
    evaluations.append((8000.0, json.loads((run / "eval.json").read_text())["mean_return"]))  # the final one
    first_best = next(step for step, value in evaluations if value == max(v for _, v in evaluations))
    assert (record["global_step"], record["mean_return"]) == (first_best, max(v for _, v in evaluations))
    assert load_checkpoint(run / BEST)["update"] == record["update"]
    assert "best evaluation: update" in capsys.readouterr().err
    assert main(["eval", str(run / BEST), "--episodes", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_return"] == record["mean_return"]


def test_without_eval_every_no_best_is_kept(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--agent", "a2c", "--env", "CartPole-v1", "--total-timesteps", "2000", "--eval-episodes",
                 "2", "--run-dir", str(run)]) == 0
    assert not (run / BEST).exists() and not (run / BEST_JSON).exists()
