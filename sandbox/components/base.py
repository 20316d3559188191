"""The one interface of the trainable components, and what they share that is not their maths.

A component is an `nn.Module` built from shapes and a config dataclass, trained by `fit`, saved and loaded:

    model = Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(variational=True))
    dataset = Autoencoder.dataset(arrays, meta)        # a trajectory file's arrays -> the tensors it learns from
    history = model.fit(dataset, epochs=5)             # {"loss": [per epoch], ...}
    model.save("vae.pt"); model = load_component("vae.pt")

Each class sets `kind` (its name on the command line), `config`, `shapes`, an `optimizers` dict, and writes
`fit_step(batch) -> metrics` (one gradient step on a mini-batch: its loss, as its paper writes it); `fit`,
`save` and `load` are these module functions, bound in one line each. Its own verbs (`encode`, `decode`,
`sample`, `reward`, `act`) are its own. A component whose example is built from several rows (the Decision
Transformer's window: K steps) also writes `batch_of(dataset, rows) -> batch`, so its dataset stays one row
per example and only a batch of windows is ever built (and its own `fit`, which checks sizes first).

A fit never goes on with, nor lets anyone save, non-finite weights: after every step `fit_epochs` checks the
metrics and the weights (`check_finite`) and stops with a `DivergenceError` (a FloatingPointError) naming the
component, the metric or weight, and where.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from sandbox.runs.checkpoints import load_checkpoint, non_finite_weight, save_checkpoint, to_tensors

# kind -> "module:Class", imported on demand (a checkpoint names its kind)
COMPONENTS = {
    "autoencoder": "sandbox.components.autoencoder:Autoencoder",
    "vae": "sandbox.components.autoencoder:Autoencoder",
    "gan": "sandbox.components.gan:GAN",
    "bc": "sandbox.components.bc:BehaviourCloning",
    "gail": "sandbox.components.gail:GAIL",
    "transformer": "sandbox.components.transformer:DecisionTransformer",
    "mdn_rnn": "sandbox.components.mdn_rnn:MDNRNN",
}

Dataset = dict[str, torch.Tensor]  # key -> (N, ...) tensor; row i of every key is one example
EpochHook = Callable[[dict[str, Any]], None]


class Component(Protocol):
    """What every component offers (a `typing.Protocol`: nothing to inherit), all that `sandbox fit` uses.

    Class-level: `kind` (its name on the command line), `config_class` (its config dataclass),
    `dataset(arrays, meta, **options)` (a trajectory file's arrays -> the tensors it learns from) and
    `shapes_of(dataset)` (the shapes it is built from). Instance-level: what follows. Optional:
    `batch_of(dataset, rows)` (a mini-batch of the dataset's rows; default: every key's rows), `reconstruct`
    and `sample` (the images `sandbox fit` writes).
    """

    kind: str
    config_class: type
    config: Any
    shapes: dict[str, Any]
    optimizers: dict[str, torch.optim.Optimizer]

    @staticmethod
    def dataset(arrays: dict[str, np.ndarray], meta: dict[str, Any], **options: Any) -> Dataset: ...

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]: ...

    def fit_step(self, batch: Dataset) -> dict[str, float]: ...

    def fit(self, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None,
            seed: int | None = None) -> dict[str, list[float]]: ...

    def save(self, path: str | os.PathLike, **extra: Any) -> Path: ...


def fit_epochs(component: Any, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None,
               seed: int | None = None) -> dict[str, list[float]]:
    """Shuffled mini-batches of `config.batch_size` for `epochs` epochs; the metrics' epoch means.

    `hook`, if given, gets `{"epoch", "step", **metrics}` after every epoch (a progress line, a checkpoint).

    Raises:
        DivergenceError: a metric or a weight became NaN or inf, or a step overflowed float32 (the step that did
            it is the last one taken).
    """
    n = _rows(dataset)
    batch_size = min(int(component.config.batch_size), n)
    generator = torch.Generator().manual_seed(int(seed if seed is not None else component.config.seed))
    take = getattr(component, "batch_of", take_rows)
    history: dict[str, list[float]] = {}
    component.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)
        sums: dict[str, float] = {}
        batches = range(0, n - batch_size + 1, batch_size)  # whole batches only: batch norm needs B > 1
        for step, start in enumerate(batches, 1):
            batch = take(dataset, order[start:start + batch_size])
            metrics = checked_step(component, batch, f"epoch {epoch + 1}, batch {step} of {len(batches)}")
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
        for key, total in sums.items():
            history.setdefault(key, []).append(total / len(batches))
        if hook is not None:
            hook({"epoch": epoch + 1, **{key: values[-1] for key, values in history.items()}})
    component.eval()
    return history


def take_rows(dataset: Dataset, rows: torch.Tensor) -> Dataset:
    """The mini-batch of `rows`: those rows of every key (what a component without `batch_of` learns from)."""
    return {key: value[rows] for key, value in dataset.items()}


class DivergenceError(FloatingPointError):
    """A fit's metric or weight became NaN or inf. `what` says which ("the loss became nan"), `where` the step,
    `hint` what to change; the message is one line of all three, after the component's kind."""

    def __init__(self, component: str, what: str, where: str, hint: str = "") -> None:
        self.component, self.what, self.where, self.hint = component, what, where, hint
        super().__init__(f"{component}: {what} at {where}" + (f"; {hint}" if hint else ""))


def checked_step(component: Any, batch: Dataset, where: str, whose: str = "") -> dict[str, float]:
    """`component.fit_step(batch)`, then `check_finite`; a step too large for float32 is a divergence too.

    Raises:
        DivergenceError: a metric or weight became NaN or inf, or the optimiser's step overflowed float32.
    """
    with overflow_is_divergence(component, where):
        metrics = component.fit_step(batch)
    check_finite(component, metrics, where, whose=whose)
    return metrics


@contextlib.contextmanager
def overflow_is_divergence(component: Any, where: str, rate: str = "learning_rate") -> Iterator[None]:
    """Turn torch's RuntimeError for an optimiser step beyond float32 (a learning rate near 1e38: "value cannot
    be converted to type float without overflow") into a `DivergenceError`; other errors pass unchanged."""
    try:
        yield
    except RuntimeError as exc:
        if "without overflow" not in str(exc):
            raise
        raise DivergenceError(component.kind, "the optimiser's step overflowed float32", where,
                              _hint(component, rate)) from None


def check_finite(component: Any, metrics: dict[str, float], where: str, module: torch.nn.Module | None = None,
                 whose: str = "", rate: str = "learning_rate") -> None:
    """Raise `DivergenceError` if a metric, or a weight of `module` (default: `component`), is NaN or inf.

    Args:
        component: the component fitting (its `kind` names it, its config's `rate` field goes in the hint).
        metrics: what its step returned.
        where: the step, for the message ("epoch 3, batch 2 of 8").
        module: the network to check, if not the component itself (GAIL's A2C policy).
        whose: how to name that network in the message ("A2C policy's ").
        rate: the config field whose value the hint quotes.
    """
    hint = _hint(component, rate)
    bad = next((key for key, value in metrics.items() if not math.isfinite(value)), None)
    if bad is not None:  # the cause first: a non-finite loss makes the weights non-finite in the same step
        raise DivergenceError(component.kind, f"the {bad} became {metrics[bad]}", where, hint)
    name = non_finite_weight(module if module is not None else component)
    if name is not None:
        raise DivergenceError(component.kind, f"the {whose}weight {name} became nan or inf", where, hint)


def _hint(component: Any, rate: str = "learning_rate") -> str:
    """What to change: the learning rate, quoted ("lower learning_rate (now 1e+12)"), if the config has one."""
    lr = getattr(component.config, rate, None)
    return f"lower {rate} (now {lr:g})" if isinstance(lr, (int, float)) else ""


def available_memory() -> int | None:
    """Bytes this machine can still give a process: MemAvailable of /proc/meminfo, else the free pages
    (`os.sysconf`); None where neither is known (then no estimate is refused)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(needed: int, what: str, advice: str) -> None:
    """Refuse, before allocating it, work estimated to need more memory than the machine has available.

    Raises:
        ValueError: `needed` bytes exceed `available_memory()`; the message names both, `what` and `advice`.
    """
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(f"{what} needs about {_gb(needed)} of memory, more than the {_gb(available)} this machine "
                         f"has available; {advice}")


def _gb(size: int) -> str:
    return f"{size / 2**30:,.1f} GB"


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


def load_component(path: str | os.PathLike, payload: dict[str, Any] | None = None, *,
                   trust_code: bool = False) -> Any:
    """Rebuild a saved component (its optimisers' state too, so `fit` continues); errors name the file.

    A "module:attr" backbone in its config imports code: refused (`sandbox.runs.trust`) unless `trust_code`.
    """
    from sandbox.runs.trust import check_checkpoint

    payload = payload if payload is not None else load_checkpoint(path)
    check_checkpoint(payload, path, trust_code)  # before its class is imported and its backbone built
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
