"""The live viewer: what a screenshot shows, the keys, quitting with a checkpoint, headless `sandbox watch`.

Runs under SDL's dummy driver here, and under a real X server through test_viewer_x11.py (which sets
SANDBOX_EXPECT_VIDEO_DRIVER=x11 so that these very tests prove they drew into an X window).
"""

import os
import threading
import time

import imageio
import numpy as np
import pygame
import pytest
from PIL import Image

from envs import CarDriveVectorEnv, drive_controller
from sandbox.cli import main
from sandbox.viewer.hud import LAP_COLOUR, RETURN_COLOUR
from sandbox.viewer.scene import distinct_colours
from sandbox.viewer.video import save_png
from sandbox.viewer.window import StopRun, Viewer

ROAD = (96, 96, 100)


def _steps(env, count, fitness=None):
    """Step events of `count` batch steps driven by the rays controller."""
    obs, _ = env.reset(seed=0)
    for t in range(count):
        obs, reward, terminated, truncated, info = env.step(drive_controller(obs, env.config.n_rays, continuous=False))
        event = {"kind": "step", "global_step": (t + 1) * env.num_envs, "env": env, "reward": reward,
                 "terminated": terminated, "truncated": truncated, "info": info}
        if fitness is not None:
            event["car_fitness"] = fitness
        yield event


def _pixels(surface, rect):
    return np.transpose(pygame.surfarray.array3d(surface.subsurface(rect)), (1, 0, 2))  # (H, W, 3)


def _count(pixels, colour, tol=0):
    return int((np.abs(pixels.astype(int) - np.array(colour)).max(-1) <= tol).sum())


@pytest.fixture
def viewer():
    v = Viewer("A2C · easy · rays · mlp", window=True, fps=1000, speed=1, total=10_000)
    yield v
    v.close()


def test_runs_on_the_expected_video_driver(viewer):
    expected = os.environ.get("SANDBOX_EXPECT_VIDEO_DRIVER")
    if expected is None:
        pytest.skip("no driver expected (test_viewer_x11.py sets one)")
    assert pygame.display.get_driver() == expected


def test_screenshot_shows_the_track_the_cars_and_the_hud(viewer, tmp_path):
    env = CarDriveVectorEnv(8, level="easy", num_tracks=8)
    for i, event in enumerate(_steps(env, 40)):
        viewer(event)
        if i % 10 == 9:  # enough episodes have ended for curve points
            viewer({"kind": "update", "global_step": event["global_step"], "update": i // 10 + 1})
            viewer.tally.ended = max(viewer.tally.ended, 1)
    viewer._hud_at = -1e9
    viewer.frame()
    path = save_png(viewer.surface, tmp_path / "shot.png")
    shot = np.asarray(Image.open(path).convert("RGB"))
    world, panel = shot[:, : viewer.world_rect.width], shot[:, viewer.world_rect.width:]
    assert _count(world, ROAD) > 5000  # the road
    colours = distinct_colours(env.num_envs)
    tracks = len(set(env.core.track_id.tolist()))  # cars of one track drive alike here, stacked: one shows
    assert tracks >= 3 and sum(_count(world, c) > 10 for c in colours) >= tracks  # cars in their own colours
    assert _count(panel, (235, 235, 240), tol=40) > 300  # the HUD's text
    assert _count(panel, RETURN_COLOUR) > 20 and _count(panel, LAP_COLOUR) > 20  # the live curves


def test_follow_camera_and_rays_draw_the_leader_bigger(viewer):
    env = CarDriveVectorEnv(4, level="hard", num_tracks=1)
    for event in _steps(env, 30):
        viewer(event)
    overview = _pixels(viewer.surface, viewer.world_rect)
    viewer.following, viewer.show_rays = True, True
    viewer.frame()
    follow = _pixels(viewer.surface, viewer.world_rect)
    leader = viewer._leader
    colour = distinct_colours(4)[leader]
    assert _count(follow, colour) > 3 * _count(overview, colour)  # zoomed in on it
    assert _count(follow, (255, 255, 170)) > 20  # its rays


def test_keys_speed_up_slow_down_and_toggle(viewer):
    env = CarDriveVectorEnv(2, num_tracks=1)
    events = _steps(env, 10)
    for key in (pygame.K_PLUS, pygame.K_PLUS, pygame.K_r, pygame.K_f):
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))
    viewer(next(events))
    assert viewer.speed == 4 and viewer.show_rays and viewer.following
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_MINUS))
    for _ in range(4):  # speed 4: the frame, and so the key, comes with the fourth step
        viewer(next(events))
    assert viewer.speed == 2


def test_space_pauses_the_loop_until_pressed_again(viewer):
    env = CarDriveVectorEnv(2, num_tracks=1)
    events = _steps(env, 5)
    viewer(next(events))
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE))
    resume = threading.Timer(0.4, lambda: pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE)))
    resume.start()
    start = time.perf_counter()
    viewer(next(events))  # blocks while paused
    assert time.perf_counter() - start >= 0.35 and not viewer.paused


def test_escape_saves_a_checkpoint_at_the_next_update_then_stops(viewer, tmp_path):
    env = CarDriveVectorEnv(2, num_tracks=1)
    events = _steps(env, 5)
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
    viewer(next(events))  # the key is read; training goes on until the state is whole
    assert viewer.quitting
    saved = tmp_path / "checkpoint.pt"
    with pytest.raises(StopRun) as stop:
        viewer({"kind": "update", "global_step": 4, "update": 1,
                "save_checkpoint": lambda: saved.write_bytes(b"x") and saved})
    assert stop.value.checkpoint == saved and saved.is_file()


def test_closing_the_window_quits_a_replay_at_once():
    viewer = Viewer("replay", window=True, fps=1000, speed=1, saves=False)
    env = CarDriveVectorEnv(2, num_tracks=1)
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    with pytest.raises(StopRun):
        viewer(next(_steps(env, 1)))
    viewer.close()


def test_a_population_is_coloured_by_fitness():
    viewer = Viewer("GA · easy", window=False, speed=1, population=True, total=5)
    env = CarDriveVectorEnv(4, num_tracks=1)
    fitness = np.array([0.0, 10.0, 5.0, -3.0])
    for event in _steps(env, 3, fitness):
        viewer(event)
    viewer({"kind": "generation", "generation": 1, "best": 10.0, "mean": 3.0, "std": 1.0, "evals_per_s": 9.0,
            "heldout_lap_rate": 0.5, "checkpoint_path": lambda: "unused"})
    viewer.frame()
    world = _pixels(viewer.surface, viewer.world_rect)
    assert _count(world, (40, 210, 90)) > 10  # the fittest car in green
    assert viewer.tally.curve["return"] == [10.0]
    viewer.close()


def test_headless_watch_writes_a_playable_video_and_pngs(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["watch", "--agent", "a2c", "--total-timesteps", "1024", "--num-envs", "8", "--run-dir",
                 str(run_dir), "--headless", "--speed", "2", "--png-every", "0.2", "--eval-episodes", "2"]) == 0
    out = capsys.readouterr()
    assert str(run_dir / "watch.mp4") in out.out + out.err
    reader = imageio.get_reader(run_dir / "watch.mp4")
    frames = [frame for frame in reader]
    assert len(frames) >= 30 and frames[-1].shape == (800, 1280, 3) and frames[-1].std() > 10
    pngs = sorted((run_dir / "frames").glob("*.png"))
    assert len(pngs) >= 2 and np.asarray(Image.open(pngs[-1])).std() > 10
    for name in ("progress.csv", "checkpoint.pt", "eval.json"):  # a `sandbox train` run dir as well
        assert (run_dir / name).is_file()


def test_headless_watch_of_a_population_writes_video_pngs_and_its_run(tmp_path, capsys):
    run_dir = tmp_path / "ga"
    flags = ["--population", "6", "--run-dir", str(run_dir), "--headless", "--png-every", "0.1"]
    assert main(["watch", "--evolve", "ga", "--generations", "2", *flags]) == 0
    count, last = 0, None
    for count, last in enumerate(imageio.get_reader(run_dir / "watch.mp4"), start=1):  # noqa: B007
        pass
    assert count >= 5 and last.std() > 10
    assert sorted((run_dir / "frames").glob("*.png"))
    for name in ("logbook.csv", "checkpoint.pt", "hall_of_fame/rank0.pt"):  # a `sandbox evolve` run dir as well
        assert (run_dir / name).is_file()
    assert main(["watch", "--resume", str(run_dir), "--headless"]) == 0  # already spent: ends at once
    assert "the run's files are in" in capsys.readouterr().out


def test_watch_needs_an_agent_or_a_population(capsys):
    assert main(["watch", "--headless"]) == 2
    assert "--agent or --evolve" in capsys.readouterr().err


def test_quitting_a_recorded_replay_still_writes_its_video(tmp_path):
    video = tmp_path / "new" / "replay.mp4"
    viewer = Viewer("replay", window=True, fps=1000, speed=1, saves=False, record=video)
    env = CarDriveVectorEnv(2, num_tracks=1)
    events = _steps(env, 40)
    for _ in range(30):
        viewer(next(events))
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    with pytest.raises(StopRun):
        viewer(next(events))
    assert viewer.close() == video
    assert len([frame for frame in imageio.get_reader(video)]) == 31
    assert sorted(p.name for p in video.parent.iterdir()) == ["replay.mp4"]  # no .replay.tmp.mp4 left


def test_the_video_ends_on_the_final_state_even_between_frames(tmp_path):
    video = tmp_path / "clip.gif"
    viewer = Viewer("replay", window=False, speed=8, saves=False, record=video)
    env = CarDriveVectorEnv(2, num_tracks=1)
    for event in _steps(env, 11):  # a frame at step 8; steps 9-11 only at the close
        viewer(event)
    assert viewer.recorder.frames == 1
    assert viewer.close() == video and Image.open(video).n_frames == 2
    viewer = Viewer("replay", window=False, speed=8, saves=False, record=tmp_path / "none.gif")
    assert viewer.close() is None and not (tmp_path / "none.gif").exists()  # nothing driven: nothing to show
