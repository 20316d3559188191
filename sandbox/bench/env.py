"""`sandbox bench env`: our car world against gymnasium's CarRacing-v3, random actions, one core.

CarRacing-v3 is what a user would otherwise pick for a top-down car; it renders its 96x96 observation with
pygame every step and runs at ~80-100 steps/s on a machine of this kind. Every figure is the median of
`repeats` timed runs after a warm-up, resets on episode end included, so ratios compare like with like.

Goals: easy rays N=4096 >= 1M car-steps/s; hard (traffic) rays N=4096 >= 500k; the one-car env >= 30k
steps/s on every level; the vector env at N=1 no slower than the one-car env; pixels N=1024 >= 15k. And the
resets: one track built in <= 10 ms, 100 `reset(seed=i)` of a one-car env in <= 1 s in total.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from sandbox.bench.timing import format_rate, machine_line, median_rate, single_thread
from sandbox.commands.tables import format_table

GOALS = {"rays, N=4096": 1_000_000, "hard rays (traffic), N=4096": 500_000, "pixels, N=1024": 15_000,
         **{f"one-car env, {level} (gymnasium.make)": 30_000 for level in ("easy", "normal", "hard")}}


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


def _single_rate(steps: int, repeats: int, level: str = "easy") -> float:
    import gymnasium as gym

    import envs  # noqa: F401  (registers sandbox/CarDrive-v0)

    env = gym.make("sandbox/CarDrive-v0", obs="rays", level=level)
    env.reset(seed=0)
    return _episodes_rate(env, np.random.default_rng(0).integers(0, 5, steps).tolist(), repeats)


def _vector_rate(num_envs: int, obs: str, steps: int, repeats: int, level: str = "easy") -> float:
    from envs import CarDriveVectorEnv

    env = CarDriveVectorEnv(num_envs, obs=obs, level=level)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, (steps, num_envs))

    def run() -> int:
        for a in actions:
            env.step(a)
        return steps * num_envs

    return median_rate(run, repeats)


def track_build_ms(level: str, count: int) -> float:
    """Median milliseconds to generate one track of `level` from scratch (the process cache bypassed)."""
    import statistics
    import time

    from envs import get_level, make_track, track_seeds

    shape, seeds = get_level(level).shape, track_seeds("train", level)
    make_track.__wrapped__(int(seeds[-1]), shape)  # compile and warm up
    times = []
    for s in seeds[:count]:
        start = time.perf_counter()
        make_track.__wrapped__(int(s), shape)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def seeded_resets_seconds(count: int, level: str = "easy") -> float:
    """Seconds for `count` calls of `reset(seed=i)` on a one-car env, on tracks this process has not built."""
    import time

    from envs import CarDriveEnv

    env = CarDriveEnv(level=level, tracks="heldout")  # the train set is drawn below: nothing cached yet
    env.reset(seed=0)
    env = CarDriveEnv(level=level)
    start = time.perf_counter()
    for i in range(10_000, 10_000 + count):
        env.reset(seed=i)
    return time.perf_counter() - start


def run_env_bench(repeats: int = 5, quick: bool = False) -> str:
    """Run every figure, print progress to stderr, return the Markdown tables."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    single_thread()
    scale = 0.1 if quick else 1.0

    def steps(n: int) -> int:
        return max(int(n * scale), 5)

    cases = [
        ("CarRacing-v3 (gymnasium), discrete", lambda: _carracing_rate(steps(300), repeats)),
        *[(f"one-car env, {level} (gymnasium.make)", lambda level=level: _single_rate(steps(20_000), repeats, level))
          for level in ("easy", "normal", "hard")],
        ("vector env, N=1", lambda: _vector_rate(1, "rays", steps(20_000), repeats)),
        ("rays, N=256", lambda: _vector_rate(256, "rays", steps(1_000), repeats)),
        ("rays, N=4096", lambda: _vector_rate(4096, "rays", steps(200), repeats)),
        ("hard rays (traffic), N=4096", lambda: _vector_rate(4096, "rays", steps(200), repeats, "hard")),
        ("pixels, N=64", lambda: _vector_rate(64, "pixels", steps(200), repeats)),
        ("pixels, N=1024", lambda: _vector_rate(1024, "pixels", steps(40), repeats)),
        ("both, N=1024", lambda: _vector_rate(1024, "both", steps(40), repeats)),
    ]
    rates = {}
    for name, measure in cases:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rates[name] = measure()
    base, single = rates[cases[0][0]], rates["one-car env, easy (gymnasium.make)"]
    rows = []
    for name, rate in rates.items():
        goal = GOALS.get(name)
        verdict = "" if goal is None else f">= {format_rate(goal)}: {'met' if rate >= goal else 'MISSED'}"
        if name == "vector env, N=1":
            verdict = f">= one-car env ({rate / single:.2f}x): {'met' if rate >= single else 'MISSED'}"
        rows.append([name, format_rate(rate), f"{rate / base:,.0f}x", verdict])
    header = ["configuration (random actions, 1 thread)", "car-steps/s (median)", "vs CarRacing", "goal"]
    table = f"{machine_line()}, median of {repeats} repeats\n" + format_table(header, rows)
    print("measuring track builds and seeded resets ...", file=sys.stderr, flush=True)
    count = 5 if quick else 30
    resets = [["track build, " + level, f"{track_build_ms(level, count):.1f} ms", "<= 10 ms"]
              for level in ("easy", "normal", "hard")]
    seconds = seeded_resets_seconds(10 if quick else 100)
    resets.append([f"{10 if quick else 100} x reset(seed=i), one-car env, fresh tracks", f"{seconds:.2f} s",
                   "<= 1 s" if not quick else ""])
    for row in resets[:3]:
        row[2] += ": met" if float(row[1].split()[0]) <= 10 else ": MISSED"
    if not quick:
        resets[3][2] += ": met" if seconds <= 1.0 else ": MISSED"
    return table + "\n\n" + format_table(["reset work", "median / total", "goal"], resets)
