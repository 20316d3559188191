"""`sandbox demo`: a batch of cars driven headless by the baseline controller, saved as a PNG and a GIF."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sandbox.runs.progress import ProgressLine


def run_demo(num_cars: int = 4, steps: int = 400, tracks: str = "heldout", seed: int = 0,
             out: str | os.PathLike = "runs/demo", gif_every: int = 4, pedestrians: bool = True,
             level: str = "easy") -> Path:
    """Drive `num_cars` cars for `steps` steps; write OUT/frame.png and OUT/drive.gif; return OUT.

    The cars share one pool of tracks from `tracks`; each frame shows every car, its rays and pedestrians.
    """
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; name a folder for frame.png and drive.gif")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # headless unless a display is configured
    from PIL import Image

    from envs import CarDriveVectorEnv, drive_controller

    env = CarDriveVectorEnv(num_cars, continuous=True, level=level, tracks=tracks, num_tracks=min(num_cars, 4),
                            pedestrians=pedestrians, render_mode="rgb_array", show_rays=True)
    obs, _ = env.reset(seed=seed)
    frames, laps, crashes, progress = [], 0, 0, ProgressLine()
    for t in range(steps):
        obs, _, terminated, truncated, info = env.step(drive_controller(obs, env.config.n_rays))
        laps += int(info["lap_completed"].sum())
        crashes += int(info["crashed"].sum())
        if t % gif_every == 0 or t == steps - 1:
            frames.append(Image.fromarray(env.render()).resize((384, 384)))
        progress.show(f"step {t + 1}/{steps}  laps {laps}  crashes {crashes}")
    progress.close(f"step {steps}/{steps}  laps {laps}  crashes {crashes}")
    final = env.render()
    env.close()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_save(out_dir / "frame.png", lambda p: Image.fromarray(final).save(p, format="PNG"))
    _atomic_save(out_dir / "drive.gif", lambda p: frames[0].save(
        p, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // 30 * gif_every, loop=0))
    progress = np.round(100 * info["progress"]).astype(int)
    print(f"laps completed {laps}, crashes {crashes}; lap progress now (%): {progress.tolist()}")
    print(f"wrote {out_dir / 'frame.png'} and {out_dir / 'drive.gif'} ({len(frames)} frames)")
    return out_dir


def _atomic_save(path: Path, write) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
