"""Timing helpers shared by the benchmarks: medians of repeats, one pinned thread, a plain-text table.

These machines are shared and noisy, so every figure is the median of several timed repeats after one
untimed warm-up, and comparisons are printed as ratios measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def single_thread() -> None:
    """Pin numeric libraries to one thread, as the peers' anchor figures were measured."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # the env benchmark does not need torch
        pass


def median_rate(run: Callable[[], int], repeats: int, warmup: int = 1) -> float:
    """Median of `work / seconds` over `repeats` calls of `run`, which returns the work it did."""
    for _ in range(warmup):
        run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        work = run()
        rates.append(work / (time.perf_counter() - start))
    return statistics.median(rates)


def format_rate(value: float) -> str:
    """12345.6 -> '12.3k', 2.5e6 -> '2.50M'."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.1f}"


def machine_line() -> str:
    """One line naming the machine, printed above every benchmark table."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
