"""`sandbox collect`, `sandbox fit` and `sandbox bench components`: the trainable components' front door.

    sandbox collect --driver expert --level normal --steps 20000 --out data/expert.npz
    sandbox fit vae --data data/expert.npz --epochs 10 --run-dir runs/vae
    sandbox bench components

argparse only at import (`--help` stays fast); the work is imported when a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from sandbox.cli.flags import (
    add_level,
    add_overwrite,
    add_seed,
    add_tracks,
    add_trust_code,
    component_kinds,
    non_negative_float,
    positive_float,
    positive_int,
    refuse_on_resume,
    seed,
    unit_float,
)

# CLI flag -> config field, for the flags a component's config has
OPTIONS = ("backbone", "latent_dim", "aux_coef", "learning_rate", "batch_size", "steps_per_epoch", "context", "vae",
           "seed")


def add_parsers(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add `collect` and `fit` to `sub`, `components` to `bench`."""
    _add_collect(sub)
    _add_fit(sub)
    p = bench.add_parser(
        "components",
        help="VAE reconstruction, World Models, GAIL against behaviour cloning, the Decision Transformer",
        description="Collects the expert's demonstrations, then: the VAE's reconstruction error on held-out "
        "frames; World Models from pixels (V + C evolved on easy, on held-out easy and normal tracks; V + C and "
        "V + M + C, the MDN-RNN's memory, evolved on normal, on held-out normal tracks); "
        "GAIL and behaviour cloning from 10 demonstration episodes on normal (agreement with the expert's "
        "actions, clean laps); the Decision Transformer's return against the best trajectory of its data.",
    )
    p.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    add_seed(p, "seed of every learner")
    p.add_argument("--out", default="runs/bench-components", help="where data and checkpoints go")


def _add_collect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "collect",
        help="drive CarDrive (expert, controller or a checkpoint) and write frames and trajectories (.npz)",
        description="Drive --num-envs cars with a driver and write every step (observation, action, reward, "
        "episode ends) to a trajectory file, the format `sandbox play --record` writes and `sandbox fit` reads.",
    )
    p.add_argument("--driver", default="expert",
                   help="expert (privileged, the demonstrator), controller (rays), or a checkpoint path")
    add_level(p)
    p.add_argument("--steps", type=positive_int, default=10_000, help="steps to record, at least (default 10000)")
    p.add_argument("--episodes", type=positive_int, help="record this many whole episodes instead of --steps")
    p.add_argument("--out", required=True, help="the .npz file to write (an existing file is refused; --overwrite "
                   "replaces it)")
    add_overwrite(p, "--out")
    p.add_argument("--obs", choices=("rays", "pixels", "both"), default="both", help="what to record (default both)")
    p.add_argument("--num-envs", type=positive_int, default=16, help="cars driven at once (default 16)")
    p.add_argument("--noise", type=unit_float, default=0.0, help="share of random actions, 0..1 (default 0)")
    p.add_argument("--continuous", action="store_true", help="continuous (steer, throttle) actions")
    p.add_argument("--n-rays", type=positive_int, help="rays recorded (default: the world's 9, or what a checkpoint "
                   "driver reads; normal's and hard's learners read 25)")
    add_tracks(p, default="train")
    p.add_argument("--max-episode-steps", type=positive_int, default=1000, help="episode step limit (1000)")
    add_seed(p)
    add_trust_code(p)


def _add_fit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="train a component (autoencoder, vae, gan, gail, bc, transformer, mdn_rnn) on a trajectory file",
        description="Train a component on --data into --run-dir: checkpoint.pt after every epoch (atomic; "
        "--resume continues), history.csv, loss.png, reconstructions.png / samples.png. autoencoder is "
        "convolutional (--backbone mlp: plain); gail trains A2C on the discriminator's reward "
        "(--steps-per-epoch env steps per epoch); mdn_rnn (World Models' M) models the codes of --vae's encoder "
        "(data: --obs pixels --continuous).",
    )
    p.add_argument("kind", choices=component_kinds(), help="the component")
    p.add_argument("--data", required=True, help="a trajectory file (sandbox collect, sandbox play --record)")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs in all (default 10)")
    p.add_argument("--run-dir", help="where the run's files go (default runs/fit-KIND, or the next free _2, _3, ...)")
    add_overwrite(p, "--run-dir")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir up to --epochs")
    add_trust_code(p)
    p.add_argument("--backbone", choices=("mlp", "cnn"), help="autoencoder/vae: the encoder family")
    p.add_argument("--latent-dim", type=positive_int, help="autoencoder/vae/gan: the code's width")
    p.add_argument("--aux-coef", type=non_negative_float, help="vae/autoencoder: weight of the loss that makes the "
                   "code predict the frame's rays too (data: --obs both), which keeps the pedestrians (default 0)")
    p.add_argument("--learning-rate", type=positive_float, help="the optimiser's step size")
    p.add_argument("--batch-size", type=positive_int, help="examples per gradient step")
    p.add_argument("--steps-per-epoch", type=positive_int, help="gail: A2C env steps per epoch")
    p.add_argument("--context", type=positive_int, help="transformer: timesteps per window (K)")
    p.add_argument("--vae", help="mdn_rnn: the VAE checkpoint whose codes it models (its frames' encoder)")
    p.add_argument("--seed", type=seed, help="seed of the component (default: its config's)")


def run(args: argparse.Namespace) -> int | None:
    """Run `collect`, `fit` or `bench components`; None for another module's command."""
    if args.command == "collect":
        from sandbox.commands.collect import collect

        summary = collect(args.driver, args.level, args.steps, args.out, args.obs, args.num_envs, args.continuous,
                          args.tracks, args.seed, args.noise, args.episodes, args.max_episode_steps,
                          overwrite=args.overwrite, trust_code=args.trust_code, n_rays=args.n_rays)
        print(_line(summary))
        return 0
    if args.command == "fit":
        from sandbox.components.fit import run_fit
        from sandbox.runs.rundir import free_run_dir

        if args.resume:
            refuse_on_resume(args.given, {"epochs", "data", "run_dir"}, f"fit {args.kind}")
        options = _options(args)
        default = f"runs/fit-{args.kind}"
        run_dir = args.run_dir or (default if args.resume else free_run_dir(default))
        summary = run_fit(args.kind, args.data, args.epochs, run_dir, options, resume=args.resume,
                          overwrite=args.overwrite, trust_code=args.trust_code)
        print(_line(summary))
        return 0
    if args.command == "bench" and args.bench == "components":
        from sandbox.bench.components import run_components_bench

        print(run_components_bench(quick=args.quick, seed=args.seed, out=args.out))
        return 0
    return None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, as config fields; one a component's config lacks is an error naming it."""
    import dataclasses

    from sandbox.components.fit import _class

    fields = {f.name for f in dataclasses.fields(_class(args.kind).config_class)}
    given = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    wrong = [name for name in given if name not in fields]
    if wrong:
        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise ValueError(f"{flags} does not apply to {args.kind}")
    return given


def _line(summary: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items())
