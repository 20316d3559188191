"""Behaviour cloning: supervised learning of the demonstrator's action from the state (Pomerleau, "ALVINN: An
Autonomous Land Vehicle in a Neural Network", NIPS 1988). The baseline every imitation learner is held to.

    min_theta  E_{(s, a) ~ demonstrations} [ -log pi_theta(a | s) ]
    Discrete(5): the cross-entropy of the logits; (steer, throttle): a unit-variance Gaussian, i.e.
    1/2 ||mu_theta(s) - a||^2 up to a constant.

The policy is a backbone (any family) and a linear head, as the agents' actor. It drives with `act` (and
through `sandbox.components.driving.load_driving_component`); `sandbox fit bc --data FILE` trains it.
`fit_early_stopping`
is the fair baseline: the number of epochs is chosen on held-out demonstrations (the file's last episodes),
then the policy is refitted on all of them for that many epochs.

    model = BehaviourCloning({"obs": (11,), "action": 5}, BCConfig()); model.fit(dataset, epochs=20)
    model.fit_early_stopping(dataset)              # epochs chosen on held-out demonstrations
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from sandbox.backbones import make_backbone
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
class BCConfig:
    """Hyper-parameters of behaviour cloning."""

    obs: str = "rays"
    """the observation key it reads: rays or pixels"""
    backbone: str = "mlp"
    """any backbone spec"""
    backbone_options: dict[str, Any] = field(default_factory=lambda: {"widths": [64, 64]})
    learning_rate: float = 1e-3
    batch_size: int = 256
    seed: int = 0


def policy_dataset(arrays: dict[str, np.ndarray], obs: str, who: str) -> Dataset:
    """{"obs": (T, ...), "action": (T,) or (T, 2)} from a trajectory file."""
    states = need(arrays, obs, who, f"collect with `sandbox collect --obs {obs}` (or both)")
    return {"obs": torch.as_tensor(states), "action": torch.as_tensor(arrays["action"])}


class BehaviourCloning(nn.Module):
    """pi_theta(a | s): a backbone over the observation and a head (logits, or a Gaussian's mean).

    Args:
        shapes: {"obs": observation shape, "action": 5 (Discrete(5)) or (2,) (steer, throttle)}.
        config: a `BCConfig`.
    """

    kind = "bc"
    config_class = BCConfig

    def __init__(self, shapes: dict[str, Any], config: BCConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or BCConfig()
        self.shapes = {"obs": tuple(shapes["obs"]), "action": shapes["action"]}
        self.discrete = isinstance(shapes["action"], int)
        torch.manual_seed(config.seed)
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in config.backbone_options.items()}
        self.backbone = make_backbone(config.backbone, observation_space(config.obs, self.shapes["obs"]), **options)
        n_out = shapes["action"] if self.discrete else int(np.prod(shapes["action"]))
        self.head = nn.Linear(self.backbone.out_dim, n_out)
        self.optimizers = {"policy": torch.optim.Adam(self.parameters(), lr=config.learning_rate)}

    @staticmethod
    def dataset(arrays: dict[str, np.ndarray], meta: dict[str, Any], obs: str = "rays") -> Dataset:
        return policy_dataset(arrays, obs, "behaviour cloning")

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]:
        return {"obs": tuple(dataset["obs"].shape[1:]), "action": action_shape(dataset["action"].numpy())}

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (B, 5), or the Gaussian's mean (B, 2) squashed into [-1, 1]."""
        out = self.head(self.backbone(obs))
        return out if self.discrete else torch.tanh(out)

    def loss(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """-log pi(a | s), a batch mean (up to a constant for the Gaussian)."""
        out = self(obs)
        if self.discrete:
            return nn.functional.cross_entropy(out, action.long())
        return 0.5 * (out - action.float()).pow(2).sum(dim=1).mean()

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One Adam step on a batch {"obs", "action"}; its loss and its agreement with the demonstrator."""
        loss = self.loss(batch["obs"], batch["action"])
        self.optimizers["policy"].zero_grad()
        loss.backward()
        self.optimizers["policy"].step()
        return {"loss": loss.item()}

    def fit_early_stopping(self, dataset: Dataset, max_epochs: int = 300, patience: int = 20,
                           val_fraction: float = 0.2) -> dict[str, Any]:
        """Fit with the epoch count chosen on held-out demonstrations, then refit on all of them.

        The last `val_fraction` of the rows (a trajectory file's last episodes: whole episodes, so no
        neighbouring frames leak) is held out; a copy trains until its held-out loss has not improved for
        `patience` epochs; this model (untouched until then) then trains on every row for the best count.
        Returns {"epochs": the count, "val_loss": its held-out loss, "history": the final fit's history}.
        """
        n = len(dataset["obs"])
        cut = int(round(n * (1.0 - val_fraction)))
        if not 2 <= cut <= n - 1:
            raise ValueError(f"fit_early_stopping: {n} rows leave no training or held-out rows at {val_fraction}")
        train = {key: value[:cut] for key, value in dataset.items()}
        held = {key: value[cut:] for key, value in dataset.items()}
        probe = type(self)(self.shapes, self.config)
        best, best_loss, seen = 0, float("inf"), 0
        while seen < max_epochs and seen - best < patience:
            probe.fit(train, epochs=1, seed=self.config.seed + seen)
            seen += 1
            with torch.no_grad():
                loss = probe.loss(held["obs"], held["action"]).item()
            if loss < best_loss:
                best, best_loss = seen, loss
        history: dict[str, list[float]] = {}
        for epoch in range(best):  # the same seeds as the probe's epochs: the same order of batches
            for key, values in self.fit(dataset, epochs=1, seed=self.config.seed + epoch).items():
                history.setdefault(key, []).extend(values)
        return {"epochs": best, "val_loss": best_loss, "history": history}

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Env-ready actions for a batch of observations: the most likely (or a sampled) action."""
        with torch.no_grad():
            out = self(torch.as_tensor(np.asarray(obs)))
            if not self.discrete:
                return out.numpy().astype(np.float32)
            if deterministic:
                return out.argmax(dim=1).numpy()
            return torch.distributions.Categorical(logits=out).sample().numpy()

    fit = fit_epochs
    save = save_component
    load = staticmethod(load_component)
