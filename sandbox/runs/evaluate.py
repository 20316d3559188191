"""Greedy evaluation of a trained policy: on CarDrive, one car per held-out track (laps, clean laps, lap
steps); on any other env, K seeded episodes (mean return)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Act = Callable[[Any], np.ndarray]  # a batch of observations -> env actions (greedy)
Observe = Callable[[np.ndarray, np.ndarray, np.ndarray], None]  # (reward, terminated, truncated) of a step


def evaluate(act: Act, env_id: str, env_kwargs: dict[str, Any], episodes: int, tracks: str = "heldout",
             seed: int = 0, max_steps: int = 1000, observe: Observe | None = None) -> dict[str, float]:
    """Mean return over `episodes` episodes; on CarDrive also lap_rate, clean_lap_rate, median_lap_steps.
    `observe`, if given, is told each step's (reward, terminated, truncated) (a policy with a context)."""
    import envs

    if env_id == envs.ENV_ID:
        return _cardrive(act, env_kwargs, episodes, tracks, seed, max_steps, observe)
    import gymnasium

    env = gymnasium.make_vec(env_id, num_envs=1, vectorization_mode="sync", **env_kwargs)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            if observe is not None:
                observe(reward, terminated, truncated)
            total += float(reward[0])
            done = bool(terminated[0] or truncated[0])
        returns.append(total)
    env.close()
    return {"episodes": episodes, "mean_return": float(np.mean(returns))}


def _cardrive(act: Act, env_kwargs: dict[str, Any], episodes: int, tracks: str, seed: int,
              max_steps: int, observe: Observe | None = None) -> dict[str, float]:
    from envs import CarDriveVectorEnv, track_seeds

    kwargs = {k: v for k, v in env_kwargs.items() if k not in ("tracks", "num_tracks", "max_episode_steps")}
    seeds = [int(s) for s in track_seeds(tracks, kwargs.get("level", "easy"))[:episodes]]
    env = CarDriveVectorEnv(len(seeds), tracks=seeds, max_episode_steps=max_steps, **kwargs)
    obs, _ = env.reset(seed=seed, options={"track_index": np.arange(len(seeds))})
    total, done = np.zeros(len(seeds)), np.zeros(len(seeds), bool)
    lap, clean, lap_steps = (np.zeros(len(seeds), bool), np.zeros(len(seeds), bool), np.zeros(len(seeds)))
    while not done.all():
        obs, reward, terminated, truncated, info = env.step(act(obs))
        if observe is not None:
            observe(reward, terminated, truncated)
        total += np.where(done, 0.0, reward)
        ended = (terminated | truncated) & ~done
        lap[ended], clean[ended], lap_steps[ended] = (info["lap_completed"][ended], info["clean_lap"][ended],
                                                       info["lap_steps"][ended])
        done |= ended
    env.close()
    laps = lap_steps[lap]
    return {"episodes": len(seeds), "mean_return": float(total.mean()), "lap_rate": float(lap.mean()),
            "clean_lap_rate": float(clean.mean()),
            "median_lap_steps": float(np.median(laps)) if len(laps) else None}
