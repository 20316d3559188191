"""The generation loop: its files, resume equals uninterrupted for every strategy, the step activation evolves."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from evolve import load_evolved_driver, resume_evolution, run_evolution
from evolve.config import make_config
from evolve.evaluate import PopulationEvaluator
from sandbox.runs.checkpoints import load_checkpoint

SMALL = {"population": 8, "generations": 3, "episodes": 1, "max_steps": 60, "heldout_episodes": 3,
         "backbone_options": {"widths": (8,)}}


class _KilledError(Exception):
    pass


GRU = {"backbone": "gru", "backbone_options": {"hidden_size": 8, "stem_options": {"widths": (8,)}}}


FRESH = {"fresh_tracks": True}


@pytest.mark.parametrize("strategy, network", [("ga", {}), ("cma", {}), ("arch", {}), ("cma", GRU), ("openai-es", {}),
                                               ("ga", FRESH), ("arch", FRESH)],
                         ids=["ga", "cma", "arch", "cma-gru", "openai-es", "ga-fresh", "arch-fresh"])
def test_resume_equals_uninterrupted(tmp_path, strategy, network):
    settings = {**SMALL, "strategy": strategy, "level": "normal", **network}
    full = run_evolution(settings, tmp_path / "full", progress=False)

    def stop_after_2(event):
        if event["kind"] == "generation" and event["generation"] == 2:
            raise _KilledError  # as if killed right after generation 2's checkpoint

    with pytest.raises(_KilledError):
        run_evolution(settings, tmp_path / "stopped", on_event=stop_after_2, progress=False)
    resumed = resume_evolution(tmp_path / "stopped", progress=False)
    assert {k: v for k, v in resumed.items() if k != "seconds" and k != "evals_per_s"} == \
        {k: v for k, v in full.items() if k != "seconds" and k != "evals_per_s"}
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("full", "stopped"))
    for x, y in zip(a["population"], b["population"], strict=True):
        assert x["arch"] == y["arch"] and x["fitness"] == y["fitness"]
        np.testing.assert_array_equal(x["vector"].numpy(), y["vector"].numpy())


@pytest.mark.parametrize("strategy", ["ga", "cma"])
def test_fresh_tracks_every_fitness_is_on_the_last_generations_tracks(tmp_path, strategy):
    """Elites, unchanged copies of parents and the hall of fame were all driven again on generation 3's tracks:
    each stored fitness is what that individual scores there."""
    settings = {**SMALL, "strategy": strategy, "episodes": 2, "max_steps": 200, **FRESH}
    run_evolution(settings, tmp_path, progress=False)
    payload = load_checkpoint(tmp_path / "checkpoint.pt")
    individuals = payload["population"] + payload["hof"]
    evaluator = PopulationEvaluator(make_config(settings).eval_spec(), seed=0)
    fitness, _ = evaluator.evaluate(np.stack([ind["vector"].numpy() for ind in individuals]), generation=3)
    np.testing.assert_allclose([float(ind["fitness"][0]) for ind in individuals], fitness, rtol=1e-6)
    assert not np.allclose(fitness, evaluator.evaluate(np.stack([i["vector"].numpy() for i in individuals]),
                                                       generation=2)[0])


def test_run_dir_files_and_events(tmp_path):
    events = []
    result = run_evolution({**SMALL, "generations": 2}, tmp_path, on_event=events.append, progress=False)
    for name in ("logbook.csv", "fitness.png", "checkpoint.pt", "hall_of_fame/rank0.pt"):
        assert (tmp_path / name).is_file(), name
    lines = (tmp_path / "logbook.csv").read_text().splitlines()
    assert lines[0].startswith("gen,nevals,best,mean,std") and len(lines) == 3
    generations = [e for e in events if e["kind"] == "generation"]
    assert [e["generation"] for e in generations] == [1, 2] and 0 <= result["heldout_lap_rate"] <= 1
    assert any(e["kind"] == "step" and "car_fitness" in e for e in events)
    net, env_kwargs = load_evolved_driver(tmp_path / "hall_of_fame" / "rank0.pt")
    assert env_kwargs["level"] == "easy" and net.discrete


def test_step_activation_population_evolves(tmp_path):
    """Perceptron-style networks (Heaviside step, no gradient at all) improve under evolution like any other."""
    result = run_evolution({"population": 48, "generations": 6, "episodes": 2, "max_steps": 200, "heldout_episodes": 3,
                            "backbone_options": {"widths": (8,), "activation": "step"}, "seed": 1},
                           tmp_path, progress=False)
    lines = (tmp_path / "logbook.csv").read_text().splitlines()
    first_best = float(lines[1].split(",")[2])
    assert result["champion_fitness"] > first_best + 1.0


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown evolve setting"):
        run_evolution({"populaton": 3}, "unused", progress=False)
    with pytest.raises(ValueError, match="strategy must be one of ga, cma, arch"):
        run_evolution({"strategy": "pso"}, "unused", progress=False)
    with pytest.raises(ValueError, match="CMA-ES keeps an n x n covariance"):
        run_evolution({"strategy": "cma", "backbone_options": {"widths": (256, 256)}}, "unused", progress=False)


def test_cli_kill_9_then_resume_then_eval(tmp_path):
    """`sandbox evolve` killed with kill -9 mid-run, `--resume` ends as the uninterrupted run; `sandbox eval`
    drives the hall of fame's champion."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    flags = ["--population", "8", "--generations", "6", "--episodes", "1", "--widths", "8", "--seed", "3"]
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "evolve", *flags, "--run-dir", str(run_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "checkpoint.pt").exists() and load_checkpoint(run_dir / "checkpoint.pt")["generation"] >= 2:
            break
        time.sleep(0.2)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([sys.executable, "-m", "sandbox", "evolve", "--resume", str(run_dir)], env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "sandbox", "evolve", *flags, "--run-dir", str(tmp_path / "full")], env=env,
                   check=True, capture_output=True)
    killed, full = (load_checkpoint(d / "checkpoint.pt") for d in (run_dir, tmp_path / "full"))
    assert killed["generation"] == full["generation"] == 6
    assert [s["fitness"] for s in killed["hof"]] == [s["fitness"] for s in full["hof"]]
    out = subprocess.run([sys.executable, "-m", "sandbox", "eval", str(run_dir / "hall_of_fame" / "rank0.pt"),
                          "--episodes", "3", "--json"], env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert {"lap_rate", "clean_lap_rate", "mean_return", "median_lap_steps"} <= set(result)


@pytest.mark.slow
def test_ga_evolves_a_driver_that_laps_heldout_tracks(tmp_path):
    result = run_evolution({"population": 256, "generations": 20, "episodes": 4, "heldout_episodes": 50},
                           tmp_path, progress=False)
    assert result["heldout_lap_rate"] >= 0.8
