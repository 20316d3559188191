"""DAgger's aggregated dataset D, in tensors made once and overwritten as a ring (`agents.dagger`):

- `Aggregate`, for a feed-forward student: single (observation, expert label) rows, the transitions only;
- `Sequences`, for a recurrent student: whole iterations, each a block of T steps of N cars (observations,
  labels, episode starts, which rows were transitions) with the student's state before the block's first step,
  so that a minibatch of env columns can be replayed through the recurrence as the student drove them.

Both take one batch step at a time, `add(obs, labels, valid, start)`, and `end_block(state)` after an
iteration's last step; each saves and restores its filled part for a checkpoint (`state_dict`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.envs import map_obs

Obs = torch.Tensor | dict[str, torch.Tensor]
State = tuple[torch.Tensor, ...]


class Aggregate:
    """D: (observation, expert label) rows in tensors made once, a ring of `capacity` rows."""

    def __init__(self, capacity: int, obs: Obs, labels: torch.Tensor):
        """Empty, for rows like those of `obs` (N, ...) (or a dict of them) and `labels` (N, ...)."""
        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.obs = map_obs(obs, lambda x: torch.zeros((capacity, *x.shape[1:]), dtype=x.dtype))
        self.labels = torch.zeros((capacity, *labels.shape[1:]), dtype=labels.dtype)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: Obs, labels: torch.Tensor, valid: np.ndarray, start: torch.Tensor | None = None) -> None:
        """Append the rows of a batch step where `valid` (the transitions), over the oldest once full. `start`
        (where episodes begin) is for `Sequences`: a single state needs none."""
        rows = torch.from_numpy(np.flatnonzero(valid))
        at = (self.cursor + torch.arange(len(rows))) % self.capacity  # (k,) slots, distinct: k <= num_envs
        for buffer, batch in _pairs(self.obs, obs):
            buffer[at] = batch[rows]
        self.labels[at] = labels[rows]
        self.cursor = (self.cursor + len(rows)) % self.capacity
        self.size = min(self.size + len(rows), self.capacity)

    def end_block(self, state: State) -> None:
        """Nothing: rows need no block (nor the feed-forward student's state, which is ())."""

    def rows(self, idx: torch.Tensor) -> tuple[Obs, torch.Tensor]:
        """The observations and labels at `idx`."""
        # index_select, not x[idx]: for uint8 frames it copies whole rows, ~8x faster than advanced indexing
        return map_obs(self.obs, lambda x: x.index_select(0, idx)), self.labels[idx]

    def state_dict(self) -> dict[str, Any]:
        """The filled rows (copies: a view would save the whole ring) and the cursor, for a checkpoint."""
        return {"obs": map_obs(self.obs, lambda x: x[: self.size].clone()), "labels": self.labels[: self.size].clone(),
                "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.cursor = len(state["labels"]), int(state["cursor"])
        for buffer, saved in _pairs(self.obs, state["obs"]):
            buffer[: self.size] = saved
        self.labels[: self.size] = state["labels"]


class Sequences:
    """D for a recurrent student: a ring of `capacity` blocks, one per iteration, each T steps of N cars.

    A block keeps every row, transitions or not, in time order, so that replaying a car's column of it with its
    episode starts gives the states the student had; only the rows marked valid count in the loss.
    """

    def __init__(self, capacity: int, steps: int, obs: Obs, labels: torch.Tensor, state: State):
        """Empty, for batch steps like `obs` (N, ...) (or a dict of them) and `labels` (N, ...), and a student's
        state like `state` (each (layers, N, hidden))."""
        self.capacity, self.blocks, self.cursor, self.step = capacity, 0, 0, 0
        n = len(labels)
        self.obs = map_obs(obs, lambda x: torch.zeros((capacity, steps, *x.shape), dtype=x.dtype))  # (K, T, N, ...)
        self.labels = torch.zeros((capacity, steps, *labels.shape), dtype=labels.dtype)  # (K, T, N, ...)
        self.starts = torch.zeros(capacity, steps, n)  # 1.0 where the observation begins an episode
        self.valid = torch.zeros(capacity, steps, n, dtype=torch.bool)  # the transitions
        self.state = tuple(torch.zeros((capacity, *s.shape)) for s in state)  # each (K, layers, N, hidden)

    def __len__(self) -> int:
        """The transitions D holds (the states labelled and learned from)."""
        return int(self.valid[: self.blocks].sum())

    def add(self, obs: Obs, labels: torch.Tensor, valid: np.ndarray, start: torch.Tensor) -> None:
        """Write batch step `self.step` of the block being filled (over the oldest block once full): every car's
        observation, label and episode-start flag (`start`, as the student read it), and which were transitions."""
        at = (self.cursor, self.step)
        for buffer, batch in _pairs(self.obs, obs):
            buffer[at] = batch
        self.labels[at], self.starts[at], self.valid[at] = labels, start, torch.from_numpy(valid)
        self.step += 1

    def end_block(self, state: State) -> None:
        """Close the block with the student's state before its first step. That is the state the student had when
        it drove the block, stale once the student has trained on: R2D2's "stored state" (Kapturowski et al.,
        ICLR 2019), which a replay from it starts from."""
        for buffer, s in zip(self.state, state, strict=True):
            buffer[self.cursor] = s.detach()
        self.cursor, self.step = (self.cursor + 1) % self.capacity, 0
        self.blocks = min(self.blocks + 1, self.capacity)

    def columns(self, block: torch.Tensor, car: torch.Tensor) -> tuple[Obs, torch.Tensor, torch.Tensor,
                                                                       torch.Tensor, State]:
        """The columns (block[i], car[i]) of b cars, time-major as `forward_sequence` reads them: observations
        (T, b, ...), labels (T, b, ...), episode starts (T, b), valid (T, b), and the state each began from
        (each (layers, b, hidden))."""
        pick = lambda x: x[block, :, car].transpose(0, 1)  # noqa: E731  (K, T, N, ...) -> (b, T, ...) -> (T, b, ...)
        state = tuple(s[block, :, car].transpose(0, 1).contiguous() for s in self.state)  # (layers, b, hidden)
        return map_obs(self.obs, pick), pick(self.labels), pick(self.starts), pick(self.valid), state

    def state_dict(self) -> dict[str, Any]:
        """The filled blocks (copies) and the cursor, for a checkpoint."""
        filled = lambda x: x[: self.blocks].clone()  # noqa: E731
        return {"obs": map_obs(self.obs, filled), "labels": filled(self.labels), "starts": filled(self.starts),
                "valid": filled(self.valid), "state": [filled(s) for s in self.state], "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.blocks, self.cursor, self.step = len(state["labels"]), int(state["cursor"]), 0
        pairs = [*_pairs(self.obs, state["obs"]), *zip(self.state, state["state"], strict=True),
                 (self.labels, state["labels"]), (self.starts, state["starts"]), (self.valid, state["valid"])]
        for buffer, saved in pairs:
            buffer[: self.blocks] = saved


def _pairs(a: Obs, b: Obs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Matching tensors of two observations (a dict's by key)."""
    return [(a[key], b[key]) for key in a] if isinstance(a, dict) else [(a, b)]
