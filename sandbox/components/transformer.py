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

The dataset is the file's steps, one row each (`steps`): row t stands for the window ending at step t, and
only a mini-batch's (B, K, ...) windows are ever built (`windows`, through `batch_of`), so memory grows with
T + B K, not T K. K is checked against the data (at most its longest episode) and a fit's memory against the
machine's before anything is allocated.

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
    EpochHook,
    action_shape,
    check_memory,
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


def steps(arrays: dict[str, np.ndarray], obs: str) -> Dataset:
    """The flat step arrays windows are gathered from: states, actions, returns-to-go and timesteps (the step's
    index in its episode), (T, ...) each; row t is the training example "the window ending at step t"."""
    episode = arrays["episode"]
    return {"states": torch.as_tensor(arrays[obs].astype(np.float32)), "actions": torch.as_tensor(arrays["action"]),
            "rtg": torch.as_tensor(returns_to_go(arrays["reward"], episode)),
            "timesteps": torch.as_tensor(np.arange(len(episode)) - episode_starts(episode))}


def _first_steps(episode: np.ndarray) -> np.ndarray:
    """(T,) bool: the step begins an episode (episodes are runs of equal ids, one after another)."""
    return np.r_[True, episode[1:] != episode[:-1]] if len(episode) else np.zeros(0, bool)


def episode_starts(episode: np.ndarray) -> np.ndarray:
    """The first step of each step's episode, (T,)."""
    return np.maximum.accumulate(np.where(_first_steps(episode), np.arange(len(episode)), 0))


def longest_episode(episode: np.ndarray) -> int:
    """The length of the longest episode, in steps (0 for no steps)."""
    starts = np.flatnonzero(_first_steps(episode))
    return int(np.diff(np.r_[starts, len(episode)]).max()) if len(starts) else 0


def check_context(context: int, longest: int) -> None:
    """K at least 1 and at most the data's longest episode: a longer window's extra steps are always padding,
    and cost K^2 in attention.

    Raises:
        ValueError: naming --context, its value and the longest episode's length.
    """
    if int(context) < 1:
        raise ValueError(f"--context must be at least 1, got {context}")
    if int(context) > longest:
        raise ValueError(f"--context {context} is more than the longest episode of the data ({longest} steps); "
                         f"give at most {longest}")


def windows(flat: Dataset, rows: torch.Tensor, context: int) -> Dataset:
    """The (B, K, ...) windows ending at the steps `rows` of `flat` (see `steps`): the K steps of each one's
    episode up to it, left-padded (mask False, values 0) where the episode (or the data) starts later."""
    rows = torch.as_tensor(rows, dtype=torch.long)
    index = rows[:, None] + torch.arange(-context + 1, 1)  # (B, K) step indices
    first = rows - flat["timesteps"][rows]  # (B,) the first step of each window's episode
    mask = (index >= first[:, None]) & (index >= 0)
    index = index.clamp(min=0)  # padding reads step 0, then is zeroed
    pick = lambda values: values[index] * mask.view(*mask.shape, *[1] * (values.dim() - 1))  # noqa: E731
    return {"states": pick(flat["states"]), "actions": pick(flat["actions"]), "rtg": pick(flat["rtg"]),
            "timesteps": pick(flat["timesteps"]), "mask": mask}


def fit_memory(config: DTConfig, obs_shape: tuple[int, ...], n_actions: int, batch: int) -> int:
    """Bytes one training step is estimated to need: B windows, the activations the backward keeps, and with
    dropout (PyTorch's math attention, which a CPU takes then) about 4 (B, heads, 3K, 3K) float32 matrices
    a layer. On a CPU (torch 2.13) it came out 10-20% above the measured peak; without dropout PyTorch's fused
    attention is linear in K, and so is the estimate."""
    K, L = config.context, 3 * config.context  # L: the tokens R, s, a of K steps
    window = batch * K * (int(np.prod(obs_shape)) + n_actions + 4) * 4 * 3  # gathered, masked, embedded
    tokens = (24 * config.n_layers + 8) * batch * L * config.d_model * 4
    scores = 4 * config.n_layers * batch * config.n_heads * L * L * 4 if config.dropout > 0 else 0
    return window + tokens + scores


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
        """A trajectory file's steps (see `steps`), after checking `context` against its longest episode."""
        need(arrays, obs, "Decision Transformer", f"collect with `sandbox collect --obs {obs}` (or both)")
        check_context(context, longest_episode(arrays["episode"]))
        return steps(arrays, obs)

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]:
        return {"obs": tuple(dataset["states"].shape[1:]), "action": action_shape(dataset["actions"].numpy())}

    def batch_of(self, dataset: Dataset, rows: torch.Tensor) -> Dataset:
        """The windows of K steps ending at the steps `rows` (`fit_epochs` calls this for each mini-batch)."""
        return windows(dataset, rows, self.config.context)

    def fit(self, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None,
            seed: int | None = None) -> dict[str, list[float]]:
        """`fit_epochs` on the steps of `dataset`, once K and the memory a step needs are known to fit.

        Raises:
            ValueError: K longer than the longest episode, or a step needing more memory than is available.
        """
        timesteps = dataset["timesteps"]  # the longest episode: its last step's index + 1
        check_context(self.config.context, int(timesteps.max()) + 1 if len(timesteps) else 0)
        batch = min(int(self.config.batch_size), len(dataset["timesteps"]))
        n_actions = self.predict_action.out_features
        check_memory(fit_memory(self.config, self.shapes["obs"], n_actions, batch),
                     f"a Decision Transformer step (--context {self.config.context}: attention over "
                     f"{3 * self.config.context:,} tokens, --batch-size {batch})", "lower --context or --batch-size")
        return fit_epochs(self, dataset, epochs, hook, seed)

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
        """The component, marked as a policy (`sandbox eval` and the viewer load it with `load_driving_component`)."""
        env_kwargs = {"level": self.config.level, "obs": self.config.obs, "continuous": self.config.continuous}
        return save_component(self, path, policy="transformer", env_kwargs=env_kwargs, **extra)

    load = staticmethod(load_component)
