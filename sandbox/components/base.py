"""The one interface of the trainable components, and what they share that is not their maths.

A component is an `nn.Module` built from shapes and a config dataclass, trained by `fit`, saved and loaded:

    model = Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(variational=True))
    dataset = Autoencoder.dataset(arrays, meta)        # a trajectory file's arrays -> the tensors it learns from
    history = model.fit(dataset, epochs=5)             # {"loss": [per epoch], ...}
    model.save("vae.pt"); model = load_component("vae.pt")

Each class sets `kind` (its name on the command line), `config`, `shapes`, an `optimizers` dict, and writes
`fit_step(batch) -> metrics` (one gradient step on a mini-batch: its loss, as its paper writes it); `fit`,
`save` and `load` are these module functions, bound in one line each. Its own verbs (`encode`, `decode`,
`sample`, `reward`, `act`) are its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from sandbox.checkpoints import load_checkpoint, save_checkpoint, to_tensors

# kind -> "module:Class", imported on demand (a checkpoint names its kind)
COMPONENTS = {
    "autoencoder": "sandbox.components.autoencoder:Autoencoder",
    "vae": "sandbox.components.autoencoder:Autoencoder",
    "gan": "sandbox.components.gan:GAN",
    "bc": "sandbox.components.bc:BehaviourCloning",
    "gail": "sandbox.components.gail:GAIL",
    "transformer": "sandbox.components.transformer:DecisionTransformer",
}

Dataset = dict[str, torch.Tensor]  # key -> (N, ...) tensor; row i of every key is one example
EpochHook = Callable[[dict[str, Any]], None]


class Component(Protocol):
    """What every component offers (a `typing.Protocol`: nothing to inherit)."""

    kind: str
    config: Any
    shapes: dict[str, Any]
    optimizers: dict[str, torch.optim.Optimizer]

    def fit_step(self, batch: Dataset) -> dict[str, float]: ...

    def fit(self, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None) -> dict[str, list[float]]: ...

    def save(self, path: str | os.PathLike) -> Path: ...


def fit_epochs(component: Any, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None,
               seed: int | None = None) -> dict[str, list[float]]:
    """Shuffled mini-batches of `config.batch_size` for `epochs` epochs; the metrics' epoch means.

    `hook`, if given, gets `{"epoch", "step", **metrics}` after every epoch (a progress line, a checkpoint).
    """
    n = _rows(dataset)
    batch_size = min(int(component.config.batch_size), n)
    generator = torch.Generator().manual_seed(int(seed if seed is not None else component.config.seed))
    history: dict[str, list[float]] = {}
    component.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)
        sums: dict[str, float] = {}
        batches = range(0, n - batch_size + 1, batch_size)  # whole batches only: batch norm needs B > 1
        for start in batches:
            rows = order[start:start + batch_size]
            metrics = component.fit_step({key: value[rows] for key, value in dataset.items()})
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
        for key, total in sums.items():
            history.setdefault(key, []).append(total / len(batches))
        if hook is not None:
            hook({"epoch": epoch + 1, **{key: values[-1] for key, values in history.items()}})
    component.eval()
    return history


def _rows(dataset: Dataset) -> int:
    sizes = {key: len(value) for key, value in dataset.items()}
    if not sizes or len(set(sizes.values())) != 1 or min(sizes.values()) < 2:
        raise ValueError(f"a dataset needs at least 2 rows and the same number in every key, got {sizes}")
    return next(iter(sizes.values()))


def component_payload(component: Any) -> dict[str, Any]:
    """A checkpoint's payload: enough to rebuild the component (kind, shapes, config) and resume its training."""
    return {"component": component.kind, "shapes": to_tensors(_plain(component.shapes)),
            "config": _plain(dataclasses.asdict(component.config)), "model": component.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in component.optimizers.items()}}


def save_component(component: Any, path: str | os.PathLike, **extra: Any) -> Path:
    """Write the component (and `extra`: an epoch, a history) atomically, readable with `weights_only`."""
    return save_checkpoint(path, {**component_payload(component), **extra})


def load_component(path: str | os.PathLike, payload: dict[str, Any] | None = None) -> Any:
    """Rebuild a saved component (its optimisers' state too, so `fit` continues); errors name the file."""
    payload = payload if payload is not None else load_checkpoint(path)
    kind = payload.get("component")
    if kind not in COMPONENTS:
        raise ValueError(f"{path} holds no trainable component (kind {kind!r}); known: {', '.join(COMPONENTS)}")
    module_name, _, cls_name = COMPONENTS[kind].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    config = config_from_dict(cls.config_class, payload["config"], str(path))
    component = cls(_shapes(payload["shapes"]), config)
    component.load_state_dict(payload["model"])
    for name, state in payload.get("optimizers", {}).items():
        if name in component.optimizers:
            component.optimizers[name].load_state_dict(state)
    if hasattr(component, "restore"):  # what a component keeps beside its modules (GAIL: its A2C state)
        component.restore(payload)
    component.eval()
    return component


def config_from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """A config dataclass from a dict (a checkpoint's, a CLI's); an unknown field is an error naming it."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} field(s) {unknown}; known: {sorted(known)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{key: tuple(v) if isinstance(fields[key].default, tuple) else v for key, v in values.items()})


def _plain(obj: Any) -> Any:
    """Tuples -> lists, numpy scalars -> Python numbers: what `weights_only` reads back."""
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(value) for value in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _shapes(shapes: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in shapes.items()}


def need(arrays: dict[str, np.ndarray], key: str, component: str, hint: str) -> np.ndarray:
    """`arrays[key]`, or a ValueError saying which component needs it and how to collect it."""
    if key not in arrays:
        raise ValueError(f"the {component} trains on {key!r}, which this file lacks (it has {sorted(arrays)}); "
                         f"{hint}")
    return arrays[key]



def observation_space(key: str, shape: tuple[int, ...]):
    """The gymnasium space of a trajectory file's observation key: pixels a uint8 image, rays a [-1, 1] Box
    (the env's rays are in [0, 1] or [-1, 1], so a backbone's scaling leaves them as they are)."""
    from gymnasium import spaces

    if key == "pixels":
        return spaces.Box(0, 255, tuple(shape), dtype=np.uint8)
    return spaces.Box(-1.0, 1.0, tuple(shape), dtype=np.float32)


def action_shape(actions: np.ndarray) -> int | tuple[int, ...]:
    """A trajectory file's actions as a component's shape: n (Discrete(5): 5) or (2,) (steer, throttle)."""
    return 5 if actions.ndim == 1 else tuple(actions.shape[1:])
