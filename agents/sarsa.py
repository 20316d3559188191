"""SARSA: on-policy temporal-difference control (Rummery & Niranjan 1994; Sutton & Barto, Reinforcement
Learning, 2nd ed., sec. 6.4), with a network over any backbone, learning from the fresh on-policy
rollouts of N envs; and Expected SARSA (van Seijen et al., ADPRL 2009) as an option.

    roll the N envs T steps: a_t = epsilon-greedy(Q(s_t)), step, then a_{t+1} at s_{t+1}     # rollout
    y_t = r_t + gamma * (1 - terminated_t) * Q_target(s_{t+1}, a_{t+1})           (sarsa_target)
     or   r_t + gamma * (1 - terminated_t) * sum_a pi(a|s_{t+1}) Q_target(s_{t+1}, a)  (expected_sarsa_target)
    gradient_steps steps of (Q(s_t, a_t) - y_t)^2 over the rollout, then drop it             # update

Q_target is the network as it acted (copied every target_update_interval updates), so the targets hold
still while the rollout is fitted; the data is never replayed, which keeps the method on-policy. The loss
is the squared error, not DQN's Huber: on-policy data rarely holds the non-greedy action, and its few
large errors must move it (a clipped gradient left CartPole's policy stuck on one action).

SARSA and Q-learning (`agents.q_learning`) differ in one line, the target: SARSA bootstraps from the action
its policy actually takes next (on-policy), Q-learning from the best one (max). With next-step autoreset the
action drawn at an episode's final observation is the a' of its last transition; the env ignores it.

    model, history = train(SarsaConfig(env_id="CartPole-v1", total_timesteps=100_000))
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.a2c import annealed_lr
from agents.envs import make_train_env, obs_to_tensor, stack_obs
from agents.loop import append_step, start_loop
from agents.optim import make_optimizer
from agents.qnet import QNetwork, epsilon_greedy, epsilon_greedy_probs, linear_schedule
from agents.warm_start import announce_warm_start, warm_start
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_non_negative, check_positive_ints, check_unit_interval


@dataclass
class SarsaConfig:
    """Hyper-parameters."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id with Discrete actions"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from (`agents.warm_start`)"""
    num_envs: int = 4
    num_steps: int = 8
    """steps per env between updates"""
    total_timesteps: int = 200_000
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    gamma: float = 0.99
    expected: bool = False
    """Expected SARSA: bootstrap from the policy's mean next value instead of the sampled next action"""
    gradient_steps: int = 4
    """gradient steps on each rollout"""
    target_update_interval: int = 1
    """updates between copies of the target network (1: bootstrap from the network that acted)"""
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.3
    max_grad_norm: float = 10.0
    anneal_lr: bool = False
    """fall linearly from learning_rate towards 0 over the run (a steadier greedy policy at its end)"""
    normalize_observation: bool = False
    """scale observations by their running mean and variance (Gymnasium's NormalizeObservation; vectors only)"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return (Gymnasium's NormalizeReward)"""
    normalize_clip: float = 0.0
    """clip the normalised observations and rewards to [-normalize_clip, normalize_clip] (SB3's VecNormalize:
    10); 0: no clip"""
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_envs", "num_steps", "total_timesteps", "gradient_steps",
                            "target_update_interval")
        check_unit_interval(self, "gamma")
        check_non_negative(self, "normalize_clip")
        if not 0.0 <= self.end_e <= self.start_e <= 1.0:
            raise ValueError(f"need 0 <= end_e <= start_e <= 1, got start_e={self.start_e}, end_e={self.end_e}")


def sarsa_target(rewards: torch.Tensor, next_q_taken: torch.Tensor, terminated: torch.Tensor,
                 gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * Q(s', a'), with a' the action actually taken next; all (B,)."""
    return rewards + gamma * (1.0 - terminated) * next_q_taken


def expected_sarsa_target(rewards: torch.Tensor, next_q: torch.Tensor, next_probs: torch.Tensor,
                          terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * sum_a' pi(a'|s') Q(s', a'); next_q, next_probs (B, n_actions)."""
    return rewards + gamma * (1.0 - terminated) * (next_probs * next_q).sum(-1)


def train(config: SarsaConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[QNetwork, dict[str, list[float]]]:
    """Train a Q-network on-policy; return it and its history. `log` and `resume` as for A2C."""
    torch.manual_seed(config.seed)
    env = make_train_env(config)
    q = QNetwork(env.single_observation_space, env.single_action_space, config.backbone, config.backbone_options)
    if config.init_from and resume is None:
        announce_warm_start(config.init_from, warm_start(q, config, config.init_from))
    target = copy.deepcopy(q)
    optimizer = make_optimizer(config.optimizer, q.parameters(), config.learning_rate)
    rng = np.random.default_rng(config.seed)
    loop, obs = start_loop("sarsa", config, env, q, optimizer, resume, log)
    decay = int(config.exploration_fraction * config.total_timesteps)
    if resume is None:
        with torch.no_grad():
            action = epsilon_greedy(q(obs_to_tensor(obs)), config.start_e, rng)
    else:  # SARSA has already chosen the next action a': it is part of the loop's state
        rng.bit_generator.state = resume["extra"]["rng"]
        action = resume["extra"]["action"].numpy().copy()
        target.load_state_dict(resume["extra"]["target"])
    num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
    for update in range(loop.update + 1, num_updates + 1):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = annealed_lr(config.learning_rate, update, num_updates)
        # rollout: T steps of the epsilon-greedy policy; a_{t+1} is drawn at s_{t+1} before it is taken
        epsilon = linear_schedule(config.start_e, config.end_e, decay, loop.global_step)
        rollout: dict[str, list] = {}
        for _ in range(config.num_steps):
            obs_t = obs_to_tensor(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            valid = loop.step(reward, terminated, truncated, info)
            append_step(rollout, obs=obs_t, action=action, reward=reward, terminated=terminated, valid=valid)
            with torch.no_grad():
                action = epsilon_greedy(q(obs_to_tensor(obs)), epsilon, rng)
        append_step(rollout, obs=obs_to_tensor(obs), action=action)
        # update
        td_loss = _update(q, target, optimizer, rollout, epsilon, config)
        if update % config.target_update_interval == 0:
            target.load_state_dict(q.state_dict())
        # log
        metrics = {"td_loss": td_loss, "epsilon": epsilon, "learning_rate": optimizer.param_groups[0]["lr"]}
        loop.log_update(update, metrics, functools.partial(_extra, target, rng, action))
    env.close()
    return q, loop.history


def _update(q: QNetwork, target: QNetwork, optimizer: torch.optim.Optimizer, rollout: dict[str, list],
            epsilon: float, config: SarsaConfig) -> float:
    """`gradient_steps` steps of the masked squared TD error on a rollout of T steps of N envs; returns the mean
    loss. Row t's next state and action are row t + 1's, the autoreset rows masked out."""
    t_steps, n = len(rollout["reward"]), len(rollout["reward"][0])
    obs = stack_obs(rollout["obs"])  # (T + 1) * N observations
    actions = torch.as_tensor(np.stack(rollout["action"]))  # (T + 1, N)
    as_tensor = lambda key: torch.as_tensor(np.stack(rollout[key]), dtype=torch.float32)  # noqa: E731
    rewards, terminated, valid = (as_tensor(k) for k in ("reward", "terminated", "valid"))  # (T, N) each
    with torch.no_grad():
        next_q = target(obs).view(t_steps + 1, n, -1)[1:]  # (T, N, n_actions): Q_target(s_{t+1}, .)
        if config.expected:
            probs = epsilon_greedy_probs(next_q.flatten(0, 1), epsilon).view_as(next_q)
            y = expected_sarsa_target(rewards, next_q, probs, terminated, config.gamma)
        else:
            taken = next_q.gather(2, actions[1:, :, None]).squeeze(2)  # Q_target(s_{t+1}, a_{t+1})
            y = sarsa_target(rewards, taken, terminated, config.gamma)
    count = valid.sum().clamp(min=1.0)
    losses = []
    for _ in range(config.gradient_steps):
        predicted = q(obs).view(t_steps + 1, n, -1)[:-1].gather(2, actions[:-1, :, None]).squeeze(2)  # (T, N)
        loss = ((predicted - y) ** 2 * valid).sum() / count
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SARSA: the TD loss became {loss.item()}; lower learning_rate "
                                     f"(now {config.learning_rate})")
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(q.parameters(), config.max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def _extra(target: QNetwork, rng: np.random.Generator, action: np.ndarray) -> dict[str, Any]:
    return {"rng": rng.bit_generator.state, "action": torch.from_numpy(action.copy()), "target": target.state_dict()}
