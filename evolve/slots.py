"""Full batches: a generation's episodes as a queue over a fixed number of car slots.

    queue = Queue(member=np.repeat(np.arange(P), K), track=np.tile(np.arange(K), P), car_seeds=seeds)
    returns, lapped = drive_queue(env, seed, bank, queue, patience, discrete)   # (E,), (E,) per episode

Episode e is individual `member[e]` (network `member[e]` of `bank`) on pool track `track[e]`, its car seeded
`car_seeds[track[e]]`. Each car of `env` is a slot. A slot drives one episode; where it ends (terminated,
truncated, or `patience` steps without new progress) its return is written for e and the slot takes the next
queued episode: its car reset on that track with its generator reseeded (`CarDriveCore.reset_cars`), its
driver the individual's network (an index into a compiled bank, or a torch row overwritten with the weights
and, for a recurrent driver, its state zeroed: `assign`). So the batch stays full until the queue runs dry,
and each episode is bit for bit the one that individual drives alone: a car's step depends on its own state
alone, a driver's action on its own weights and inputs (tests/evolve/test_slots.py holds it for every slot
count and order).

The slots are stepped through the env's core (`core.step(steer, throttle, active)`, `core.observe()`), not
through `env.step`: a slot restarts the moment its episode ends rather than at the env's next-step autoreset,
and a slot with nothing to drive stands still (inactive) instead of being autoreset into an unscored episode.
The env stays the viewer's handle on the world (the `hook` sees it every step).

What a step costs beyond the cars' own work: restarting cars costs ~50-100 us a call whatever their number,
so ended slots stand still until `RESTART_SHARE` of the slots can restart together (or no more episodes than
that are left); once the queue is dry, slots that finish stand still, and when fewer than `COMPACT_BELOW` of
the rows still drive the others are dropped in place (`env.keep`, the drivers' `keep`). The step count is at
least the longest episode's whatever the slots, so in a generation's tail a step's fixed cost is what counts:
plain MLPs step compiled (evolve/compiled.py: the forward, the action and its decoding in one call, a slot's
network an index into the bank), the scoring is one compiled pass, and a step is four calls (drivers, the
env's step and observation, the scoring). Other backbones run their torch forward (`_TorchDrivers`). More
slots, up to all the episodes at once, measured faster: the queue bounds the batch, it does not shorten a
generation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numba import njit

from envs.core import INFO_KEYS
from envs.spaces import decode_actions
from evolve.compiled import CompiledMLPs
from evolve.genome import outputs_to_actions

Hook = Callable[[dict[str, Any]], None]
COMPACT_BELOW = 0.6  # once the queue is dry, drop the idle slots when fewer than this share of them drive
RESTART_SHARE = 1 / 16  # ended slots wait until this share of the slots can restart in one call


@dataclass(frozen=True)
class Queue:
    """The episodes to drive, in order: episode e is network `member[e]` on pool track `track[e]`, its car
    seeded `car_seeds[track[e]]`."""

    member: np.ndarray
    track: np.ndarray
    car_seeds: np.ndarray

    def __len__(self) -> int:
        return len(self.member)

    def seeds(self, episodes: np.ndarray) -> np.ndarray:
        return self.car_seeds[self.track[episodes]]


class _Slots:
    """Per slot (one env row): its episode (-1: none), return so far, best progress, steps since that
    improved, lapped, and whether it drives."""

    def __init__(self, n: int, lap_time_bonus: float = 0.0, max_steps: int = 1):
        self.lap_time_bonus, self.max_steps = lap_time_bonus, max_steps
        self.episode = np.full(n, -1, np.int64)
        self.total, self.best = np.zeros(n), np.zeros(n)
        self.idle, self.laps, self.busy = np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool)

    def start(self, rows: np.ndarray, episodes: np.ndarray) -> None:
        self.episode[rows], self.busy[rows] = episodes, True
        self.total[rows], self.best[rows], self.idle[rows], self.laps[rows] = 0.0, 0.0, 0, False

    def stop(self, rows: np.ndarray) -> None:
        self.episode[rows], self.busy[rows] = -1, False

    def keep(self, rows: np.ndarray) -> None:
        for name in ("episode", "total", "best", "idle", "laps", "busy"):
            setattr(self, name, getattr(self, name)[rows])

    def score(self, out: dict[str, np.ndarray], patience: int) -> np.ndarray:
        """Count one step's `core.step` output; the rows whose episode it ended."""
        done = np.empty(len(self.busy), bool)
        _score(self.total, self.best, self.idle, self.laps, self.busy, out["reward"], out["progress"],
               out["lap_completed"], out["clean_lap"], out["lap_steps"], out["running"], self.lap_time_bonus,
               self.max_steps, patience, done)
        return np.flatnonzero(done)


@njit(cache=True)
def _score(total, best, idle, laps, busy, reward, progress, lap, clean, lap_steps, running, lap_time_bonus,
           max_steps, patience, done):
    """Per slot: add the step's reward (a clean lap earns lap_time_bonus * the share of the step limit it left
    unused: the faster of two careful drivers), count steps without new progress; `done` where the episode
    ended (terminated, truncated, or `patience` steps without progress). One compiled pass: as numpy this
    was ~10 calls a step, each a fixed few microseconds in evolution's tail of few cars."""
    for i in range(total.shape[0]):
        total[i] += reward[i]  # a slot that stands still gets 0 and no flags
        if lap_time_bonus != 0.0 and clean[i]:
            total[i] += lap_time_bonus * (1.0 - lap_steps[i] / max_steps)
        laps[i] |= lap[i]
        idle[i] = 0 if progress[i] > best[i] + 1e-9 else idle[i] + 1
        best[i] = max(best[i], progress[i])
        done[i] = busy[i] and (idle[i] >= patience or not running[i])


def drive_queue(env: Any, seed: int, bank: Any, queue: Queue, patience: int, discrete: bool,
                hook: Hook | None = None, context: dict[str, Any] | None = None,
                lap_time_bonus: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(return, lapped) of every episode of `queue`, driven in the cars of `env` (a new `CarDriveVectorEnv`
    on the queue's pool, with no more cars than episodes) as slots, by `bank`'s networks (a `PopulationNet`,
    a `RecurrentPopulationNet` or `CompiledMLPs` over the members); `hook` sees every step. A clean lap's return gains
    lap_time_bonus * (1 - lap steps / the env's step limit).

    torch runs on one thread meanwhile: it splits an elementwise op of 32k elements or more between its
    threads at points that need not fall on a SIMD block, which would make a network's last bits depend on
    the batch (see `evolve.population.aligned`); the step's ops are too small to gain from threads anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _drive(env, seed, bank, queue, patience, discrete, hook, context, lap_time_bonus)
    finally:
        torch.set_num_threads(threads)


def _drive(env: Any, seed: int, bank: Any, queue: Queue, patience: int, discrete: bool, hook: Hook | None,
           context: dict[str, Any] | None, lap_time_bonus: float) -> tuple[np.ndarray, np.ndarray]:
    n, E = env.num_envs, len(queue)
    first = np.arange(n)
    obs, _ = env.reset(seed=seed, options={"track_index": queue.track[first], "car_seeds": queue.seeds(first)})
    nets = _drivers(bank, queue.member[first], discrete, env.continuous, isinstance(obs, np.ndarray))
    slots = _Slots(n, lap_time_bonus, env.config.max_episode_steps)
    slots.start(first, first)
    returns, lapped = np.zeros(E), np.zeros(E, bool)
    restart_batch, waiting, queued, step = max(1, round(RESTART_SHARE * n)), np.zeros(0, np.int64), n, 0
    while slots.busy.any() or len(waiting):
        out = env.core.step(*nets.actions(obs), slots.busy)
        ended = slots.score(out, patience)
        step += 1
        if hook is not None:
            hook({"kind": "step", "global_step": step, "env": env, "reward": out["reward"],
                  "terminated": out["terminated"], "truncated": out["truncated"],
                  "info": {key: out[key] for key in INFO_KEYS}, "car_fitness": slots.total, **(context or {})})
        if len(ended):
            returns[slots.episode[ended]], lapped[slots.episode[ended]] = slots.total[ended], slots.laps[ended]
            slots.stop(ended)
            waiting = np.concatenate([waiting, ended[: E - queued - len(waiting)]])  # as many as episodes are left
        if len(waiting) and (len(waiting) >= min(restart_batch, E - queued) or not slots.busy.any()):
            _restart(env, nets, queue, slots, waiting, np.arange(queued, queued + len(waiting)))
            queued, waiting = queued + len(waiting), np.zeros(0, np.int64)
        elif queued == E and 0 < slots.busy.sum() <= COMPACT_BELOW * len(slots.busy):
            keep = np.flatnonzero(slots.busy)  # idle rows would cost every later step: drop them
            env.keep(keep)
            nets.keep(keep)
            slots.keep(keep)
        obs = env.core.observe()
    return returns, lapped


def _restart(env: Any, nets: Any, queue: Queue, slots: _Slots, rows: np.ndarray, episodes: np.ndarray) -> None:
    """Slots `rows` start `episodes`: each car on its episode's track with its generator reseeded, each slot's
    driver the episode's individual (a recurrent one from a zero state), each score from zero."""
    env.core.reset_cars(rows, queue.track[episodes], queue.seeds(episodes))
    nets.assign(rows, queue.member[episodes])
    slots.start(rows, episodes)


def _drivers(bank: Any, members: np.ndarray, discrete: bool, continuous: bool,
             array_obs: bool) -> _CompiledDrivers | _TorchDrivers:
    """Who drives each slot: plain MLPs over array observations compiled (evolve/compiled.py), anything else
    through the bank's torch forward."""
    compiled = bank if isinstance(bank, CompiledMLPs) else None
    if compiled is None and array_obs:
        compiled = CompiledMLPs.of(bank, discrete)
    if compiled is not None:
        return _CompiledDrivers(compiled, members)
    return _TorchDrivers(bank, members, discrete, continuous)


class _CompiledDrivers:
    """Slot i is driven by network `members[i]` of the compiled bank: a restart or a drop is an index write."""

    def __init__(self, compiled: CompiledMLPs, members: np.ndarray):
        self.compiled, self.members = compiled, np.array(members, np.int64)

    def actions(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.compiled.actions(obs.reshape(len(obs), -1), self.members)

    def assign(self, rows: np.ndarray, members: np.ndarray) -> None:
        self.members[rows] = members

    def keep(self, rows: np.ndarray) -> None:
        self.members = self.members[rows]


class _TorchDrivers:
    """Slot i is row i of a `PopulationNet` / `RecurrentPopulationNet` selected from the bank: a restart writes
    that row's weights (and zeroes its state), a drop selects the rows kept."""

    def __init__(self, bank: Any, members: np.ndarray, discrete: bool, continuous: bool):
        self.bank, self.nets, self.discrete, self.continuous = bank, bank.select(members), discrete, continuous

    def actions(self, obs: Any) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.nets(_tensor(obs[:, None]))[:, 0]  # (rows, 1, *obs) -> (rows, n_out)
        return decode_actions(outputs_to_actions(outputs, self.discrete), self.continuous, len(outputs))

    def assign(self, rows: np.ndarray, members: np.ndarray) -> None:
        self.nets.assign(rows, self.bank, members)

    def keep(self, rows: np.ndarray) -> None:
        self.nets = self.nets.select(rows)


def _tensor(obs: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(obs)
    return x if x.dtype == torch.float32 else x.float()
