"""`sandbox bench watch`: a short run prints the table with both throughputs, the ratio and the frame rate."""

from sandbox.bench.watch import run_watch_bench


def test_bench_watch_prints_its_table():
    table = run_watch_bench(timesteps=1024, repeats=1)
    assert "watched vs headless" in table and "frame rate while training" in table
    assert "x |" in table and "fps" in table and "env-steps/s" in table
