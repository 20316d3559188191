"""`sandbox fit`: train a component on a trajectory file into a run directory, one epoch at a time.

    run_fit("vae", "data/expert.npz", epochs=10, run_dir="runs/vae")
    run_fit("vae", "data/expert.npz", epochs=20, run_dir="runs/vae", resume=True)   # ten more epochs

A run directory holds `checkpoint.pt` (atomic, `weights_only`, rewritten after every epoch: the component, its
optimisers, the epoch, the history and the random states, so `--resume` continues exactly), `history.csv`,
`loss.png`, and images: `reconstructions.png` (frame, reconstruction, ...) for the autoencoders, `samples.png`
for the VAE and the GAN. A progress line goes to stderr.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sandbox.checkpoints import load_checkpoint, restore_rng_states, rng_states
from sandbox.components.base import COMPONENTS, config_from_dict, load_component
from sandbox.components.images import reconstruction_pairs, save_grid
from sandbox.runlog import write_csv
from sandbox.trajectories import load_trajectories

CHECKPOINT = "checkpoint.pt"
DEFAULTS = {"vae": {"variational": True}, "autoencoder": {"variational": False}}  # kind -> config fields it fixes
FROM_DATA = ("level", "continuous", "obs")  # config fields taken from the data's meta when the config has them


def _class(kind: str) -> type:
    import importlib

    if kind not in COMPONENTS:
        raise ValueError(f"unknown component {kind!r}; choose one of {', '.join(COMPONENTS)}")
    module_name, _, name = COMPONENTS[kind].partition(":")
    return getattr(importlib.import_module(module_name), name)


def _dataset(cls: type, arrays: dict, meta: dict, config: Any, data: Any) -> dict[str, torch.Tensor]:
    kwargs = {"obs": config.obs} if hasattr(config, "obs") else {}
    if hasattr(config, "context"):
        kwargs["context"] = config.context
    try:
        return cls.dataset(arrays, meta, **kwargs)
    except ValueError as exc:
        raise ValueError(f"{data}: {exc}") from None


def _from_meta(cls: type, meta: dict[str, Any]) -> dict[str, Any]:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    values = {key: meta[key] for key in FROM_DATA if key in fields and key in meta}
    if values.get("obs") == "both":  # a file with both: the policies read the rays
        values["obs"] = "rays"
    return values


def build(kind: str, data: str | os.PathLike, options: dict[str, Any] | None = None) -> tuple[Any, dict, dict]:
    """The component `kind` for the file `data`, its dataset and the file's meta; options override the config."""
    arrays, meta = load_trajectories(data)
    cls = _class(kind)
    config = config_from_dict(cls.config_class, {**_from_meta(cls, meta), **(options or {}), **DEFAULTS.get(kind, {})},
                              f"sandbox fit {kind}")
    dataset = _dataset(cls, arrays, meta, config, data)
    return cls(cls.shapes_of(dataset), config), dataset, meta


def run_fit(kind: str, data: str | os.PathLike, epochs: int, run_dir: str | os.PathLike,
            options: dict[str, Any] | None = None, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fit `kind` on `data` until `epochs` epochs are done (continuing a run with `resume`); return a summary."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint}")
    component, dataset, _ = build(kind, data, options)
    history: dict[str, list[float]] = {}
    done = 0
    if resume:
        payload = load_checkpoint(checkpoint)
        if payload.get("component") != component.kind:
            raise ValueError(f"{checkpoint} holds a {payload.get('component')!r}, not a {component.kind!r}")
        component = load_component(checkpoint, payload)
        history, done = {k: list(v) for k, v in payload["history"].items()}, int(payload["epoch"])
        restore_rng_states(payload["rng"])
    start = time.perf_counter()
    for epoch in range(done + 1, epochs + 1):
        for key, values in component.fit(dataset, epochs=1, seed=component.config.seed + epoch).items():
            history.setdefault(key, []).extend(values)
        component.save(checkpoint, epoch=epoch, history=history, rng=rng_states(), data=str(data))
        write_images(component, dataset, run_dir)
        write_history(history, run_dir)
        if progress:
            metrics = "  ".join(f"{k} {v[-1]:.4g}" for k, v in history.items())
            print(f"\rfit {kind}: epoch {epoch}/{epochs}  {metrics}  elapsed {time.perf_counter() - start:.0f} s",
                  end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return {"kind": kind, "run_dir": str(run_dir), "epochs": epochs,
            **{k: v[-1] for k, v in history.items() if v}}


def write_images(component: Any, dataset: dict[str, torch.Tensor], run_dir: Path) -> None:
    """reconstructions.png (autoencoders) and samples.png (VAE, GAN): fixed frames and fixed noise."""
    generator = torch.Generator().manual_seed(0)
    if hasattr(component, "reconstruct"):
        frames = dataset["pixels"][torch.linspace(0, len(dataset["pixels"]) - 1, 16).long()]
        save_grid(reconstruction_pairs(frames, component.reconstruct(frames)), run_dir / "reconstructions.png", 8)
    if hasattr(component, "sample") and (component.kind != "autoencoder"):
        save_grid(component.sample(16, generator), run_dir / "samples.png", 8)


def write_history(history: dict[str, list[float]], run_dir: Path) -> None:
    """history.csv (one row per epoch) and loss.png (one panel per metric), both atomically."""
    keys = list(history)
    epochs = len(next(iter(history.values()))) if history else 0
    write_csv(run_dir / "history.csv", [{"epoch": i + 1, **{k: history[k][i] for k in keys}} for i in range(epochs)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.2 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        points = [(i + 1, v) for i, v in enumerate(history[key]) if math.isfinite(v)]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".")
        ax.set_ylabel(key.replace("_", " "), fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(run_dir / ".loss.png.tmp", format="png", dpi=80)
    plt.close(fig)
    os.replace(run_dir / ".loss.png.tmp", run_dir / "loss.png")
