"""`sandbox train` and `sandbox eval`: a training run with its run directory, and a checkpoint's held-out
evaluation.

A run directory holds: `progress.csv` and `tensorboard/` (CleanRL's tag names), `checkpoint.pt` (atomic,
every `checkpoint_every` updates and at the end), `learning_curve.png`, and `eval.json` (the final held-out
evaluation); with `eval_every`, `best.pt` and `best.json`, the best periodic evaluation's checkpoint and figures
(`sandbox.runs.best`). `sandbox train --resume DIR` continues from `checkpoint.pt`; on CarDrive the resumed run ends
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

from sandbox.runs.best import BEST, BestDriver
from sandbox.runs.checkpoints import load_checkpoint, non_finite_weight, save_checkpoint
from sandbox.runs.ray_cluster import WorkersLostError
from sandbox.runs.rundir import check_new_run_dir, check_run_kind, clear_old_run, extend_budget
from sandbox.runs.runlog import RunLog, write_json
from sandbox.runs.trust import check_checkpoint
from sandbox.runs.validate import typed_settings

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_UPDATES, CHECKPOINT_STEPS = 20, 50_000
"""the default cadence: a checkpoint every 20 updates or every 50,000 env steps, whichever is fewer checkpoints.
A family that updates every few dozen steps (A2C on LunarLander: 8 envs x 5 steps) would otherwise write ~1,250
checkpoints in a 1M-step run, and with them rewrite the CSV and pickle the growing history: 0.55x the speed."""


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
    return family.config(**typed_settings(family.config, settings))


def run_training(agent: str, settings: dict[str, Any], run_dir: str | os.PathLike, eval_every: int = 0,
                 eval_episodes: int = 20, checkpoint_every: int | None = None, resume: dict[str, Any] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None, overwrite: bool = False) -> dict:
    """Train `agent` with `settings` into `run_dir`; return the final evaluation (also written to eval.json).

    A `run_dir` that holds a run is refused unless `overwrite` (the old run is cleared only when the new one
    logs its first update); `resume` (a checkpoint's payload) continues the run in `run_dir` instead.
    `checkpoint_every` (updates; None: `default_checkpoint_every`) sets how often checkpoint.pt is written.
    `on_event` (the live viewer) is called after the run's own hook with every event of the loop; its update
    events carry `save_checkpoint()`, which writes this run's checkpoint.pt as of that update and returns its
    path (the loop's state is whole only there). An exception it raises stops the run, logs closed.

    Raises:
        ValueError: a bad setting, a run directory that would be lost, a budget too small for one update.
        FloatingPointError: the loss or the weights became non-finite (the message names the last good
            checkpoint; non-finite weights are never saved).
    """
    family, run_dir = _family(agent), Path(run_dir)
    used = ""
    if resume is None:  # a resumed run keeps the settings its checkpoint holds
        settings, used = resolve_settings(agent, settings)
    config = make_config(agent, settings)
    if resume is None:
        check_new_run_dir(run_dir, overwrite)
    rounding = _check_budget(family, config)
    if checkpoint_every is None:
        checkpoint_every = default_checkpoint_every(family.update_steps(config))
    run = {"agent": agent, "settings": settings, "eval_every": eval_every, "eval_episodes": eval_episodes,
           "checkpoint_every": checkpoint_every}
    log = RunLog(run_dir, config.total_timesteps, resume_step=int(resume["global_step"]) if resume else None,
                 before_first_write=(lambda: clear_old_run(run_dir)) if overwrite and resume is None else None)
    last: dict[str, Any] = {}
    saved = {"update": int(resume["update"]) if resume is not None else None}
    best = BestDriver(run_dir, resume is not None) if eval_every else None

    def save(event: dict[str, Any]) -> Path:
        log.flush()  # the logs as far as the checkpoint: a resumed run's logs go on from it
        return save_checkpoint(run_dir / CHECKPOINT, {**event["state"](), "run": run})

    def hook(event: dict[str, Any]) -> None:
        if event["kind"] != "update":  # per-step events are for viewers
            if on_event is not None:
                on_event(event)
            return
        check_weights(event["model"], agent, event["update"])
        if not last and resume is None:  # said once the run is under way, never before a refusal
            for line in (used, rounding):
                if line:
                    print(line, file=sys.stderr)
        scalars = {tag: float(event[key]) for key, tag in family.tags.items() if key in event}
        if eval_every and event["update"] % eval_every == 0:
            result = _evaluate_model(event["model"], config, eval_episodes, event["observation_normalizer"]())
            scalars.update({f"eval/{k}": float(v) for k, v in result.items() if isinstance(v, (int, float))})
            best.offer(result, event["update"], event["global_step"], lambda: {**event["state"](), "run": run})
        log.write(event["global_step"], scalars)
        if event["update"] % checkpoint_every == 0:
            save(event)
            saved["update"] = event["update"]
        last.update(event)
        if on_event is not None:
            on_event({**event, "save_checkpoint": lambda: save(event)})

    hook.wants_steps = on_event is not None  # the run's own logs read updates only; a viewer draws steps
    try:
        model, _ = family.train(config, log=hook, resume=resume)
    except (FloatingPointError, WorkersLostError) as exc:  # a NaN loss, every worker gone: say where to go on from
        gentler = " --learning-rate LOWER" if isinstance(exc, FloatingPointError) else ""
        where = (f"the last good checkpoint is {run_dir / CHECKPOINT} (update {saved['update']}); "
                 f"`sandbox train --resume {run_dir}{gentler}` continues from it"
                 if saved["update"] is not None else
                 f"no checkpoint was written yet (the first comes at update {checkpoint_every})")
        raise type(exc)(f"{exc}; {where}") from None
    finally:
        log.close()
    if not last:
        raise ValueError(f"{agent} made no update in {config.total_timesteps:,} env steps (it updates after "
                         f"{family.update_steps(config):,} steps of finished episodes); raise --total-timesteps. "
                         "Nothing was written")
    save(last)
    result = _evaluate_model(model, config, eval_episodes, last["observation_normalizer"]())
    write_json(run_dir / "eval.json", result)
    if best is not None:  # the final evaluation competes too: the last weights may be the best
        best.offer(result, last["update"], last["global_step"], lambda: {**last["state"](), "run": run})
        top = best.best
        print(f"best evaluation: update {top['update']:,} (step {top['global_step']:,}), {_summary(top)}: "
              f"{run_dir / BEST}", file=sys.stderr)
    return result


def default_checkpoint_every(update_steps: int) -> int:
    """Updates between checkpoints when none is asked for: CHECKPOINT_UPDATES, or as many as CHECKPOINT_STEPS
    env steps take when updates are shorter than CHECKPOINT_STEPS / CHECKPOINT_UPDATES steps."""
    return max(CHECKPOINT_UPDATES, -(-CHECKPOINT_STEPS // max(1, update_steps)))


def resolve_settings(agent: str, settings: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The shipped settings for `agent` on the env `settings` names (`agents.settings`), a student's network and
    sensor over them when the run starts from one (`init_from`), `settings` over all, and the line that says
    which were used."""
    from agents.settings import merged, source, tuned_settings

    defaults = _family(agent).config()
    env_id = settings.get("env_id", defaults.env_id)
    tuned, entries = tuned_settings(agent, env_id, settings.get("env_kwargs", defaults.env_kwargs))
    student = ""
    if settings.get("init_from"):  # the student's network and sensor over the shipped ones
        from agents.warm_start import student_settings

        box_actions = not _family(agent).discrete_actions
        tuned = merged(tuned, student_settings(settings["init_from"], box_actions), defaults.backbone)
        student = f" and the student {settings['init_from']}"
    kept = {k: v for k, v in tuned.items() if k not in settings}
    env_kept = {k: v for k, v in tuned.get("env_kwargs", {}).items() if k not in settings.get("env_kwargs", {})}
    if env_kept:  # a shipped sensor setting under the user's level
        kept["env_kwargs"] = env_kept
    where = (f"{source(agent).name} [{'] ['.join(entries)}]" if entries else "the config's defaults") + student
    text = " ".join(f"{k}={v}" for k, v in kept.items()) or "none left (all given)"
    used = f"settings: {agent} on {env_id} from {where}: {text}; --set key=value overrides any"
    return merged(tuned, settings, defaults.backbone), used


def _check_budget(family: Any, config: Any) -> str:
    """Refuse a budget too small for one update (naming the minimum); the note to print when it is rounded to
    whole rollouts ("" when it is not)."""
    per_update, total = family.update_steps(config), config.total_timesteps
    if total < per_update:
        raise ValueError(f"--total-timesteps {total:,} is below one {family.name} update: {per_update:,} env "
                         f"steps{_rollout_text(config)}; give at least {per_update:,}")
    if not family.whole_rollouts or total % per_update == 0:
        return ""
    done = total - total % per_update
    return (f"note: {family.name} trains in whole rollouts of {per_update:,} steps{_rollout_text(config)}, so "
            f"--total-timesteps {total:,} trains {done:,} steps ({done // per_update:,} updates)")


def _rollout_text(config: Any) -> str:
    return f" (num_envs {config.num_envs} x num_steps {config.num_steps})" if hasattr(config, "num_steps") else ""


def check_weights(model: Any, agent: str, update: int) -> None:
    """Stop before non-finite weights are used or saved (one check of every weight, after each update)."""
    name = non_finite_weight(model)
    if name is not None:
        raise FloatingPointError(f"{agent}: the weights became non-finite at update {update} ({name}); lower the "
                                 "learning rate (--learning-rate)")


def resume_training(run_dir: str | os.PathLike, on_event: Callable[[dict[str, Any]], None] | None = None,
                    total_timesteps: int | None = None, trust_code: bool = False,
                    learning_rate: float | None = None, where: dict[str, Any] | None = None) -> dict:
    """Continue the run in `run_dir` from its checkpoint (`on_event` as in `run_training`); `total_timesteps`
    larger than the run's extends its budget; `learning_rate` replaces the run's from here on (after a NaN);
    `where` replaces the settings of where it runs (A3C's num_workers, ray_address). A checkpoint that names
    code outside the sandbox (a `module:attr` backbone or env id) is refused unless `trust_code`."""
    payload = load_checkpoint(Path(run_dir) / CHECKPOINT)
    check_run_kind(payload, "train", run_dir)
    check_checkpoint(payload, Path(run_dir) / CHECKPOINT, trust_code)
    run = payload["run"]
    settings = extend_budget(run["settings"], "total_timesteps", total_timesteps, int(payload["global_step"]),
                             "--total-timesteps", make_config(run["agent"], run["settings"]).total_timesteps)
    if learning_rate is not None:
        print(f"continuing with learning rate {learning_rate:g} (--learning-rate)", file=sys.stderr)
        settings = {**settings, "learning_rate": learning_rate}
    settings = {**settings, **(where or {})}
    return run_training(run["agent"], settings, run_dir, run["eval_every"], run["eval_episodes"],
                        run["checkpoint_every"], resume=payload, on_event=on_event)


def evaluate_checkpoint(path: str | os.PathLike, episodes: int, tracks: str = "heldout",
                        level: str | None = None, trust_code: bool = False) -> dict:
    """Greedy evaluation of a checkpoint's driver (a trained agent, an evolved driver, a transformer policy);
    `level` overrides the level it was trained on; `trust_code` lets it import a `module:attr` it names."""
    from sandbox.commands.drivers import load_driver
    from sandbox.runs.evaluate import evaluate

    policy = load_driver(path, level, trust_code=trust_code)
    return evaluate(policy.act, policy.env_id, policy.env_kwargs, episodes, tracks, seed=policy.seed,
                    observe=policy.observe)


def spaces_of_config(config: Any) -> tuple:
    """(observation space, action space) of one env of an agent's config, as its model sees them (under the
    normalisation it asks for)."""
    from dataclasses import replace

    from agents.envs import make_train_env

    env = make_train_env(replace(config, num_envs=1))
    spaces = env.single_observation_space, env.single_action_space
    env.close()
    return spaces


def _evaluate_model(model: Any, config: Any, episodes: int, normalize: Callable[[Any], Any],
                    tracks: str = "heldout") -> dict:
    """Greedy held-out evaluation of a model being trained, seeing observations as it does (`normalize`)."""
    from agents.actor_critic import Policy
    from sandbox.runs.evaluate import evaluate

    model.eval()
    try:
        policy = Policy(model, normalize)  # it may carry a recurrent state per car
        return evaluate(policy.act, config.env_id, config.env_kwargs, episodes, tracks, seed=config.seed,
                        observe=policy.observe)
    finally:
        model.train()


def _summary(result: dict) -> str:
    """An evaluation in a few words: clean laps and mean return on CarDrive, the mean return elsewhere."""
    text = f"mean return {result['mean_return']:.1f}"
    return f"clean laps {result['clean_lap_rate']:.0%}, {text}" if "clean_lap_rate" in result else text


def print_result(result: dict, as_json: bool) -> None:
    """The evaluation as one JSON line (`--json`) or as aligned text."""
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:18s} {value}", file=sys.stdout)
