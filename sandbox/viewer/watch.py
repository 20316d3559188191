"""`sandbox watch`: a training run (`--agent`) or an evolution (`--evolve`) with the live viewer on its hook.

    sandbox watch --agent a2c                 # CarDrive easy, rays, MLP: the cars learn in a window
    sandbox watch --evolve ga                 # a whole population drives, generation after generation

An agent's run writes exactly what `sandbox train` writes (`sandbox.commands.train.run_training`, the viewer chained
after its own hook); an evolution what `sandbox evolve` writes (`evolve.run.run_evolution`). The run ends by
itself when its steps or generations are spent, or when the person quits (a checkpoint is saved first).
With no display, or `headless=True`, the frames go to RUN_DIR/watch.mp4 and RUN_DIR/frames/*.png.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sandbox.viewer.window import StopRun, Viewer, display_available

VIDEO = "watch.mp4"
FRAMES = "frames"


def viewer_options(run_dir: Path, headless: bool, record: str | None, png_every: float) -> dict[str, Any]:
    """Window or off-screen, and where the frames go: headless always records (the window is the file)."""
    window = not headless and display_available()
    if not window:
        return {"window": False, "record": record or run_dir / VIDEO, "png_dir": run_dir / FRAMES,
                "png_every": png_every}
    return {"window": True, "record": record, "png_dir": None, "png_every": png_every}


def resumed_run(run_dir: str | os.PathLike) -> tuple[str, str]:
    """("train", agent) or ("evolution", strategy): what the run in `run_dir` is."""
    from sandbox.runs.checkpoints import load_checkpoint
    from sandbox.runs.rundir import CHECKPOINT, check_run_kind, run_kind

    payload = load_checkpoint(Path(run_dir) / CHECKPOINT)
    kind = run_kind(payload)
    if kind == "evolution":
        return kind, str(payload["config"]["strategy"])
    check_run_kind(payload, "train", run_dir)  # a fit (or anything else) is named, with its own command
    return kind, str(payload["run"]["agent"])


def watch_agent(agent: str, settings: dict[str, Any], run_dir: str | os.PathLike, *, train_options: dict[str, Any],
                resume: bool = False, headless: bool = False, speed: int = 2, fps: int = 30,
                record: str | None = None, png_every: float = 10.0, overwrite: bool = False,
                total_timesteps: int | None = None, trust_code: bool = False) -> dict | None:
    """Train `agent` with the viewer watching; return the final evaluation (None when the person quit).

    `settings`, `train_options` (eval_every, eval_episodes, checkpoint_every) and `overwrite` are
    `run_training`'s; with `resume`, the run in `run_dir` continues (`total_timesteps` and `trust_code` as in
    `resume_training`).
    """
    from sandbox.commands.train import make_config, resume_training, run_training
    from sandbox.runs.checkpoints import load_checkpoint
    from sandbox.runs.rundir import check_new_run_dir, check_run_kind, clear_old_run
    from sandbox.runs.trust import check_checkpoint

    run_dir = Path(run_dir)
    if resume:
        payload = load_checkpoint(run_dir / "checkpoint.pt")
        check_run_kind(payload, "train", run_dir)
        check_checkpoint(payload, run_dir / "checkpoint.pt", trust_code)
        agent, settings = payload["run"]["agent"], dict(payload["run"]["settings"])
        if total_timesteps is not None:
            settings["total_timesteps"] = total_timesteps
    else:
        check_new_run_dir(run_dir, overwrite)  # before the window opens
    config = make_config(agent, settings)
    env_kwargs = config.env_kwargs
    if config.env_id != "sandbox/CarDrive-v0":
        raise ValueError(f"--env {config.env_id}: watch draws the CarDrive world only (sandbox/CarDrive-v0)")
    title = (f"{agent.upper()} · {env_kwargs.get('level', 'easy')} · {env_kwargs.get('obs', 'rays')} · "
             f"{config.backbone}")
    if overwrite and not resume:  # the video starts with the first frame: the old run goes now, once checked
        clear_old_run(run_dir)
    options = viewer_options(run_dir, headless, record, png_every)
    viewer = Viewer(title, speed=speed, fps=fps, total=config.total_timesteps,
                    min_episodes=max(1, config.num_envs // 4), **options)  # a curve point per quarter batch of episodes
    _announce(options, run_dir)
    try:
        if resume:
            return resume_training(run_dir, on_event=viewer, total_timesteps=total_timesteps, trust_code=trust_code)
        return run_training(agent, settings, run_dir, on_event=viewer, **train_options)
    except StopRun as stop:
        _stopped(stop, run_dir, f"sandbox train --resume {run_dir}")
        return None
    finally:
        _closed(viewer, run_dir)


def watch_evolution(settings: dict[str, Any], run_dir: str | os.PathLike, *, headless: bool = False,
                    speed: int = 8, fps: int = 30, record: str | None = None, png_every: float = 10.0,
                    resume: bool = False, overwrite: bool = False, generations: int | None = None,
                    trust_code: bool = False) -> dict | None:
    """Evolve a population with the viewer watching (cars coloured by fitness); return the run's summary.
    With `resume`, continue the evolution run in `run_dir` (its settings come from its checkpoint;
    `generations` and `trust_code` as in `resume_evolution`); `overwrite` as in `run_evolution`."""
    from evolve import make_config
    from evolve.run import resume_evolution, run_evolution
    from sandbox.runs.rundir import check_new_run_dir, clear_old_run

    run_dir = Path(run_dir)
    if resume:
        from dataclasses import asdict

        from evolve.run import CHECKPOINT
        from sandbox.runs.checkpoints import load_checkpoint, to_numpy

        settings = asdict(make_config(to_numpy(load_checkpoint(run_dir / CHECKPOINT)["config"])))
        if generations is not None:
            settings["generations"] = generations
    else:
        check_new_run_dir(run_dir, overwrite)  # before the window opens
        make_config(settings)  # checked before the old run goes
        if overwrite:  # the video starts with the first frame: the old run goes now, once checked
            clear_old_run(run_dir)
    title = f"{settings['strategy'].upper()} · {settings.get('level', 'easy')} · {settings.get('backbone', 'mlp')}"
    options = viewer_options(run_dir, headless, record, png_every)
    viewer = Viewer(title, speed=speed, fps=fps, population=True, total=settings.get("generations"), **options)
    _announce(options, run_dir)
    try:
        if resume:
            return resume_evolution(run_dir, on_event=viewer, generations=generations, trust_code=trust_code)
        return run_evolution(settings, run_dir, on_event=viewer)
    except StopRun as stop:
        _stopped(stop, run_dir, f"sandbox evolve --resume {run_dir}")
        return None
    finally:
        _closed(viewer, run_dir)


def _announce(options: dict[str, Any], run_dir: Path) -> None:
    if options["window"]:
        print(f"watching in a window; the run's files go to {run_dir}/", file=sys.stderr)
    else:
        print(f"no window (headless): the frames go to {options['record']} and {options['png_dir']}/",
              file=sys.stderr)


def _stopped(stop: StopRun, run_dir: Path, resume_command: str) -> None:
    where = f"checkpoint {stop.checkpoint}; `{resume_command}` continues" if stop.checkpoint else "no checkpoint"
    print(f"\nstopped from the viewer: {where}")


def _closed(viewer: Viewer, run_dir: Path) -> None:
    video = viewer.close()
    if video is not None:
        print(f"wrote {video}")
    if viewer.recorder is not None and viewer.recorder.pngs:
        print(f"wrote {len(viewer.recorder.pngs)} PNG frames to {viewer.recorder.png_dir}/")
    print(f"the run's files are in {run_dir}/")
