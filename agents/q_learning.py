"""Q-learning with a deep network: DQN (Mnih et al., "Human-level control through deep reinforcement
learning", Nature 2015), over N envs, on any backbone.

    act epsilon-greedily on Q; store (s, a, r, s', terminated) in a replay buffer         # rollout
    every train_frequency batch steps, on a sampled batch:
        y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')                         (td_target)
          (double_q: y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a')); van Hasselt et al.,
           "Deep Reinforcement Learning with Double Q-learning", AAAI 2016: the max no longer overestimates)
        loss = huber(Q(s, a) - y)                                                           # update
    every target_network_frequency env steps: Q_target <- tau * Q + (1 - tau) * Q_target

Q-learning and SARSA (`agents.sarsa`) differ in one line, the target: Q-learning bootstraps from the best
next action (off-policy, max), SARSA from the action its policy actually takes next. A truncated episode
bootstraps; only `terminated` stops it. Under `normalize_observation` the buffer holds the env's own
observations and scales them as it samples, with the running statistics as they stand then: rows stored scaled
would each keep the statistics of the step that stored them, and drift from those the network now sees.

    model, history = train(QLearningConfig(env_id="CartPole-v1", total_timesteps=100_000))
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.envs import make_train_env, obs_to_tensor
from agents.loop import start_loop
from agents.optim import make_optimizer
from agents.qnet import QNetwork, epsilon_greedy, linear_schedule
from agents.replay_buffer import ReplayBuffer
from agents.warm_start import announce_warm_start, warm_start
from agents.weight_average import polyak_update
from sandbox.runs.checkpoints import to_numpy, to_tensors
from sandbox.runs.hooks import Hook
from sandbox.runs.normalize import normalize_now, unnormalize_now
from sandbox.runs.validate import check_positive_ints, check_unit_interval

LOG_EVERY = 1_000
"""env steps between two logged updates (each batch step would be too often for N = 1)"""


@dataclass
class QLearningConfig:
    """Hyper-parameters, named as CleanRL's dqn.py names them."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id with Discrete actions"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from (`agents.warm_start`)"""
    num_envs: int = 8
    total_timesteps: int = 200_000
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    buffer_size: int = 100_000
    batch_size: int = 128
    gamma: float = 0.99
    tau: float = 1.0
    """target network update rate (1 = copy)"""
    target_network_frequency: int = 500
    """env steps between target updates"""
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.3
    """fraction of total_timesteps over which epsilon falls from start_e to end_e"""
    learning_starts: int = 1_000
    """env steps of random play before learning"""
    train_frequency: int = 1
    """batch steps between gradient steps"""
    gradient_steps: int = 1
    max_grad_norm: float = 10.0
    double_q: bool = False
    """Double DQN's target (van Hasselt et al. 2016): the online network picks a', the target network values it"""
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the run: late updates stop swinging the greedy policy"""
    normalize_observation: bool = False
    """scale observations by their running mean and variance (Gymnasium's NormalizeObservation; vectors only)"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return (Gymnasium's NormalizeReward)"""
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_envs", "total_timesteps", "buffer_size", "batch_size", "train_frequency",
                            "gradient_steps", "target_network_frequency")
        check_unit_interval(self, "gamma", "tau")
        if not 0.0 <= self.end_e <= self.start_e <= 1.0:
            raise ValueError(f"need 0 <= end_e <= start_e <= 1, got start_e={self.start_e}, end_e={self.end_e}")


def td_target(rewards: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a'); next_q (B, n_actions)."""
    return rewards + gamma * (1.0 - terminated) * next_q.max(-1).values


def double_td_target(rewards: torch.Tensor, next_q_target: torch.Tensor, next_q_online: torch.Tensor,
                     terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """Double DQN: y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a')); both (B, n_actions).
    The online network picks the action, the target network values it."""
    best = next_q_online.argmax(-1, keepdim=True)  # (B, 1)
    return rewards + gamma * (1.0 - terminated) * next_q_target.gather(-1, best).squeeze(-1)


def train(config: QLearningConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[QNetwork, dict[str, list[float]]]:
    """Train a Q-network; return it and its history. `log` and `resume` as for A2C (`agents.a2c.train`)."""
    torch.manual_seed(config.seed)
    env = make_train_env(config)
    q = QNetwork(env.single_observation_space, env.single_action_space, config.backbone, config.backbone_options)
    if config.init_from and resume is None:
        announce_warm_start(config.init_from, warm_start(q, config, config.init_from))
    target = copy.deepcopy(q)
    optimizer = make_optimizer(config.optimizer, q.parameters(), config.learning_rate)
    rng = np.random.default_rng(config.seed)
    buffer = ReplayBuffer(min(config.buffer_size, config.total_timesteps), env.single_observation_space)
    loop, obs = start_loop("qlearning", config, env, q, optimizer, resume, log)
    if resume is not None:
        _restore_extra(resume["extra"], target, rng, buffer, config.normalize_observation)
    n, losses = config.num_envs, []
    # under observation normalisation the buffer holds the env's own observations, scaled when sampled
    raw_obs = unnormalize_now(env, obs)
    scaled = functools.partial(normalize_now, env) if config.normalize_observation else None
    while loop.global_step < config.total_timesteps:
        # rollout
        epsilon = linear_schedule(config.start_e, config.end_e,
                                  int(config.exploration_fraction * config.total_timesteps), loop.global_step)
        with torch.no_grad():
            action = epsilon_greedy(q(obs_to_tensor(obs)), epsilon, rng)
        if loop.global_step < config.learning_starts:
            action = rng.integers(0, q.n_actions, n)
        next_obs, reward, terminated, truncated, info = env.step(action)
        valid = loop.step(reward, terminated, truncated, info)
        raw_next_obs = unnormalize_now(env, next_obs)
        buffer.add(raw_obs, action, reward, raw_next_obs, terminated, valid)
        obs, raw_obs, global_step = next_obs, raw_next_obs, loop.global_step
        # update
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - global_step / config.total_timesteps)
        if global_step > config.learning_starts and (global_step // n) % config.train_frequency == 0:
            for _ in range(config.gradient_steps):
                losses.append(_update(q, target, optimizer, buffer.sample(config.batch_size, rng, scaled), config))
        if global_step // config.target_network_frequency > (global_step - n) // config.target_network_frequency:
            polyak_update(target.parameters(), q.parameters(), config.tau)
        # log, every LOG_EVERY env steps
        if (global_step // LOG_EVERY) > ((global_step - n) // LOG_EVERY):
            td_loss = float(np.mean(losses)) if losses else float("nan")  # nan: still exploring
            loop.log_update(loop.update + 1, {"td_loss": td_loss, "epsilon": epsilon},
                            functools.partial(_extra, target, rng, buffer))
            losses = []
    env.close()
    return q, loop.history


def _update(q: QNetwork, target: QNetwork, optimizer: torch.optim.Optimizer, batch: dict,
            config: QLearningConfig) -> float:
    """One gradient step of the Huber TD loss on a sampled batch; returns the loss."""
    with torch.no_grad():
        if config.double_q:
            y = double_td_target(batch["reward"], target(batch["next_obs"]), q(batch["next_obs"]),
                                 batch["terminated"], config.gamma)
        else:
            y = td_target(batch["reward"], target(batch["next_obs"]), batch["terminated"], config.gamma)
    predicted = q(batch["obs"]).gather(1, batch["action"][:, None]).squeeze(1)
    loss = torch.nn.functional.smooth_l1_loss(predicted, y)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"Q-learning: the TD loss became {loss.item()}; lower learning_rate "
                                 f"(now {config.learning_rate})")
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(q.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()


BUFFER_HOLDS = "env"
"""what a checkpoint's buffer rows are: the env's own observations (since 2026-12-03; before, under
observation normalisation, each row was stored scaled by the statistics of its own step)"""


def _extra(target: QNetwork, rng: np.random.Generator, buffer: ReplayBuffer) -> dict[str, Any]:
    return {"target": target.state_dict(), "rng": rng.bit_generator.state, "buffer": to_tensors(buffer.state_dict()),
            "buffer_holds": BUFFER_HOLDS}


def _restore_extra(extra: dict[str, Any], target: QNetwork, rng: np.random.Generator, buffer: ReplayBuffer,
                   normalize_observation: bool) -> None:
    if normalize_observation and extra.get("buffer_holds") != BUFFER_HOLDS:
        # rows scaled by statistics long gone cannot be unscaled exactly; scaled again they would mislead the update
        raise ValueError("this DQN checkpoint's replay buffer holds observations scaled by the normaliser of their "
                         "own step (written before 2026-12-03); this version keeps the env's own observations and "
                         "cannot convert it: start the run again")
    target.load_state_dict(extra["target"])
    rng.bit_generator.state = extra["rng"]
    buffer.load_state_dict(to_numpy(extra["buffer"]))
