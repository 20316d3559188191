"""The `sandbox` command line (also `python -m sandbox`).

    sandbox demo                 drive a batch of cars with the built-in controller, write a PNG and a GIF
    sandbox baseline             the expert, the rays controller and full throttle on a level's held-out tracks
    sandbox train                train an agent family (qlearning, a2c, ppo, a3c on Ray ...); --resume continues
    sandbox eval CHECKPOINT      any driver's held-out evaluation, as JSON with --json
    sandbox evolve               evolve drivers with DEAP (GA, CMA-ES, architectures); --resume continues
    sandbox watch                watch agents learn or a population evolve, live (headless: a video)
    sandbox play / replay        drive a car yourself (--record demos) / show any driver checkpoint
    sandbox collect / fit        gather trajectories / train a component (autoencoder, vae, gan, gail, bc, ...)
    sandbox bench env            our batched world against gymnasium's CarRacing-v3
    sandbox bench backbones      backbone throughput and the batched population forward
    sandbox bench agents         steps and seconds to solve CartPole and CarDrive easy, ours and SB3
    sandbox bench drive          every family and SB3 PPO, the same minutes on normal and hard: clean laps
    sandbox bench pixels         our A2C or PPO + CNN and SB3 PPO CnnPolicy, the same minutes on pixels
    sandbox bench a3c            A3C on Ray: steps to solve vs A2C, 2 workers vs 1, a worker killed mid-run
    sandbox bench evolve|watch|components   evolution vs DEAP's ordinary way; the viewer's cost; components

Every subcommand has its own `--help`. Errors in flags or inputs are reported in one line, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sandbox.cli.flags import (
    RAY_FLAGS,
    LinesFormatter,
    Parser,
    add_agent_flags,
    add_agent_help,
    add_level,
    add_overwrite,
    add_seed,
    add_tracks,
    add_trust_code,
    agent_names,
    agent_settings,
    agents_help,
    given_flags,
    level_names,
    positive_float,
    positive_int,
    print_written,
    refuse_on_resume,
)
from sandbox.runs.ray_cluster import WorkersLostError


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="drive a batch of cars headless with the built-in controller; write a PNG frame and a GIF",
        description="Drive NUM_CARS cars, each on its own track, with the hand-written baseline controller. "
        "Headless: writes OUT/frame.png (the last frame) and OUT/drive.gif (a short clip) and prints "
        "how far each car got.",
    )
    p.add_argument("--num-cars", type=positive_int, default=4, help="cars in the batch (default 4)")
    p.add_argument("--steps", type=positive_int, default=400, help="steps to drive (default 400)")
    add_tracks(p)
    add_seed(p, "seed for track choice and pedestrians")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--gif-every", type=positive_int, default=4, help="keep every k-th frame in the GIF")
    p.add_argument("--no-pedestrians", action="store_true", help="drive without pedestrians")
    add_level(p)


def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline",
        help="the drivers that need no learning (expert, rays controller, full throttle) on a level",
        description="Drives the privileged expert (reads the true world state), the rays controller (reads "
        "only the observation) and full throttle without steering, one car per track and one episode each, "
        "over a level's track set. Prints laps, clean laps (no crash, no contact), median lap steps and "
        "contacts per lap.",
    )
    add_level(p)
    add_tracks(p)
    p.add_argument("--count", type=positive_int, default=100, help="tracks to run (default 100)")
    p.add_argument("--max-steps", type=positive_int, default=1000, help="step limit per lap (default 1000)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", add_help=False, formatter_class=LinesFormatter,
        help="train an agent into a run directory (logs, checkpoints, learning curve); --resume continues",
        description="Train an agent on a gymnasium env (CarDrive by default, through its native vector env). "
        "Writes RUN_DIR/progress.csv, RUN_DIR/tensorboard/, RUN_DIR/checkpoint.pt (every --checkpoint-every "
        "updates and at the end), RUN_DIR/learning_curve.png and RUN_DIR/eval.json; with --eval-every, RUN_DIR/best.pt "
        "and RUN_DIR/best.json (the best evaluation's checkpoint and figures). A RUN_DIR that holds a "
        "run is refused: `sandbox train --resume RUN_DIR` continues it (killed with kill -9 too), --overwrite "
        "replaces it.",
    )
    add_agent_help(p)
    p.add_argument("--agent", choices=agent_names(), help=f"the agent family: {agents_help()}")
    add_agent_flags(p)
    p.add_argument("--env", default="sandbox/CarDrive-v0", help="gymnasium id (default sandbox/CarDrive-v0)")
    add_level(p, default=None, what="CarDrive's level (default easy)")
    add_seed(p)
    p.add_argument("--run-dir", help="where the run's files go (default runs/AGENT-SEED, or the next free "
                   "runs/AGENT-SEED_2, _3, ...)")
    add_overwrite(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint (with "
                   "--total-timesteps larger than its own: extend it; with --learning-rate: go on with that rate)")
    add_trust_code(p)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="any driver checkpoint's greedy evaluation on held-out tracks (or seeded episodes)",
        description="Load CHECKPOINT (a `sandbox train` run's checkpoint.pt, an evolved driver such as "
        "hall_of_fame/rank0.pt or an evolution run's checkpoint.pt, or a bc / gail / transformer checkpoint of "
        "`sandbox fit`) and drive it greedily: on CarDrive one car per held-out track, printing mean return, lap "
        "rate, clean-lap rate and median lap steps.",
    )
    p.add_argument("checkpoint", help="path to a checkpoint.pt")
    p.add_argument("--episodes", type=positive_int, default=100, help="episodes (CarDrive: tracks); default 100")
    add_tracks(p)
    add_level(p, default=None, what="evaluate on another level than the one trained on")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trust_code(p)


def _add_bench(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    p = sub.add_parser("bench", help="benchmarks, side by side with what a user would pick instead")
    bench = p.add_subparsers(dest="bench", metavar="WHAT", required=True)
    env = bench.add_parser(
        "env",
        help="car-steps/s of our batched world vs gymnasium CarRacing-v3 (one core)",
        description="Random actions on one pinned thread: CarRacing-v3, our one-car env, and the batched "
        "vector env with ray and pixel observations at several batch sizes. Prints medians and ratios.",
    )
    env.add_argument("--repeats", type=positive_int, default=5, help="timed repeats per figure (median)")
    env.add_argument("--quick", action="store_true", help="fewer steps and sizes (a smoke run)")
    bb = bench.add_parser(
        "backbones",
        help="forward / forward+backward throughput of each backbone; batched population forward",
        description="Observations/s for each backbone family on rays and pixels at batch 1 and 1024, and "
        "P networks evaluated in one call versus a Python loop over P modules.",
    )
    bb.add_argument("--repeats", type=positive_int, default=5, help="timed repeats per figure (median)")
    bb.add_argument("--quick", action="store_true", help="fewer sizes (a smoke run)")
    ag = bench.add_parser(
        "agents",
        help="our agents and Stable-Baselines3 learning CartPole and CarDrive, side by side",
        description="Env steps and wall seconds (evaluations excluded, env construction included) until a greedy "
        "evaluation solves the task: CartPole-v1 (10-episode mean >= 475) and CarDrive easy rays (>= 95% of "
        "the held-out tracks lapped). Median over seeds; then A2C's learning throughput at N=128.",
    )
    ag.add_argument("--seeds", type=positive_int, default=3, help="seeds per row (median)")
    ag.add_argument("--quick", action="store_true", help="one row (a smoke run)")
    dr = bench.add_parser(
        "drive",
        help="every agent family and SB3 PPO, the same minutes each on normal and hard: held-out clean laps",
        description="Each learner trains for --minutes of wall-clock (env construction included, evaluations "
        "excluded) on a level's rays, then drives the 100 held-out tracks greedily; a table per level with "
        "laps, clean laps (final and best of five evaluations) and median lap steps, and the expert's rates.",
    )
    dr.add_argument("--minutes", type=positive_float, default=10.0, help="training minutes per learner (10)")
    dr.add_argument("--levels", nargs="+", choices=level_names(), default=["normal", "hard"], help="levels to race")
    dr.add_argument("--agents", nargs="+", choices=("ppo", "a2c", "a2c-attention", "reinforce", "qlearning", "sarsa"),
                    default=["ppo", "a2c", "a2c-attention", "reinforce", "qlearning", "sarsa"],
                    help="our families to race (a2c-attention: A2C over the attention backbone)")
    dr.add_argument("--no-sb3", action="store_true", help="race ours alone (no SB3 PPO row)")
    add_seed(dr, "seed of every learner")
    px = bench.add_parser(
        "pixels",
        help="our A2C, PPO or DAgger with a CNN and SB3 PPO's CnnPolicy, the same minutes each on a level's pixels",
        description="As `bench drive`, on a level's 64x64 pixel observations (easy by default): our A2C (CNN, 64 "
        "envs), PPO or DAgger (their shipped pixels settings; DAgger imitates the privileged expert, it does not "
        "learn from the reward), or DAgger imitating a PPO teacher that learned the rays from the reward within "
        "the same minutes, against SB3 PPO CnnPolicy (8 envs).",
    )
    px.add_argument("--minutes", type=positive_float, default=5.0, help="training minutes per learner (5)")
    px.add_argument("--no-sb3", action="store_true", help="race ours alone")
    px.add_argument("--level", choices=level_names(), default="easy", help="the level (default easy)")
    px.add_argument("--agent", choices=("a2c", "ppo", "dagger", "dagger-from-ppo"), default="a2c",
                    help="ours: a2c (CNN, 64 envs), ppo or dagger (their shipped pixels settings), or "
                    "dagger-from-ppo (PPO learns the rays from the reward, then a DAgger pixels student imitates "
                    "it, both within the minutes); default a2c")
    add_seed(px, "seed of every learner")
    te = bench.add_parser(
        "teachers",
        help="DAgger (learning from the privileged expert), PPO with memory (GRU) and PPO started from the "
        "DAgger student, against PPO from scratch: held-out clean laps",
        description="Per level: the DAgger student (5 min on normal, 10 on hard), PPO from scratch, PPO over a GRU "
        "and PPO started from that student (--init-from), --minutes each, one thread; then DAgger on normal's "
        "pixels. Tables as `bench drive`'s.",
    )
    te.add_argument("--minutes", type=positive_float, default=10.0, help="training minutes per PPO row (10)")
    te.add_argument("--levels", nargs="*", choices=level_names(), default=["normal", "hard"],
                    help="levels of the rays rows (normal hard; none given: only DAgger on normal's pixels)")
    te.add_argument("--rows", nargs="+", choices=("dagger", "ppo", "ppo-gru", "ppo-from-dagger"),
                    default=["dagger", "ppo", "ppo-gru", "ppo-from-dagger"], help="which learners (all)")
    te.add_argument("--no-pixels", action="store_true", help="skip DAgger on normal's pixels")
    add_seed(te, "seed of every learner")
    a3 = bench.add_parser(
        "a3c",
        help="A3C on a local 2-CPU Ray cluster: steps to 95% laps vs A2C, 2 workers vs 1, a worker killed mid-run",
        description="On CarDrive easy rays: env steps until a greedy evaluation laps 95% of the held-out tracks, A3C "
        "(2 workers) against A2C, median over seeds; A3C's steady-state env-steps/s with 2 workers against 1, median "
        "of repeats; and a run whose worker 1 is killed halfway, which must finish and name it. Needs Ray.",
    )
    a3.add_argument("--seeds", type=positive_int, default=3, help="seeds of the steps-to-solve row (median; 3)")
    a3.add_argument("--repeats", type=positive_int, default=3, help="timed repeats per throughput figure (median; 3)")
    a3.add_argument("--timesteps", type=positive_int, default=300_000,
                    help="env steps of each throughput run and of the killed run (300000)")
    a3.add_argument("--quick", action="store_true", help="no steps-to-solve row, one short repeat (a smoke run)")
    return bench


# Commands of the other front doors, one module each (argparse only at import, so `--help` stays light):
# `add_parsers(sub, bench)` adds its subcommands (and its `bench` entries), `run(args)` returns an exit code,
# or None when `args` is not one of its commands.
COMMAND_MODULES: tuple[str, ...] = ("sandbox.cli.evolve", "sandbox.cli.fit", "sandbox.cli.watch")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="sandbox",
        description="A reinforcement-learning and evolution sandbox: cars learn to drive on generated tracks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_baseline(sub)
    _add_train(sub)
    _add_eval(sub)
    bench = _add_bench(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub, bench)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` was parsed by (`sandbox bench env`'s, say)."""
    for action in parser._actions:  # argparse keeps the subparsers in its private action list
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return subcommand_parser(action.choices[name], args)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    for name in COMMAND_MODULES:
        code = importlib.import_module(name).run(args)
        if code is not None:
            return code
    if args.command == "demo":
        from sandbox.commands.demo import run_demo

        run_demo(
            num_cars=args.num_cars,
            steps=args.steps,
            tracks=args.tracks,
            seed=args.seed,
            out=args.out,
            gif_every=args.gif_every,
            pedestrians=not args.no_pedestrians,
            level=args.level,
        )
    elif args.command == "baseline":
        from sandbox.commands.baseline import run_baseline

        run_baseline(level=args.level, tracks=args.tracks, count=args.count, max_steps=args.max_steps)
    elif args.command == "train":
        _train(args, args.given)
    elif args.command == "eval":
        from sandbox.commands.train import evaluate_checkpoint, print_result

        print_result(evaluate_checkpoint(args.checkpoint, args.episodes, args.tracks, args.level,
                                         trust_code=args.trust_code), args.json)
    elif args.command == "bench" and args.bench == "env":
        from sandbox.bench.env import run_env_bench

        print(run_env_bench(repeats=args.repeats, quick=args.quick))
    elif args.command == "bench" and args.bench == "agents":
        from sandbox.bench.agents import run_agents_bench

        print(run_agents_bench(seeds=args.seeds, quick=args.quick))
    elif args.command == "bench" and args.bench == "drive":
        from sandbox.bench.race import run_drive_bench

        print(run_drive_bench(args.minutes, tuple(args.levels), args.seed, tuple(args.agents),
                              with_sb3=not args.no_sb3))
    elif args.command == "bench" and args.bench == "pixels":
        from sandbox.bench.race import run_pixels_bench

        print(run_pixels_bench(args.minutes, args.seed, with_sb3=not args.no_sb3, level=args.level, agent=args.agent))
    elif args.command == "bench" and args.bench == "teachers":
        from sandbox.bench.teachers import run_teachers_bench

        if not args.levels and args.no_pixels:
            raise ValueError("--levels with no level and --no-pixels leave nothing to run")
        print(run_teachers_bench(args.minutes, tuple(args.levels), args.seed, tuple(args.rows),
                                 pixels=not args.no_pixels))
    elif args.command == "bench" and args.bench == "a3c":
        from sandbox.bench.a3c import run_a3c_bench

        print(run_a3c_bench(seeds=args.seeds, repeats=args.repeats, timesteps=args.timesteps, quick=args.quick))
    elif args.command == "bench" and args.bench == "backbones":
        from sandbox.bench.backbones import run_backbones_bench

        print(run_backbones_bench(repeats=args.repeats, quick=args.quick))
    return 0


TRAIN_FILES = ("checkpoint.pt", "progress.csv", "tensorboard/", "learning_curve.png", "eval.json", "best.pt",
               "best.json")


def _train(args: argparse.Namespace, given: set[str]) -> None:
    from sandbox.commands.train import print_result, resume_training, run_training
    from sandbox.runs.rundir import free_run_dir

    if args.resume:
        refuse_on_resume(given, {"total_timesteps", "learning_rate", "workers", "ray"}, "train")
        where = {RAY_FLAGS[flag]: getattr(args, flag) for flag in RAY_FLAGS if flag in given}  # a3c on other CPUs
        result = resume_training(args.resume, total_timesteps=args.total_timesteps, trust_code=args.trust_code,
                                 learning_rate=args.learning_rate, where=where)
        print_written(args.resume, TRAIN_FILES)
        print_result(result, as_json=False)
        return
    if args.agent is None:
        raise ValueError(f"--agent is required ({', '.join(agent_names())}), unless --resume RUN_DIR is given")
    settings = agent_settings(args, given)
    run_dir = args.run_dir or free_run_dir(f"runs/{args.agent}-{args.seed}")
    result = run_training(args.agent, settings, run_dir, args.eval_every, args.eval_episodes, args.checkpoint_every,
                          overwrite=args.overwrite)
    print_written(run_dir, TRAIN_FILES)
    print_result(result, as_json=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sandbox` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.given = given_flags(subcommand_parser(parser, args), argv)
    try:
        return _dispatch(args)
    except (ValueError, FileNotFoundError, KeyError, FloatingPointError, WorkersLostError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sandbox {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
