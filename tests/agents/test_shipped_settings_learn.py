"""Slow: each shipped settings entry (agents/settings/*.toml) learns its env through the CLI with no flags but
the run's folder, as a new user runs it: `sandbox train --agent X --env E`, then the run's own greedy
evaluation (eval.json, 20 seeded episodes). The bars are the issue's (CartPole 475, LunarLander 200,
Pendulum -250)."""

from __future__ import annotations

import json

import pytest

from sandbox.cli import main

ENTRIES = [  # (family, env, the mean return its eval must reach)
    *[(family, "CartPole-v1", 475.0) for family in ("a2c", "ppo", "reinforce", "sarsa", "qlearning")],
    ("ppo", "Pendulum-v1", -250.0),
    ("ppo", "LunarLander-v3", 200.0),
    ("a2c", "LunarLander-v3", 200.0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("family", "env_id", "bar"), ENTRIES, ids=[f"{f}-{e}" for f, e, _ in ENTRIES])
def test_a_shipped_entry_learns_its_env_with_no_flags(tmp_path, family, env_id, bar):
    run = tmp_path / "run"
    assert main(["train", "--agent", family, "--env", env_id, "--run-dir", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["mean_return"] >= bar, result
