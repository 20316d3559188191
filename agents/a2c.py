"""A2C: synchronous advantage actor-critic over N envs (Mnih et al., "Asynchronous Methods for Deep
Reinforcement Learning", ICML 2016, made synchronous as in OpenAI Baselines), with GAE (Schulman et al.,
"High-Dimensional Continuous Control Using Generalized Advantage Estimation", ICLR 2016).

    for each update:
        roll the N envs num_steps steps with a ~ pi(.|s)                     # rollout
        A_t = sum_k (gamma * lambda)^k delta_{t+k},  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)   (gae)
        loss = -mean(A_t log pi(a_t|s_t)) + vf_coef mean((A_t + V_old - V(s_t))^2) - ent_coef mean(H)
        one gradient step, the gradient's norm clipped to max_grad_norm      # update

Next-step autoreset: the step after an episode ends restarts that env and is no transition, so its row is
masked out of the loss; a terminated episode bootstraps from 0, a truncated one from V(final observation).
gae_lambda = 1 gives the n-step returns of the original A2C.

    model, history = train(A2CConfig(env_id="CartPole-v1", total_timesteps=100_000))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.actor_critic import ActorCritic, Memory, State, select_rows, setup_actor_critic
from agents.envs import map_obs, obs_to_tensor, stack_obs
from agents.loop import append_step, start_loop
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_non_negative, check_positive_ints, check_unit_interval


@dataclass
class A2CConfig:
    """Hyper-parameters, named as CleanRL and SB3 name them."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id; CarDrive runs through its native vector env"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal", "obs": "pixels"}"""
    backbone: str = "mlp"
    """any `sandbox.backbones.make_backbone` spec"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    """options of the backbone's config, e.g. {"widths": (64, 64)}"""
    share_backbone: bool = False
    """one backbone under the policy and value heads (cheaper on pixels) instead of one each"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers, as SB3 and CleanRL start an actor-critic"""
    log_std_init: float = 0.0
    """Box actions: the Gaussian's initial log standard deviation (SB3's `log_std_init`): 0 is a std of 1, which
    on actions in [-1, 1] drowns a policy started from a student (`init_from`); -1 (std 0.37) keeps near it"""
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from (`agents.warm_start`)"""
    num_envs: int = 128
    """envs stepped together"""
    num_steps: int = 16
    """steps per env between updates"""
    total_timesteps: int = 500_000
    """env steps of the whole run (num_envs per batch step)"""
    learning_rate: float = 7e-4
    optimizer: str = "adam"
    """adam, rmsprop or sgd"""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = False
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the run (as the A3C paper does): a steadier final policy"""
    normalize_observation: bool = False
    """scale observations by their running mean and variance (Gymnasium's NormalizeObservation; vectors only)"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return (Gymnasium's NormalizeReward)"""
    normalize_clip: float = 0.0
    """clip the normalised observations and rewards to [-normalize_clip, normalize_clip] (SB3's VecNormalize:
    10); 0: no clip"""
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_envs", "num_steps", "total_timesteps")
        check_unit_interval(self, "gamma", "gae_lambda")
        check_non_negative(self, "ent_coef", "vf_coef", "max_grad_norm", "normalize_clip")


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
        dones: torch.Tensor, gamma: float, gae_lambda: float) -> torch.Tensor:
    """Generalised advantage estimates (T, N) of a rollout of T steps of N envs.

    next_values[t] is V of the observation step t returned (the final observation when step t ended the
    episode); terminated[t] stops the bootstrap (a truncated step keeps it); dones[t] (terminated or
    truncated) stops the sum from reaching into the next episode:
        delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * gae_lambda * (1.0 - dones[t]) * running
        advantages[t] = running
    return advantages


def annealed_lr(learning_rate: float, update: int, num_updates: int) -> float:
    """The learning rate of update `update` (1-based) of `num_updates`, falling linearly from `learning_rate`
    at the first update to learning_rate / num_updates at the last."""
    return learning_rate * (1.0 - (update - 1.0) / num_updates)


def train(config: A2CConfig, log: Hook | None = None, resume: dict[str, Any] | None = None,
          env_wrapper: Callable[[Any], Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train an actor-critic; return it and the history of per-update metrics.

    `log`, if given, is called after every update with a dict: `global_step`, `update`, the metrics of
    `history` for this update, `env` and `model` (a viewer draws the env, a logger writes the numbers) and
    `state`, a function returning everything needed to continue the run (a checkpoint's payload).
    `resume` is such a payload: the run continues from it, on CarDrive exactly as if never stopped.
    `env_wrapper`, if given, wraps the vector env (e.g. GAIL's, which replaces the reward by a discriminator's).
    """
    env, model, optimizer = setup_actor_critic(config, "A2C", env_wrapper, fresh=resume is None)
    loop, obs = start_loop("a2c", config, env, model, optimizer, resume, log)
    memory = Memory.start(model, env.num_envs, resume)  # a recurrent model's state per env (() if feed-forward)
    num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
    for update in range(loop.update + 1, num_updates + 1):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = annealed_lr(config.learning_rate, update, num_updates)
        # rollout
        rollout: dict[str, list] = {}
        first_state = memory.state
        for _ in range(config.num_steps):
            obs_t = obs_to_tensor(obs)
            with torch.no_grad():
                dist, _, memory.state = model.step(obs_t, memory.state, memory.start)
                action = dist.sample()
            obs, reward, terminated, truncated, info = env.step(model.to_env(action))
            valid = loop.step(reward, terminated, truncated, info)
            append_step(rollout, obs=obs_t, action=action, reward=reward, terminated=terminated,
                        done=terminated | truncated, valid=valid, start=memory.start)
            memory.after_step(valid)
        rollout["start"].append(memory.start)  # the last observation's, which only bootstraps
        # update
        metrics = _update(model, optimizer, rollout, obs_to_tensor(obs), first_state, config, update)
        # log
        loop.log_update(update, metrics, memory.payload)
    env.close()
    return model, loop.history


def _update(model: ActorCritic, optimizer: torch.optim.Optimizer, rollout: dict[str, list], last_obs,
            first_state: State, config: A2CConfig, update: int) -> dict[str, float]:
    """One gradient step on a rollout of T steps of N envs; returns the losses."""
    loss, metrics = rollout_loss(model, rollout, last_obs, first_state, config, update)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    return metrics


def rollout_loss(model: ActorCritic, rollout: dict[str, list], last_obs, first_state: State, config: Any,
                 update: int, agent: str = "A2C") -> tuple[torch.Tensor, dict[str, float]]:
    """The actor-critic loss of a rollout of T steps of N envs (a recurrent model replays it in time order from
    `first_state`, back-propagating through all of it) and its parts; A3C's workers compute the same loss.

    Raises:
        FloatingPointError: the loss is not finite (the message names `agent` and the settings to lower).
    """
    t_steps, n = len(rollout["reward"]), len(rollout["reward"][0])
    batch = stack_obs(rollout["obs"] + [last_obs])  # (T + 1) * N observations, one forward
    if model.recurrent:
        batch = map_obs(batch, lambda x: x.view(t_steps + 1, n, *x.shape[1:]))  # ((T + 1) * N, ...) -> (T + 1, N, ...)
        dist, values = model.sequence(batch, first_state, torch.stack(rollout["start"]))
    else:
        dist, values = model(batch)
    values = values.view(t_steps + 1, n)  # (T + 1, N)
    as_tensor = lambda key: torch.as_tensor(np.stack(rollout[key]), dtype=torch.float32)  # noqa: E731
    rewards, terminated, dones, valid = (as_tensor(k) for k in ("reward", "terminated", "done", "valid"))
    advantages = gae(rewards, values[:-1].detach(), values[1:].detach(), terminated, dones, config.gamma,
                     config.gae_lambda)
    returns = advantages + values[:-1].detach()
    if config.normalize_advantage:
        advantages = (advantages - advantages[valid > 0].mean()) / (advantages[valid > 0].std() + 1e-8)
    actions = torch.stack(rollout["action"]).flatten(0, 1)  # (T * N, ...)
    rows = slice(0, t_steps * n)  # the last observation only bootstraps
    policy_dist = select_rows(dist, rows)
    log_prob = model.log_prob(policy_dist, actions).view(t_steps, n)
    entropy = model.entropy(policy_dist).view(t_steps, n)
    count = valid.sum().clamp(min=1.0)
    policy_loss = -(advantages * log_prob * valid).sum() / count
    value_loss = ((returns - values[:-1]) ** 2 * valid).sum() / count
    entropy_mean = (entropy * valid).sum() / count
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy_mean
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{agent}: the loss became {loss.item()} at update {update}; lower learning_rate "
                                 f"(now {config.learning_rate}) or max_grad_norm (now {config.max_grad_norm})")
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_mean.item()}

