"""`sandbox evolve` and `sandbox bench evolve`: headless evolution, on one machine or a Ray cluster."""

from __future__ import annotations

import argparse
import json

from sandbox.cli.flags import (
    add_level,
    add_overwrite,
    add_seed,
    add_trust_code,
    level_names,
    non_negative_float,
    non_negative_int,
    population,
    positive_float,
    positive_int,
    print_written,
    refuse_on_resume,
    strategies_help,
    strategy_names,
)


def race_names() -> list[str]:
    """The learners `sandbox bench evolve --races` offers (`sandbox.bench.evolve_race.RACES`)."""
    from sandbox.bench.evolve_race import RACES

    return list(RACES)


RESUMABLE = {"generations", "workers", "ray"}  # flags that may go with --resume: a longer run, another map


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 16,16, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive, got {text!r}")
    return widths


def _options(text: str) -> dict:
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"hidden_size\": 16}}', got {text!r} "
                                         f"({exc.msg})") from None
    if not isinstance(options, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of option names to values, got {text!r}")
    return options


def add_evolve_flags(p: argparse.ArgumentParser) -> None:
    """The flags of an evolution run (shared with `sandbox watch --evolve`)."""
    p.add_argument("--population", type=population, default=256, help="individuals per generation (256)")
    p.add_argument("--generations", type=positive_int, default=30, help="generations to run (30)")
    p.add_argument("--backbone", default="mlp", help="mlp, attention, gru or lstm (a recurrent driver: one state "
                   "per car), a registered name or module:Class (mlp)")
    p.add_argument("--backbone-options", type=_options, metavar="JSON",
                   help="the backbone's options as a JSON object, e.g. '{\"hidden_size\": 16, \"num_layers\": 1, "
                   "\"stem_options\": {\"widths\": [16]}}' for gru (its default; mlp: widths [16])")
    p.add_argument("--widths", type=_widths, help="MLP hidden widths, e.g. 16 or 16,16 (default 16); for gru "
                   "and lstm, its MLP stem's")
    p.add_argument("--activation", choices=("step", "sigmoid", "tanh", "relu", "abs", "gelu"),
                   help="MLP activation (default tanh; gru and lstm: the stem's); step is the perceptron's, which "
                   "only evolution trains")
    p.add_argument("--episodes", type=positive_int, default=4,
                   help="training tracks each individual drives; fitness is the mean return (4; on normal and "
                   "hard, where pedestrians wait at random, 16 gives a champion that holds)")
    p.add_argument("--fresh-tracks", action="store_true",
                   help="draw the training tracks anew each generation: every individual, elites and the hall "
                   "of fame too, is evaluated again on them (a champion that holds on tracks it has not met)")
    p.add_argument("--lap-time-bonus", type=non_negative_float,
                   help="fitness added to a clean lap, scaled by the share of the step limit it left unused, so "
                   "of two careful drivers the faster wins (0: the return alone)")
    p.add_argument("--algorithm", choices=("simple", "mu+lambda"), default="simple",
                   help="ga and arch: DEAP's eaSimple (with elites) or eaMuPlusLambda")
    p.add_argument("--sigma", type=positive_float, help="Gaussian mutation's standard deviation (0.2)")
    p.add_argument("--es-sigma", type=positive_float, help="openai-es: the parameter noise's standard deviation "
                   "(0.05)")
    p.add_argument("--es-learning-rate", type=positive_float, help="openai-es: Adam's step size on the mean (0.1)")
    p.add_argument("--es-weight-decay", type=non_negative_float, help="openai-es: L2 coefficient on the mean "
                   "(0.005)")
    p.add_argument("--elites", type=non_negative_int,
                   help="ga simple: the best individuals kept unchanged (default min(4, population / 2))")
    p.add_argument("--obs", choices=("rays", "pixels", "both"), default="rays", help="observation (rays)")
    add_seed(p, "seed of Python's random, numpy and torch")
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="local processes evaluating shards (0: this process)")
    p.add_argument("--ray", metavar="ADDRESS", help="evaluate shards on the Ray cluster at ADDRESS (or auto)")
    add_level(p)


def add_parsers(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="evolve drivers with DEAP (GA, CMA-ES, architecture evolution), headless; --resume continues",
        description="Evolve a population of drivers (backbone + policy head, one flat genome each). The whole "
        "population drives at once, one car per individual per track, every network in one batched forward. "
        "Writes RUN_DIR/logbook.csv (DEAP's logbook), RUN_DIR/checkpoint.pt (after every generation), "
        "RUN_DIR/hall_of_fame/rank*.pt (drivers for `sandbox eval` and `sandbox replay`) and "
        "RUN_DIR/fitness.png. `sandbox evolve --resume RUN_DIR` continues a stopped run (kill -9 too).",
    )
    p.add_argument("--strategy", choices=strategy_names(), default="ga",
                   help=f"{strategies_help()} (default ga)")
    add_evolve_flags(p)
    p.add_argument("--run-dir", help="where the run's files go (default runs/evolve-STRATEGY-SEED, or the next "
                   "free _2, _3, ...)")
    add_overwrite(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint (with "
                   "--generations larger than its own: extend it)")
    add_trust_code(p)
    b = bench.add_parser(
        "evolve",
        help="population evaluation: ours batched vs DEAP the ordinary way; GA to held-out laps",
        description="Evaluations/s at P=256 and P=1024, ours (one vector env, one batched forward a step) "
        "against DEAP used the ordinary way (toolbox.map = map, one individual at a time through the one-car "
        "env, one torch forward a step), the same networks and tracks; then the wall-clock a GA of MLPs needs "
        "until its champion laps 95% of easy's held-out tracks.",
    )
    b.add_argument("--repeats", type=positive_int, default=3, help="timed repeats per figure (median)")
    b.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    b.add_argument("--minutes", type=non_negative_float, default=0.0,
                   help="also race GA, CMA-ES, arch and a step-activation population this many minutes each "
                   "on normal and hard (0: skip)")
    b.add_argument("--races", nargs="+", choices=race_names(), metavar="RACE",
                   help=f"which learners race for --minutes: {', '.join(race_names())} (default ga cma arch "
                   "ga-step a2c); ga-gru is the GA over a GRU driver, openai-es the evolution strategy, "
                   "e.g. --races ga ga-gru")
    b.add_argument("--levels", nargs="+", choices=level_names(), default=["normal", "hard"],
                   help="levels of the race (default normal hard)")
    b.add_argument("--race-only", action="store_true", help="run only the race (skip the throughput and "
                   "GA-to-laps tables)")


def settings_from_args(args: argparse.Namespace, strategy: str) -> dict:
    """An evolution run's settings from the flags: --widths and --activation over --backbone-options (for a
    GRU or LSTM, over its stem's options)."""
    options, mlp = dict(getattr(args, "backbone_options", None) or {}), {}
    if args.widths is not None:
        mlp["widths"] = args.widths
    if args.activation is not None:
        mlp["activation"] = args.activation
    if args.backbone in ("gru", "lstm") and mlp and isinstance(options.get("stem_options", {}), dict):
        options["stem_options"] = {**options.get("stem_options", {}), **mlp}
    else:
        options.update(mlp)
    settings = {"strategy": strategy, "population": args.population, "generations": args.generations,
                "level": args.level, "obs": args.obs, "backbone": args.backbone, "episodes": args.episodes,
                "algorithm": args.algorithm, "seed": args.seed, "workers": args.workers, "ray": args.ray,
                "fresh_tracks": args.fresh_tracks}
    if args.backbone == "mlp":
        settings["backbone_options"] = {"widths": (16,), **options}
    elif options:
        settings["backbone_options"] = options
    for key in ("sigma", "elites", "es_sigma", "es_learning_rate", "es_weight_decay", "lap_time_bonus"):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    return settings


def _map_flags(args: argparse.Namespace) -> dict:
    """--workers / --ray given with --resume: evaluate the resumed run's generations there (same fitnesses)."""
    return {key: getattr(args, key) for key in ("workers", "ray") if key in args.given}


EVOLVE_FILES = ("logbook.csv", "checkpoint.pt", "hall_of_fame/rank*.pt", "fitness.png")


def run(args: argparse.Namespace) -> int | None:
    if args.command == "evolve":
        from evolve import resume_evolution, run_evolution
        from sandbox.runs.rundir import free_run_dir

        if args.resume:
            refuse_on_resume(args.given, RESUMABLE, "evolve")
            generations = args.generations if "generations" in args.given else None
            result = resume_evolution(args.resume, generations=generations, trust_code=args.trust_code,
                                      **_map_flags(args))
            run_dir = args.resume
        else:
            run_dir = args.run_dir or free_run_dir(f"runs/evolve-{args.strategy}-{args.seed}")
            result = run_evolution(settings_from_args(args, args.strategy), run_dir, overwrite=args.overwrite)
        print_written(run_dir, EVOLVE_FILES)
        nan = float("nan")
        print(f"champion: fitness {result.get('champion_fitness', nan):.2f}, held-out laps "
              f"{result.get('heldout_lap_rate', nan):.0%} (clean {result.get('heldout_clean_lap_rate', nan):.0%}); "
              f"`sandbox eval {run_dir}/hall_of_fame/rank0.pt` drives it")
        return 0
    if args.command == "bench" and args.bench == "evolve":
        from sandbox.bench.evolve import run_evolve_bench

        print(run_evolve_bench(repeats=args.repeats, quick=args.quick, minutes=args.minutes, race_only=args.race_only,
                               races=tuple(args.races) if args.races else None, levels=tuple(args.levels)))
        return 0
    return None
