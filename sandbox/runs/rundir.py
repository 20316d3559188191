"""Run directories and output files, so that no run is ever lost.

A run directory (`sandbox train`, `evolve`, `fit`, `watch`) or an output file (`sandbox collect --out`) that
already holds a run is refused, naming the two ways on: `--resume` continues it, `--overwrite` replaces it.
With `--overwrite` the old run is cleared only when the new one writes its first file, so a new run that fails
to start (a bad flag, a bad env, kill -9 before its first update) leaves the old one as it was.

    run_dir = check_new_run_dir("runs/a2c-0", overwrite=False, resume_hint="sandbox train --resume runs/a2c-0")
    ...                                   # build the config, the env, the model: may fail, nothing touched
    clear_old_run(run_dir)                # just before the first write of the new run (--overwrite only)

Default names take the next free suffix instead of reusing a run: `free_run_dir("runs/a2c-0")` is
`runs/a2c-0`, or `runs/a2c-0_2`, `runs/a2c-0_3`, ... when that holds a run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"
# What the sandbox writes into a run directory; a folder holding anything else is not ours to clear.
RUN_FILES = frozenset({
    CHECKPOINT, "progress.csv", "tensorboard", "learning_curve.png", "eval.json",  # sandbox train
    "best.pt", "best.json",  # sandbox train --eval-every
    "logbook.csv", "hall_of_fame", "fitness.png",  # sandbox evolve
    "history.csv", "loss.png", "reconstructions.png", "samples.png",  # sandbox fit
    "watch.mp4", "frames",  # sandbox watch
})
# The checkpoint's kind -> (what it is, the command that continues it)
KINDS = {"train": ("a training run", "sandbox train --resume {dir}"),
         "evolution": ("an evolution run", "sandbox evolve --resume {dir}"),
         "fit": ("a component's fit", "sandbox fit KIND --data DATA --run-dir {dir} --resume")}


def holds_run(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder with anything in it (a run, or files the user would lose)."""
    path = Path(path)
    return path.is_dir() and any(path.iterdir())


def free_run_dir(base: str | os.PathLike) -> Path:
    """`base`, or the first of `base_2`, `base_3`, ... that holds no run (for default run names)."""
    base = Path(base)
    candidate, suffix = base, 2
    while candidate.exists() and (candidate.is_file() or holds_run(candidate)):
        candidate, suffix = base.with_name(f"{base.name}_{suffix}"), suffix + 1
    return candidate


def check_new_run_dir(path: str | os.PathLike, overwrite: bool, flag: str = "--run-dir") -> Path:
    """The folder a new run will write, after checking that doing so loses nothing; nothing is created.

    Raises:
        ValueError: `path` is a file; or it holds a run and `overwrite` is False (the message names
            `--resume` and `--overwrite`); or it holds files that are not a run's (never cleared).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file, not a folder; name a folder for the run")
    if not holds_run(path):
        return path
    foreign = sorted(p.name for p in path.iterdir() if not _ours(p.name))
    if foreign:
        raise ValueError(f"{flag} {path} holds files that are not a sandbox run ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}); name an empty or new folder")
    if not overwrite:
        raise ValueError(f"{flag} {path} already holds a run: `--resume {path}` continues it, "
                         f"--overwrite replaces it (or name another folder)")
    return path


def clear_old_run(path: str | os.PathLike) -> None:
    """Remove what an earlier run left in `path` (only the sandbox's own files; see `check_new_run_dir`)."""
    path = Path(path)
    if not path.is_dir():
        return
    for entry in path.iterdir():
        if _ours(entry.name):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _ours(name: str) -> bool:
    """A file the sandbox writes into a run directory (or the temporary file of one: `.name.tmp...`)."""
    return name in RUN_FILES or (name.startswith(".") and ".tmp" in name)


def check_output_file(path: str | os.PathLike, overwrite: bool, flag: str = "--out") -> Path:
    """An output file that may be written: not a folder, and not an existing file unless `overwrite`."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; name a file (e.g. {path / 'data.npz'})")
    if path.exists() and not overwrite:
        raise ValueError(f"{flag} {path} already exists; --overwrite replaces it (or name another file)")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"{flag} {path}: {path.parent} is a file, not a folder")
    return path


def run_kind(payload: dict) -> str:
    """'train', 'evolution' or 'fit': which command wrote a run directory's checkpoint."""
    if payload.get("kind") == "evolution":
        return "evolution"
    if "component" in payload:
        return "fit"
    if "run" in payload:
        return "train"
    return "unknown"


def check_run_kind(payload: dict, wanted: str, run_dir: str | os.PathLike) -> None:
    """Refuse to resume a run with the wrong command, naming what the run is and the command that continues it."""
    kind = run_kind(payload)
    if kind == wanted:
        return
    if kind not in KINDS:
        raise ValueError(f"{Path(run_dir) / CHECKPOINT} is not the checkpoint of a sandbox run")
    what, command = KINDS[kind]
    raise ValueError(f"{run_dir} holds {what}, not {KINDS[wanted][0]}; `{command.format(dir=run_dir)}` "
                     "continues it")


def extend_budget(settings: dict[str, Any], key: str, wanted: int | None, done: int, flag: str,
                  budget: int) -> dict[str, Any]:
    """`settings` with a larger budget (`wanted` > the run's `budget`), said on stderr; a smaller one is refused."""
    if wanted is None or wanted == budget:
        return settings
    if wanted < budget:
        raise ValueError(f"{flag} {wanted:,} is below the run's own {budget:,} ({done:,} done); a resumed run "
                         "can only be extended")
    print(f"extending the run from {budget:,} to {wanted:,} ({flag})", file=sys.stderr)
    return {**settings, key: wanted}
