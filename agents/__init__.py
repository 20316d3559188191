"""Learning agents over the shared backbones: the value family (Q-learning, SARSA; tabular with the
"table" backbone) and the policy family (REINFORCE, A2C), one file each, sharing only what is not the
algorithm (env construction, the networks, optimisers, buffers, the loop's state).

    from agents.a2c import A2CConfig, train
    model, history = train(A2CConfig(env_id="CartPole-v1", total_timesteps=100_000))

`FAMILIES` names each agent for the command line: its config class, its `train`, and how to rebuild its
network from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gymnasium import spaces
from torch import nn

from agents import a2c, q_learning, reinforce, sarsa
from agents.actor_critic import ActorCritic
from agents.qnet import QNetwork


@dataclass(frozen=True)
class Family:
    """An agent as the command line and `sandbox eval` see it."""

    name: str
    config: type
    train: Callable[..., Any]
    make_model: Callable[[Any, spaces.Space, spaces.Space], nn.Module]
    update_steps: Callable[[Any], int]
    """env steps from one update (a logged, checkpointable point of the loop) to the next, given a config"""
    whole_rollouts: bool = False
    """the run's steps are whole rollouts of `update_steps` (a budget between two is rounded down)"""


def _actor_critic(config: Any, observation_space: spaces.Space, action_space: spaces.Space) -> ActorCritic:
    return ActorCritic(observation_space, action_space, config.backbone, config.backbone_options,
                       config.share_backbone)


def _q_network(config: Any, observation_space: spaces.Space, action_space: spaces.Space) -> QNetwork:
    return QNetwork(observation_space, action_space, config.backbone, config.backbone_options)


def _rollout(config: Any) -> int:
    return config.num_envs * config.num_steps


FAMILIES = {
    # DQN logs (and can be checkpointed) every LOG_EVERY env steps, whatever its training frequency
    "qlearning": Family("qlearning", q_learning.QLearningConfig, q_learning.train, _q_network,
                        lambda config: q_learning.LOG_EVERY),
    "sarsa": Family("sarsa", sarsa.SarsaConfig, sarsa.train, _q_network, _rollout, whole_rollouts=True),
    "a2c": Family("a2c", a2c.A2CConfig, a2c.train, _actor_critic, _rollout, whole_rollouts=True),
    # REINFORCE updates once batch_size steps of *finished* episodes are in: at least that many env steps
    "reinforce": Family("reinforce", reinforce.ReinforceConfig, reinforce.train, _actor_critic,
                        lambda config: config.batch_size),
}
