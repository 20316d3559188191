"""`sandbox bench backbones`: what each backbone costs, and the batched population forward against a loop.

Two tables, one thread, medians of `repeats`:

1. observations/s of every family on CarDrive's rays (11 floats) and pixels (64x64x3 uint8) at batch 1 and
   1024, forward (inference mode) and forward + backward (a training step without the optimiser);
2. P MLPs with different weights at batch 1 (and 32) per network: a Python loop over P modules, which is what
   a user writes first, against one `StackedMLP` call (`torch.baddbmm` over stacked weights). Evolution
   needs the second: one car per individual, every step.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sandbox.backbones import make_backbone, stack_modules
from sandbox.bench.timing import format_rate, machine_line, median_rate, single_thread
from sandbox.commands.tables import format_table

FAMILIES = ("mlp", "cnn", "attention")
ARCHS = ((11, 64, 64, 5), (4, 32, 2))  # rays -> 5 actions; CartPole -> 2 actions


def bench_spaces() -> dict[str, spaces.Space]:
    """CarDrive's ray and pixel observation spaces (built as envs/ builds them)."""
    rays_low = np.array([0.0] * 9 + [-1.0, -1.0], dtype=np.float32)
    return {
        "rays": spaces.Box(rays_low, np.ones(11, dtype=np.float32), dtype=np.float32),
        "pixels": spaces.Box(0, 255, shape=(64, 64, 3), dtype=np.uint8),
    }


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed_rate(fn: Callable[[], object], work: int, repeats: int, min_time: float) -> float:
    """Median of work/s over `repeats` timings, each calling `fn` often enough to last about `min_time` s."""
    start = time.perf_counter()
    fn()  # warm-up, and a first estimate of the cost of one call
    calls = max(1, math.ceil(min_time / max(time.perf_counter() - start, 1e-7)))

    def run() -> int:
        for _ in range(calls):
            fn()
        return work * calls

    return median_rate(run, repeats, warmup=0)


def _train_step(backbone: nn.Module, obs: torch.Tensor) -> None:
    backbone.zero_grad(set_to_none=True)
    backbone(obs).sum().backward()


def backbone_rows(
    families: Sequence[str], batches: Sequence[int], repeats: int, min_time: float
) -> list[list[str]]:
    """family x obs x batch: parameters, forward obs/s, forward+backward obs/s (n/a where refused)."""
    rows = []
    for family in families:
        for obs_name, space in bench_spaces().items():
            try:
                backbone = make_backbone(family, space)
            except ValueError:  # cnn reads images only
                rows.append([family, obs_name, "-", "-", "n/a", "n/a"])
                continue
            n_params = sum(p.numel() for p in backbone.parameters())
            for batch in batches:
                obs = torch.as_tensor(np.stack([space.sample() for _ in range(batch)]))

                def forward(backbone=backbone, obs=obs) -> None:
                    with torch.inference_mode():
                        backbone(obs)

                fwd = timed_rate(forward, batch, repeats, min_time)
                bwd = timed_rate(lambda b=backbone, o=obs: _train_step(b, o), batch, repeats, min_time)
                _progress(
                    f"  {family:9s} {obs_name:6s} B={batch:<5d} fwd {format_rate(fwd)}/s  "
                    f"fwd+bwd {format_rate(bwd)}/s"
                )
                rows.append(
                    [family, obs_name, str(batch), f"{n_params:,}", format_rate(fwd), format_rate(bwd)]
                )
    return rows


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with tanh between them: the network a loop-over-modules user would write."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.Tanh()]
    return nn.Sequential(*layers[:-1])  # no activation after the last layer


def population_rows(
    archs: Sequence[Sequence[int]],
    sizes: Sequence[int],
    batches: Sequence[int],
    repeats: int,
    min_time: float,
) -> list[list[str]]:
    """arch x P x B: loop forwards/s, stacked forwards/s, speed-up (a forward = one network, one obs)."""
    rows = []
    for arch in archs:
        for P in sizes:
            modules = [_mlp(arch) for _ in range(P)]
            stack = stack_modules(modules)
            for batch in batches:
                x = torch.randn(P, batch, arch[0])  # (P, B, in): B observations per network
                with torch.inference_mode():
                    expected = torch.stack([m(x[i]) for i, m in enumerate(modules)])
                    assert torch.allclose(stack(x), expected, atol=1e-5), "stacked forward differs from loop"

                def loop(modules=modules, x=x) -> None:
                    with torch.inference_mode():
                        [m(x[i]) for i, m in enumerate(modules)]

                def stacked(stack=stack, x=x) -> None:
                    with torch.inference_mode():
                        stack(x)

                t_loop = timed_rate(loop, P * batch, repeats, min_time)
                t_stack = timed_rate(stacked, P * batch, repeats, min_time)
                name = "-".join(map(str, arch))
                _progress(
                    f"  {name:11s} P={P:<5d} B={batch:<3d} loop {format_rate(t_loop)}/s  "
                    f"stacked {format_rate(t_stack)}/s  x{t_stack / t_loop:.1f}"
                )
                rows.append(
                    [
                        name,
                        str(P),
                        str(batch),
                        format_rate(t_loop),
                        format_rate(t_stack),
                        f"{t_stack / t_loop:.1f}x",
                    ]
                )
    return rows


def run_backbones_bench(repeats: int = 5, quick: bool = False) -> str:
    """Run both benchmarks, printing progress to stderr; return the Markdown tables with a machine line."""
    single_thread()
    torch.manual_seed(0)
    min_time = 0.01 if quick else 0.05
    _progress("backbones: observations/s, forward and forward+backward")
    rows = backbone_rows(FAMILIES, (1, 1024), repeats, min_time)
    sizes, batches = ((256,), (1,)) if quick else ((64, 256, 1024), (1, 32))
    _progress("population: P MLPs, one Python loop over modules vs one stacked (baddbmm) call")
    pop_rows = population_rows(ARCHS, sizes, batches, repeats, min_time)
    return "\n".join(
        [
            machine_line() + f"; torch {torch.__version__}, 1 thread, median of {repeats}",
            "",
            format_table(["family", "obs", "batch", "params", "forward obs/s", "fwd+bwd obs/s"], rows),
            "",
            format_table(["arch", "P", "B", "loop fwd/s", "stacked fwd/s", "speed-up"], pop_rows),
        ]
    )
