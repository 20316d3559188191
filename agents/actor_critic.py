"""Actor-critic networks: a backbone from `sandbox.backbones` with a policy head and a value head on top.

    features = backbone(obs)                      # (B, out_dim)
    Discrete(n):  logits = W_pi features          # a categorical policy
    Box(d):       mean = W_pi features, std = exp(log_std)   # a diagonal Gaussian, log_std learned
    value = W_v features                          # (B,)

The policy and the value read separate backbones of the same spec, as SB3 and CleanRL build them: a shared
one lets the value loss (returns of tens to hundreds) swamp the policy's gradient under one clipped norm.
`share_backbone=True` shares it (one forward a step; the usual choice for CNNs on pixels).

Gaussian actions are sampled unbounded and clipped to the action space only when sent to the env, so the
log-probability is that of the action the policy drew. `setup_actor_critic` seeds a policy agent's run and
builds its envs, its actor-critic and the optimiser (REINFORCE and A2C start so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from agents.envs import make_train_env
from agents.optim import make_optimizer
from sandbox.backbones import make_backbone


def check_action_space(action_space: spaces.Space, agent: str, alternatives: str) -> None:
    """Raise a ValueError naming the agent and the alternatives unless the space is Discrete or a 1-D Box."""
    if isinstance(action_space, spaces.Discrete) or (
        isinstance(action_space, spaces.Box) and len(action_space.shape) == 1
    ):
        return
    raise ValueError(f"{agent} handles Discrete or 1-D Box actions, not {action_space}; {alternatives}")


class ActorCritic(nn.Module):
    """Policy and value over one backbone.

    Args:
        observation_space: one env's observation space.
        action_space: one env's action space, Discrete or a 1-D Box.
        backbone: any `make_backbone` spec ("mlp", "cnn", "attention", a plug-in).
        backbone_options: options for the backbone's config.
        share_backbone: one backbone under both heads instead of one each.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, backbone: str = "mlp",
                 backbone_options: dict[str, Any] | None = None, share_backbone: bool = False):
        super().__init__()
        self.backbone = make_backbone(backbone, observation_space, **(backbone_options or {}))
        self.critic_backbone = self.backbone if share_backbone else make_backbone(
            backbone, observation_space, **(backbone_options or {}))
        self.shared = share_backbone
        self.discrete = isinstance(action_space, spaces.Discrete)
        n_out = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = nn.Linear(self.backbone.out_dim, n_out)
        self.v = nn.Linear(self.critic_backbone.out_dim, 1)
        nn.init.orthogonal_(self.pi.weight, gain=0.01)  # near-uniform first policy (as SB3 and CleanRL do)
        nn.init.zeros_(self.pi.bias)
        nn.init.orthogonal_(self.v.weight, gain=1.0)
        nn.init.zeros_(self.v.bias)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(n_out))
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> tuple[Distribution, torch.Tensor]:
        """The action distribution and the state value (B,) for a batch of observations."""
        features = self.backbone(obs)
        value = self.v(features if self.shared else self.critic_backbone(obs)).squeeze(-1)
        if self.discrete:
            return Categorical(logits=self.pi(features)), value
        return Normal(self.pi(features), self.log_std.exp().expand_as(self.pi.bias)), value

    def log_prob(self, dist: Distribution, action: torch.Tensor) -> torch.Tensor:
        """log pi(a|s), summed over a Gaussian's dimensions: (B,)."""
        lp = dist.log_prob(action)
        return lp if self.discrete else lp.sum(-1)

    def entropy(self, dist: Distribution) -> torch.Tensor:
        """H(pi(.|s)), summed over a Gaussian's dimensions: (B,)."""
        h = dist.entropy()
        return h if self.discrete else h.sum(-1)

    def act(self, obs: torch.Tensor | dict[str, torch.Tensor], deterministic: bool = False) -> np.ndarray:
        """Env-ready actions for a batch: sampled (or the mode), Gaussian ones clipped to the space."""
        with torch.no_grad():
            dist, _ = self(obs)
            action = (dist.probs.argmax(-1) if self.discrete else dist.mean) if deterministic else dist.sample()
        return self.to_env(action)

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        """Actions as the env takes them: ints, or floats clipped into the Box."""
        if self.discrete:
            return action.numpy()
        return torch.maximum(torch.minimum(action, self.high), self.low).numpy()


def setup_actor_critic(config: Any, agent: str, env_wrapper: Callable[[Any], Any] | None = None
                       ) -> tuple[Any, ActorCritic, torch.optim.Optimizer]:
    """Seed the run, build the envs (wrapped by `env_wrapper` if given), the actor-critic and its optimiser
    from a policy agent's config."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    env = make_train_env(config, env_wrapper)
    check_action_space(env.single_action_space, agent, "every agent family handles these")
    model = ActorCritic(env.single_observation_space, env.single_action_space, config.backbone,
                        config.backbone_options, config.share_backbone)
    return env, model, make_optimizer(config.optimizer, model.parameters(), config.learning_rate)
