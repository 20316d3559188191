"""Observation and reward normalisation for any family, through Gymnasium's own vector wrappers.

    env = normalized(env, observation=True, reward=True, gamma=0.99)   # NormalizeObservation, NormalizeReward
    env = normalized(env, True, True, 0.99, clip=10.0)  # both clipped to [-10, 10], as SB3's VecNormalize
    state = normalizer_state(env)            # into the checkpoint: the running statistics, exactly
    load_normalizer_state(env, state)        # a resumed run goes on with them
    act = frozen_observations(state)         # where a trained driver acts again (eval, replay, watch, collect)

Observations: each feature is centred and scaled by its running mean and variance, (obs - mean) /
sqrt(var + eps) (what SB3's `VecNormalize` and Gymnasium's `NormalizeObservation` do). Rewards: scaled by the
standard deviation of the running discounted return, r / sqrt(var(G) + eps) (Gymnasium's `NormalizeReward`,
which skips the next-step-autoreset step as this project's loops do). The statistics are Gymnasium's
`RunningMeanStd` (the parallel algorithm of Chan et al.), kept in float64. With `clip` > 0 both are clipped to
[-clip, clip] (SB3's `VecNormalize` clips at 10 by default, CleanRL's continuous PPO too): a feature that seldom
moves (LunarLander's leg contacts) otherwise reaches the network at hundreds of standard deviations the first
times it does. The clip travels with the statistics, so a trained driver sees the same clipped inputs.

A3C's workers share one copy of the statistics: each worker's wrappers keep the moments of what they saw
(`share_statistics`, `take_fresh_moments`), the learner merges them (`merge_moments`) and sends its
`normalizer_state` with the weights (`set_statistics`).

The wrappers sit on the native `CarDriveVectorEnv`; what needs the world itself (its state for an exact resume,
the viewer's drawing) reads `env.unwrapped`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.wrappers.utils import RunningMeanStd
from gymnasium.wrappers.vector import NormalizeObservation, NormalizeReward

EPSILON = 1e-8  # Gymnasium's default, in both wrappers
RAW_REWARD = "raw_reward"  # the info key of the unscaled reward under reward normalisation


def check_normalizable(observation_space: spaces.Space, where: str) -> None:
    """Observation normalisation is for vectors: images are scaled by the CNN, and a Dict has no one shape."""
    if not isinstance(observation_space, spaces.Box) or observation_space.dtype == np.uint8:
        raise ValueError(f"{where}: normalize_observation needs a vector (Box) observation, not "
                         f"{observation_space}; images are scaled by the CNN backbone")


def normalized(env: Any, observation: bool, reward: bool, gamma: float, clip: float = 0.0) -> Any:
    """`env` wrapped by Gymnasium's NormalizeObservation and / or NormalizeReward (as asked), their outputs
    clipped to [-clip, clip] when `clip` > 0."""
    if not clip >= 0:
        raise ValueError(f"normalize_clip must be >= 0 (0: no clip), got {clip!r}")
    if observation:
        check_normalizable(env.single_observation_space, "normalize_observation")
        env = ClippedNormalizeObservation(env, clip)
    if reward:
        env = RawRewardNormalizeReward(env, gamma, clip)
    return env


class ClippedNormalizeObservation(NormalizeObservation):
    """Gymnasium's NormalizeObservation, its output clipped to [-clip, clip] when `clip` > 0."""

    def __init__(self, env: Any, clip: float = 0.0) -> None:
        super().__init__(env, epsilon=EPSILON)
        self.clip = float(clip)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return _clipped(super().observations(observations), self.clip)


class RawRewardNormalizeReward(NormalizeReward):
    """Gymnasium's NormalizeReward that also hands on the reward it scaled, as `info["raw_reward"]`: the
    episode returns a run reports are the env's own, not the scaled ones the learner trains on. With `clip` > 0
    the scaled reward is clipped to [-clip, clip]."""

    def __init__(self, env: Any, gamma: float, clip: float = 0.0) -> None:
        super().__init__(env, gamma=gamma, epsilon=EPSILON)
        self.clip = float(clip)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        scaled = super().step(actions)
        raw = scaled[1] * np.sqrt(self.return_rms.var + self.epsilon)
        return (scaled[0], _clipped(scaled[1], self.clip), *scaled[2:4], {**scaled[4], RAW_REWARD: raw})


def _clipped(values: np.ndarray, clip: float) -> np.ndarray:
    return np.clip(values, -clip, clip) if clip > 0 else values


def _wrappers(env: Any) -> dict[str, Any]:
    found = {}
    while hasattr(env, "env"):  # the chain of vector wrappers down to the native env
        if isinstance(env, NormalizeObservation):
            found["observation"] = env
        elif isinstance(env, NormalizeReward):
            found["reward"] = env
        env = env.env
    return found


def normalizer_state(env: Any) -> dict[str, Any]:
    """The running statistics of `env`'s normalisation wrappers ({} when it has none), as plain arrays."""
    found, state = _wrappers(env), {}
    if "observation" in found:
        rms = found["observation"].obs_rms
        state["observation"] = {"mean": rms.mean.copy(), "var": rms.var.copy(), "count": float(rms.count),
                                "clip": float(getattr(found["observation"], "clip", 0.0))}
    if "reward" in found:
        wrapper = found["reward"]
        rms = wrapper.return_rms
        state["reward"] = {"mean": np.array(rms.mean), "var": np.array(rms.var),
                           "count": float(rms.count), "accumulated": wrapper.accumulated_reward.copy(),
                           "prev_dones": wrapper._prev_dones.copy()}
    return state


def load_normalizer_state(env: Any, state: dict[str, Any]) -> None:
    """Put back what `normalizer_state` saved (a resumed run goes on with the same statistics)."""
    found = _wrappers(env)
    if "observation" in state:
        rms, saved = found["observation"].obs_rms, state["observation"]
        rms.mean, rms.var, rms.count = np.array(saved["mean"]), np.array(saved["var"]), float(saved["count"])
    if "reward" in state:
        wrapper, saved = found["reward"], state["reward"]
        rms = wrapper.return_rms
        rms.mean, rms.var, rms.count = np.array(saved["mean"]), np.array(saved["var"]), float(saved["count"])
        wrapper.accumulated_reward = np.array(saved["accumulated"])
        wrapper._prev_dones = np.array(saved["prev_dones"])


def beneath(env: Any) -> Any:
    """`env` without its normalisation wrappers (what holds the envs' state: the native env, or another
    wrapper with a `state_dict` of its own, such as GAIL's reward)."""
    while isinstance(env, (NormalizeObservation, NormalizeReward)):
        env = env.env
    return env


@contextmanager
def frozen(env: Any) -> Iterator[Any]:
    """Within the block the wrappers normalise with their statistics as they stand, without updating them."""
    found = list(_wrappers(env).values())
    before = [wrapper.update_running_mean for wrapper in found]
    for wrapper in found:
        wrapper.update_running_mean = False
    try:
        yield env
    finally:
        for wrapper, setting in zip(found, before, strict=True):
            wrapper.update_running_mean = setting


def normalize_now(env: Any, obs: np.ndarray) -> np.ndarray:
    """`obs` (straight from the native env, e.g. after its state was restored) as the wrapper would hand it on,
    without updating the statistics."""
    wrapper = _wrappers(env).get("observation")
    if wrapper is None:
        return obs
    return scale(obs, wrapper.obs_rms.mean, wrapper.obs_rms.var, getattr(wrapper, "clip", 0.0))


def unnormalize_now(env: Any, obs: np.ndarray) -> np.ndarray:
    """The observations the wrapper just handed on, `obs`, as the native env gave them (the wrapper's scaling
    undone with its statistics as they stand: call it straight after the step or reset that returned `obs`);
    `obs` itself without an observation wrapper. An off-policy learner keeps these in its replay buffer and
    scales them when it samples, so old rows are seen through today's statistics (as SB3's VecNormalize with a
    replay buffer does), not through those of the step that stored them."""
    wrapper = _wrappers(env).get("observation")
    if wrapper is None:
        return obs
    if getattr(wrapper, "clip", 0.0) > 0:
        raise ValueError("clipped observations cannot be unscaled exactly: normalize_clip must be 0 here")
    return obs * np.sqrt(wrapper.obs_rms.var + EPSILON) + wrapper.obs_rms.mean


def scale(obs: np.ndarray, mean: np.ndarray, var: np.ndarray, clip: float = 0.0) -> np.ndarray:
    """(obs - mean) / sqrt(var + eps), clipped to [-clip, clip] when clip > 0: Gymnasium's NormalizeObservation,
    frozen (the same arithmetic, in the statistics' own dtype, so a driver sees at evaluation exactly what it
    saw in training)."""
    return _clipped((obs - mean) / np.sqrt(var + EPSILON), clip)


def frozen_observations(state: dict[str, Any] | None) -> Callable[[np.ndarray], np.ndarray]:
    """The observation normalisation a checkpoint's statistics give (identity when it has none)."""
    if not state or "observation" not in state:
        return lambda obs: obs
    mean, var = np.asarray(state["observation"]["mean"]), np.asarray(state["observation"]["var"])
    clip = float(state["observation"].get("clip", 0.0))  # a checkpoint from before the clip: none
    return lambda obs: scale(obs, mean, var, clip)


# -- statistics shared across processes (A3C: each worker's envs normalise, the learner keeps the one copy) --
KINDS = {"observation": "obs_rms", "reward": "return_rms"}  # each wrapper's RunningMeanStd attribute


class SharedRunningMeanStd(RunningMeanStd):
    """Gymnasium's running statistics (`like`'s, in its dtype) that also keep the moments of what updated them
    since the last `take_fresh_moments`: a worker's wrappers normalise as Gymnasium's do, and the worker sends
    the learner only what it saw."""

    def __init__(self, like: RunningMeanStd) -> None:
        super().__init__(shape=like.mean.shape, dtype=like.mean.dtype)
        self.mean, self.var, self.count = like.mean, like.var, like.count
        self.fresh = RunningMeanStd(epsilon=0.0, shape=like.mean.shape, dtype=like.mean.dtype)

    def update(self, x: np.ndarray) -> None:
        super().update(x)
        self.fresh.update(x)


def _running(env: Any) -> dict[str, tuple[Any, str]]:
    """kind -> (the wrapper, the name of its RunningMeanStd), for the normalisations `env` wears."""
    return {kind: (wrapper, KINDS[kind]) for kind, wrapper in _wrappers(env).items()}


def share_statistics(env: Any) -> None:
    """Make `env`'s normalisation wrappers keep the moments of what they see (a worker's envs)."""
    for wrapper, name in _running(env).values():
        setattr(wrapper, name, SharedRunningMeanStd(getattr(wrapper, name)))


def set_statistics(env: Any, state: dict[str, Any]) -> None:
    """Put the running statistics of a `normalizer_state` (the learner's) into `env`'s wrappers: a worker starts
    each rollout from them. Unlike `load_normalizer_state` it leaves the worker's own return accumulators and the
    moments it has not sent yet; each statistic keeps its dtype."""
    for kind, (wrapper, name) in _running(env).items():
        rms, saved = getattr(wrapper, name), state[kind]
        rms.mean, rms.var = np.array(saved["mean"], rms.mean.dtype), np.array(saved["var"], rms.var.dtype)
        rms.count = float(saved["count"])


def take_fresh_moments(env: Any) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """kind -> (mean, var, count) of what a worker's wrappers saw since the last call (count 0: nothing)."""
    out = {}
    for kind, (wrapper, name) in _running(env).items():
        rms = getattr(wrapper, name)
        out[kind] = (np.array(rms.fresh.mean), np.array(rms.fresh.var), float(rms.fresh.count))
        rms.fresh = RunningMeanStd(epsilon=0.0, shape=rms.mean.shape, dtype=rms.mean.dtype)
    return out


def merge_moments(env: Any, moments: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> None:
    """Fold a worker's fresh moments into `env`'s statistics (Chan et al.'s parallel update, as Gymnasium's own
    step does), in the statistics' dtype."""
    for kind, (wrapper, name) in _running(env).items():
        mean, var, count = moments[kind]
        if count > 0:
            rms = getattr(wrapper, name)
            dtype = rms.mean.dtype
            rms.update_from_moments(mean, var, count)
            rms.mean, rms.var = np.asarray(rms.mean, dtype), np.asarray(rms.var, dtype)


def clear_statistics(env: Any) -> None:
    """`env`'s running statistics back to Gymnasium's start (a learner whose envs never step for its data)."""
    for wrapper, name in _running(env).values():
        rms = getattr(wrapper, name)
        setattr(wrapper, name, RunningMeanStd(shape=rms.mean.shape, dtype=rms.mean.dtype))
