"""`sandbox bench a3c`: A3C on a local Ray cluster of 2 CPUs, against A2C and against itself with one worker.

Three rows, on CarDrive easy (rays, MLP), each family with its config's own settings (its shipped CarDrive
ones: A2C 128 envs x 16 steps, A3C 64 envs x 32 steps per worker):

- env steps until a greedy evaluation laps >= 95% of the 100 held-out tracks, A3C with 2 workers against A2C
  (evaluations every 20k steps, as `sandbox bench agents` makes them); median over seeds, and the ratio;
- learning throughput (env steps/s) with 2 workers against 1, steady state: from the first update to the
  last, so the workers' start (a process each) is left out; median of repeats;
- a worker killed mid-run (`ray.kill` from the hook, halfway): the run must finish its steps, and the log
  must name the lost worker.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from typing import Any

from sandbox.bench.agents import CARDRIVE, ours
from sandbox.bench.timing import format_rate, machine_line, single_thread
from sandbox.commands.tables import format_table

CPUS = 2


def steps_to_solve(seeds: int) -> tuple[list[int | None], list[int | None]]:
    """(A3C's, A2C's) env steps to 95% held-out laps on CarDrive easy, one per seed (None: not in the budget)."""
    found: dict[str, list[int | None]] = {"a3c": [], "a2c": []}
    for seed in range(seeds):
        for agent in found:
            print(f"CarDrive easy to 95% laps: {agent}, seed {seed} ...", file=sys.stderr, flush=True)
            found[agent].append(ours(agent, CARDRIVE, seed, {})["steps"])
    return found["a3c"], found["a2c"]


def throughput(workers: int, steps: int, seed: int = 0) -> float:
    """Steady-state env steps/s of A3C learning CarDrive easy with `workers` workers (first update to last)."""
    from agents.a3c import A3CConfig, train

    marks: list[tuple[float, int]] = []

    def clock(event: dict[str, Any]) -> None:
        marks.append((time.perf_counter(), event["global_step"]))

    clock.wants_steps = False
    train(A3CConfig(num_workers=workers, total_timesteps=steps, seed=seed), log=clock)
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    return (s1 - s0) / (t1 - t0)


class _Tee(io.StringIO):
    """stderr kept (to read the run's log lines back) and still shown."""

    def write(self, text: str) -> int:
        sys.__stderr__.write(text)
        return super().write(text)


def killed_worker(steps: int) -> tuple[int, int, str]:
    """A run whose worker 1 is killed halfway: (the env steps it finished, the steps it was to run (whole
    rollouts), the log line naming the lost worker)."""
    import ray

    from agents.a3c import A3CConfig, train

    config = A3CConfig(num_workers=2, total_timesteps=steps)
    rollout = config.num_envs * config.num_steps
    halfway = steps // rollout // 2

    def kill(event: dict[str, Any]) -> None:
        if event["update"] == halfway:
            ray.kill(event["worker_actors"][1])

    kill.wants_steps = False
    log = _Tee()
    with contextlib.redirect_stderr(log):
        _, history = train(config, log=kill)
    lines = [line for line in log.getvalue().splitlines() if "died" in line]
    return history["global_step"][-1], steps - steps % rollout, (lines[0] if lines else "")


def _median(values: list[int | None]) -> int | None:
    done = [v for v in values if v is not None]
    return int(statistics.median(done)) if len(done) >= len(values) / 2 else None


def run_a3c_bench(seeds: int = 3, repeats: int = 3, timesteps: int = 300_000, quick: bool = False) -> str:
    """Every row; progress on stderr; returns the Markdown table (and the machine it ran on)."""
    from sandbox.runs.ray_cluster import connect

    single_thread()
    if quick:
        seeds, repeats, timesteps = 1, 1, 60_000
    started = connect(None, "sandbox bench a3c", "", num_cpus=CPUS)
    try:
        rows = [_solve_row(seeds)] if not quick else []
        rows.append(_throughput_row(repeats, timesteps))
        rows.append(_killed_row(timesteps))
    finally:
        if started:
            import ray

            ray.shutdown()
    table = format_table(["row", "measured", "goal", ""], rows)
    return f"{machine_line()}, a local Ray cluster of {CPUS} CPUs, {seeds} seed(s), {repeats} repeat(s)\n{table}"


def _solve_row(seeds: int) -> list[str]:
    a3c, a2c = steps_to_solve(seeds)
    mid_a3c, mid_a2c = _median(a3c), _median(a2c)
    text = lambda v: f"{v:,}" if v is not None else "not solved"  # noqa: E731
    ratio = mid_a3c / mid_a2c if mid_a3c is not None and mid_a2c is not None else None
    measured = f"A3C {text(mid_a3c)} vs A2C {text(mid_a2c)} env steps" + (f": {ratio:.2f}x" if ratio else "")
    per_seed = ", ".join(text(v) for v in a3c)
    return [f"A3C (2 workers) to 95% held-out laps, CarDrive easy (A3C seeds: {per_seed})", measured,
            "<= 1.2x A2C's env steps", "met" if ratio is not None and ratio <= 1.2 else "missed"]


def _throughput_row(repeats: int, timesteps: int) -> list[str]:
    rates = {}
    for workers in (1, 2):
        runs = []
        for repeat in range(repeats):
            print(f"throughput, {workers} worker(s), repeat {repeat} ...", file=sys.stderr, flush=True)
            runs.append(throughput(workers, timesteps))
        rates[workers] = statistics.median(runs)
    ratio = rates[2] / rates[1]
    return ["A3C env-steps/s, 2 workers vs 1 (steady state)",
            f"{format_rate(rates[2])} vs {format_rate(rates[1])}: {ratio:.2f}x", ">= 1.6x",
            "met" if ratio >= 1.6 else "missed"]


def _killed_row(timesteps: int) -> list[str]:
    print("a worker killed mid-run ...", file=sys.stderr, flush=True)
    done, steps, line = killed_worker(timesteps)
    named = line.split(" died")[0] + " died" if line else "no line names it"
    return ["A3C, worker 1 killed halfway (ray.kill)", f"{done:,} of {steps:,} steps; log: '{named} ...'",
            "the run finishes; the lost worker named",
            "met" if done == steps and line.startswith("A3C: worker 1 died") else "missed"]
