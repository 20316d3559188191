"""`sandbox bench agents`: our agents and Stable-Baselines3 learning the same tasks in one run.

A task is solved when a greedy evaluation reaches its bar: CartPole-v1, a mean return >= 475 over 10
episodes (fixed seeds); CarDrive easy (rays, MLP), >= 95% of the 100 held-out tracks lapped. Evaluations run
every `eval_every` env steps and their time is not counted. Wall-clock counts from the start of the run,
env construction included (for SB3, its `make_vec_env` too). Every figure is the median over seeds; SB3
uses rl-baselines3-zoo's settings (CartPole) or its defaults (CarDrive), as a user would.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.bench.timing import format_table, machine_line, single_thread


class _TaskSolvedError(Exception):
    """Raised from the training hook to stop a run that reached its bar."""


@dataclass
class Task:
    name: str
    env_id: str
    env_kwargs: dict[str, Any]
    eval_every: int
    budget: int  # env steps at most
    solved: Callable[[dict], bool]
    episodes: int


CARTPOLE = Task("CartPole-v1", "CartPole-v1", {}, 5_000, 200_000, lambda r: r["mean_return"] >= 475, 10)
CARDRIVE = Task("CarDrive easy, rays", "sandbox/CarDrive-v0", {}, 50_000, 2_000_000,
                lambda r: r["lap_rate"] >= 0.95, 100)


def ours(agent: str, task: Task, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Train one of our agents on the task until solved (or the budget); steps and seconds to solve."""
    from agents import FAMILIES
    from agents.envs import obs_to_tensor
    from sandbox.evaluate import evaluate

    start, eval_time, next_eval = time.perf_counter(), 0.0, task.eval_every
    family = FAMILIES[agent]
    config = family.config(env_id=task.env_id, env_kwargs=task.env_kwargs, total_timesteps=task.budget, seed=seed,
                           **settings)
    found: dict[str, Any] = {}

    def hook(event: dict[str, Any]) -> None:
        nonlocal eval_time, next_eval
        if event["global_step"] < next_eval:
            return
        next_eval += task.eval_every
        t = time.perf_counter()
        model = event["model"]
        result = evaluate(lambda obs: model.act(obs_to_tensor(obs), deterministic=True), task.env_id,
                          task.env_kwargs, task.episodes, seed=1_000)
        eval_time += time.perf_counter() - t
        if task.solved(result):
            found.update(steps=event["global_step"], wall=time.perf_counter() - start - eval_time)
            raise _TaskSolvedError

    try:
        family.train(config, log=hook)
    except _TaskSolvedError:
        pass
    return found or {"steps": None, "wall": time.perf_counter() - start - eval_time}


def sb3(algo: str, task: Task, seed: int) -> dict[str, Any]:
    """The same with Stable-Baselines3 (zoo settings on CartPole, defaults on CarDrive), 8 envs."""
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401  (registers CarDrive)
    from sandbox.evaluate import evaluate

    start = time.perf_counter()
    env = make_vec_env(task.env_id, n_envs=8, seed=seed, env_kwargs=task.env_kwargs)
    model = {"a2c": A2C, "ppo": PPO}[algo]("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
    found: dict[str, Any] = {}

    class Check(BaseCallback):
        eval_time, next_eval = 0.0, task.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += task.eval_every
            t = time.perf_counter()
            result = evaluate(lambda obs: model.predict(obs, deterministic=True)[0], task.env_id, task.env_kwargs,
                              task.episodes, seed=1_000)
            self.eval_time += time.perf_counter() - t
            if task.solved(result):
                found.update(steps=self.num_timesteps, wall=time.perf_counter() - start - self.eval_time)
                return False
            return True

    check = Check()
    model.learn(task.budget, callback=check)
    return found or {"steps": None, "wall": time.perf_counter() - start - check.eval_time}


def a2c_throughput(num_envs: int = 128, steps: int = 200_000) -> float:
    """Env steps per second of our A2C learning CarDrive rays at N envs (no evaluation)."""
    from agents.a2c import A2CConfig, train

    start = time.perf_counter()
    train(A2CConfig(num_envs=num_envs, total_timesteps=steps))
    return steps / (time.perf_counter() - start)


def _median(values: list) -> str:
    done = [v for v in values if v is not None]
    if len(done) < len(values) / 2:
        return f"not solved ({len(done)}/{len(values)})"
    middle = statistics.median(done)
    return f"{middle:,.1f}" if isinstance(done[0], float) or middle != int(middle) else f"{int(middle):,}"


def run_agents_bench(seeds: int = 3, quick: bool = False) -> str:
    """Every row, median over `seeds` seeds; progress on stderr; returns the Markdown table."""
    single_thread()
    rows = []
    cases = [
        (CARTPOLE, "ours A2C", lambda s: ours("a2c", CARTPOLE, s, {"num_envs": 16, "num_steps": 8,
                                                                  "learning_rate": 1e-3,
                                                                  "normalize_advantage": True})),
        (CARTPOLE, "ours REINFORCE", lambda s: ours("reinforce", CARTPOLE, s, {"num_envs": 8, "batch_size": 2000,
                                                                              "learning_rate": 3e-3})),
        (CARTPOLE, "SB3 A2C (zoo)", lambda s: sb3("a2c", CARTPOLE, s)),
        (CARDRIVE, "ours A2C", lambda s: ours("a2c", CARDRIVE, s, {})),
        (CARDRIVE, "SB3 A2C (defaults)", lambda s: sb3("a2c", CARDRIVE, s)),
    ]
    if quick:
        cases = cases[:1]
    for task, name, run in cases:
        results = []
        for seed in range(seeds):
            print(f"{task.name}: {name}, seed {seed} ...", file=sys.stderr, flush=True)
            results.append(run(seed))
        rows.append([task.name, name, _median([r["steps"] for r in results]),
                     _median([r["wall"] if r["steps"] is not None else None for r in results])])
    header = ["task", "learner", "env steps to solve (median)", "wall s to solve (median)"]
    table = format_table(header, rows)
    if not quick:
        print("A2C throughput, CarDrive rays, N=128 ...", file=sys.stderr, flush=True)
        rate = np.median([a2c_throughput() for _ in range(3)])
        table += f"\n\nA2C learning CarDrive rays at N=128: {rate:,.0f} env-steps/s (median of 3; goal >= 50k)"
    return f"{machine_line()}, {seeds} seeds\n" + table
