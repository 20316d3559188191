"""DAgger: dataset aggregation (Ross, Gordon & Bagnell, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", AISTATS 2011), with CarDrive's privileged expert (`envs.drive_expert`)
as the demonstrator and an actor-critic's policy head as the student.

    D = {}
    for iteration i = 1, 2, ...:
        beta_i = beta0 * beta_decay^(i - 1)                                            (beta_schedule)
        roll the N cars num_steps steps; each car, each step, is driven by the expert with probability
            beta_i, else by the student's greedy action; the expert labels every state, a* = pi*(s)   # rollout
        D <- D u {(s, a*)}, a ring of the last buffer_size states
        fit the student on D: gradient_steps minibatches of batch_size drawn uniformly from D   # update
            Discrete: -log softmax(logits(s))[a*];  Box: ||mu(s) - a*||^2        (imitation_loss)

beta0 = 1 makes the first iteration behaviour cloning on the expert's own states. Later iterations visit the
states the student's own mistakes lead to, which cloning never sees: its error compounds as T^2 over an
episode of T steps, DAgger's grows as T. The paper refits to convergence each iteration; a fixed number of
minibatch steps (SB3's `gradient_steps`) keeps an iteration's cost from growing with D.

The student is an `ActorCritic` (its value head left untrained), so `sandbox eval`, `replay` and `watch` load
it as they load A2C's and PPO's, and a policy-gradient family can start from its weights. The expert reads the
true world, so only CarDrive can be learned from; a recurrent backbone is refused (D holds single states).

    model, history = train(DAggerConfig(env_kwargs={"level": "normal", "n_rays": 25}, total_timesteps=500_000))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import envs
from agents.actor_critic import ActorCritic, setup_actor_critic
from agents.envs import map_obs, obs_to_tensor
from agents.loop import UpdateLog, start_loop
from envs import drive_expert
from sandbox.backbones import is_recurrent
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_bools, check_positive_ints, check_unit_interval

AGREE_TOL = 0.1
"""Box actions: the student agrees with the expert where every component is within this of the expert's"""

Obs = torch.Tensor | dict[str, torch.Tensor]


@dataclass
class DAggerConfig:
    """Hyper-parameters, named as the paper (beta) and SB3 (gradient_steps, batch_size, buffer_size) name them."""

    env_id: str = envs.ENV_ID
    """CarDrive only: the expert reads its true world"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal", "continuous": True}"""
    backbone: str = "mlp"
    """any feed-forward `sandbox.backbones.make_backbone` spec"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    """options of the backbone's config, e.g. {"widths": (128, 128)}"""
    share_backbone: bool = False
    """one backbone under the policy and value heads (as the policy family that starts from it will read it)"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers, as the policy families offer it"""
    num_envs: int = 64
    """cars driven together"""
    num_steps: int = 64
    """steps per car per iteration: num_envs * num_steps states labelled and aggregated"""
    total_timesteps: int = 500_000
    """env steps of the whole run (whole iterations)"""
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    """adam, rmsprop or sgd"""
    beta0: float = 1.0
    """the expert's share of the driving in the first iteration (1: the first iteration is cloning)"""
    beta_decay: float = 0.5
    """beta_i = beta0 * beta_decay^(i - 1), the paper's mixing schedule (0: the expert drives only the first)"""
    buffer_size: int = 200_000
    """the most states D keeps (the oldest overwritten first)"""
    batch_size: int = 256
    """states per minibatch"""
    gradient_steps: int = 200
    """minibatch steps on D after each iteration's rollout"""
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.env_id != envs.ENV_ID:
            raise ValueError(f"DAgger learns from the privileged expert, which reads {envs.ENV_ID}'s true world; "
                             f"env_id must be {envs.ENV_ID!r}, got env_id={self.env_id!r}")
        check_positive_ints(self, "num_envs", "num_steps", "total_timesteps", "buffer_size", "batch_size",
                            "gradient_steps")
        check_unit_interval(self, "beta0", "beta_decay")
        check_bools(self, "share_backbone", "ortho_init")
        if self.buffer_size < self.num_envs:
            raise ValueError(f"buffer_size must hold one batch step of the cars (num_envs {self.num_envs}), "
                             f"got {self.buffer_size}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")


def beta_schedule(beta0: float, beta_decay: float, iteration: int) -> float:
    """beta_i = beta0 * beta_decay^(i - 1): the chance that the expert drives a car's step in iteration i (1-based)."""
    return beta0 * beta_decay ** (iteration - 1)


def imitation_loss(output: torch.Tensor, labels: torch.Tensor, discrete: bool) -> torch.Tensor:
    """The student's loss on expert labels. Discrete: the cross-entropy of the logits (B, n) against the labels
    (B,); Box: the squared distance of the Gaussian's mean (B, d) to the labels (B, d), summed over d, i.e. its
    negative log-likelihood at unit variance up to a constant (as behaviour cloning fits it)."""
    if discrete:
        return torch.nn.functional.cross_entropy(output, labels)
    return ((output - labels) ** 2).sum(-1).mean()


def agreement(student: np.ndarray, expert: np.ndarray, discrete: bool) -> np.ndarray:
    """(N,) bool: the student's greedy action is the expert's (a Box action: every component within AGREE_TOL)."""
    if discrete:
        return student == expert
    return (np.abs(student - expert) <= AGREE_TOL).all(-1)


class Aggregate:
    """D: (observation, expert label) rows in tensors made once, a ring of `capacity` rows."""

    def __init__(self, capacity: int, obs: Obs, labels: torch.Tensor):
        """Empty, for rows like those of `obs` (N, ...) (or a dict of them) and `labels` (N, ...)."""
        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.obs = map_obs(obs, lambda x: torch.zeros((capacity, *x.shape[1:]), dtype=x.dtype))
        self.labels = torch.zeros((capacity, *labels.shape[1:]), dtype=labels.dtype)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: Obs, labels: torch.Tensor, valid: np.ndarray) -> None:
        """Append the rows of a batch step where `valid` (the transitions), over the oldest once full."""
        rows = torch.from_numpy(np.flatnonzero(valid))
        at = (self.cursor + torch.arange(len(rows))) % self.capacity  # (k,) slots, distinct: k <= num_envs
        for buffer, batch in _pairs(self.obs, obs):
            buffer[at] = batch[rows]
        self.labels[at] = labels[rows]
        self.cursor = (self.cursor + len(rows)) % self.capacity
        self.size = min(self.size + len(rows), self.capacity)

    def rows(self, idx: torch.Tensor) -> tuple[Obs, torch.Tensor]:
        """The observations and labels at `idx`."""
        return map_obs(self.obs, lambda x: x[idx]), self.labels[idx]

    def state_dict(self) -> dict[str, Any]:
        """The filled rows (copies: a view would save the whole ring) and the cursor, for a checkpoint."""
        return {"obs": map_obs(self.obs, lambda x: x[: self.size].clone()), "labels": self.labels[: self.size].clone(),
                "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.cursor = len(state["labels"]), int(state["cursor"])
        for buffer, saved in _pairs(self.obs, state["obs"]):
            buffer[: self.size] = saved
        self.labels[: self.size] = state["labels"]


def _pairs(a: Obs, b: Obs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Matching tensors of two observations (a dict's by key)."""
    return [(a[key], b[key]) for key in a] if isinstance(a, dict) else [(a, b)]


def train(config: DAggerConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train a student of the privileged expert with DAgger; return it and the history of per-iteration metrics.

    `log` and `resume` as for A2C (`agents.a2c.train`): the payload holds D and the mixing generator too, so a
    resumed run is the run never stopped.

    Raises:
        ValueError: a recurrent backbone (D holds single states, not the sequences a recurrent state needs).
    """
    env, model, optimizer = setup_actor_critic(config, "DAgger")
    if is_recurrent(model.backbone):
        raise ValueError(f"DAgger fits single states, so it takes a feed-forward backbone, not the recurrent "
                         f"{config.backbone!r}")
    core, rng = env.unwrapped.core, np.random.default_rng(config.seed)  # the world the expert reads
    loop, obs = start_loop("dagger", config, env, model, optimizer, resume, log)
    labels = torch.zeros(1, dtype=torch.long) if model.discrete else torch.zeros(1, model.pi.out_features)
    dataset = Aggregate(config.buffer_size, obs_to_tensor(obs), labels)
    if resume is not None:
        dataset.load_state_dict(resume["extra"]["dataset"])
        rng.bit_generator.state = resume["extra"]["rng"]
    for update in range(loop.update + 1, config.total_timesteps // (config.num_envs * config.num_steps) + 1):
        # rollout
        beta = beta_schedule(config.beta0, config.beta_decay, update)
        obs, agreed = _collect(model, env, core, loop, obs, dataset, beta, rng)
        # update
        loss = _fit(model, optimizer, dataset, config, rng, update)
        # log
        loop.log_update(update, {"loss": loss, "agreement": agreed, "beta": beta, "dataset_size": len(dataset)},
                        functools.partial(_extra, dataset, rng))
    env.close()
    return model, loop.history


def _label(core: Any, model: ActorCritic) -> np.ndarray:
    """The expert's action for every car of `core` in the student's action space: (N,) ints or (N, 2) floats."""
    return drive_expert(core, continuous=not model.discrete)


def _policy(model: ActorCritic, obs: Obs) -> torch.Tensor:
    """The policy head's output, logits or the Gaussian's mean (B, ...): DAgger never needs the value."""
    return model.pi(model.backbone(obs))


def _greedy(model: ActorCritic, obs: Obs) -> np.ndarray:
    """The student's greedy actions as the env takes them."""
    with torch.no_grad():
        output = _policy(model, obs)
    return model.to_env(output.argmax(-1) if model.discrete else output)


def _collect(model: ActorCritic, env: Any, core: Any, loop: UpdateLog, obs: Any, dataset: Aggregate, beta: float,
             rng: np.random.Generator) -> tuple[Any, float]:
    """Drive one iteration, each car's step the expert's with probability beta, and aggregate every visited
    state with the expert's label; return the last observation and the student's agreement over the states."""
    agreed = visited = 0
    for _ in range(loop.config.num_steps):
        obs_t = obs_to_tensor(obs)
        expert, student = _label(core, model), _greedy(model, obs_t)  # one batched call each for all cars
        expert_drives = rng.random(len(expert)) < beta  # (N,)
        action = np.where(expert_drives if model.discrete else expert_drives[:, None], expert, student)
        obs, reward, terminated, truncated, info = env.step(action)
        valid = loop.step(reward, terminated, truncated, info)  # the autoreset step's state is no one's choice
        dataset.add(obs_t, torch.from_numpy(expert), valid)
        agreed += int((agreement(student, expert, model.discrete) & valid).sum())
        visited += int(valid.sum())
    return obs, agreed / visited if visited else float("nan")


def _fit(model: ActorCritic, optimizer: torch.optim.Optimizer, dataset: Aggregate, config: DAggerConfig,
         rng: np.random.Generator, update: int) -> float:
    """gradient_steps minibatches of the imitation loss, drawn uniformly from D; their mean loss."""
    total = 0.0
    for _ in range(config.gradient_steps):
        obs, labels = dataset.rows(torch.from_numpy(rng.integers(0, len(dataset), config.batch_size)))
        loss = imitation_loss(_policy(model, obs), labels, model.discrete)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DAgger: the loss became {loss.item()} at iteration {update}; lower "
                                     f"learning_rate (now {config.learning_rate})")
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        total += loss.item()
    return total / config.gradient_steps


def _extra(dataset: Aggregate, rng: np.random.Generator) -> dict[str, Any]:
    return {"dataset": dataset.state_dict(), "rng": rng.bit_generator.state}
