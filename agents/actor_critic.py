"""Actor-critic networks: a backbone from `sandbox.backbones` with a policy head and a value head on top.

    features = backbone(obs)                      # (B, out_dim)
    Discrete(n):  logits = W_pi features          # a categorical policy
    Box(d):       mean = W_pi features, std = exp(log_std)   # a diagonal Gaussian, log_std learned
    value = W_v features                          # (B,)

The policy and the value read separate backbones of the same spec, as SB3 and CleanRL build them: a shared
one lets the value loss (returns of tens to hundreds) swamp the policy's gradient under one clipped norm.
`share_backbone=True` shares it (one forward a step; the usual choice for CNNs on pixels).

A recurrent backbone ("lstm", "gru") carries a state per car: `initial_state(n)`, then `step(obs, state,
episode_start)` one step at a time (acting) and `sequence(obs, state, episode_starts)` over a stored rollout
(training, truncated backpropagation through time). Both also serve a feed-forward backbone, whose state is
the empty tuple, so a loop written against them runs either kind.

Gaussian actions are sampled unbounded and clipped to the action space only when sent to the env, so the
log-probability is that of the action the policy drew. `setup_actor_critic` seeds a policy agent's run and
builds its envs, its actor-critic and the optimiser (REINFORCE and A2C start so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from agents.envs import make_train_env, map_obs, obs_to_tensor
from agents.optim import make_optimizer
from agents.warm_start import announce_warm_start, warm_start
from sandbox.backbones import is_recurrent, make_backbone

State = tuple[torch.Tensor, ...]


class LogitsCategorical(Categorical):
    """torch's Categorical over raw logits, with two CPU costs of a policy's hot path cut (~0.7 ms a batch step at
    512 cars; PPO's throughput on CarDrive ~1.15x on easy, ~1.1x on normal):

    - the logits are normalised by one log_softmax kernel, not torch's composite logsumexp (~10 kernels);
    - `sample()` draws as torch.multinomial draws one sample, a = argmax_i p_i / q_i with q_i ~ Exp(1) (the
      Gumbel-max trick), the same kernels on the same random numbers, without its argument checks, which sync
      on two reductions every call.

    Log-probabilities and entropies agree with torch's Categorical to ~1e-6; argument checks are off.
    """

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = torch.log_softmax(logits, dim=-1)  # log p, normalised
        self._param, self._num_events = self.logits, logits.shape[-1]
        Distribution.__init__(self, logits.shape[:-1], validate_args=False)

    def sample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        probs = self.probs.expand(torch.Size(sample_shape) + self.probs.shape)  # (*sample_shape, B, n)
        return (probs / torch.empty_like(probs).exponential_()).argmax(-1)


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
        ortho_init: re-initialise the backbones' Linear and Conv2d layers orthogonally with gain sqrt(2) and
            zero biases (SB3's `ortho_init`, CleanRL's `layer_init`); off keeps the backbone's own init.
        log_std_init: a Box policy's initial log standard deviation (SB3's `log_std_init`).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, backbone: str = "mlp",
                 backbone_options: dict[str, Any] | None = None, share_backbone: bool = False,
                 ortho_init: bool = False, log_std_init: float = 0.0):
        super().__init__()
        finite = isinstance(log_std_init, (int, float)) and not isinstance(log_std_init, bool)
        if not (finite and np.isfinite(log_std_init)):
            raise ValueError(f"log_std_init must be a finite number, got {log_std_init!r}")
        self.backbone = make_backbone(backbone, observation_space, **(backbone_options or {}))
        self.critic_backbone = self.backbone if share_backbone else make_backbone(
            backbone, observation_space, **(backbone_options or {}))
        self.shared = share_backbone
        self.recurrent = is_recurrent(self.backbone)
        self._actor_state_size = len(self.backbone.initial_state(0)) if self.recurrent else 0
        self.discrete = isinstance(action_space, spaces.Discrete)
        n_out = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = nn.Linear(self.backbone.out_dim, n_out)
        self.v = nn.Linear(self.critic_backbone.out_dim, 1)
        if ortho_init:
            for module in (*self.backbone.modules(), *self.critic_backbone.modules()):
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    nn.init.orthogonal_(module.weight, gain=np.sqrt(2))
                    nn.init.zeros_(module.bias)
        nn.init.orthogonal_(self.pi.weight, gain=0.01)  # near-uniform first policy (as SB3 and CleanRL do)
        nn.init.zeros_(self.pi.bias)
        nn.init.orthogonal_(self.v.weight, gain=1.0)
        nn.init.zeros_(self.v.bias)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((n_out,), float(log_std_init)))
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> tuple[Distribution, torch.Tensor]:
        """The action distribution and the state value (B,) for a batch of observations (feed-forward only)."""
        return self.forward_with_features(obs)[:2]

    def forward_with_features(self, obs: torch.Tensor | dict[str, torch.Tensor]
                              ) -> tuple[Distribution, torch.Tensor, torch.Tensor]:
        """`forward`, and the policy's features (B, F) under its head (an auxiliary task reads them)."""
        if self.recurrent:
            raise TypeError("a recurrent actor-critic reads (obs, state, episode_start): call step() or sequence()")
        features = self.backbone(obs)
        return (*self._heads(features, features if self.shared else self.critic_backbone(obs)), features)

    def initial_state(self, n: int) -> State:
        """Zero states for n cars: the actor's tensors, then the critic's (unless shared); () if feed-forward."""
        if not self.recurrent:
            return ()
        state = self.backbone.initial_state(n)
        return state if self.shared else (*state, *self.critic_backbone.initial_state(n))

    def step(self, obs: torch.Tensor | dict[str, torch.Tensor], state: State,
             episode_start: torch.Tensor) -> tuple[Distribution, torch.Tensor, State]:
        """One step for n cars: (distribution, value (n,), next state); a row whose `episode_start` (n,) is 1
        starts from a zero state. A feed-forward model ignores the state and the mask."""
        if not self.recurrent:
            return (*self(obs), state)
        actor, critic = state[:self._actor_state_size], state[self._actor_state_size:]
        features, actor = self.backbone(obs, actor, episode_start)
        if self.shared:
            return (*self._heads(features, features), actor)
        critic_features, critic = self.critic_backbone(obs, critic, episode_start)
        return (*self._heads(features, critic_features), (*actor, *critic))

    def sequence(self, obs: torch.Tensor | dict[str, torch.Tensor], state: State,
                 episode_starts: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """A rollout of T steps of n cars, (T, n, ...), from `state` (its first step's): the distribution and
        values over its T * n rows, time-major. Gradients flow back through every step of the recurrence."""
        if not self.recurrent:
            return self(map_obs(obs, lambda x: x.flatten(0, 1)))  # (T, n, ...) -> (T * n, ...)
        actor, critic = state[:self._actor_state_size], state[self._actor_state_size:]
        features = self.backbone.forward_sequence(obs, actor, episode_starts)[0]  # (T, n, hidden)
        critic_features = features if self.shared else self.critic_backbone.forward_sequence(
            obs, critic, episode_starts)[0]
        return self._heads(features.flatten(0, 1), critic_features.flatten(0, 1))  # (T * n, hidden)

    def _heads(self, features: torch.Tensor, critic_features: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        value = self.v(critic_features).squeeze(-1)
        if self.discrete:
            return LogitsCategorical(self.pi(features)), value
        return Normal(self.pi(features), self.log_std.exp().expand_as(self.pi.bias), validate_args=False), value

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


@dataclass
class Memory:
    """What a recurrent model carries from one batch step to the next: its state per env and which envs' next
    observation begins an episode. A feed-forward model's state is () and only the mask is kept."""

    state: State
    start: torch.Tensor  # (N,) 1.0 where the current observation begins an episode

    @classmethod
    def start(cls, model: ActorCritic, n: int, resume: dict[str, Any] | None) -> Memory:
        """Zero states and every env starting, or what a checkpoint's payload saved."""
        saved = (resume or {}).get("extra", {}).get("memory")
        if saved is None:
            return cls(model.initial_state(n), torch.ones(n))
        return cls(tuple(saved["state"]), saved["start"].clone())

    def after_step(self, valid: np.ndarray) -> None:
        """After a batch step whose transitions were `valid` (N,): an autoreset step (not valid) returned a new
        episode's first observation, so that env starts afresh."""
        self.start = torch.from_numpy(~valid).float()

    def payload(self) -> dict[str, Any]:
        return {"memory": {"state": [s.clone() for s in self.state], "start": self.start.clone()}}


class Policy:
    """A trained model driving a batch of cars: env actions from observations, with a recurrent actor-critic's
    state carried per car from one call to the next and zeroed where `observe` saw the car's episode end. Any
    other model (a Q-network) acts through its own `act`.

        policy = Policy(model, normalize)          # normalize: how the model saw observations in training
        actions = policy.act(obs)                  # (n, ...) -> n env actions, greedy unless deterministic=False
        policy.observe(reward, terminated, truncated)
    """

    def __init__(self, model: nn.Module, normalize: Callable[[Any], Any] | None = None,
                 deterministic: bool = True) -> None:
        self.model, self.deterministic = model, deterministic
        self.normalize = normalize or (lambda obs: obs)
        self.state: State = ()
        self.start: torch.Tensor | None = None  # (n,) 1.0 where the next observation begins an episode

    def act(self, obs: Any) -> np.ndarray:
        obs_t = obs_to_tensor(self.normalize(obs))
        if not isinstance(self.model, ActorCritic):
            with torch.no_grad():
                return self.model.act(obs_t, deterministic=self.deterministic)
        n = len(next(iter(obs_t.values())) if isinstance(obs_t, dict) else obs_t)
        if self.start is None or len(self.start) != n:  # a new batch of cars: every one starts
            self.state, self.start = self.model.initial_state(n), torch.ones(n)
        with torch.no_grad():
            dist, _, self.state = self.model.step(obs_t, self.state, self.start)
            if not self.deterministic:
                action = dist.sample()
            else:
                action = dist.probs.argmax(-1) if self.model.discrete else dist.mean
        self.start = torch.zeros(n)
        return self.model.to_env(action)

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """What the envs' step returned: a car whose episode ended starts from a zero state at its next act."""
        self.start = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated), dtype=torch.float32)


def select_rows(dist: Distribution, rows: torch.Tensor) -> Distribution:
    """The distribution of a batch's rows `rows` (an index or a boolean mask over its first dimension)."""
    if isinstance(dist, Categorical):
        return LogitsCategorical(dist.logits[rows])
    return Normal(dist.mean[rows], dist.stddev[rows], validate_args=False)


def setup_actor_critic(config: Any, agent: str, env_wrapper: Callable[[Any], Any] | None = None,
                       fresh: bool = True) -> tuple[Any, ActorCritic, torch.optim.Optimizer]:
    """Seed the run, build the envs (wrapped by `env_wrapper` if given), the actor-critic and its optimiser
    from a policy agent's config; a `fresh` run (not a resumed one) with `init_from` starts from that student."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    env = make_train_env(config, env_wrapper)
    check_action_space(env.single_action_space, agent, "every agent family handles these")
    model = ActorCritic(env.single_observation_space, env.single_action_space, config.backbone,
                        config.backbone_options, config.share_backbone, config.ortho_init,
                        config.log_std_init)
    if fresh and getattr(config, "init_from", ""):
        announce_warm_start(config.init_from, warm_start(model, config, config.init_from))
    return env, model, make_optimizer(config.optimizer, model.parameters(), config.learning_rate)
