"""`sandbox train` and `sandbox eval`: a training run with its run directory, and a checkpoint's held-out
evaluation.

A run directory holds: `progress.csv` and `tensorboard/` (CleanRL's tag names), `checkpoint.pt` (atomic,
every `checkpoint_every` updates and at the end), `learning_curve.png`, and `eval.json` (the final held-out
evaluation). `sandbox train --resume DIR` continues from `checkpoint.pt`; on CarDrive the resumed run ends
exactly where the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.checkpoints import load_checkpoint, save_checkpoint
from sandbox.runlog import TAGS, RunLog

CHECKPOINT = "checkpoint.pt"


def _family(name: str):
    from agents import FAMILIES

    if name not in FAMILIES:
        raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def make_config(agent: str, settings: dict[str, Any]):
    """The agent's config from settings; an unknown or bad setting is an error that names it."""
    family = _family(agent)
    known = {f.name for f in dataclasses.fields(family.config)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown {agent} setting(s) {unknown}; known: {sorted(known)}")
    return family.config(**settings)


def run_training(agent: str, settings: dict[str, Any], run_dir: str | os.PathLike, eval_every: int = 0,
                 eval_episodes: int = 20, checkpoint_every: int = 20, resume: dict[str, Any] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> dict:
    """Train `agent` with `settings` into `run_dir`; return the final evaluation (also written to eval.json).

    `on_event` (the live viewer) is called after the run's own hook with every event of the loop; its update
    events carry `save_checkpoint()`, which writes this run's checkpoint.pt as of that update and returns its
    path (the loop's state is whole only there). An exception it raises stops the run, logs closed.
    """
    family, run_dir = _family(agent), Path(run_dir)
    config = make_config(agent, settings)
    run = {"agent": agent, "settings": settings, "eval_every": eval_every, "eval_episodes": eval_episodes,
           "checkpoint_every": checkpoint_every}
    log = RunLog(run_dir, config.total_timesteps, resume=resume is not None)
    last: dict[str, Any] = {}
    saved = {"update": int(resume["update"]) if resume is not None else None}

    def hook(event: dict[str, Any]) -> None:
        if event["kind"] != "update":  # per-step events are for viewers
            if on_event is not None:
                on_event(event)
            return
        scalars = {tag: float(event[key]) for key, tag in TAGS.items() if key in event}
        if eval_every and event["update"] % eval_every == 0:
            result = _evaluate_model(event["model"], config, eval_episodes)
            scalars.update({f"eval/{k}": float(v) for k, v in result.items() if isinstance(v, (int, float))})
        log.write(event["global_step"], scalars)
        if event["update"] % checkpoint_every == 0:
            save_checkpoint(run_dir / CHECKPOINT, {**event["state"](), "run": run})
            saved["update"] = event["update"]
        last.update(event)
        if on_event is not None:
            on_event({**event, "save_checkpoint": lambda: save_checkpoint(run_dir / CHECKPOINT,
                                                                          {**event["state"](), "run": run})})

    try:
        model, _ = family.train(config, log=hook, resume=resume)
    except FloatingPointError as exc:  # a NaN or inf loss: stop, and say where the last good state is
        where = (f"the last good checkpoint is {run_dir / CHECKPOINT} (update {saved['update']}); "
                 f"`sandbox train --resume {run_dir}` continues from it" if saved["update"] is not None else
                 f"no checkpoint was written yet (the first comes at update {checkpoint_every})")
        raise FloatingPointError(f"{exc}; {where}") from exc
    finally:
        log.close()
    if last:
        save_checkpoint(run_dir / CHECKPOINT, {**last["state"](), "run": run})
    result = _evaluate_model(model, config, eval_episodes)
    _write_json(run_dir / "eval.json", result)
    return result


def resume_training(run_dir: str | os.PathLike, on_event: Callable[[dict[str, Any]], None] | None = None) -> dict:
    """Continue the run in `run_dir` from its checkpoint (`on_event` as in `run_training`)."""
    payload = load_checkpoint(Path(run_dir) / CHECKPOINT)
    run = payload["run"]
    return run_training(run["agent"], run["settings"], run_dir, run["eval_every"], run["eval_episodes"],
                        run["checkpoint_every"], resume=payload, on_event=on_event)


def evaluate_checkpoint(path: str | os.PathLike, episodes: int, tracks: str = "heldout",
                        level: str | None = None) -> dict:
    """Greedy evaluation of a checkpoint's driver (a trained agent, an evolved driver, a transformer policy);
    `level` overrides the level it was trained on."""
    from sandbox.evaluate import evaluate
    from sandbox.policies import load_policy

    policy = load_policy(path, level)
    return evaluate(policy.act, policy.env_id, policy.env_kwargs, episodes, tracks, seed=policy.seed,
                    observe=policy.observe)


def spaces_of_config(config: Any) -> tuple:
    """(observation space, action space) of one env of an agent's config."""
    from agents.envs import make_vec_env

    env = make_vec_env(config.env_id, 1, **config.env_kwargs)
    spaces = env.single_observation_space, env.single_action_space
    env.close()
    return spaces


def _evaluate_model(model: Any, config: Any, episodes: int, tracks: str = "heldout") -> dict:
    from agents.envs import obs_to_tensor
    from sandbox.evaluate import evaluate

    model.eval()
    try:
        return evaluate(lambda obs: model.act(obs_to_tensor(obs), deterministic=True), config.env_id,
                        config.env_kwargs, episodes, tracks, seed=config.seed)
    finally:
        model.train()


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def print_result(result: dict, as_json: bool) -> None:
    """The evaluation as one JSON line (`--json`) or as aligned text."""
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:18s} {value}", file=sys.stdout)
