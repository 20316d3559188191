"""`sandbox bench teachers`: learning from the privileged expert and learning with memory, each against PPO
from scratch, on a level's rays (and DAgger on pixels), the same clock as `bench drive`.

Rows per level: the DAgger student (trained for `dagger_minutes`: 5 on normal, 10 on hard, the issue's
budgets), PPO from scratch, PPO over a GRU (memory; everything else PPO's shipped settings), and PPO started
from that DAgger student (`--init-from`) for `minutes` more. One thread each, 100 held-out tracks, greedy.
The student ships its own sensor and network (continuous actions, 49 rays, MLP 256-256: agents/settings/
dagger.toml), so the PPO started from it drives that env with that network, on raw observations as it learned.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.bench.race import HEADER, PPO_RACE_BATCH, RAYS_SETTINGS, expert_row, race_ours
from sandbox.bench.timing import machine_line, single_thread
from sandbox.commands.tables import format_table

DAGGER_MINUTES = {"normal": 5.0, "hard": 10.0}
"""the issue's budgets for the student: >= 95% clean laps on normal within 5, >= 90% on hard within 10"""
DAGGER_SETTINGS = {"total_timesteps": 10**9}
MEMORY_SETTINGS = {**RAYS_SETTINGS["ppo"], "backbone": "gru",
                   "backbone_options": {"hidden_size": 64, "stem_options": {"widths": (64,)}}}
"""PPO over a GRU: a 64-wide stem and state for each head. One GRU under both heads runs ~1.25x faster, but
the value loss of the unscaled returns swamps its clipped gradient: normal, 3M steps, seed 0, 0% clean laps
(the greedy car stands still; approx KL ~1e-6 an update), 38% with a GRU each (the MLP: 47%)"""
ROWS = ("dagger", "ppo", "ppo-gru", "ppo-from-dagger")


def run_teachers_bench(minutes: float = 10.0, levels: tuple[str, ...] = ("normal", "hard"), seed: int = 0,
                       rows: tuple[str, ...] = ROWS, pixels: bool = True) -> str:
    """The Markdown tables: a level's rows (`rows`), and DAgger on normal's pixels for `minutes` (`pixels`)."""
    single_thread()
    out = [f"{machine_line()}, seed {seed}, one thread per learner"]
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            table = _level_rows(level, minutes, seed, rows, Path(tmp) / f"dagger-{level}.pt")
            out += ["", f"**{level}**, rays, 100 held-out tracks", format_table(HEADER, table)]
    if pixels:
        _progress(f"normal pixels: dagger, {minutes:g} min")
        # the shipped pixels entry as it is: its 450k steps are the length of its annealed learning rate
        clock = race_ours("dagger", {"level": "normal", "obs": "pixels"}, minutes, seed, {})
        out += ["", "**normal**, pixels, 100 held-out tracks",
                format_table(HEADER, [clock.row(f"DAgger student, CNN, {minutes:g} min"), expert_row("normal")])]
    return "\n".join(out)


def _level_rows(level: str, minutes: float, seed: int, rows: tuple[str, ...], student: Path) -> list[list[str]]:
    env_kwargs, table = {"level": level}, []
    dagger_minutes = min(DAGGER_MINUTES.get(level, minutes), minutes)
    if "dagger" in rows or "ppo-from-dagger" in rows:
        _progress(f"{level}: dagger, {dagger_minutes:g} min")
        clock = race_ours("dagger", env_kwargs, dagger_minutes, seed, DAGGER_SETTINGS, save_to=student)
        table.append(clock.row(f"DAgger student, {dagger_minutes:g} min"))
    races: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {  # settings made when the row runs
        "ppo": (f"PPO from scratch, {minutes:g} min", lambda: RAYS_SETTINGS["ppo"]),
        "ppo-gru": (f"PPO + GRU (memory), {minutes:g} min", lambda: MEMORY_SETTINGS),
        "ppo-from-dagger": (f"PPO from the student, {minutes:g} min more", lambda: _from_student(student)),
    }
    for row in (r for r in ROWS[1:] if r in rows):
        name, settings = races[row][0], dict(races[row][1]())
        _progress(f"{level}: {row}, {minutes:g} min")
        world = {**env_kwargs, **settings.pop("env_kwargs", {})}
        table.append(race_ours("ppo", world, minutes, seed, settings).row(name))
    return [*table, expert_row(level)]


FINE_TUNE = {"log_std_init": -1.0, "target_kl": 0.02, "kickstart_coef": 0.3, "kickstart_timesteps": 30_000_000}
"""PPO started from the student: a std of 0.37, not 1; epochs stopped once the policy has moved 0.02 in KL (so no
update undoes the student); and kickstarting (Schmitt et al. 2018): 0.3 KL(student || policy) in the loss, falling
to 0 over 30M env steps (about the 10 minutes). On hard, 10 min, clean laps at each fifth: from a student of 85%
(best 95%), PPO's own settings 0% at the end (best 94%); log_std_init -1 88 / 95 / 57 / 87 / 66%; with a
learning rate of 1e-4 as well 89 / 85 / 84 / 91 / 91%; with target_kl 0.02 instead 96 / 82 / 81 / 83 / 94%. From
a student of 90% (best 95%), that with kickstarting 97 / 96 / 100 / 97 / 99% (a weight of 1.0 over 10M steps:
95 / 98 / 98 / 91 / 97%)"""


FROM_STUDENT_RATE = {"total_timesteps": 10**9, "anneal_lr": False, **PPO_RACE_BATCH}
"""PPO from the student keeps a constant learning rate and the races' batch (what FINE_TUNE was measured with)"""


def _from_student(student: Path) -> dict[str, Any]:
    """PPO's race settings to start from the DAgger student: its network and sensor, raw observations (what
    `sandbox train --init-from` takes from a student: `agents.warm_start.student_settings`), and FINE_TUNE."""
    from agents.warm_start import student_settings

    return {**FROM_STUDENT_RATE, **student_settings(student, box_actions=True),
            "init_from": str(student), **FINE_TUNE}


def _progress(line: str) -> None:
    print(f"{line} ...", file=sys.stderr, flush=True)
