"""The time-boxed race of `sandbox bench drive`: the clock evaluates on schedule, stops at the budget and
leaves evaluations out of the training time; a learner's row reads its evaluations."""

from __future__ import annotations

import time

from sandbox.bench.race import Clock, race_ours


def test_clock_evaluates_five_times_and_does_not_count_evaluations():
    calls = []

    def evaluate():
        calls.append(time.perf_counter())
        time.sleep(0.05)  # longer than the whole budget: it must not count as training
        return {"lap_rate": 0.5, "clean_lap_rate": 0.1 * len(calls), "median_lap_steps": 300.0}

    clock = Clock(minutes=0.02 / 60, evaluate=evaluate)  # 20 ms of training, an evaluation every 4 ms
    while clock.tick():
        time.sleep(0.001)
    assert len(calls) == 5 and clock.trained() < 0.05
    assert clock.row("x") == ["x", "50%", "50%", "50%", "300"]


def test_a_learner_races_on_a_level_and_is_evaluated_on_held_out_tracks():
    clock = race_ours("a2c", {"level": "normal", "max_episode_steps": 50}, 0.01, 0, {"num_envs": 8, "num_steps": 4})
    assert clock.results and set(clock.results[-1]) >= {"lap_rate", "clean_lap_rate", "median_lap_steps"}
    name, laps, clean, best, _ = clock.row("ours a2c")
    assert name == "ours a2c" and laps.endswith("%") and clean.endswith("%")


def test_a_learner_that_stops_before_its_budget_is_evaluated_where_it_stopped():
    calls = []
    clock = Clock(minutes=1.0, evaluate=lambda: calls.append(1) or {"lap_rate": 1.0, "clean_lap_rate": 1.0,
                                                                   "median_lap_steps": 300.0})
    assert clock.tick()  # no evaluation due yet (the first is at 12 s)
    clock.finish()  # its step count ran out: the final evaluation is made now
    clock.finish()  # and only once
    assert len(calls) == 1 and clock.row("x")[2] == "100%"


def test_bench_teachers_with_nothing_to_run_is_refused(capsys):
    from sandbox.cli import main

    assert main(["bench", "teachers", "--levels", "--no-pixels"]) == 2
    assert "--levels with no level and --no-pixels" in capsys.readouterr().err
