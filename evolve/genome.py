"""Genomes: a driver's network (a `sandbox.backbones` backbone + a policy head) as one flat vector.

    net = make_driver(space, action_space, "mlp", {"widths": (16,), "activation": "step"})
    vector = to_vector(net)                  # (n_params,) float32: what a DEAP individual carries
    from_vector(net, vector)                 # and back
    actions = net.act(obs)                   # greedy: argmax of the head (Discrete), tanh of it (Box)
    net.observe(reward, terminated, truncated)  # after each env step: cars whose episode ended start afresh

A driver over a recurrent backbone ("gru", "lstm") keeps one state per car between `act` calls: zeros for a new
batch of cars (or after `reset_state()`), and zeros again for a car whose episode `observe` saw end. Its pure
step is `outputs, state = net.step(obs, state, episode_start)`; a feed-forward driver ignores `observe`.

The vector layout is `torch.nn.utils.parameters_to_vector(net.parameters())`, the layout that
`sandbox.backbones.stack_flat` reads, so a whole population of vectors runs as one stacked network.

For architecture evolution a genome also carries `ArchGenes` (family, widths, activation): mutation may
change them, and the weights of a changed architecture start afresh.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from sandbox.backbones import is_recurrent, make_backbone

ARCH_ACTIVATIONS = ("step", "sigmoid", "tanh", "relu", "abs")
ARCH_FAMILIES = ("mlp", "attention")
ARCH_WIDTHS = (4, 8, 16, 32, 64)
ARCH_MAX_DEPTH = 3
State = tuple[torch.Tensor, ...]


class Driver(nn.Module):
    """Backbone + policy head, read greedily: no sampling, so a genome always drives the same way.

    Over a recurrent backbone the driver carries a state per car from one `act` to the next (see the module
    docstring); the state is not a parameter, so it is in neither the genome nor the checkpoint.

    Args:
        observation_space: one car's observation space.
        action_space: Discrete (argmax of the head) or a 1-D Box (tanh of the head, in [-1, 1]).
        backbone: any `make_backbone` spec, plug-ins included.
        backbone_options: the backbone's options.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, backbone: str = "mlp",
                 backbone_options: dict[str, Any] | None = None):
        super().__init__()
        if not (isinstance(action_space, spaces.Discrete)
                or (isinstance(action_space, spaces.Box) and len(action_space.shape) == 1)):
            raise ValueError(f"an evolved driver acts in Discrete or 1-D Box spaces, not {action_space}")
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.backbone = make_backbone(backbone, observation_space, **(backbone_options or {}))
        self.recurrent = is_recurrent(self.backbone)
        n_out = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.head = nn.Linear(self.backbone.out_dim, n_out)
        self.requires_grad_(False).eval()  # evolution sets the weights; no gradient is ever taken
        self.reset_state()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, *obs_shape) -> (B, n_out) head outputs (a feed-forward driver)."""
        if self.recurrent:
            raise TypeError("a recurrent driver reads (obs, state, episode_start): call step(), or act(), which "
                            "carries the state per car")
        return self.head(self.backbone(obs))

    def initial_state(self, n: int) -> State:
        """Zeros for n cars (see `RecurrentBackbone.initial_state`); () for a feed-forward driver."""
        return self.backbone.initial_state(n) if self.recurrent else ()

    def step(self, obs: torch.Tensor, state: State, episode_start: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step of a recurrent driver: (obs (B, ...), state, episode_start (B,)) -> (outputs (B, n_out), state);
        rows with `episode_start` 1 start from a zero state."""
        features, state = self.backbone(obs, state, episode_start)  # (B, hidden)
        return self.head(features), state

    def act(self, obs: torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Env-ready actions for a batch (always greedy; `deterministic` is accepted for the agents' API)."""
        with torch.no_grad():
            if not self.recurrent:
                return outputs_to_actions(self(obs), self.discrete)
            n = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
            if self._start is None or len(self._start) != n:  # a new batch of cars: every one starts afresh
                self._state, self._start = self.initial_state(n), torch.ones(n)
            outputs, self._state = self.step(obs, self._state, self._start)
            self._start = torch.zeros(n)
            return outputs_to_actions(outputs, self.discrete)

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """What the envs' step returned: a car whose episode ended starts from a zero state at the next `act`.
        As `agents.actor_critic.Policy`: the flags mark the next observation as an episode's first, so a caller
        driving a next-step autoreset env over several episodes (CarDrive) also flags the autoreset step."""
        ended = torch.as_tensor(np.asarray(terminated) | np.asarray(truncated), dtype=torch.float32).reshape(-1)
        if self._start is None or len(ended) != len(self._start):
            return  # no cars yet, or another batch: the next act starts every car afresh anyway
        self._start = ended

    def reset_state(self) -> None:
        """Forget every car's state: the next `act` starts all of them afresh."""
        self._state: State = ()
        self._start: torch.Tensor | None = None  # (n,) 1.0 where the next act starts a car from zeros


def outputs_to_actions(outputs: torch.Tensor, discrete: bool) -> np.ndarray:
    """Head outputs (..., n_out) -> env actions: argmax for Discrete, tanh for a Box."""
    return outputs.argmax(-1).numpy() if discrete else torch.tanh(outputs).numpy().astype(np.float32)


def make_driver(observation_space: spaces.Space, action_space: spaces.Space, backbone: str = "mlp",
                backbone_options: dict[str, Any] | None = None, seed: int | None = None) -> Driver:
    """A driver with torch's default initialisation (seeded by `seed` when given)."""
    if seed is None:
        return Driver(observation_space, action_space, backbone, backbone_options)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Driver(observation_space, action_space, backbone, backbone_options)


def to_vector(net: nn.Module) -> np.ndarray:
    """The network's parameters as one float32 vector (n_params,)."""
    return parameters_to_vector(net.parameters()).detach().numpy().astype(np.float32)


def from_vector(net: nn.Module, vector: np.ndarray | list[float]) -> nn.Module:
    """Write `vector` into the network's parameters; a wrong length is a ValueError naming both sizes."""
    n_params = sum(p.numel() for p in net.parameters())
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (n_params,):
        raise ValueError(f"a genome of shape {vector.shape} does not fit this network of {n_params} parameters")
    vector_to_parameters(torch.from_numpy(vector.copy()), net.parameters())
    return net


@dataclass(frozen=True)
class ArchGenes:
    """The architecture part of a genome: which backbone family, how deep and wide, which activation."""

    family: str = "mlp"
    widths: tuple[int, ...] = (16,)
    activation: str = "tanh"

    def backbone_options(self) -> dict[str, Any]:
        """The options `make_backbone(self.family, ...)` takes for these genes."""
        if self.family == "attention":  # tokens of width widths[0], one block per extra width
            return {"d_model": self.widths[0], "n_layers": len(self.widths), "n_heads": 1,
                    "activation": self.activation}
        return {"widths": self.widths, "activation": self.activation}

    @property
    def key(self) -> str:
        """One string per architecture: individuals with equal keys are evaluated as one batch."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_key(cls, key: str) -> ArchGenes:
        values = json.loads(key)
        return cls(values["family"], tuple(values["widths"]), values["activation"])


def random_arch(rng: random.Random, families: tuple[str, ...] = ("mlp",)) -> ArchGenes:
    """Architecture genes drawn uniformly from the menu (Python's `random`, which DEAP also uses)."""
    depth = rng.randint(1, ARCH_MAX_DEPTH)
    return ArchGenes(rng.choice(families), tuple(rng.choice(ARCH_WIDTHS) for _ in range(depth)),
                     rng.choice(ARCH_ACTIVATIONS))


def mutate_arch(genes: ArchGenes, rng: random.Random, families: tuple[str, ...] = ("mlp",)) -> ArchGenes:
    """Change one architecture gene: a width, the depth (add or drop a layer), the activation or the family."""
    what = rng.choice(["width", "depth", "activation", "family"] if len(families) > 1 else
                      ["width", "depth", "activation"])
    widths = list(genes.widths)
    if what == "width":
        widths[rng.randrange(len(widths))] = rng.choice(ARCH_WIDTHS)
    elif what == "depth" and (len(widths) == 1 or (len(widths) < ARCH_MAX_DEPTH and rng.random() < 0.5)):
        widths.insert(rng.randrange(len(widths) + 1), rng.choice(ARCH_WIDTHS))
    elif what == "depth":
        widths.pop(rng.randrange(len(widths)))
    elif what == "activation":
        return ArchGenes(genes.family, genes.widths, rng.choice([a for a in ARCH_ACTIVATIONS if a != genes.activation]))
    else:
        return ArchGenes(rng.choice([f for f in families if f != genes.family]), genes.widths, genes.activation)
    return ArchGenes(genes.family, tuple(widths), genes.activation)
