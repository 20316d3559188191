"""`sandbox replay CHECKPOINT`: a trained agent or an evolved champion driving held-out tracks, on screen.

    sandbox replay runs/a2c-0/checkpoint.pt                  # a window, one car per held-out track
    sandbox replay runs/ga-0/checkpoint.pt --record ga.mp4   # an evolution run: its champion; and a video

A checkpoint is one of: a `sandbox train` run's (its policy, driven greedily), an evolved driver (a hall of
fame entry, `hall_of_fame/rank0.pt`), or an evolution run's (its champion, hall_of_fame/rank0.pt beside it).
The cars drive through the same viewer as `sandbox watch` (speed 1 by default: real time), without training.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.viewer.video import check_video
from sandbox.viewer.window import StopRun, Viewer, display_available


def load_replay_driver(path: str | os.PathLike, level: str | None = None, *,
                trust_code: bool = False) -> tuple[Any, dict[str, Any], str]:
    """(the policy: `act` and `observe`, the CarDrive kwargs it drives with, a title) of a checkpoint:
    whatever `sandbox.commands.drivers.load_driver` loads (an agent, an evolved driver or run, a driving component);
    `trust_code` lets a checkpoint that names code import it (`--trust-code`)."""
    from sandbox.commands.drivers import load_driver as load

    policy = load(path, level, trust_code=trust_code)
    if policy.env_id != "sandbox/CarDrive-v0":
        raise ValueError(f"{path}: trained on {policy.env_id}; replay shows CarDrive drivers")
    title = f"{policy.name} · {policy.env_kwargs.get('level', 'easy')}"
    return policy, policy.env_kwargs, title


def run_replay(checkpoint: str | os.PathLike, cars: int = 8, episodes: int = 1, tracks: str = "heldout",
               level: str | None = None, seed: int = 0, headless: bool = False, speed: int = 1, fps: int = 30,
               record: str | os.PathLike | None = None, png_every: float = 10.0, png_dir: str | None = None,
               max_steps: int = 1000, trust_code: bool = False) -> dict[str, Any]:
    """Drive the checkpoint's policy, one car per track of `tracks`, until each car has driven `episodes`
    episodes of at most `max_steps` steps (or the person quits); return laps and clean laps. `record` is a
    .mp4 or .gif (headless without one: replay.mp4 beside the checkpoint); `png_dir` also keeps PNG snapshots
    (the last frame as last.png); `trust_code` as in `load_replay_driver`."""
    if record is not None:
        check_video(record)  # a bad --record is one line now, before the checkpoint loads
    policy, env_kwargs, title = load_replay_driver(checkpoint, level, trust_code=trust_code)
    window = not headless and display_available()
    if not window and record is None:
        record = Path(checkpoint).with_name("replay.mp4")
    return drive(policy, env_kwargs, title, cars=cars, episodes=episodes, tracks=tracks, seed=seed, window=window,
                 speed=speed, fps=fps, record=record, png_every=png_every, png_dir=png_dir, max_steps=max_steps)


def drive(policy: Any, env_kwargs: dict[str, Any], title: str, *, cars: int = 8, episodes: int = 1,
          tracks: str = "heldout", seed: int = 0, window: bool = False, speed: int = 1, fps: int = 30,
          record: str | os.PathLike | None = None, png_every: float = 10.0, png_dir: str | None = None,
          max_steps: int = 1000) -> dict[str, Any]:
    """`run_replay` once the policy is loaded: `policy` (`act`, `observe`) drives in the viewer. The video is
    written however the drive ends (its end, the person quitting, an error), and its path printed."""
    from envs import CarDriveVectorEnv, track_seeds

    kwargs = {k: v for k, v in env_kwargs.items() if k in ("level", "obs", "continuous", "n_rays", "pedestrians")}
    seeds = [int(s) for s in track_seeds(tracks, kwargs.get("level", "easy"))[:cars]]
    env = CarDriveVectorEnv(len(seeds), tracks=seeds, max_episode_steps=max_steps, **kwargs)
    viewer = Viewer(f"replay · {title}", window=window, speed=speed, fps=fps, record=record, saves=False,
                    png_dir=png_dir, png_every=png_every, min_episodes=len(seeds))
    tally = {"driven": np.zeros(len(seeds), int), "laps": 0, "clean": 0}
    try:
        _drive(policy, env, viewer, seed, episodes, tally)
    except StopRun:
        print("replay stopped from the viewer", file=sys.stderr)
    finally:
        try:
            env.close()
        finally:
            video = viewer.close()
            if video is not None:  # said even when an error follows: the video of the drive up to it is there
                print(f"wrote {video}")
    total = int(np.minimum(tally["driven"], episodes).sum())
    print(f"{title}: {tally['laps']} lap(s) and {tally['clean']} clean lap(s) in {total} episode(s) on {tracks} "
          "tracks")
    return {"episodes": total, "laps": tally["laps"], "clean_laps": tally["clean"],
            "video": str(video) if video else None}


def _drive(policy: Any, env: Any, viewer: Viewer, seed: int, episodes: int, tally: dict[str, Any]) -> None:
    """Step every car until each has driven `episodes` episodes, counting into `tally` as it goes (so that a
    drive the person stops still reports what it drove)."""
    n = env.num_envs
    obs, _ = env.reset(seed=seed, options={"track_index": np.arange(n)})
    driven, step = tally["driven"], 0
    while (driven < episodes).any():
        obs, reward, terminated, truncated, info = env.step(policy.act(obs))
        policy.observe(reward, terminated, truncated)
        step += n
        viewer({"kind": "step", "global_step": step, "env": env, "reward": reward, "terminated": terminated,
                "truncated": truncated, "info": info})
        ended = terminated | truncated
        if ended.any():
            first = ended & (driven < episodes)
            tally["laps"] += int(info["lap_completed"][first].sum())
            tally["clean"] += int(info["clean_lap"][first].sum())
            driven += ended
            viewer({"kind": "update", "global_step": step, "update": int(driven.min())})
