"""`sandbox fit`: train a component on a trajectory file into a run directory, one epoch at a time.

    run_fit("vae", "data/expert.npz", epochs=10, run_dir="runs/vae")
    run_fit("vae", "data/expert.npz", epochs=20, run_dir="runs/vae", resume=True)   # ten more epochs

A run directory holds `checkpoint.pt` (atomic, `weights_only`, rewritten after every epoch: the component, its
optimisers, the epoch, the history and the random states, so `--resume` continues exactly), `history.csv`,
`loss.png`, and images: `reconstructions.png` (frame, reconstruction, ...) for the autoencoders, `samples.png`
for the VAE and the GAN. A progress line goes to stderr (`sandbox.runs.progress`: one line per epoch in a log file,
and always a final newline).

A fit that diverges (its loss or weights NaN or inf) stops with one line (FloatingPointError) naming the epoch
and the last good checkpoint, which stays as it was: non-finite weights are never saved.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from sandbox.components.base import COMPONENTS, DivergenceError, config_from_dict, load_component
from sandbox.components.images import reconstruction_pairs, save_grid
from sandbox.runs.checkpoints import load_checkpoint, restore_rng_states, rng_states
from sandbox.runs.progress import ProgressLine
from sandbox.runs.rundir import check_new_run_dir, check_run_kind, clear_old_run
from sandbox.runs.runlog import write_csv
from sandbox.runs.trajectories import load_trajectories

CHECKPOINT = "checkpoint.pt"
DEFAULTS = {"vae": {"variational": True}, "autoencoder": {"variational": False}}  # kind -> config fields it fixes
FROM_DATA = ("level", "continuous", "obs")  # config fields taken from the data's meta when the config has them
DATASET_OPTIONS = ("context", "vae", "sequence_length", "aux_coef")  # config fields a component's dataset is built with


def _class(kind: str) -> type:
    import importlib

    if kind not in COMPONENTS:
        raise ValueError(f"unknown component {kind!r}; choose one of {', '.join(COMPONENTS)}")
    module_name, _, name = COMPONENTS[kind].partition(":")
    return getattr(importlib.import_module(module_name), name)


def _dataset(cls: type, arrays: dict, meta: dict, config: Any, data: Any) -> dict[str, torch.Tensor]:
    kwargs = {"obs": config.obs} if hasattr(config, "obs") else {}
    for name in DATASET_OPTIONS:
        if hasattr(config, name):
            kwargs[name] = getattr(config, name)
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
            options: dict[str, Any] | None = None, resume: bool = False, progress: bool = True,
            overwrite: bool = False, trust_code: bool = False) -> dict[str, Any]:
    """Fit `kind` on `data` until `epochs` epochs are done (continuing a run with `resume`); return a summary.

    A `run_dir` that holds a run is refused unless `overwrite` (the old run is cleared only when the new one
    writes its first checkpoint); `trust_code` lets a resumed checkpoint that names code import it.

    Raises:
        ValueError: a bad option or data file, a run directory that would be lost, sizes the machine cannot hold.
        FloatingPointError: the fit diverged; one line naming the epoch and the last good checkpoint.
    """
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint}")
    if resume:
        options = _dataset_options(kind, checkpoint, options)
    else:
        check_new_run_dir(run_dir, overwrite)
    component, dataset, _ = build(kind, data, options)
    history: dict[str, list[float]] = {}
    done = 0
    if resume:
        component, history, done = _resumed(component, checkpoint, trust_code)
    line = ProgressLine() if progress else None
    start, saved = time.perf_counter(), done if resume else None  # saved: the epoch the checkpoint on disk holds
    try:
        for epoch in range(done + 1, epochs + 1):
            try:
                for key, values in component.fit(dataset, epochs=1, seed=component.config.seed + epoch).items():
                    history.setdefault(key, []).extend(values)
                if saved is None and overwrite:
                    clear_old_run(run_dir)  # the new run's first write: only now is the old one given up
                component.save(checkpoint, epoch=epoch, history=history, rng=rng_states(), data=str(data))
            except FloatingPointError as exc:  # NaN or inf (the save refuses it too): the checkpoint stays as it was
                raise FloatingPointError(_diverged(kind, exc, epoch, data, run_dir, saved)) from None
            saved = epoch
            write_images(component, dataset, run_dir)
            write_history(history, run_dir)
            if line is not None:
                metrics = "  ".join(f"{k} {v[-1]:.4g}" for k, v in history.items())
                line.show(f"fit {kind}: epoch {epoch}/{epochs}  {metrics}  elapsed {time.perf_counter() - start:.0f} s",
                          force=True)  # one line per epoch, also in a log file
    finally:
        if line is not None:
            line.close()  # the last line stands, ended by a newline, however the fit ended
    return {"kind": kind, "run_dir": str(run_dir), "epochs": epochs,
            **{k: v[-1] for k, v in history.items() if v}}


def _dataset_options(kind: str, checkpoint: Path, options: dict[str, Any] | None) -> dict[str, Any]:
    """`options` and, under them, the resumed run's dataset options (the Decision Transformer's window, M's VAE),
    so its dataset is built as the run's was."""
    payload = load_checkpoint(checkpoint)
    config = payload.get("config", {}) if payload.get("component") == kind else {}  # another kind: `_resumed` says so
    return {**{key: config[key] for key in DATASET_OPTIONS if key in config}, **(options or {})}


def _resumed(component: Any, checkpoint: Path, trust_code: bool) -> tuple[Any, dict[str, list[float]], int]:
    """The component, history and epoch of the checkpoint a run resumes from (its random states restored)."""
    payload = load_checkpoint(checkpoint)
    check_run_kind(payload, "fit", checkpoint.parent)
    if payload.get("component") != component.kind:
        raise ValueError(f"{checkpoint} holds a {payload.get('component')!r}, not a {component.kind!r}")
    component = load_component(checkpoint, payload, trust_code=trust_code)
    restore_rng_states(payload["rng"])
    return component, {k: list(v) for k, v in payload["history"].items()}, int(payload["epoch"])


def _diverged(kind: str, exc: FloatingPointError, epoch: int, data: str | os.PathLike, run_dir: Path,
              saved: int | None) -> str:
    """The one line of a diverged fit: what became non-finite, at which epoch, and where the last good state is."""
    if isinstance(exc, DivergenceError):
        what = f"{exc.what} at epoch {epoch}" + (f"; {exc.hint}" if exc.hint else "")
    else:  # from inside the component's own loop (GAIL's A2C): its message, placed at the epoch
        what = f"at epoch {epoch}, {exc}"
    if saved is None:
        return f"fit {kind}: {what}; no checkpoint was written yet"
    return (f"fit {kind}: {what}; the last good checkpoint is {run_dir / CHECKPOINT} (epoch {saved}), "
            "unchanged (resuming it would diverge again with the same settings)")


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
