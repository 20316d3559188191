"""Reaching Ray, for the learners that leave one machine through it (`sandbox evolve --ray`, `sandbox train
--agent a3c`): one-line errors when Ray is not installed or no cluster answers, and a local instance when no
address is given.

    started = connect(address, needs="--agent a3c", alternative="leave out --ray", num_cpus=2)
    ...                                       # ray.remote actors and tasks
    if started:
        ray.shutdown()                        # only what this run started

Ray itself is imported here only when called, so the command line stays light and runs without it.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

INSTALL = "pip install -e '.[ray]'"


class WorkersLostError(RuntimeError):
    """Every worker of a distributed learner died: the run cannot go on (`sandbox train` names the last good
    checkpoint, from which `--resume` continues)."""


def import_ray(needs: str, alternative: str = "") -> Any:
    """The `ray` module, or a ValueError in one line saying how to install it (and what works without it)."""
    try:
        import ray
    except ImportError:
        instead = f" (or {alternative})" if alternative else ""
        raise ValueError(f"{needs} needs Ray: {INSTALL}{instead}") from None
    return ray


def check_reachable(address: str, alternative: str) -> None:
    """A HOST:PORT address that nothing answers on is an error now (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ValueError(f"--ray {address}: no Ray cluster answers there ({exc}); start one with "
                         f"`ray start --head`, or {alternative}") from None


def connect(address: str | None, needs: str, alternative: str, num_cpus: int | None = None) -> bool:
    """Ray ready for work: the instance already running in this process, the cluster at `address` ("auto":
    the one this machine belongs to), or, with no address, a new local instance of `num_cpus` CPUs. True when
    this call started that local instance (its caller shuts it down when done).

    Raises:
        ValueError: Ray is not installed, or no cluster answers at `address` (one line each).
    """
    ray = import_ray(needs, alternative if address is not None else "")
    if ray.is_initialized():
        return False
    if address is None:  # the driver's own machine; the workers' logs stay in Ray's session folder
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        return True
    check_reachable(address, alternative)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValueError(f"--ray {address}: no Ray cluster there ({exc}); start one with `ray start --head`, or "
                         f"{alternative}") from None
    return False
