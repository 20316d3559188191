"""`sandbox bench env`: our car world against gymnasium's CarRacing-v3, random actions, one core.

CarRacing-v3 is what a user would otherwise pick for a top-down car; it renders its 96x96 observation with
pygame every step and runs at ~80-100 steps/s here (`../shared/anchors/ENV-RESULTS.md`). Every figure is
the median of `repeats` timed runs after a warm-up, resets on episode end included, so ratios compare
like with like. Goals from the issue: rays N=4096 >= 500k car-steps/s (>= 2,000x CarRacing), the one-car
env >= 10k steps/s, pixels N=1024 >= 15k car-steps/s.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from sandbox.bench.timing import format_rate, format_table, machine_line, median_rate, single_thread

GOALS = {"rays, N=4096": 500_000, "one-car env (gymnasium.make)": 10_000, "pixels, N=1024": 15_000}


def _episodes_rate(env, actions: list, repeats: int) -> float:
    """Steps/s of a one-env loop over `actions`, resetting whenever an episode ends (as a user would)."""

    def run() -> int:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return len(actions)

    return median_rate(run, repeats)


def _carracing_rate(steps: int, repeats: int) -> float:
    import gymnasium as gym

    env = gym.make("CarRacing-v3", continuous=False)
    env.reset(seed=0)
    env.action_space.seed(0)
    rate = _episodes_rate(env, [env.action_space.sample() for _ in range(steps)], repeats)
    env.close()
    return rate


def _single_rate(steps: int, repeats: int) -> float:
    import gymnasium as gym

    import envs  # noqa: F401  (registers sandbox/CarDrive-v0)

    env = gym.make("sandbox/CarDrive-v0", obs="rays")
    env.reset(seed=0)
    return _episodes_rate(env, np.random.default_rng(0).integers(0, 5, steps).tolist(), repeats)


def _vector_rate(num_envs: int, obs: str, steps: int, repeats: int) -> float:
    from envs import CarDriveVectorEnv

    env = CarDriveVectorEnv(num_envs, obs=obs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, (steps, num_envs))

    def run() -> int:
        for a in actions:
            env.step(a)
        return steps * num_envs

    return median_rate(run, repeats)


def run_env_bench(repeats: int = 5, quick: bool = False) -> str:
    """Run every figure, print progress to stderr, return the Markdown table."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    single_thread()
    scale = 0.1 if quick else 1.0

    def steps(n: int) -> int:
        return max(int(n * scale), 5)

    cases = [
        ("CarRacing-v3 (gymnasium), discrete", lambda: _carracing_rate(steps(300), repeats)),
        ("one-car env (gymnasium.make)", lambda: _single_rate(steps(20_000), repeats)),
        ("rays, N=1", lambda: _vector_rate(1, "rays", steps(20_000), repeats)),
        ("rays, N=256", lambda: _vector_rate(256, "rays", steps(1_000), repeats)),
        ("rays, N=4096", lambda: _vector_rate(4096, "rays", steps(200), repeats)),
        ("pixels, N=64", lambda: _vector_rate(64, "pixels", steps(200), repeats)),
        ("pixels, N=1024", lambda: _vector_rate(1024, "pixels", steps(40), repeats)),
        ("both, N=1024", lambda: _vector_rate(1024, "both", steps(40), repeats)),
    ]
    rates = {}
    for name, measure in cases:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rates[name] = measure()
    base = rates[cases[0][0]]
    rows = []
    for name, rate in rates.items():
        goal = GOALS.get(name)
        verdict = "" if goal is None else f">= {format_rate(goal)}: {'met' if rate >= goal else 'MISSED'}"
        rows.append([name, format_rate(rate), f"{rate / base:,.0f}x", verdict])
    header = ["configuration (random actions, 1 thread)", "car-steps/s (median)", "vs CarRacing", "goal"]
    return f"{machine_line()}, median of {repeats} repeats\n" + format_table(header, rows)
