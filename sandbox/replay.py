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

from sandbox.viewer import StopRun, Viewer, display_available


def load_policy(path: str | os.PathLike, level: str | None = None) -> tuple[Any, dict[str, Any], str]:
    """(the policy: `act` and `observe`, the CarDrive kwargs it drives with, a title) of a checkpoint:
    whatever `sandbox.policies.load_policy` loads (an agent, an evolved driver or run, a driving component)."""
    from sandbox.policies import load_policy as load

    policy = load(path, level)
    if policy.env_id != "sandbox/CarDrive-v0":
        raise ValueError(f"{path}: trained on {policy.env_id}; replay shows CarDrive drivers")
    title = f"{policy.name} · {policy.env_kwargs.get('level', 'easy')}"
    return policy, policy.env_kwargs, title


def run_replay(checkpoint: str | os.PathLike, cars: int = 8, episodes: int = 1, tracks: str = "heldout",
               level: str | None = None, seed: int = 0, headless: bool = False, speed: int = 1, fps: int = 30,
               record: str | os.PathLike | None = None, png_every: float = 10.0, png_dir: str | None = None,
               max_steps: int = 1000) -> dict[str, Any]:
    """Drive the checkpoint's policy, one car per track of `tracks`, until each car has driven `episodes`
    episodes of at most `max_steps` steps (or the person quits); return laps and clean laps. `png_dir` also
    keeps PNG snapshots (the last frame as last.png)."""
    from envs import CarDriveVectorEnv, track_seeds

    policy, env_kwargs, title = load_policy(checkpoint, level)
    kwargs = {k: v for k, v in env_kwargs.items() if k in ("level", "obs", "continuous", "n_rays", "pedestrians")}
    seeds = [int(s) for s in track_seeds(tracks, kwargs.get("level", "easy"))[:cars]]
    window = not headless and display_available()
    if not window and record is None:
        record = Path(checkpoint).with_name("replay.mp4")
    viewer = Viewer(f"replay · {title}", window=window, speed=speed, fps=fps, record=record, saves=False,
                    png_dir=png_dir, png_every=png_every, min_episodes=len(seeds))
    env = CarDriveVectorEnv(len(seeds), tracks=seeds, max_episode_steps=max_steps, **kwargs)
    obs, _ = env.reset(seed=seed, options={"track_index": np.arange(len(seeds))})
    driven, laps, clean, step = np.zeros(len(seeds), int), 0, 0, 0
    try:
        while (driven < episodes).any():
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            policy.observe(reward, terminated, truncated)
            step += len(seeds)
            viewer({"kind": "step", "global_step": step, "env": env, "reward": reward, "terminated": terminated,
                    "truncated": truncated, "info": info})
            ended = terminated | truncated
            if ended.any():
                first = ended & (driven < episodes)
                laps += int(info["lap_completed"][first].sum())
                clean += int(info["clean_lap"][first].sum())
                driven += ended
                viewer({"kind": "update", "global_step": step, "update": int(driven.min())})
    except StopRun:
        print("replay stopped from the viewer", file=sys.stderr)
    finally:
        env.close()
        video = viewer.close()
    total = int(np.minimum(driven, episodes).sum())
    print(f"{title}: {laps} lap(s) and {clean} clean lap(s) in {total} episode(s) on {tracks} tracks")
    if video is not None:
        print(f"wrote {video}")
    return {"episodes": total, "laps": laps, "clean_laps": clean, "video": str(video) if video else None}
