"""Learning agents over the shared backbones, one file each: the value family, Q-learning (`qlearning`, DQN)
and SARSA (`sarsa`), tabular with the "table" backbone; the policy family, REINFORCE (`reinforce`), A2C
(`a2c`), PPO (`ppo`) and A3C (`a3c`, its workers on Ray); and DAgger (`dagger`), which learns from
CarDrive's privileged expert or from a learned teacher (`teacher`). They share only what is not the
algorithm: env construction (`envs`), the networks (`qnet`, `actor_critic`), optimisers (`optim`), the replay
buffer (`replay_buffer`), the loop's bookkeeping (`loop`), warm starts (`warm_start`).

    from agents.a2c import A2CConfig, train
    model, history = train(A2CConfig(env_id="CartPole-v1", total_timesteps=100_000))

`FAMILIES` is the one list of agents the command line, `sandbox eval` and the benchmarks read: a family's
config class, its `train`, how to rebuild its network from a checkpoint, the metrics it logs. A new agent
is one file (its config, `train` built on `agents.loop`) and one `register_family(Family(...))` line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gymnasium import spaces
from torch import nn

from agents import a2c, a3c, dagger, loop, ppo, q_learning, reinforce, sarsa
from agents.actor_critic import ActorCritic
from agents.qnet import QNetwork


@dataclass(frozen=True)
class Family:
    """An agent as the command line, `sandbox eval` and the run log see it."""

    name: str
    """its name on the command line (`sandbox train --agent NAME`) and in its checkpoints"""
    config: type
    """its config dataclass: every field a setting, each with a default"""
    train: Callable[..., tuple[nn.Module, dict[str, list[float]]]]
    """train(config, log=None, resume=None) -> (model, history), its loop built on `agents.loop.start_loop`"""
    make_model: Callable[[Any, spaces.Space, spaces.Space], nn.Module]
    """(config, observation space, action space) -> the network a checkpoint's weights load into"""
    update_steps: Callable[[Any], int]
    """env steps from one update (a logged, checkpointable point of the loop) to the next, given a config"""
    whole_rollouts: bool = False
    """the run's steps are whole rollouts of `update_steps` (a budget between two is rounded down)"""
    metrics: Mapping[str, str] = field(default_factory=dict)
    """what its `train` reports each update (history key) -> its TensorBoard tag, as CleanRL names it"""
    help: str = ""
    """one line for the command line's list of agents"""
    discrete_actions: bool = False
    """it needs Discrete actions (a Q-value per action): a continuous env is refused"""

    @property
    def tags(self) -> dict[str, str]:
        """Every history key the run log writes -> its tag: the loop's own (`agents.loop.TAGS`) and `metrics`."""
        return {**loop.TAGS, **self.metrics}


FAMILIES: dict[str, Family] = {}
"""name -> Family, in the order they were registered"""


def register_family(family: Family, replace: bool = False) -> Family:
    """Add `family` to `FAMILIES` under its name; a name already taken is refused unless `replace`.

    Raises:
        ValueError: `family.name` is registered already (and `replace` is False).
    """
    if family.name in FAMILIES and not replace:
        raise ValueError(f"an agent family named {family.name!r} is registered already; choose another name "
                         "(or pass replace=True)")
    FAMILIES[family.name] = family
    return family


def _actor_critic(config: Any, observation_space: spaces.Space, action_space: spaces.Space) -> ActorCritic:
    return ActorCritic(observation_space, action_space, config.backbone, config.backbone_options,
                       config.share_backbone)  # ortho_init matters only before training


def _q_network(config: Any, observation_space: spaces.Space, action_space: spaces.Space) -> QNetwork:
    return QNetwork(observation_space, action_space, config.backbone, config.backbone_options)


def _rollout(config: Any) -> int:
    return config.num_envs * config.num_steps


_VALUE_METRICS = {"td_loss": "losses/td_loss", "epsilon": "charts/epsilon"}
_POLICY_METRICS = {"policy_loss": "losses/policy_loss", "value_loss": "losses/value_loss", "entropy": "losses/entropy"}

# DQN logs (and can be checkpointed) every LOG_EVERY env steps, whatever its training frequency
register_family(Family("qlearning", q_learning.QLearningConfig, q_learning.train, _q_network,
                       lambda config: q_learning.LOG_EVERY, metrics=_VALUE_METRICS, discrete_actions=True,
                       help="Q-learning (DQN): off-policy TD from a replay buffer; Discrete actions"))
register_family(Family("sarsa", sarsa.SarsaConfig, sarsa.train, _q_network, _rollout, whole_rollouts=True,
                       metrics=_VALUE_METRICS, discrete_actions=True,
                       help="SARSA (or Expected SARSA): on-policy TD from fresh rollouts; Discrete actions"))
register_family(Family("a2c", a2c.A2CConfig, a2c.train, _actor_critic, _rollout, whole_rollouts=True,
                       metrics=_POLICY_METRICS, help="A2C: synchronous advantage actor-critic with GAE"))
# REINFORCE updates once batch_size steps of *finished* episodes are in: at least that many env steps
register_family(Family("reinforce", reinforce.ReinforceConfig, reinforce.train, _actor_critic,
                       lambda config: config.batch_size, metrics=_POLICY_METRICS,
                       help="REINFORCE: Monte-Carlo policy gradient, with a learned baseline"))
register_family(Family("ppo", ppo.PPOConfig, ppo.train, _actor_critic, _rollout, whole_rollouts=True,
                       metrics={**_POLICY_METRICS, "approx_kl": "losses/approx_kl", "clipfrac": "losses/clipfrac",
                                "explained_variance": "losses/explained_variance",
                                "learning_rate": "charts/learning_rate", "kickstart_kl": "losses/kickstart_kl",
                                "kickstart_coef": "charts/kickstart_coef", "aux_loss": "losses/aux_loss"},
                       help="PPO: clipped surrogate, GAE, minibatch epochs over each rollout"))
register_family(Family("a3c", a3c.A3CConfig, a3c.train, _actor_critic, _rollout, whole_rollouts=True,
                       metrics={**_POLICY_METRICS, "staleness": "charts/staleness", "workers": "charts/workers"},
                       help="A3C: asynchronous advantage actor-critic on --workers N Ray actors (needs Ray)"))
register_family(Family("dagger", dagger.DAggerConfig, dagger.train, _actor_critic, _rollout, whole_rollouts=True,
                       metrics={"loss": "losses/imitation_loss", "aux_loss": "losses/aux_loss",
                                "agreement": "charts/agreement", "beta": "charts/beta",
                                "dataset_size": "charts/dataset_size", "learning_rate": "charts/learning_rate"},
                       help="DAgger: a student of the privileged expert on the states it visits; CarDrive only"))
