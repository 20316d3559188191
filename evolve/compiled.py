"""A population of plain MLP drivers stepped as one compiled call: for each slot (car), its network's forward
on its observation and the action that forward chooses, as the env's (steer, throttle).

    compiled = CompiledMLPs.of(bank, discrete)      # None when the bank is not plain MLPs over rays
    steer, throttle = compiled.actions(obs, members)  # obs (n, in) float32; car i driven by network members[i]

Why: in evolution's tail a generation keeps stepping a few cars for hundreds of steps, and there each step's
cost is fixed overhead, not arithmetic: the stacked torch forward is ~10 tensor calls (pad, a `baddbmm` and an
activation per layer, argmax), each several microseconds whatever the batch, plus decoding the actions. Here
the same maths is one loop per car, ~5 us for a handful of cars and about torch's time for thousands.

Each car's numbers come from its own network and observation alone, in a fixed order, so they are the same
whichever cars share the call (evolution's batched = alone holds). They are not torch's to the last bit (tanh
is computed as 2 sigmoid(2x) - 1 by another exp), so a champion driven by its torch `Driver` may, rarely, pick
another action where two outputs tie to within float rounding.
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
    """The MLPs of a `PopulationNet` as numpy arrays: per layer weight (P', in, out), bias (P', out), activation
    code; the input scaling is folded into the first layer (as the `PopulationNet` holds it)."""

    def __init__(self, weights: tuple, biases: tuple, codes: np.ndarray, discrete: bool):
        self.weights, self.biases, self.codes, self.discrete = weights, biases, codes, discrete
        self.width = max([w.shape[1] for w in weights] + [w.shape[2] for w in weights])

    @classmethod
    def of(cls, bank: Any, discrete: bool) -> CompiledMLPs | None:
        """The bank's networks compiled, or None where they are not plain MLPs (recurrent, attention, a
        plug-in: those keep their torch forward) or use an activation the kernel does not know."""
        layers = bank.layers if isinstance(bank, PopulationNet) else None
        if layers is None:
            return None
        names = [_name(fn) for _, _, fn in layers]
        if any(name not in CODES for name in names):
            return None
        weights = tuple(np.ascontiguousarray(w.numpy(), dtype=np.float32) for w, _, _ in layers)
        biases = tuple(np.ascontiguousarray(b.numpy().reshape(len(b), -1), dtype=np.float32) for _, b, _ in layers)
        return cls(weights, biases, np.array([CODES[n] for n in names], np.int64), discrete)

    def actions(self, obs: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(steer, throttle), each (n,) float64, of car i driven by network `members[i]` seeing `obs[i]`."""
        n = len(obs)
        steer, throttle = np.empty(n), np.empty(n)
        _forward_actions(np.ascontiguousarray(obs, dtype=np.float32), members, self.weights, self.biases,
                         self.codes, self.width, self.discrete, DISCRETE_ACTIONS, steer, throttle)
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
def _forward_actions(obs, members, weights, biases, codes, width, discrete, table, steer, throttle):
    """Per car: x <- act(x @ W[m] + b[m]) layer by layer (m its network), then the action: argmax over the
    outputs (Discrete, the first of equals, as torch's argmax) looked up in `table`, or tanh of the two
    outputs (a Box; NaN stands still)."""
    a, b = np.empty(width, np.float32), np.empty(width, np.float32)
    for i in range(obs.shape[0]):
        m, size = members[i], obs.shape[1]
        for k in range(size):
            a[k] = obs[i, k]
        for layer in range(len(weights)):
            w, bias = weights[layer], biases[layer]
            out = w.shape[2]
            for j in range(out):
                b[j] = bias[m, j]
            for k in range(size):  # row k of W[m] is contiguous: the inner loop over outputs vectorises
                v = a[k]
                for j in range(out):
                    b[j] += v * w[m, k, j]
            _activate(b, out, codes[layer])
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
