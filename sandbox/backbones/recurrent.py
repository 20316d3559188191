"""The recurrent family: a feed-forward stem per step, then an LSTM or GRU that carries a state across steps.

    backbone = make_backbone("lstm", space, hidden_size=64)              # "gru" alike; stem="cnn" for pixels
    state = backbone.initial_state(num_envs)                               # a tuple: (h, c) or (h,)
    features, state = backbone(obs, state, episode_start)                  # one step: (B, ...) -> (B, hidden)
    features, state = backbone.forward_sequence(obs, state, episode_starts)  # a rollout: (T, B, ...)

A recurrent backbone adds one piece to the backbone contract: the state. A consumer keeps it per car, and
`episode_start` (1 where this observation begins a new episode) zeroes a row's state before the step, so one
car's memory never leaks into its next episode. `forward_sequence` re-runs a stored rollout with the same
resets, so the gradient flows back through every step of it: truncated backpropagation through time, as
CleanRL's ppo_atari_lstm.py does. LSTM: Hochreiter & Schmidhuber 1997; GRU: Cho et al. 2014.
`is_recurrent(backbone)` tells the two kinds apart; feed-forward backbones have no `recurrent` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones.activations import trainable_by_gradient
from sandbox.backbones.config import build_config, choice
from sandbox.backbones.registry import BackboneError, make_backbone

CELLS = ("lstm", "gru")
State = tuple[torch.Tensor, ...]
Obs = torch.Tensor | dict[str, torch.Tensor]


def is_recurrent(backbone: nn.Module) -> bool:
    """True for a backbone that carries a state (`initial_state`, `backbone(obs, state, episode_start)`)."""
    return bool(getattr(backbone, "recurrent", False))


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class RecurrentConfig:
    """Options of the recurrent family (`make_backbone("lstm" | "gru", space, **options)`)."""

    cell: str = "lstm"
    """lstm or gru; set by the name the backbone is made under."""
    hidden_size: int = 128
    """Width of the recurrent state, and `out_dim`."""
    num_layers: int = 1
    """Stacked recurrent layers (each reads the hidden state of the one below)."""
    stem: str = "mlp"
    """The feed-forward backbone applied to each step's observation first: mlp for rays or vectors, cnn for
    pixels (or a Dict holding them), or any other non-recurrent spec `make_backbone` takes."""
    stem_options: dict[str, Any] = field(default_factory=dict)
    """Options passed to `make_backbone` for the stem (e.g. {"widths": (64,)} or {"channels": (16, 32)})."""

    def __post_init__(self) -> None:
        choice("cell", self.cell, CELLS)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)
        if isinstance(self.stem, str) and self.stem in CELLS:
            raise ValueError(f"stem must be a feed-forward backbone (mlp, cnn, ...), got the recurrent {self.stem!r}")
        if not isinstance(self.stem, str) and not callable(self.stem):
            raise ValueError(f"stem must be a backbone name or 'module:attr' string, got {self.stem!r}")
        if not isinstance(self.stem_options, Mapping) or not all(isinstance(k, str) for k in self.stem_options):
            raise ValueError(f"stem_options must be a dict of option names to values, got {self.stem_options!r}")
        object.__setattr__(self, "stem_options", dict(self.stem_options))  # a copy: the caller's dict may change


def _build_stem(config: RecurrentConfig, observation_space: spaces.Space) -> nn.Module:
    """The stem backbone, with its errors prefixed by the field that chose it."""
    try:
        stem = make_backbone(config.stem, observation_space, **config.stem_options)
    except BackboneError as exc:
        raise BackboneError(f"stem {config.stem!r} of the {config.cell!r} backbone: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"stem {config.stem!r} of the {config.cell!r} backbone: {exc}") from exc
    if is_recurrent(stem):
        raise ValueError(f"stem must be a feed-forward backbone, but {config.stem!r} is recurrent")
    return stem


def _init_rnn(rnn: nn.RNNBase, gates: int) -> None:
    """Orthogonal weights, zero biases, as CleanRL's ppo_atari_lstm.py initialises its LSTM.

    An orthogonal recurrent matrix neither grows nor shrinks the state it multiplies, so early in training a
    gradient through T steps is less prone to explode or vanish than with torch's uniform default (Saxe et
    al. 2014). One orthogonal block per gate, since torch stacks the gates' matrices into one (CleanRL makes
    the whole stack orthogonal instead). Zero biases: every gate starts half open (sigmoid(0) = 1/2), leaning
    neither to remembering nor to forgetting.
    """
    for name, param in rnn.named_parameters():
        if name.startswith("bias"):
            nn.init.zeros_(param)
        else:
            for block in param.data.chunk(gates, dim=0):  # (gates * H, in) -> gates x (H, in), views
                nn.init.orthogonal_(block)


class RecurrentBackbone(nn.Module):
    """stem -> LSTM or GRU: (obs (B, *obs_shape), state, episode_start (B,)) -> (features (B, hidden), state).

    Args:
        observation_space: any space the stem reads (a Box, an image Box, a Dict).
        config: a `RecurrentConfig`; `options` override its fields.
    """

    recurrent = True

    def __init__(self, observation_space: spaces.Space, config: RecurrentConfig | None = None, **options) -> None:
        super().__init__()
        family = options.get("cell", config.cell if config is not None else "lstm")
        self.config = config = build_config(RecurrentConfig, config, options, family)
        self.stem = _build_stem(config, observation_space)
        rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn_class(self.stem.out_dim, config.hidden_size, config.num_layers)  # time-major (T, B, ...)
        _init_rnn(self.rnn, gates=4 if config.cell == "lstm" else 3)
        self.is_lstm = config.cell == "lstm"
        self.out_dim = config.hidden_size
        self.trainable_by_gradient = trainable_by_gradient(self)

    def initial_state(self, batch_size: int) -> State:
        """Zeros for `batch_size` cars: (h, c) for an LSTM, (h,) for a GRU, each (num_layers, B, hidden)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be a non-negative integer, got {batch_size!r}")
        weight = self.rnn.weight_hh_l0
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        return tuple(weight.new_zeros(shape) for _ in range(2 if self.is_lstm else 1))

    def forward(self, obs: Obs, state: State, episode_start: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step for B cars; the state of a row whose `episode_start` is 1 is zeroed before the step.

        Args:
            obs: (B, *obs_shape), or a dict of those for a Dict space.
            state: as `initial_state(B)` gives it.
            episode_start: (B,) bool or float, 1 where `obs` is the first observation of an episode.

        Returns:
            features (B, hidden_size) and the state after this step.
        """
        x = self.stem(obs)  # (B, stem.out_dim)
        starts = self._check(state, episode_start, (x.shape[0],), x)
        out, state = self._run(x.unsqueeze(0), state, starts)  # (1, B, hidden)
        return out[0], state

    def forward_sequence(self, obs: Obs, state: State, episode_starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """T steps for B cars at once (a rollout), the state reset per row where `episode_starts` is 1.

        The stem reads all T * B observations in one batch; the recurrence then runs in time order. Gradients
        flow through every step back to `state` (truncated backpropagation through time over the rollout).

        Args:
            obs: (T, B, *obs_shape), or a dict of those.
            state: the state before the first step, as `initial_state(B)` gives it.
            episode_starts: (T, B) bool or float.

        Returns:
            features (T, B, hidden_size) and the state after the last step.
        """
        starts = torch.as_tensor(episode_starts)
        if starts.dim() != 2:
            raise ValueError(f"episode_starts must be (T, B), got shape {tuple(starts.shape)}")
        steps, batch = starts.shape
        x = self.stem(_merge_time(obs, steps, batch))  # (T * B, stem.out_dim)
        x = x.reshape(steps, batch, -1)  # (T, B, stem.out_dim)
        starts = self._check(state, starts, (steps, batch), x)
        # Rows reset at step t only matter from t on, so the recurrence runs in one call over each stretch of
        # steps that begins with a reset somewhere and has none after: the same as stepping one at a time
        # (a reset at every step degrades to CleanRL's per-step loop), with far fewer calls when resets are rare.
        resets = (starts[1:].any(dim=1).nonzero().flatten() + 1).tolist()  # steps after the first with a reset
        bounds = [0, *resets, steps]
        outs = []
        for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
            out, state = self._run(x[begin:end], state, starts[begin])  # (end - begin, B, hidden)
            outs.append(out)
        return torch.cat(outs), state  # (T, B, hidden)

    def _run(self, x: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """The recurrence over x (t, B, in) from `state`, rows with `starts` (B,) zeroed first."""
        keep = (1.0 - starts).view(1, -1, 1)  # (1, B, 1): 0 on rows that start an episode
        state = tuple(keep * s for s in state)
        out, new = self.rnn(x, state if self.is_lstm else state[0])
        return out, tuple(new) if self.is_lstm else (new,)

    def _check(self, state: State, starts: Any, shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
        """Refuse a state or a start mask of the wrong shape; the mask as floats on x's device."""
        starts = torch.as_tensor(starts, device=x.device)
        if tuple(starts.shape) != shape:
            raise ValueError(f"episode start mask has shape {tuple(starts.shape)}; expected {shape} to match obs")
        expected = (self.config.num_layers, shape[-1], self.config.hidden_size)  # (layers, B, hidden)
        tensors = 2 if self.is_lstm else 1
        shapes = [tuple(getattr(s, "shape", ())) for s in state] if isinstance(state, (tuple, list)) else state
        if shapes != [expected] * tensors:
            raise ValueError(f"state must be {tensors} tensor(s) of shape {expected} (see initial_state), got {shapes}")
        return starts.to(x.dtype)


def _merge_time(obs: Obs, steps: int, batch: int) -> Obs:
    """(T, B, *shape) -> (T * B, *shape), per key for a dict."""
    if isinstance(obs, dict):
        return {key: _merge_time(value, steps, batch) for key, value in obs.items()}
    if tuple(obs.shape[:2]) != (steps, batch):
        raise ValueError(f"observations have shape {tuple(obs.shape)}; expected (T, B, ...) = ({steps}, {batch}, ...)")
    return obs.reshape(steps * batch, *obs.shape[2:])  # (T * B, *obs_shape)


def _build(cell: str, observation_space: spaces.Space, config: RecurrentConfig | None, options: dict) -> nn.Module:
    given = options.get("cell", config.cell if config is not None else cell)
    if given != cell:
        other = f"; make_backbone({given!r}, ...) builds that" if given in CELLS else ""
        raise ValueError(f"cell of the {cell!r} backbone is {cell!r} (its name sets it), got {given!r}{other}")
    return RecurrentBackbone(observation_space, config, **{**options, "cell": cell})


def build_lstm(observation_space: spaces.Space, config: RecurrentConfig | None = None, **options) -> nn.Module:
    """The registered "lstm" backbone: a `RecurrentBackbone` with an LSTM cell."""
    return _build("lstm", observation_space, config, options)


def build_gru(observation_space: spaces.Space, config: RecurrentConfig | None = None, **options) -> nn.Module:
    """The registered "gru" backbone: a `RecurrentBackbone` with a GRU cell."""
    return _build("gru", observation_space, config, options)
