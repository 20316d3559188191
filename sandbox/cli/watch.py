"""The viewer's commands: `sandbox watch`, `sandbox play`, `sandbox replay` and `sandbox bench watch`.

    sandbox watch --agent a2c             watch an agent learn CarDrive live (a window, or a video headless)
    sandbox watch --evolve ga             watch a population evolve, generation after generation
    sandbox play [--record demo.npz]      drive a car yourself with the arrow keys; record a demonstration
    sandbox replay CHECKPOINT             a trained agent or an evolved champion on held-out tracks
    sandbox bench watch                   A2C's throughput watched vs headless, and the frame rate

Only argparse is imported here (so `sandbox --help` stays light); each command imports its module on use.
"""

from __future__ import annotations

import argparse

from sandbox.cli.flags import (
    LinesFormatter,
    add_agent_flags,
    add_agent_help,
    add_level,
    add_overwrite,
    add_seed,
    add_tracks,
    add_trust_code,
    agent_names,
    agent_settings,
    population,
    positive_float,
    positive_int,
    refuse_on_resume,
    strategy_names,
)

SPEED_CHOICES = ("1", "2", "4", "8", "16", "32", "64", "max")


def _speed(text: str) -> int:
    if text not in SPEED_CHOICES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SPEED_CHOICES)}, got {text!r}")
    return 0 if text == "max" else int(text)


def _add_view_flags(p: argparse.ArgumentParser, speed_help: str) -> None:
    p.add_argument("--headless", action="store_true",
                   help="no window: write the frames to a video and PNGs (also what happens with no display)")
    p.add_argument("--speed", type=_speed, help=speed_help)
    p.add_argument("--fps", type=positive_int, default=30, help="frames per second drawn (default 30)")
    p.add_argument("--record", metavar="FILE", help="also write the frames to this .mp4 or .gif")
    p.add_argument("--png-every", type=positive_float, default=10.0, help="headless: seconds between PNG frames (10)")


def _add_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", add_help=False, formatter_class=LinesFormatter,
        help="watch agents learn (or a population evolve) live in a window; headless, write a video",
        description="Train an agent (--agent, as `sandbox train`) or evolve a population (--evolve, as `sandbox "
        "evolve`) on CarDrive while a window shows every car, the HUD and a live learning curve. Keys: space "
        "pause, + / - speed, R rays, F follow the leading car, S save a checkpoint, Esc save and quit. With no "
        "display or --headless the frames go to RUN_DIR/watch.mp4 and RUN_DIR/frames/. Ends when the steps or "
        "generations are spent.",
    )
    add_agent_help(p)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--agent", choices=agent_names(), help="an agent family to train")
    who.add_argument("--evolve", choices=strategy_names(), help="an evolution strategy to run")
    add_level(p)
    add_agent_flags(p, prefix="agents: ")
    p.add_argument("--population", type=population, help="evolution: individuals per generation")
    p.add_argument("--generations", type=positive_int, help="evolution: generations to run")
    add_seed(p)
    p.add_argument("--run-dir", help="where the run's files go (default runs/watch-AGENT-SEED, or the next free _2, "
                   "_3, ...)")
    add_overwrite(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run (an agent's or an evolution) in RUN_DIR, "
                   "watching it; --total-timesteps / --generations larger than its own extend it")
    add_trust_code(p)
    _add_view_flags(p, "batch steps between frames: 1 (smooth) ... 64 or max (default 2; evolution 8)")


def _add_play(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "play",
        help="drive a car yourself with the arrow keys; --record saves a demonstration",
        description="Up accelerates, down brakes and reverses, left / right steer; Esc or closing the window ends. "
        "--record FILE.npz saves observations, actions and rewards in the trajectory format that `sandbox "
        "collect` writes and the trainable components read. Needs a display.",
    )
    add_level(p)
    add_tracks(p)
    p.add_argument("--obs", choices=("rays", "pixels", "both"), default="rays", help="observation recorded (rays)")
    p.add_argument("--discrete", action="store_true",
                   help="record Discrete(5) actions (one key at a time) instead of (steer, throttle)")
    p.add_argument("--record", metavar="FILE.npz", help="save the drive as a demonstration")
    p.add_argument("--episodes", type=positive_int, default=3, help="episodes to drive (default 3)")
    add_seed(p, "seed of the tracks and pedestrians")


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="show a trained agent or an evolved champion driving held-out tracks; --record out.mp4",
        description="Load CHECKPOINT (a `sandbox train` run's checkpoint.pt, an evolved driver such as "
        "hall_of_fame/rank0.pt, or an evolution run's checkpoint.pt: its champion) and drive it greedily, one "
        "car per held-out track, in a window (or headless into --record).",
    )
    p.add_argument("checkpoint", help="path to a checkpoint")
    p.add_argument("--cars", type=positive_int, default=8, help="cars, one per held-out track (default 8)")
    p.add_argument("--episodes", type=positive_int, default=1, help="episodes each car drives (default 1)")
    add_tracks(p)
    add_level(p, default=None, what="drive another level than the one trained on")
    add_seed(p, "seed of the pedestrians and traffic")
    add_trust_code(p)
    _add_view_flags(p, "batch steps between frames (default 1: real time)")


def add_parsers(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add watch, play, replay and `bench watch`."""
    _add_watch(sub)
    _add_play(sub)
    _add_replay(sub)
    b = bench.add_parser(
        "watch",
        help="A2C's training throughput watched (30 fps window) vs headless, and the frame rate",
        description="The same A2C run on CarDrive easy rays, headless and with the viewer drawing at 30 fps "
        "(speed max; a window through the display, or SDL's dummy driver without one); medians of repeats.",
    )
    b.add_argument("--timesteps", type=positive_int, default=200_000, help="env steps per timed run (200000)")
    b.add_argument("--repeats", type=positive_int, default=3, help="timed repeats (median; default 3)")
    b.add_argument("--quick", action="store_true", help="a short smoke run")


def run(args: argparse.Namespace) -> int | None:
    """Run `args` if it is one of this module's commands; else None."""
    if args.command == "watch":
        _watch(args)
    elif args.command == "play":
        from sandbox.viewer.play import run_play

        run_play(level=args.level, tracks=args.tracks, obs=args.obs, discrete=args.discrete, record=args.record,
                 episodes=args.episodes, seed=args.seed)
    elif args.command == "replay":
        from sandbox.viewer.replay import run_replay

        run_replay(args.checkpoint, cars=args.cars, episodes=args.episodes, tracks=args.tracks, level=args.level,
                   seed=args.seed, headless=args.headless, speed=1 if args.speed is None else args.speed,
                   fps=args.fps, record=args.record, png_every=args.png_every, trust_code=args.trust_code)
    elif args.command == "bench" and args.bench == "watch":
        from sandbox.bench.watch import run_watch_bench

        print(run_watch_bench(timesteps=args.timesteps, repeats=args.repeats, quick=args.quick))
    else:
        return None
    return 0


VIEW_FLAGS = {"headless", "speed", "fps", "record", "png_every"}


def _watch(args: argparse.Namespace) -> None:
    from sandbox.runs.rundir import free_run_dir
    from sandbox.viewer.watch import watch_agent, watch_evolution

    view = {"headless": args.headless, "fps": args.fps, "record": args.record, "png_every": args.png_every}
    if args.resume:
        _watch_resumed(args, view)
        return
    if args.evolve is not None:
        settings = {"strategy": args.evolve, "level": args.level, "backbone": args.backbone or "mlp",
                    "seed": args.seed, "continuous": args.continuous}
        settings.update({k: getattr(args, k) for k in ("population", "generations") if getattr(args, k)})
        run_dir = args.run_dir or free_run_dir(f"runs/watch-{args.evolve}-{args.seed}")
        watch_evolution(settings, run_dir, speed=8 if args.speed is None else args.speed, overwrite=args.overwrite,
                        **view)
        return
    if args.agent is None:
        raise ValueError("--agent or --evolve is required (e.g. `sandbox watch --agent a2c`), unless --resume")
    settings = agent_settings(args, args.given)
    settings.pop("env_id")
    settings["env_kwargs"].setdefault("level", args.level)
    train_options = {"eval_every": args.eval_every, "eval_episodes": args.eval_episodes,
                     "checkpoint_every": args.checkpoint_every}
    run_dir = args.run_dir or free_run_dir(f"runs/watch-{args.agent}-{args.seed}")
    result = watch_agent(args.agent, settings, run_dir, train_options=train_options,
                         speed=2 if args.speed is None else args.speed, overwrite=args.overwrite, **view)
    _print_result(result)


def _watch_resumed(args: argparse.Namespace, view: dict) -> None:
    """`--resume RUN_DIR`: an evolution or an agent's run, whichever RUN_DIR holds; --agent / --evolve, if
    given, must name what it holds."""
    from sandbox.viewer.watch import resumed_run, watch_agent, watch_evolution

    kind, name = resumed_run(args.resume)
    wanted = args.evolve if kind == "evolution" else args.agent
    other = args.agent if kind == "evolution" else args.evolve
    if other is not None or (wanted is not None and wanted != name):
        given = f"--agent {args.agent}" if args.agent else f"--evolve {args.evolve}"
        raise ValueError(f"{given}: {args.resume} holds {'an evolution' if kind == 'evolution' else 'a training'} "
                         f"run of {name}; drop the flag to resume it")
    budget = "generations" if kind == "evolution" else "total_timesteps"
    refuse_on_resume(args.given - {"agent", "evolve"}, {budget} | VIEW_FLAGS, "watch")
    extend = getattr(args, budget) if budget in args.given else None
    if kind == "evolution":
        watch_evolution({}, args.resume, speed=8 if args.speed is None else args.speed, resume=True,
                        generations=extend, trust_code=args.trust_code, **view)
        return
    result = watch_agent("", {}, args.resume, train_options={}, resume=True, total_timesteps=extend,
                         trust_code=args.trust_code, speed=2 if args.speed is None else args.speed, **view)
    _print_result(result)


def _print_result(result: dict | None) -> None:
    if result is not None:
        from sandbox.commands.train import print_result

        print_result(result, as_json=False)
