"""`sandbox baseline`: the drivers that need no learning, on a level's held-out tracks.

Three drivers, one car per track, one episode each: the privileged expert (`envs.drive_expert`, reads the
true world), the rays controller (`envs.drive_controller`, reads only the observation: the floor a learner
must beat) and full throttle without steering (which must never lap). For each it prints laps, clean laps
(no crash, no contact), the median steps of a lap, and contacts (pedestrians and traffic) per lap attempt.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from sandbox.commands.tables import format_table

Policy = Callable[[np.ndarray, object], np.ndarray]  # (rays observations (N, D), the world's core) -> actions


def evaluate_on_tracks(policy: Policy, seeds: list[int], max_steps: int, level: str = "easy",
                       continuous: bool = True) -> dict[str, np.ndarray]:
    """One car per track, one episode each; return per-track arrays `lap_completed`, `clean_lap`,
    `lap_steps`, `progress`, `steps`, `contacts`."""
    from envs import CarDriveVectorEnv

    n = len(seeds)
    env = CarDriveVectorEnv(n, continuous=continuous, level=level, tracks=seeds, max_episode_steps=max_steps)
    obs, _ = env.reset(seed=0, options={"track_index": np.arange(n)})
    done = np.zeros(n, bool)
    keys = ("lap_completed", "clean_lap", "lap_steps", "progress")
    result = {key: np.zeros(n, bool if key in ("lap_completed", "clean_lap") else float) for key in keys}
    result["steps"], result["contacts"] = np.zeros(n, int), np.zeros(n, int)
    for t in range(1, max_steps + 1):
        obs, _, terminated, truncated, info = env.step(policy(obs, env.core))
        ended = (terminated | truncated) & ~done
        for key in keys:
            result[key][ended] = info[key][ended]
        result["contacts"][ended] = (info["pedestrian_hits"] + info["traffic_hits"])[ended]
        result["steps"][ended] = t
        done |= ended
        if done.all():
            break
    return result


def drivers() -> dict[str, Policy]:
    """The drivers `sandbox baseline` compares, by name."""
    from envs import drive_controller, drive_expert

    return {
        "expert (envs.drive_expert)": lambda obs, core: drive_expert(core),
        "rays controller (envs.drive_controller)": lambda obs, core: drive_controller(obs, core.config.n_rays),
        "full throttle, no steering": lambda obs, core: np.tile(np.float32([0.0, 1.0]), (len(obs), 1)),
    }


def run_baseline(level: str = "easy", tracks: str = "heldout", count: int = 100,
                 max_steps: int = 1000) -> dict[str, dict[str, np.ndarray]]:
    """Print the table of every driver on the first `count` tracks of the level's set; return the results."""
    from envs import get_level, track_seeds

    get_level(level)  # a bad level fails here, before any track is built
    seeds = [int(s) for s in track_seeds(tracks, level)[:count]]
    print(f"driving {len(seeds)} {level} {tracks} tracks, one episode each, limit {max_steps} steps ...",
          file=sys.stderr)
    results, rows = {}, []
    for name, policy in drivers().items():
        r = evaluate_on_tracks(policy, seeds, max_steps, level)
        results[name] = r
        laps = r["lap_steps"][r["lap_completed"]]
        rows.append([name, f"{r['lap_completed'].mean():.0%}", f"{r['clean_lap'].mean():.0%}",
                     f"{np.median(laps):.0f}" if len(laps) else "-", f"{r['contacts'].mean():.2f}",
                     f"{np.median(r['progress']):.0%}"])
    header = [f"driver ({level}, {len(seeds)} {tracks} tracks, limit {max_steps})", "laps", "clean laps",
              "lap steps (median)", "contacts/lap", "progress (median)"]
    print(format_table(header, rows))
    return results
