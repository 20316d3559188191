"""The one hook through which a loop is observed (a logger, the live viewer), and the events it receives.

    def hook(event: dict) -> None:
        if event["kind"] == "update":
            print(event["global_step"], event["episodic_return"])

    model, history = train(config, log=hook)       # an agent
    run_evolution(settings, run_dir, on_event=hook)  # a population

Events, all dicts with a "kind":

- `"step"` after every batch step of the envs (`step_event`): the env (to draw) and what its step returned; a
  population's also carries `car_fitness`. A viewer draws from it on its own timer; a logger ignores it. Cheap:
  one small dict per batch step, and nothing at all when no hook is given.
- `"update"` after each update of an agent (`update_event`): `global_step`, `update`, `env`, `model`, this
  update's metrics, and `state()`, the checkpoint payload of the run as it stands right after that update.
- `"generation"` after each generation of a population: its record and `checkpoint_path()`, the path of the
  checkpoint written for it.
- `"epoch"` after each epoch of a component's fit: the epoch and its metrics.

A front door that offers to save (the viewer's S key) adds `save_checkpoint()`, which writes the run's checkpoint
as of that event and returns its path. A hook that ignores step events may say so (`hook.wants_steps = False`):
a loop whose envs step elsewhere (A3C's, on Ray workers) then spares shipping them back (`wants_steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Hook = Callable[[dict[str, Any]], None]


def step_event(global_step: int, env: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               info: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The per-step event: the env (to draw) and what its last step returned (and `extra`, e.g. car_fitness)."""
    return {"kind": "step", "global_step": global_step, "env": env, "reward": reward, "terminated": terminated,
            "truncated": truncated, "info": info, **extra}


def update_event(global_step: int, update: int, env: Any, model: Any, state: Callable[[], dict[str, Any]],
                 metrics: dict[str, float]) -> dict[str, Any]:
    """The per-update event of an agent: where the run is, the env and model, this update's metrics, `state()`."""
    return {"kind": "update", "global_step": global_step, "update": update, "env": env, "model": model,
            "state": state, **metrics}


def wants_steps(hook: Hook | None) -> bool:
    """Whether `hook` looks at step events: every hook does unless it carries `wants_steps = False`."""
    return hook is not None and bool(getattr(hook, "wants_steps", True))
