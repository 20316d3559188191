"""`sandbox evolve`: a headless evolution run with its run directory.

    result = run_evolution({"strategy": "ga", "population": 256, "generations": 30}, "runs/ga-0")

After every generation: a progress line (best, mean and std fitness, evaluations/s, the champion's held-out
lap rate), `checkpoint.pt` (atomic: population, hall of fame, logbook, the strategy's own state such as
CMA-ES's, random states), the DEAP logbook as `logbook.csv`, and the hall of fame as `hall_of_fame/rank{i}.pt`
(drivers `sandbox eval` loads). At the end `fitness.png`. `resume_evolution(run_dir)` continues a stopped run
(killed with kill -9 too) and ends where the uninterrupted run would have. The strategy (`evolve.strategies`)
is reached only through `STRATEGIES[config.strategy]`: its start, its generation step, its state.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import tools

from evolve import checkpoint as ckpt
from evolve.config import EvolveConfig, make_config
from evolve.distributed import BatchFitness, BatchMap
from evolve.evaluate import spaces_of
from evolve.strategies import STRATEGIES, Individual, make_toolbox, refresh_hall_of_fame
from sandbox.runs.checkpoints import load_checkpoint, to_numpy, to_tensors
from sandbox.runs.rundir import check_new_run_dir, check_run_kind, clear_old_run, extend_budget
from sandbox.runs.runlog import write_csv
from sandbox.runs.trust import check_checkpoint

CHECKPOINT = "checkpoint.pt"
Hook = Callable[[dict[str, Any]], None]


def run_evolution(settings: dict[str, Any] | EvolveConfig, run_dir: str | os.PathLike,
                  resume: dict[str, Any] | None = None, on_event: Hook | None = None,
                  progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Evolve drivers into `run_dir`; return the last generation's record (also the logbook's last row).

    A `run_dir` that holds a run is refused unless `overwrite` (the old run is cleared only when the first
    generation's files are written); `resume` (a checkpoint's payload) continues the run in `run_dir`.

    `on_event` sees `{"kind": "step", ..., "car_fitness"}` during each evaluation (serial runs only) and
    `{"kind": "generation", "generation", "best", "mean", "std", "evals_per_s", "heldout_lap_rate",
    "checkpoint_path"}` after each generation (`sandbox.runs.hooks`; the checkpoint is written every generation).
    """
    config = settings if isinstance(settings, EvolveConfig) else make_config(settings)
    run_dir = Path(run_dir)
    if resume is None:
        check_new_run_dir(run_dir, overwrite)
    run = _Run(config, run_dir, on_event, clear_first=overwrite and resume is None)
    if resume is not None:
        run.restore(resume)
    else:
        run.start()
    try:
        while run.generation < config.generations:
            record = run.step()
            if progress:
                print(_progress_line(record, config.generations), file=sys.stderr, flush=True)
    finally:
        run.map.close()
    _plot(run.records, run_dir / "fitness.png")
    return run.records[-1] if run.records else {}


def resume_evolution(run_dir: str | os.PathLike, on_event: Hook | None = None, progress: bool = True,
                     generations: int | None = None, trust_code: bool = False, **where: Any) -> dict:
    """Continue the evolution in `run_dir` from its checkpoint; `generations` larger than the run's extends
    it; `workers=` / `ray=` evaluate the rest elsewhere (the fitnesses are the same). A checkpoint that names
    code outside the sandbox (a `module:attr` backbone) is refused unless `trust_code`."""
    payload = load_checkpoint(Path(run_dir) / CHECKPOINT)
    check_run_kind(payload, "evolution", run_dir)
    check_checkpoint(payload, Path(run_dir) / CHECKPOINT, trust_code)
    settings = to_numpy(payload["config"])
    settings = extend_budget(settings, "generations", generations, int(payload["generation"]), "--generations",
                             int(settings["generations"]))
    settings.update({key: where[key] for key in ("workers", "ray") if key in where})
    return run_evolution(make_config(settings), run_dir, resume=payload, on_event=on_event, progress=progress)


class _Run:
    """The state of a run between generations, and one generation of it."""

    def __init__(self, config: EvolveConfig, run_dir: Path, on_event: Hook | None, clear_first: bool = False):
        self.config, self.run_dir, self.on_event = config, run_dir, on_event
        self.clear_first = clear_first  # --overwrite: the old run goes when this one writes its first files
        self.spec = config.eval_spec()
        self.spaces = spaces_of(self.spec)
        self.fitness = BatchFitness(self.spec, config.seed)
        self.map = BatchMap(config.workers, config.ray)
        if config.workers == 0 and config.ray is None:
            self.fitness.hook = on_event  # a viewer sees the cars drive (in this process only)
        self.strategy = STRATEGIES[config.strategy]
        self.toolbox = make_toolbox(config, self.spaces, self.fitness, self.map)
        self.hof = tools.HallOfFame(config.hof_size)
        self.stats = tools.Statistics(key=lambda ind: ind.fitness.values[0])
        for name, fn in (("avg", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
            self.stats.register(name, fn)
        self.records: list[dict[str, Any]] = []
        self.generation, self.elapsed, self.population = 0, 0.0, []
        self.state: Any = None  # what the strategy keeps between generations (CMA-ES's distribution)
        self.heldout: dict[str, Any] = {"vector": None, "lap_rate": float("nan"), "clean_lap_rate": float("nan")}

    def start(self) -> None:
        config = self.config
        ckpt.restore_random_states(_seeded_states(config.seed))
        self.population, self.state = self.strategy.start(config, self.toolbox, self.spaces)

    def restore(self, payload: dict[str, Any]) -> None:
        # before the random states: rebuilding the state may draw from them (CMA-ES initialises a network)
        self.state = self.strategy.restore_state(self.config, self.spaces, ckpt.strategy_state(payload))
        self.population = ckpt.restore_individuals(payload["population"], Individual)
        # the hall of fame exactly as it was (its order among equal fitnesses too): items best first, keys ascending
        self.hof.items = ckpt.restore_individuals(payload["hof"], Individual)
        self.hof.keys = [ind.fitness for ind in reversed(self.hof.items)]
        self.records = [dict(r) for r in to_numpy(payload["records"])]
        self.generation, self.elapsed = int(payload["generation"]), float(payload["elapsed"])
        self.heldout = dict(payload["heldout"])
        ckpt.restore_random_states(payload["rng"])

    def step(self) -> dict[str, Any]:
        """One generation: DEAP's algorithm, the champion's held-out rate, the files; its record."""
        self.generation += 1
        self.fitness.context = {"generation": self.generation}
        start = time.perf_counter()
        if self.config.fresh_tracks:  # this generation's tracks; the champions drive them first
            self.fitness.generation = self.generation
            refresh_hall_of_fame(self.toolbox, self.hof)
        self.population, logbook = self.strategy.generation(self.config, self.toolbox, self.population, self.hof,
                                                            self.stats, self.state)
        seconds = time.perf_counter() - start
        self.elapsed += seconds
        evals = sum(logbook.select("nevals"))
        heldout = self._champion_heldout()
        last = logbook[-1]
        record = {"gen": self.generation, "nevals": evals, "best": float(last["max"]), "mean": float(last["avg"]),
                  "std": float(last["std"]), "min": float(last["min"]), "evals_per_s": evals / max(seconds, 1e-9),
                  "champion_fitness": float(self.hof[0].fitness.values[0]),
                  "heldout_lap_rate": heldout["lap_rate"], "heldout_clean_lap_rate": heldout["clean_lap_rate"],
                  "seconds": self.elapsed}
        self.records.append(record)
        self._write(record)
        if self.on_event is not None:
            self.on_event({"kind": "generation", "generation": self.generation, **record,
                           "checkpoint_path": lambda: self.run_dir / CHECKPOINT})
        return record

    def _champion_heldout(self) -> dict[str, Any]:
        """The held-out laps of the hall of fame's best, measured again only when the champion changes."""
        champion = self.hof[0]
        if self.heldout["vector"] is not None and list(self.heldout["vector"]) == list(champion):
            return self.heldout
        from envs import ENV_ID
        from sandbox.runs.evaluate import evaluate

        net, _, _ = ckpt.driver_from_genome(self.spaces, champion, self.config.backbone,
                                            self.config.backbone_options, champion.arch)
        result = evaluate(lambda obs: net.act(torch.as_tensor(obs).float()), ENV_ID, self.spec.env_kwargs(),
                          self.config.heldout_episodes, seed=self.config.seed, observe=net.observe)
        self.heldout = {"vector": torch.tensor(list(champion), dtype=torch.float64),
                        "lap_rate": result["lap_rate"], "clean_lap_rate": result["clean_lap_rate"]}
        return self.heldout

    def _write(self, record: dict[str, Any]) -> None:
        """The generation's files: hall of fame drivers, logbook CSV, and last the checkpoint."""
        if self.clear_first:
            clear_old_run(self.run_dir)
            self.clear_first = False
        for rank, ind in enumerate(self.hof):
            net, backbone, options = ckpt.driver_from_genome(self.spaces, ind, self.config.backbone,
                                                             self.config.backbone_options, ind.arch)
            ckpt.save_driver(self.run_dir / "hall_of_fame" / f"rank{rank}.pt", net, self.spec.env_kwargs(), backbone,
                             options, fitness=float(ind.fitness.values[0]), generation=self.generation,
                             strategy=self.config.strategy)
        write_csv(self.run_dir / "logbook.csv", self.records)  # the hall of fame above made the run dir
        ckpt.save_run(self.run_dir / CHECKPOINT, {
            "config": to_tensors(dataclasses.asdict(self.config)), "generation": self.generation,
            "elapsed": self.elapsed, "population": ckpt.individuals_state(self.population),
            "hof": ckpt.individuals_state(list(self.hof)), "records": self.records, "heldout": self.heldout,
            "strategy_state": self.strategy.save_state(self.state), "rng": ckpt.random_states()})


def _seeded_states(seed: int) -> dict[str, Any]:
    """Seed Python's `random` (DEAP), numpy (CMA-ES) and torch, and return the states (for a fresh start)."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return ckpt.random_states()


def _progress_line(record: dict[str, Any], generations: int) -> str:
    return (f"gen {record['gen']:>3}/{generations}  best {record['best']:8.2f}  mean {record['mean']:8.2f}  "
            f"std {record['std']:7.2f}  evals/s {record['evals_per_s']:7.0f}  champion held-out laps "
            f"{record['heldout_lap_rate']:.0%} (clean {record['heldout_clean_lap_rate']:.0%})  "
            f"[{record['seconds']:.1f} s]")


def _plot(records: list[dict[str, Any]], path: Path) -> None:
    if not records:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = [r["gen"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    mean, std = np.array([r["mean"] for r in records]), np.array([r["std"] for r in records])
    ax.plot(gen, [r["best"] for r in records], label="best")
    ax.plot(gen, mean, label="mean")
    ax.fill_between(gen, mean - std, mean + std, alpha=0.2, label="mean ± std")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (mean return)")
    laps = ax.twinx()
    laps.plot(gen, [100 * r["heldout_lap_rate"] for r in records], "k--", label="champion held-out laps %")
    laps.set_ylim(0, 100)
    laps.set_ylabel("champion held-out laps (%)")
    ax.legend(loc="upper left")
    laps.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
