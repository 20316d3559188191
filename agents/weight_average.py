"""An exponential moving average of a model's weights (Polyak & Juditsky 1992; as TensorFlow's
`ExponentialMovingAverage` and timm's `ModelEmaV2` keep it), for a learner whose weights swing from one refit to
the next though its loss no longer falls:

    theta_avg <- d_t * theta_avg + (1 - d_t) * theta,    d_t = min(decay, (1 + t) / (10 + t))

after the t-th optimizer step. The warm-up d_t lets the average follow the first steps closely instead of
holding the initial weights for 1 / (1 - decay) steps.

`polyak_update` is the step itself, shared with Q-learning's soft target network (tau = 1 - d_t here).

The model holds the average between fits, so whatever reads the model (acting, evaluation, checkpoints, a hook)
reads the averaged driver; `training()` swaps the live weights in for the optimizer and back out after. The live
weights are the optimizer's (its state is theirs) and travel in the checkpoint's extra for resume.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


def polyak_update(target: Iterable[torch.Tensor], source: Iterable[torch.Tensor], tau: float) -> None:
    """target <- tau * source + (1 - tau) * target, tensor by tensor, in place."""
    with torch.no_grad():
        for t, s in zip(target, source, strict=True):
            t.mul_(1.0 - tau).add_(tau * s)


class WeightAverage:
    """The averaged and live weights of `model`'s parameters; the model starts with both equal to its own."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        self.params, self.decay, self.steps = list(model.parameters()), decay, 0
        self.live = [p.detach().clone() for p in self.params]

    @contextmanager
    def training(self) -> Iterator[None]:
        """Inside: the model holds the live weights, and `update()` after each optimizer step moves the average.
        After: the model holds the average again."""
        self._average = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.live)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.live, self.params)
                torch._foreach_copy_(self.params, self._average)
            del self._average

    def update(self) -> None:
        """theta_avg <- d_t theta_avg + (1 - d_t) theta, after an optimizer step (inside `training()`)."""
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        polyak_update(self._average, self.params, 1.0 - decay)
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"live": [w.clone() for w in self.live], "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["live"]) != len(self.live):
            raise ValueError(f"the saved live weights are {len(state['live'])} tensors, the model has "
                             f"{len(self.live)} parameters")
        with torch.no_grad():
            torch._foreach_copy_(self.live, state["live"])
        self.steps = int(state["steps"])
