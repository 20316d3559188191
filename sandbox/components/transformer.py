"""The Decision Transformer (Chen et al., "Decision Transformer: Reinforcement Learning via Sequence
Modeling", NeurIPS 2021): a causal transformer over trajectories read as tokens, acting by prediction.

    tokens   (R_1, s_1, a_1, R_2, s_2, a_2, ..., R_K, s_K, a_K),  R_t = sum_{t' >= t} r_t' (the return-to-go)
    embed    each token by its kind (Linear for R, a backbone for s, an embedding for a) + a timestep embedding
    predict  a_t from the transformer's output at s_t (it sees R_<=t, s_<=t, a_<t: causal attention)
    loss     -log pi(a_t | ...) (Discrete(5)), or 1/2 ||a_hat_t - a_t||^2 (steer, throttle); mean over real steps
    act      condition on a target return R_1 (high: the best in the data, or more); after each reward r_t
             the next token's R is R_t - r_t

The blocks are `sandbox.backbones.attention`'s (minGPT style) with `causal=True`; the state embedding is the
"mlp" backbone. Windows shorter than K (an episode's first steps) are left-padded with blank tokens, in
training as in acting. `TransformerPolicy` (policy.py) drives a batch of envs with it.

    dt = DecisionTransformer({"obs": (11,), "action": 5}, DTConfig()); dt.fit(dataset, epochs=10)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sandbox.backbones import TransformerEncoder, make_backbone
from sandbox.components.base import (
    Dataset,
    action_shape,
    fit_epochs,
    load_component,
    need,
    observation_space,
    save_component,
)


@dataclass
class DTConfig:
    """Hyper-parameters of the Decision Transformer (the paper's, scaled down for a CPU)."""

    obs: str = "rays"
    """the observation key (rays)"""
    context: int = 20
    """K: the timesteps of the window it attends over (3K tokens)"""
    d_model: int = 64
    n_heads: int = 2
    n_layers: int = 2
    dropout: float = 0.1
    max_timestep: int = 1024
    """timesteps with an embedding of their own (later ones share the last)"""
    return_scale: float = 100.0
    """returns-to-go are divided by this before their embedding"""
    learning_rate: float = 3e-4
    batch_size: int = 64
    level: str = "easy"
    """the level it drives (`sandbox fit` takes it from the data)"""
    continuous: bool = False
    seed: int = 0


def returns_to_go(reward: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """R_t = sum of the rewards from t to its episode's end: (T,) for steps of episodes one after another."""
    rtg = np.zeros(len(reward), np.float64)
    running = 0.0
    for t in reversed(range(len(reward))):
        running = reward[t] + (running if t + 1 < len(reward) and episode[t + 1] == episode[t] else 0.0)
        rtg[t] = running
    return rtg.astype(np.float32)


def windows(arrays: dict[str, np.ndarray], obs: str, context: int) -> Dataset:
    """One training window per step t: the K steps of its episode ending at t, left-padded (mask False)."""
    episode = arrays["episode"]
    starts = np.searchsorted(episode, episode, side="left")  # first step of each step's episode
    offsets = np.arange(-context + 1, 1)  # (K,)
    index = np.arange(len(episode))[:, None] + offsets  # (T, K) step indices
    mask = index >= starts[:, None]
    index = np.where(mask, index, 0)
    rtg = returns_to_go(arrays["reward"], episode)
    steps = np.arange(len(episode)) - starts
    pick = lambda values: torch.as_tensor(values[index] * _expand(mask, values.ndim))  # noqa: E731
    return {"states": pick(arrays[obs].astype(np.float32)), "actions": pick(arrays["action"]),
            "rtg": pick(rtg), "timesteps": pick(steps), "mask": torch.as_tensor(mask)}


def _expand(mask: np.ndarray, ndim: int) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (ndim - 1))  # (T, K) -> (T, K, 1, ...) against (T, K, ...)


class DecisionTransformer(nn.Module):
    """(R, s, a) tokens of K timesteps -> an action prediction at every state token.

    Args:
        shapes: {"obs": observation shape, "action": 5 (Discrete(5)) or (2,)}.
        config: a `DTConfig`.
    """

    kind = "transformer"
    config_class = DTConfig

    def __init__(self, shapes: dict[str, Any], config: DTConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DTConfig()
        self.shapes = {"obs": tuple(shapes["obs"]), "action": shapes["action"]}
        self.discrete = isinstance(shapes["action"], int)
        n_actions = shapes["action"] if self.discrete else int(np.prod(shapes["action"]))
        torch.manual_seed(c.seed)
        space = observation_space(c.obs, self.shapes["obs"])
        self.embed_state = make_backbone("mlp", space, widths=(c.d_model,), activation="tanh")
        self.embed_return = nn.Linear(1, c.d_model)
        self.embed_action = nn.Embedding(n_actions, c.d_model) if self.discrete else nn.Linear(n_actions, c.d_model)
        self.embed_time = nn.Embedding(c.max_timestep, c.d_model)
        self.embed_ln = nn.LayerNorm(c.d_model)
        self.blocks = TransformerEncoder(c.d_model, c.n_heads, c.n_layers, 4 * c.d_model, "gelu", c.dropout,
                                         causal=True)
        self.predict_action = nn.Linear(c.d_model, n_actions)
        self.register_buffer("best_return", torch.zeros(()))  # the best episode return of its data
        self.optimizers = {"model": torch.optim.AdamW(self.parameters(), lr=c.learning_rate, weight_decay=1e-4)}

    @staticmethod
    def dataset(arrays: dict[str, np.ndarray], meta: dict[str, Any], obs: str = "rays", context: int = 20) -> Dataset:
        """Training windows of a trajectory file (see `windows`)."""
        need(arrays, obs, "Decision Transformer", f"collect with `sandbox collect --obs {obs}` (or both)")
        return windows(arrays, obs, context)

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]:
        return {"obs": tuple(dataset["states"].shape[2:]), "action": action_shape(dataset["actions"][:, 0].numpy())}

    def forward(self, rtg: torch.Tensor, states: torch.Tensor, actions: torch.Tensor, timesteps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Action logits (or means) at every timestep: (B, K) rtg, (B, K, *obs) states -> (B, K, n_actions)."""
        B, K = rtg.shape
        time = self.embed_time(timesteps.long().clamp(0, self.config.max_timestep - 1))  # (B, K, d)
        s = self.embed_state(states.reshape(B * K, *states.shape[2:]).float()).view(B, K, -1)  # (B, K, d)
        a = self.embed_action(actions.long() if self.discrete else actions.float())  # (B, K, d)
        r = self.embed_return(rtg.unsqueeze(-1) / self.config.return_scale)  # (B, K, d)
        tokens = torch.stack([r + time, s + time, a + time], dim=2)  # (B, K, 3, d): R_t, s_t, a_t
        tokens = tokens * mask[:, :, None, None]  # padding: blank tokens
        x = self.blocks(self.embed_ln(tokens.reshape(B, 3 * K, -1)))  # (B, 3K, d), causal
        out = self.predict_action(x.view(B, K, 3, -1)[:, :, 1])  # from each s_t's output: (B, K, n_actions)
        return out if self.discrete else torch.tanh(out)

    def loss(self, batch: Dataset) -> torch.Tensor:
        """-log pi(a_t | R_<=t, s_<=t, a_<t) (or the squared error), averaged over the real (unpadded) steps."""
        out = self(batch["rtg"], batch["states"], batch["actions"], batch["timesteps"], batch["mask"])
        mask = batch["mask"].float()
        if self.discrete:
            targets = batch["actions"].long().flatten()  # (B * K,)
            per_step = nn.functional.cross_entropy(out.flatten(0, 1), targets, reduction="none")
        else:
            per_step = 0.5 * (out - batch["actions"].float()).pow(2).sum(-1).flatten()
        return (per_step * mask.flatten()).sum() / mask.sum().clamp(min=1.0)

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One AdamW step on a batch of windows; its loss."""
        self.best_return.fill_(max(float(self.best_return), float(batch["rtg"].max())))
        loss = self.loss(batch)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.parameters(), 0.25)  # as the paper's Atari runs
        optimizer.step()
        return {"loss": loss.item()}

    def predict(self, rtg: torch.Tensor, states: torch.Tensor, actions: torch.Tensor, timesteps: torch.Tensor,
                mask: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """The action at the last timestep of each window: (B,) ints, or (B, 2) floats."""
        with torch.no_grad():
            out = self(rtg, states, actions, timesteps, mask)[:, -1]  # (B, n_actions)
        if not self.discrete:
            return out
        return out.argmax(-1) if deterministic else torch.distributions.Categorical(logits=out).sample()

    def save(self, path: Any, **extra: Any) -> Any:
        """The component, marked as a policy (`sandbox eval` and the viewer load it with `load_policy`)."""
        env_kwargs = {"level": self.config.level, "obs": self.config.obs, "continuous": self.config.continuous}
        return save_component(self, path, policy="transformer", env_kwargs=env_kwargs, **extra)

    fit = fit_epochs
    load = staticmethod(load_component)
