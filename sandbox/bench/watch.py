"""`sandbox bench watch`: what watching costs the training.

The same A2C run (CarDrive easy, rays, MLP, 128 envs, one seed) trained headless (no hook) and watched (the
viewer on the hook, drawing at 30 frames/s at speed max, into a window: the X display when there is one, SDL's
dummy driver otherwise), in pairs, one after the other. Reports env-steps/s both ways, their ratio (goal: the
watched run keeps >= 0.5x) and the frame rate drawn while training (goal: >= 25 fps); medians over repeats.
"""

from __future__ import annotations

import os
import statistics
import time

from sandbox.bench.timing import format_rate, machine_line
from sandbox.commands.tables import format_table


def _run(timesteps: int, watched: bool) -> tuple[float, float]:
    """(env-steps/s, frames/s) of one A2C run."""
    from agents.a2c import A2CConfig, train
    from sandbox.viewer.window import Viewer

    config = A2CConfig(env_kwargs={"level": "easy", "obs": "rays"}, total_timesteps=timesteps, seed=0)
    viewer = Viewer("A2C · easy · rays · mlp", window=True, speed=0, total=timesteps,
                    min_episodes=config.num_envs // 4) if watched else None
    start = time.perf_counter()
    try:
        train(config, log=viewer)
        seconds = time.perf_counter() - start
    finally:
        if viewer is not None:
            viewer.close()
    return timesteps / seconds, (viewer.frames / seconds if viewer is not None else 0.0)


def run_watch_bench(timesteps: int = 200_000, repeats: int = 3, quick: bool = False) -> str:
    """The table: headless and watched throughput, their ratio and the frame rate (medians of `repeats`)."""
    from sandbox.viewer.window import display_available

    if not display_available():
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # a window all the same, drawn in memory
    driver = "dummy (no display)" if os.environ.get("SDL_VIDEODRIVER") == "dummy" else os.environ.get("DISPLAY", "")
    if quick:
        timesteps, repeats = 20_480, 1
    _run(min(8_192, timesteps), watched=True)  # warm-up: imports, compiled kernels, fonts, the first tracks
    headless, watched, ratios, fps = [], [], [], []
    for _ in range(repeats):
        base = _run(timesteps, watched=False)[0]
        rate, frames = _run(timesteps, watched=True)
        headless.append(base)
        watched.append(rate)
        ratios.append(rate / base)
        fps.append(frames)
    ratio, frame_rate = statistics.median(ratios), statistics.median(fps)
    rows = [
        ("A2C training throughput, watched vs headless, same run",
         f"{format_rate(statistics.median(headless))} -> {format_rate(statistics.median(watched))} env-steps/s",
         f"{ratio:.2f}x", ">= 0.5x: " + ("met" if ratio >= 0.5 else "NOT met")),
        ("frame rate while training", "", f"{frame_rate:.1f} fps",
         ">= 25 fps: " + ("met" if frame_rate >= 25 else "NOT met")),
    ]
    head = (f"{machine_line()}\nA2C on CarDrive easy rays, 128 envs, {timesteps:,} steps a run, median of {repeats}; "
            f"window: {driver}")
    return head + "\n" + format_table(("figure", "headless -> watched", "measured", "goal"), rows)
