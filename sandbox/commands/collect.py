"""`sandbox collect`: drive CarDrive with a driver and write what it saw and did as a trajectory file.

    collect("expert", level="normal", steps=20_000, out="data/expert.npz")            # the demonstrator
    collect("controller", level="easy", steps=5_000, out="data/ctrl.npz", obs="pixels")
    collect("runs/a2c-0/checkpoint.pt", level="easy", steps=5_000, out="data/a2c.npz")

Drivers: `expert` (the privileged expert, which reads the true world state: the demonstrator of the imitation
learners), `controller` (the rays controller), or any driver checkpoint (`sandbox.commands.drivers`: a `sandbox train`
agent, an evolved driver, or a policy of `sandbox fit`: behaviour cloning, GAIL, the Decision Transformer).
`noise` replaces that share of the actions with random ones, which spreads the returns a Decision Transformer
learns to tell apart.

N cars drive at once; each car's episodes are written whole, one after another (the format of
`sandbox.runs.trajectories`, the one `sandbox play --record` writes). The env's next-step autoreset step (no
transition) is left out. The file holds at least `steps` steps; with `episodes`, that many whole episodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.runs.progress import ProgressLine
from sandbox.runs.rundir import check_output_file
from sandbox.runs.trajectories import save_trajectories, split_obs


@dataclass
class Driver:
    """What collect drives with: `act(env, observation batch) -> actions`, and `observe(reward, terminated,
    truncated)` after each step (a policy with memory or a context follows its episodes)."""

    act: Callable[[Any, Any], np.ndarray]
    observe: Callable[[np.ndarray, np.ndarray, np.ndarray], None] = lambda reward, terminated, truncated: None


def make_driver(driver: str, continuous: bool, trust_code: bool = False
                ) -> tuple[Driver, str | None, dict[str, Any]]:
    """The driver's function, the observation it reads ("rays", "pixels", "both"; None: the world state) and
    the sensor settings it was trained with (a checkpoint's `n_rays`; {} for the expert and the controller).

    Raises:
        ValueError: not expert, controller, or an existing checkpoint.
    """
    import envs

    if driver == "expert":
        return Driver(lambda env, obs: envs.drive_expert(env.core, continuous=continuous)), None, {}
    if driver == "controller":
        return Driver(lambda env, obs: envs.drive_controller(obs["rays"], env.config.n_rays, continuous)), "rays", {}
    if not Path(driver).is_file():
        raise ValueError(f"--driver must be expert, controller or a checkpoint file; no file at {driver!r}")
    from sandbox.commands.drivers import load_driver

    policy = load_driver(driver, trust_code=trust_code)
    if policy.env_id != "sandbox/CarDrive-v0":
        raise ValueError(f"{driver} drives {policy.env_id}, not CarDrive")
    if bool(policy.env_kwargs.get("continuous", False)) != continuous:
        raise ValueError(f"{driver} drives with continuous={policy.env_kwargs.get('continuous', False)}; "
                         f"collect was asked for continuous={continuous}")
    reads = policy.env_kwargs.get("obs", "rays")
    sensor = {k: v for k, v in policy.env_kwargs.items() if k in ("n_rays", "image_size")}
    return Driver(lambda env, obs: policy.act(obs if reads == "both" else obs[reads]), policy.observe), reads, sensor


def collect(driver: str, level: str = "easy", steps: int = 10_000, out: str | os.PathLike = "data/expert.npz",
            obs: str = "both", num_envs: int = 16, continuous: bool = False, tracks: str = "train",
            seed: int = 0, noise: float = 0.0, episodes: int | None = None, max_episode_steps: int = 1000,
            progress: bool = True, overwrite: bool = False, trust_code: bool = False,
            n_rays: int | None = None) -> dict[str, Any]:
    """Drive and write a trajectory file; return a summary (steps, episodes, laps, mean episode return).

    An existing `out` is refused unless `overwrite` (then replaced atomically, once the new file is whole);
    `trust_code` lets a driver checkpoint import the `module:attr` code it names. `n_rays` sets the recorded
    rays (the world's 9 by default; a checkpoint driver reads the rays it was trained on, and another count is
    refused).
    """
    from envs import CarDriveVectorEnv

    if obs not in ("rays", "pixels", "both"):
        raise ValueError(f"--obs must be rays, pixels or both, got {obs!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"--noise must be in [0, 1], got {noise}")
    check_output_file(out, overwrite)
    drive, _, sensor = make_driver(driver, continuous, trust_code)
    if n_rays is not None:
        if sensor.get("n_rays", n_rays) != n_rays:
            raise ValueError(f"--n-rays {n_rays}: {driver} reads {sensor['n_rays']} rays, as it was trained")
        sensor = {**sensor, "n_rays": n_rays}
    if episodes is not None:  # no more cars than episodes: the first to end are the short ones (crashes)
        num_envs = min(num_envs, episodes)
    env = CarDriveVectorEnv(num_envs, level=level, obs="both", continuous=continuous, tracks=tracks,
                            max_episode_steps=max_episode_steps, **sensor)  # the rays the driver reads
    rng = np.random.default_rng(seed)
    env.single_action_space.seed(seed)  # the noise's random actions too: a seed gives one file
    observation, _ = env.reset(seed=seed)
    keep = ("rays", "pixels") if obs == "both" else (obs,)
    buffers: list[list[dict]] = [[] for _ in range(num_envs)]  # each car's steps of its running episode
    done_episodes: list[list[dict]] = []
    valid = np.ones(num_envs, bool)
    recorded, line = 0, ProgressLine() if progress else None
    while (recorded < steps) if episodes is None else (len(done_episodes) < episodes):
        actions = drive.act(env, observation)
        random_actions = np.stack([env.single_action_space.sample() for _ in range(num_envs)])
        actions = np.where(_broadcast(rng.random(num_envs) < noise, actions), random_actions, actions)
        now = {key: value for key, value in split_obs(observation).items() if key in keep}
        observation, reward, terminated, truncated, info = env.step(actions)
        for i in np.flatnonzero(valid):  # the autoreset step after an episode's end is no transition
            buffers[i].append({**{k: v[i] for k, v in now.items()}, "action": actions[i], "reward": reward[i],
                               "terminated": terminated[i], "truncated": truncated[i],
                               "lap": bool(info["lap_completed"][i])})
            recorded += 1
            if terminated[i] or truncated[i]:
                done_episodes.append(buffers[i])
                buffers[i] = []
        # a policy with memory starts afresh on the observation an autoreset step returns (a new episode's first)
        drive.observe(np.where(valid, reward, 0.0), ~valid, np.zeros(num_envs, bool))
        valid = ~(terminated | truncated)
        if line is not None:
            line.show(f"collect: {recorded:,} steps, {len(done_episodes)} episodes")
    if line is not None:
        line.close(f"collect: {recorded:,} steps, {len(done_episodes)} episodes")
    env.close()
    if episodes is None:  # the running episodes too, cut where collection stopped (marked truncated)
        for buffer in (b for b in buffers if b):
            buffer[-1]["truncated"] = True
            done_episodes.append(buffer)
    arrays = _arrays(done_episodes, keep, continuous)
    meta = {"level": level, "obs": obs, "continuous": continuous, "driver": str(driver), "noise": noise,
            "tracks": tracks, "n_rays": env.config.n_rays}
    save_trajectories(out, arrays, meta)
    returns = [sum(float(s["reward"]) for s in ep) for ep in done_episodes]
    return {"out": str(out), "steps": len(arrays["reward"]), "episodes": len(done_episodes),
            "laps": int(sum(any(s["lap"] for s in ep) for ep in done_episodes)),
            "mean_return": float(np.mean(returns)) if returns else float("nan")}


def _broadcast(mask: np.ndarray, actions: np.ndarray) -> np.ndarray:
    return mask if actions.ndim == 1 else mask[:, None]  # (N,) or (N, 1) against (N, 2)


def _arrays(episodes: list[list[dict]], keep: tuple[str, ...], continuous: bool) -> dict[str, np.ndarray]:
    """Episodes of step dicts -> the trajectory file's arrays, episodes one after another."""
    steps = [step for episode in episodes for step in episode]
    arrays = {key: np.stack([s[key] for s in steps]) for key in keep}
    arrays["action"] = np.asarray([s["action"] for s in steps], np.float32 if continuous else np.int64)
    arrays["reward"] = np.asarray([s["reward"] for s in steps], np.float32)
    arrays["terminated"] = np.asarray([s["terminated"] for s in steps], bool)
    arrays["truncated"] = np.asarray([s["truncated"] for s in steps], bool)
    arrays["episode"] = np.repeat(np.arange(len(episodes)), [len(ep) for ep in episodes]).astype(np.int64)
    if "rays" in arrays:
        arrays["rays"] = arrays["rays"].astype(np.float32)
    return arrays
