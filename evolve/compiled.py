"""A population of plain MLP drivers stepped as one compiled call: for each slot (car), its network's forward
on its observation and the action that forward chooses, as the env's (steer, throttle).

    compiled = CompiledMLPs.of(bank, discrete)      # None when the bank is not plain MLPs
    steer, throttle = compiled.actions(obs, members)  # obs (n, in) float32; car i driven by network members[i]

Why: in evolution's tail a generation keeps stepping a few cars for hundreds of steps, and there each step's
cost is fixed overhead, not arithmetic: the stacked torch forward is ~10 tensor calls (pad, a `baddbmm` and an
activation per layer, argmax), each several microseconds whatever the batch, plus decoding the actions. Here
the same maths is one loop per car, ~5 us for a handful of cars and about torch's time for thousands.

Each car's numbers come from its own network and observation alone, in a fixed order, so they are the same
whichever cars share the call (evolution's batched = alone holds). They are not torch's to the last bit (the
activations use numba's exp, not torch's kernels), so a champion driven by its torch `Driver` may, rarely,
pick another action where two outputs tie to within float rounding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from envs.physics import DISCRETE_ACTIONS
from evolve.population import PopulationNet
from sandbox.backbones.population import ELEMENTWISE

# the activations a `PopulationNet` folds (sandbox.backbones.population.ELEMENTWISE), as the kernel's codes
CODES = {None: 0, "step": 1, "sigmoid": 2, "tanh": 3, "relu": 4, "abs": 5, "gelu": 6}


class CompiledMLPs:
    """MLPs of any shapes as flat arrays: network m has `depth[m]` layers; its layer l maps `dims[m, l, 0]`
    inputs to `dims[m, l, 1]` outputs with the weights at params[w_at[m, l]:] laid (in, out) row-major, the
    bias at params[b_at[m, l]:], then activation `codes[m, l]`. The input scaling is folded into the first
    layer (as a `PopulationNet` holds it). Networks of several architectures concatenate (`concat`) into one
    bank, so that architecture evolution drives a whole generation as one batch."""

    def __init__(self, params: np.ndarray, w_at: np.ndarray, b_at: np.ndarray, dims: np.ndarray, codes: np.ndarray,
                 depth: np.ndarray, discrete: bool):
        self.params, self.w_at, self.b_at, self.dims, self.codes, self.depth = params, w_at, b_at, dims, codes, depth
        self.discrete, self.width = discrete, int(dims.max())

    def __len__(self) -> int:
        return len(self.depth)

    @classmethod
    def of(cls, bank: Any, discrete: bool) -> CompiledMLPs | None:
        """The bank's networks compiled, or None where they are not plain MLPs (recurrent, attention, a
        plug-in: those keep their torch forward) or use an activation the kernel does not know."""
        layers = bank.layers if isinstance(bank, PopulationNet) else None
        if layers is None or any(_name(fn) not in CODES for _, _, fn in layers):
            return None
        P, L = bank.size, len(layers)
        # network p's block: every layer's weights (in * out) then bias (out), one row of a (P, block) array
        parts = [part for w, b, _ in layers for part in (w[:P].reshape(P, -1), b[:P].reshape(P, -1))]
        sizes = np.array([part.shape[1] for part in parts])
        block = np.concatenate([part.numpy() for part in parts], axis=1).astype(np.float32)  # (P, block)
        offsets = np.arange(P)[:, None] * block.shape[1] + np.concatenate([[0], np.cumsum(sizes)[:-1]])[None]
        dims = np.array([[w.shape[1], w.shape[2]] for w, _, _ in layers], np.int64)
        return cls(block.ravel(), offsets[:, 0::2].copy(), offsets[:, 1::2].copy(),
                   np.broadcast_to(dims, (P, L, 2)).copy(),
                   np.tile(np.array([CODES[_name(fn)] for _, _, fn in layers], np.int64), (P, 1)),
                   np.full(P, L, np.int64), discrete)

    @classmethod
    def concat(cls, banks: list[CompiledMLPs]) -> CompiledMLPs:
        """One bank of `banks`' networks, in order (network m of banks[1] is network len(banks[0]) + m)."""
        L = max(bank.dims.shape[1] for bank in banks)

        def padded(a: np.ndarray) -> np.ndarray:  # (P, l, ...) -> (P, L, ...), the layers past l never read
            return np.concatenate([a, np.zeros((a.shape[0], L - a.shape[1], *a.shape[2:]), a.dtype)], axis=1)

        shift = np.cumsum([0] + [len(bank.params) for bank in banks[:-1]])
        return cls(np.concatenate([bank.params for bank in banks]),
                   np.concatenate([padded(bank.w_at) + s for bank, s in zip(banks, shift, strict=True)]),
                   np.concatenate([padded(bank.b_at) + s for bank, s in zip(banks, shift, strict=True)]),
                   np.concatenate([padded(bank.dims) for bank in banks]),
                   np.concatenate([padded(bank.codes) for bank in banks]),
                   np.concatenate([bank.depth for bank in banks]), banks[0].discrete)

    def actions(self, obs: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(steer, throttle), each (n,) float64, of car i driven by network `members[i]` seeing `obs[i]`."""
        n = len(obs)
        steer, throttle = np.empty(n), np.empty(n)
        _forward_actions(np.ascontiguousarray(obs, dtype=np.float32), members, self.params, self.w_at, self.b_at,
                         self.dims, self.codes, self.depth, max(self.width, obs.shape[1]), self.discrete,
                         DISCRETE_ACTIONS, steer, throttle)
        return steer, throttle


def _name(fn: Any) -> str | None:
    """The ELEMENTWISE name of a folded layer's activation (None for none; '?' for one the kernel lacks)."""
    if fn is None:
        return None
    return next((name for name, f in ELEMENTWISE.items() if f is fn), "?")


@njit(cache=True)
def _activate(x, size, code):
    for j in range(size):
        v = x[j]
        if code == 1:
            x[j] = np.float32(1.0) if v > 0 else np.float32(0.0)
        elif code == 2:
            x[j] = np.float32(1.0) / (np.float32(1.0) + np.exp(-v))
        elif code == 3:
            x[j] = np.float32(2.0) / (np.float32(1.0) + np.exp(np.float32(-2.0) * v)) - np.float32(1.0)
        elif code == 4:
            x[j] = max(v, np.float32(0.0))
        elif code == 5:
            x[j] = abs(v)
        elif code == 6:
            x[j] = np.float32(0.5) * v * (np.float32(1.0) + np.float32(math.erf(v / math.sqrt(2.0))))


@njit(cache=True)
def _forward_actions(obs, members, params, w_at, b_at, dims, codes, depth, width, discrete, table, steer, throttle):
    """Per car: x <- act(x @ W + b) through its network's layers, then the action: argmax over the outputs
    (Discrete, the first of equals, as torch's argmax) looked up in `table`, or tanh of the two outputs (a Box;
    NaN stands still)."""
    a, b = np.empty(width, np.float32), np.empty(width, np.float32)
    for i in range(obs.shape[0]):
        m, size = members[i], obs.shape[1]
        for k in range(size):
            a[k] = obs[i, k]
        for layer in range(depth[m]):
            out, w0, b0 = dims[m, layer, 1], w_at[m, layer], b_at[m, layer]
            for j in range(out):
                b[j] = params[b0 + j]
            for k in range(size):  # row k of W is contiguous: the inner loop over outputs vectorises
                v, row = a[k], w0 + k * out
                for j in range(out):
                    b[j] += v * params[row + j]
            _activate(b, out, codes[m, layer])
            a, b = b, a
            size = out
        if discrete:
            best = 0
            for j in range(1, size):
                if a[j] > a[best]:
                    best = j
            steer[i], throttle[i] = table[best, 0], table[best, 1]
        else:
            s, t = np.float32(math.tanh(a[0])), np.float32(math.tanh(a[1]))
            steer[i] = 0.0 if s != s else s
            throttle[i] = 0.0 if t != t else t
