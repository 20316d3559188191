"""The agents benchmark's runner: it stops a run at the first evaluation that solves the task, and reports
an unsolved run as such (tiny budgets; the real figures come from `sandbox bench agents`)."""

from __future__ import annotations

import pytest

from sandbox.bench.agents import Task, _median, ours, ppo_throughput


def _task(solved) -> Task:
    return Task("CartPole", "CartPole-v1", {}, eval_every=64, budget=512, solved=solved, episodes=2)


def test_a_run_stops_at_the_first_solving_evaluation():
    result = ours("a2c", _task(lambda r: r["mean_return"] > 0), 0, {"num_envs": 4, "num_steps": 8})
    assert result["steps"] == 64 and result["wall"] > 0


def test_an_unsolved_run_says_so():
    result = ours("a2c", _task(lambda r: False), 0, {"num_envs": 4, "num_steps": 8})
    assert result["steps"] is None
    assert _median([None, None, 5]) == "not solved (1/3)"
    assert _median([3, 5, None]) == "4"


def test_ppo_throughput_times_the_shipped_settings_after_the_second_update():
    rate = ppo_throughput("easy", updates=3)  # one timed update of the shipped 512 x 16 batch
    assert 1_000 < rate < 10_000_000
    with pytest.raises(ValueError, match="updates must be >= 3"):
        ppo_throughput("easy", updates=2)
