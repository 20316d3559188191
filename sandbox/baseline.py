"""`sandbox baseline`: how the hand-written controller and a blind full-throttle car fare on a track set."""

from __future__ import annotations

import sys

import numpy as np


def evaluate_on_tracks(policy, seeds: list[int], max_steps: int, continuous: bool = True) -> dict[str, np.ndarray]:
    """One car per track, one episode each; return per-track arrays `lap_completed`, `progress`, `steps`,
    `pedestrian_hits`. `policy` maps a batch of rays observations (N, n_rays + 2) to actions."""
    from envs import CarDriveVectorEnv

    n = len(seeds)
    env = CarDriveVectorEnv(n, continuous=continuous, tracks=seeds, max_episode_steps=max_steps)
    obs, _ = env.reset(seed=0, options={"track_index": np.arange(n)})
    done = np.zeros(n, bool)
    result = {"lap_completed": np.zeros(n, bool), "progress": np.zeros(n), "steps": np.zeros(n, int),
              "pedestrian_hits": np.zeros(n, int)}
    for t in range(1, max_steps + 1):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        ended = (terminated | truncated) & ~done
        result["lap_completed"][ended] = info["lap_completed"][ended]
        result["progress"][ended] = info["progress"][ended]
        result["pedestrian_hits"][ended] = info["pedestrian_hits"][ended]
        result["steps"][ended] = t
        done |= ended
        if done.all():
            break
    return result


def run_baseline(tracks: str = "heldout", count: int = 100, max_steps: int = 3000) -> dict[str, dict]:
    """Print lap completion of the controller and of full throttle without steering on `count` tracks."""
    from envs import drive_controller, track_seeds

    seeds = [int(s) for s in track_seeds(tracks)[:count]]
    print(f"building {len(seeds)} {tracks} tracks ...", file=sys.stderr)
    policies = {
        "controller (envs.drive_controller)": lambda obs: drive_controller(obs),
        "full throttle, no steering": lambda obs: np.tile(np.float32([0.0, 1.0]), (len(obs), 1)),
    }
    results = {}
    for name, policy in policies.items():
        r = evaluate_on_tracks(policy, seeds, max_steps)
        results[name] = r
        print(f"{name:36s} laps {r['lap_completed'].mean():6.1%}   progress median {np.median(r['progress']):6.1%}"
              f"  max {r['progress'].max():6.1%}   pedestrian hits/lap {r['pedestrian_hits'].mean():.2f}")
    return results
