"""`sandbox bench agents`: our agents and Stable-Baselines3 learning the same tasks in one run.

A task is solved when a greedy evaluation reaches its bar: CartPole-v1, a mean return >= 475 over 10
episodes (fixed seeds); CarDrive easy (rays, MLP), >= 95% of the 100 held-out tracks lapped. Evaluations run
every `eval_every` env steps and their time is not counted. Wall-clock counts from the start of the run,
env construction included (for SB3, its `make_vec_env` too). Every figure is the median over seeds; SB3
uses rl-baselines3-zoo's settings (CartPole) or its defaults (CarDrive), as a user would.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.bench.race import RAYS_SETTINGS, shipped_config
from sandbox.bench.timing import machine_line, single_thread
from sandbox.commands.tables import format_table


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
CARDRIVE = Task("CarDrive easy, rays", "sandbox/CarDrive-v0", {}, 20_000, 2_000_000,
                lambda r: r["lap_rate"] >= 0.95, 100)


# (task, agent, row name, settings): each family's settings for the task; `total_timesteps` in settings sets
# the schedules' length (epsilon's decay), the task's budget otherwise
OURS = [
    (CARTPOLE, "a2c", "ours A2C", {"num_envs": 16, "num_steps": 8, "learning_rate": 1e-3,
                                   "normalize_advantage": True}),
    (CARTPOLE, "reinforce", "ours REINFORCE", {"num_envs": 8, "batch_size": 2000, "learning_rate": 3e-3}),
    (CARTPOLE, "qlearning", "ours Q-learning (DQN)", {
        "num_envs": 4, "train_frequency": 16, "gradient_steps": 8, "batch_size": 64, "learning_rate": 2.3e-3,
        "backbone_options": {"widths": (256, 256)}, "target_network_frequency": 256, "exploration_fraction": 0.04,
        "end_e": 0.04}),
    (CARTPOLE, "sarsa", "ours SARSA", {"total_timesteps": 100_000, "exploration_fraction": 0.3}),
    (CARDRIVE, "a2c", "ours A2C", {}),
    (CARDRIVE, "reinforce", "ours REINFORCE", {}),
    (CARDRIVE, "qlearning", "ours Q-learning (DQN)", {"total_timesteps": 300_000, "exploration_fraction": 0.2}),
    (CARDRIVE, "sarsa", "ours SARSA", {"total_timesteps": 300_000, "exploration_fraction": 0.2}),
]


def ours(agent: str, task: Task, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Train one of our agents on the task until solved (or the budget); steps and seconds to solve."""
    from agents import FAMILIES
    from agents.envs import obs_to_tensor
    from sandbox.runs.evaluate import evaluate

    start, eval_time, next_eval = time.perf_counter(), 0.0, task.eval_every
    family = FAMILIES[agent]
    config = family.config(env_id=task.env_id, env_kwargs=task.env_kwargs, seed=seed,
                           **{"total_timesteps": task.budget, **settings})
    found: dict[str, Any] = {}

    def hook(event: dict[str, Any]) -> None:
        nonlocal eval_time, next_eval
        if event["kind"] != "update" or event["global_step"] < next_eval:
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

    hook.wants_steps = False  # it reads updates only (A3C's workers then ship no world to draw)
    try:
        family.train(config, log=hook)
    except _TaskSolvedError:
        pass
    return found or {"steps": None, "wall": time.perf_counter() - start - eval_time}


def _sb3_model(algo: str, task: Task, seed: int):
    """SB3 as a user would run it: rl-baselines3-zoo's CartPole-v1 settings, the defaults elsewhere; A2C and
    PPO on 8 envs, DQN on 1 (as the zoo and SB3's own examples do)."""
    from stable_baselines3 import A2C, DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401  (registers CarDrive)

    env = make_vec_env(task.env_id, n_envs=1 if algo == "dqn" else 8, seed=seed, env_kwargs=task.env_kwargs)
    if algo == "dqn" and task.env_id == "CartPole-v1":  # zoo hyperparams/dqn.yml
        return DQN("MlpPolicy", env, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                   gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                   exploration_fraction=0.16 * 5e4 / task.budget, exploration_final_eps=0.04,
                   policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu", verbose=0)
    return {"a2c": A2C, "ppo": PPO, "dqn": DQN}[algo]("MlpPolicy", env, seed=seed, device="cpu", verbose=0)


def sb3(algo: str, task: Task, seed: int) -> dict[str, Any]:
    """The same with Stable-Baselines3 (`_sb3_model`)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from sandbox.runs.evaluate import evaluate

    start = time.perf_counter()
    model = _sb3_model(algo, task, seed)
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


def ppo_throughput(level: str = "easy", updates: int = 40, settings: dict[str, Any] | None = None) -> float:
    """Env steps per second of our PPO learning CarDrive rays with its shipped settings for `level` (what
    `sandbox train --agent ppo --level LEVEL` runs), `settings` over them (the race's), steady state: from the
    end of the second update to the end of the last, so env construction and the first tracks' generation are
    not counted."""
    from agents import FAMILIES

    if updates < 3:
        raise ValueError(f"ppo_throughput times the updates after the second: updates must be >= 3, got {updates}")
    config = shipped_config("ppo", {"level": level}, settings=settings)
    config = dataclasses.replace(config, total_timesteps=updates * config.num_envs * config.num_steps)
    marks: list[tuple[float, int]] = []

    def hook(event: dict[str, Any]) -> None:
        if event["kind"] == "update":
            marks.append((time.perf_counter(), event["global_step"]))

    hook.wants_steps = False
    FAMILIES["ppo"].train(config, log=hook)
    (start, first), (end, last) = marks[1], marks[-1]
    return (last - first) / (end - start)


def _batch(config: Any) -> str:
    """A PPO config's batch as the throughput lines name it: envs x steps, epochs x minibatches."""
    return f"{config.num_envs} x {config.num_steps}, {config.update_epochs} x {config.num_minibatches}"


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
    cases = [(task, name, functools.partial(ours, agent, task, settings=settings))
             for task, agent, name, settings in OURS] + [
        (task, f"SB3 {algo.upper()} ({how})", functools.partial(sb3, algo, task))
        for task, algo, how in (
            (CARTPOLE, "a2c", "zoo"), (CARTPOLE, "dqn", "zoo"), (CARDRIVE, "a2c", "defaults"),
            (CARDRIVE, "dqn", "defaults"))]
    cases.sort(key=lambda case: case[0].name != CARTPOLE.name)  # CartPole's rows first
    if quick:
        cases = cases[:1]
    for task, name, run in cases:
        results = []
        for seed in range(seeds):
            print(f"{task.name}: {name}, seed {seed} ...", file=sys.stderr, flush=True)
            results.append(run(seed=seed))
        rows.append([task.name, name, _median([r["steps"] for r in results]),
                     _median([r["wall"] if r["steps"] is not None else None for r in results])])
    header = ["task", "learner", "env steps to solve (median)", "wall s to solve (median)"]
    table = format_table(header, rows)
    if not quick:
        print("A2C throughput, CarDrive rays, N=128 ...", file=sys.stderr, flush=True)
        rate = np.median([a2c_throughput() for _ in range(3)])
        table += f"\n\nA2C learning CarDrive rays at N=128: {rate:,.0f} env-steps/s (median of 3; goal >= 50k)"
        runs = [*((level, None, "its shipped settings") for level in ("easy", "normal", "hard")),
                ("normal", RAYS_SETTINGS["ppo"], "the 10-minute race's")]
        for level, settings, whose in runs:
            name = f"{whose} ({_batch(shipped_config('ppo', {'level': level}, settings=settings))})"
            print(f"PPO throughput, CarDrive {level} rays, {name} ...", file=sys.stderr, flush=True)
            rate = np.median([ppo_throughput(level, settings=settings) for _ in range(3)])
            table += (f"\nPPO learning CarDrive {level} rays, {name}: {rate:,.0f} env-steps/s "
                      f"(median of 3, steady state; goal >= 50k)")
    return f"{machine_line()}, {seeds} seeds\n" + table
