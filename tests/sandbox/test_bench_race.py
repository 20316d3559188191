"""The time-boxed race of `sandbox bench drive`: the clock evaluates on schedule, stops at the budget and
leaves evaluations out of the training time; a learner's row reads its evaluations."""

from __future__ import annotations

from sandbox.bench.race import Clock, race_dagger_from_ppo, race_ours


class FakeTime:
    """A time source the test moves: a training step or an evaluation takes exactly as long as it says."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _evaluate_taking(now: FakeTime, seconds: float, calls: list[float]):
    def evaluate():
        calls.append(now.t)
        now.t += seconds
        return {"lap_rate": 0.5, "clean_lap_rate": 0.1 * len(calls), "median_lap_steps": 300.0}
    return evaluate


def test_clock_evaluates_five_times_and_does_not_count_evaluations():
    now, calls = FakeTime(), []
    # 20 s of training, an evaluation due every 4 s; each evaluation takes 50 s, longer than the whole budget
    clock = Clock(minutes=20 / 60, evaluate=_evaluate_taking(now, 50.0, calls), now=now)
    ticks = 0
    while clock.tick():
        now.t += 0.5  # a training step
        ticks += 1
    assert len(calls) == 5 and ticks == 40 and clock.trained() == 20.0
    assert clock.row("x") == ["x", "50%", "50%", "50%", "300"]


def test_a_step_that_runs_past_the_budget_still_ends_on_a_final_evaluation():
    now, calls = FakeTime(), []
    clock = Clock(minutes=20 / 60, evaluate=_evaluate_taking(now, 1.0, calls), now=now)
    steps = iter([5.0, 4.0, 8.0, 9.0])  # the third step passes the slots at 12 and 16 s; the last, the budget
    while clock.tick():
        now.t += next(steps)
    # evaluated at 5 s of training (slot 4), 9 (slot 8), 17 (slots 12 and 16 together, once), 26 (the final one)
    assert [c - 100.0 - i * 1.0 for i, c in enumerate(calls)] == [5.0, 9.0, 17.0, 26.0]
    assert clock.current and clock.trained() == 26.0


def test_a_budget_of_nothing_evaluates_once_and_stops():
    now, calls = FakeTime(), []
    clock = Clock(minutes=0.0, evaluate=_evaluate_taking(now, 1.0, calls), now=now)
    assert not clock.tick() and len(calls) == 1


def test_a_learner_races_on_a_level_and_is_evaluated_on_held_out_tracks():
    clock = race_ours("a2c", {"level": "normal", "max_episode_steps": 50}, 0.01, 0, {"num_envs": 8, "num_steps": 4})
    assert clock.results and set(clock.results[-1]) >= {"lap_rate", "clean_lap_rate", "median_lap_steps"}
    name, laps, clean, best, _ = clock.row("ours a2c")
    assert name == "ours a2c" and laps.endswith("%") and clean.endswith("%")


def test_a_pixels_student_races_after_its_ppo_teacher_within_the_same_minutes():
    teacher, student = race_dagger_from_ppo("normal", 0.02, 0, world={"max_episode_steps": 30})
    assert teacher[0].startswith("ours PPO teacher (rays, from the reward") and teacher[2].endswith("%")
    assert student[0].startswith("ours DAgger student of it (pixels") and student[2].endswith("%")


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
