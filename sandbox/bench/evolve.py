"""`sandbox bench evolve`: our batched population evaluation against DEAP used the ordinary way, and a GA of
MLPs racing to held-out laps on easy.

The ordinary way is DEAP's examples' way: `toolbox.map = map`, each individual's vector written into one
torch network, its episodes driven one at a time through the one-car env (built once: no track is rebuilt
per evaluation), one forward per step. Both drive the same individuals on the same tracks with the same early
stop (the step limit, or `patience` steps without progress). The population is a GA's after a few generations,
a mix of crashing, wandering and lapping drivers, as a run evaluates them; the table gives their mean
episode length.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from sandbox.bench.timing import machine_line, single_thread
from sandbox.commands.tables import format_table

GOAL_RATIOS, GOAL_LAPS, GOAL_SECONDS = {256: 50.0, 1024: 75.0}, 0.95, 5.0  # individuals/s vs the ordinary way, by P


def _population(P: int, seed: int = 0) -> tuple[Any, np.ndarray]:
    """(evaluator, (P, n) vectors): a GA's population after 8 generations, tiled and jittered to P."""
    import tempfile

    from evolve import run_evolution
    from evolve.checkpoint import load_checkpoint
    from evolve.distributed import BatchFitness

    with tempfile.TemporaryDirectory() as tmp:
        run_evolution({"population": 256, "generations": 8, "episodes": 1, "heldout_episodes": 10, "seed": seed},
                      tmp, progress=False)
        vectors = np.stack([s["vector"].numpy() for s in load_checkpoint(f"{tmp}/checkpoint.pt")["population"]])
    rng = np.random.default_rng(seed)
    rows = np.resize(np.arange(len(vectors)), P)
    vectors = vectors[rows] + (rows >= len(vectors))[:, None] * rng.normal(0, 0.05, (P, vectors.shape[1]))
    from evolve.evaluate import EvalSpec

    spec = EvalSpec(backbone_options={"widths": (16,)}, episodes=1)
    return BatchFitness(spec, seed).evaluator(None), vectors.astype(np.float32)


def _ordinary(evaluator: Any, vectors: np.ndarray) -> tuple[float, float]:
    """(individuals/s, mean episode steps) of DEAP's ordinary way on `vectors`: map, one network, the one-car
    env."""
    from envs import CarDriveEnv
    from evolve.genome import from_vector

    spec, net = evaluator.spec, evaluator.template()
    env = CarDriveEnv(tracks=evaluator.tracks, max_episode_steps=spec.max_steps, **spec.env_kwargs())

    steps = [0]

    def episode(seed: int) -> float:
        obs, _ = env.reset(seed=seed)
        total, best, idle, done = 0.0, 0.0, 0, False
        while not done and idle < spec.patience:
            steps[0] += 1
            with torch.no_grad():
                action = int(net(torch.as_tensor(obs).unsqueeze(0)).argmax())
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            best, idle = (info["progress"], 0) if info["progress"] > best + 1e-9 else (best, idle + 1)
            done = terminated or truncated
        return total

    def evaluate(vector: np.ndarray) -> tuple[float]:
        from_vector(net, vector)
        return (float(np.mean([episode(s) for s in evaluator.car_seeds])),)

    start = time.perf_counter()
    list(map(evaluate, vectors))
    return len(vectors) / (time.perf_counter() - start), steps[0] / len(vectors) / len(evaluator.car_seeds)


def _ours(evaluator: Any, vectors: np.ndarray) -> float:
    start = time.perf_counter()
    evaluator.evaluate(vectors)
    return len(vectors) / (time.perf_counter() - start)


def _throughput(repeats: int, sizes: tuple[int, ...], ordinary_sample: int) -> list[list[str]]:
    rows = []
    evaluator, vectors = _population(max(sizes))
    sample = vectors[np.random.default_rng(1).choice(len(vectors), ordinary_sample, replace=False)]
    _ours(evaluator, vectors[:8])  # compile and build the tracks before timing
    runs = [_ordinary(evaluator, sample) for _ in range(repeats)]
    ordinary, length = statistics.median(r[0] for r in runs), runs[0][1]
    rows.append(["DEAP the ordinary way (map, one-car env)", str(len(sample)), f"{ordinary:,.1f}", "1x",
                 f"mean episode {length:.0f} steps"])
    for P in sizes:
        ours = statistics.median(_ours(evaluator, vectors[:P]) for _ in range(repeats))
        want = GOAL_RATIOS.get(P)
        goal = f">= {want:.0f}x: {'met' if ours / ordinary >= want else 'MISSED'}" if want else ""
        rows.append(["ours, batched (one vector env, compiled MLP step)", str(P), f"{ours:,.1f}",
                     f"{ours / ordinary:.1f}x", goal])
    return rows


def _ga_to_laps(seeds: int, quick: bool) -> tuple[list[list[str]], float | None]:
    """Wall seconds from the start until the GA's champion laps 95% of held-out tracks, per seed."""
    import tempfile

    from evolve import run_evolution

    rows, walls = [], []
    for seed in range(seeds):
        start, found = time.perf_counter(), {}

        def hook(event: dict[str, Any], start: float = start, found: dict = found) -> None:
            if event["kind"] == "generation" and event["heldout_lap_rate"] >= GOAL_LAPS and not found:
                found.update(gen=event["generation"], wall=time.perf_counter() - start,
                             laps=event["heldout_lap_rate"], clean=event["heldout_clean_lap_rate"])

        with tempfile.TemporaryDirectory() as tmp:
            generations = 3 if quick else 40
            last = run_evolution({"population": 256, "generations": generations, "episodes": 4, "seed": seed},
                                 tmp, on_event=hook, progress=False)
        if found:
            walls.append(found["wall"])
            rows.append([str(seed), str(found["gen"]), f"{found['wall']:.1f}", f"{found['laps']:.0%}",
                         f"{found['clean']:.0%}"])
        else:
            rows.append([str(seed), f"not in {generations}", "-", f"{last['heldout_lap_rate']:.0%}",
                         f"{last['heldout_clean_lap_rate']:.0%}"])
    return rows, (statistics.median(walls) if len(walls) == seeds else None)


def run_evolve_bench(repeats: int = 3, quick: bool = False, minutes: float = 0.0, race_only: bool = False,
                     races: tuple[str, ...] | None = None, levels: tuple[str, ...] = ("normal", "hard")) -> str:
    """The benchmark's tables as text; `race_only`: only the race of `races` (see `evolve_race.RACES`) on
    `levels`, `minutes` each."""
    single_thread()
    if race_only:
        return "\n".join([machine_line(), "", _race(minutes, races, levels)])
    sizes = (64,) if quick else (256, 1024)
    out = [machine_line(), "", "**Population evaluation** (easy, rays, MLP 11-16-5, one episode per individual; "
           f"median of {repeats})",
           format_table(["evaluation", "P", "individuals/s", "vs ordinary", "goal"],
                        _throughput(1 if quick else repeats, sizes, 8 if quick else 32))]
    rows, median_wall = _ga_to_laps(1 if quick else 3, quick)
    verdict = ("not reached by every seed" if median_wall is None else
               f"median {median_wall:.1f} s (goal <= {GOAL_SECONDS:.0f} s: "
               f"{'met' if median_wall <= GOAL_SECONDS else 'MISSED'})")
    out += ["", "**GA to held-out laps** (easy, rays, MLP 11-16-5, P=256, 4 tracks per individual; wall-clock from "
            "the start, held-out checks included)",
            format_table(["seed", "generation reaching 95%", "wall s", "held-out laps", "clean laps"], rows),
            f"champion at >= 95% of held-out laps: {verdict}"]
    if minutes > 0:
        out += ["", _race(minutes, races, levels)]
    return "\n".join(out)


def _race(minutes: float, races: tuple[str, ...] | None, levels: tuple[str, ...]) -> str:
    from sandbox.bench.evolve_race import DEFAULT_RACES, race_table

    if not minutes > 0:
        raise ValueError(f"the race needs --minutes > 0, got {minutes:g}")
    return race_table(minutes, levels, races=races or DEFAULT_RACES)
