"""`sandbox bench evolve --minutes M`: each evolution strategy (and a population of step-activation networks)
gets M minutes on normal and on hard, beside our A2C, as `sandbox bench drive` races the agents: held-out
evaluations every fifth of the budget (not counted), final and best clean-lap rates of the champion.
`--races ga ga-gru --levels normal --race-only` races an evolved GRU driver (memory: a state of 16 per car over
an MLP stem of 16) against the evolved MLP, the GA's settings otherwise the same.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from sandbox.bench.race import HEADER, RAYS_SETTINGS, Clock, _TimeUpError, race_ours
from sandbox.commands.tables import format_table

# Random pedestrian waits make a few episodes a noisy fitness: on normal and hard each individual drives 16
# tracks (a population of 128 to pay for it), which doubled the GA's held-out clean laps in 2 minutes; and
# fresh tracks each generation (elites and hall of fame evaluated again on them) took the GA's champion from
# 62% to 93% (normal) and from 64% to 87% (hard) in 10 minutes: on the same 16 tracks all run, the
# population learned those tracks' pedestrians.
STEADY = {"episodes": 16, "population": 128, "fresh_tracks": True}
RACES: dict[str, tuple[str, dict[str, Any] | None]] = {  # key: (row name, run_evolution settings; None: our A2C)
    "ga": ("GA (eaSimple + elites)", {"strategy": "ga", **STEADY}),
    "ga-fixed": ("GA, one set of 16 tracks all run", {"strategy": "ga", **STEADY, "fresh_tracks": False}),
    "cma": ("CMA-ES", {"strategy": "cma", **STEADY, "population": 64}),
    "arch": ("architecture evolution", {"strategy": "arch", **STEADY}),
    "ga-step": ("GA, step activation",
                {"strategy": "ga", **STEADY, "backbone_options": {"widths": (16,), "activation": "step"}}),
    "ga-gru": ("GA, GRU driver (memory)",
               {"strategy": "ga", **STEADY, "backbone": "gru",
                "backbone_options": {"hidden_size": 16, "stem_options": {"widths": (16,)}}}),
    "openai-es": ("OpenAI-ES", {"strategy": "openai-es", **STEADY}),
    "a2c": ("A2C (agents)", None),
}
DEFAULT_RACES = ("ga", "cma", "arch", "ga-step", "a2c")


def race_evolution(settings: dict[str, Any], level: str, minutes: float, seed: int) -> Clock:
    """Evolve for `minutes` of wall-clock on `level`; the Clock holds the champion's evaluations."""
    from evolve import run_evolution
    from sandbox.commands.drivers import load_driver
    from sandbox.runs.evaluate import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        champion = Path(tmp) / "hall_of_fame" / "rank0.pt"

        def held_out() -> dict[str, float]:
            policy = load_driver(champion)
            return evaluate(policy.act, policy.env_id, policy.env_kwargs, 100, observe=policy.observe)

        clock = Clock(minutes, held_out)

        def hook(event: dict[str, Any]) -> None:
            if event["kind"] == "generation" and not clock.tick():
                raise _TimeUpError

        try:
            run_evolution({"level": level, "generations": 10**6, "seed": seed, "heldout_episodes": 20, **settings},
                          tmp, on_event=hook, progress=False)
        except _TimeUpError:
            pass
    return clock


def race_table(minutes: float, levels: tuple[str, ...] = ("normal", "hard"), seed: int = 0,
               races: tuple[str, ...] = DEFAULT_RACES) -> str:
    """The Markdown tables: the `races` (keys of `RACES`), `minutes` each, per level."""
    unknown = [key for key in races if key not in RACES]
    if unknown:
        raise ValueError(f"unknown race(s) {unknown}; choose among {', '.join(RACES)}")
    out = []
    for level in levels:
        rows = []
        for key in races:
            name, settings = RACES[key]
            print(f"{level}: {name}, {minutes:g} min ...", file=sys.stderr, flush=True)
            clock = (race_ours("a2c", {"level": level}, minutes, seed, RAYS_SETTINGS["a2c"]) if settings is None
                     else race_evolution(settings, level, minutes, seed))
            rows.append(clock.row(name))
        out += [f"**{level}**, rays, champion on 100 held-out tracks, {minutes:g} min each",
                format_table(HEADER, rows), ""]
    return "\n".join(out)
