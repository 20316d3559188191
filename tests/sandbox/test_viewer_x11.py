"""The viewer, play and replay tests again, under a real X server (Debian's Xvfb) instead of SDL's dummy driver.

The X server is started here on a free display number and the tests run in a child pytest with DISPLAY set and
SDL_VIDEODRIVER=x11 (one process cannot switch SDL's driver). Skipped, saying why, where Xvfb is not installed
(`apt-get install xvfb`; `.ci/run` installs it).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number in 90..199")


@pytest.fixture(scope="module")
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb); the X-server run of the viewer tests is skipped")
    number = _free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.skip(f"Xvfb did not start on :{number}")
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_viewer_play_and_replay_under_a_real_x_server(xvfb):
    env = {**os.environ, "DISPLAY": xvfb, "SDL_VIDEODRIVER": "x11", "SANDBOX_EXPECT_VIDEO_DRIVER": "x11"}
    tests = [str(ROOT / "tests" / "sandbox" / name) for name in ("test_viewer.py", "test_play.py", "test_replay.py")]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests,
                             "-k", "not headless_watch and not cli_writes and not without_a_display"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout  # the driver check ran, on x11
