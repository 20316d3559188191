"""The command line's building blocks: a parser whose errors are one line, the checked numeric flag types
every command uses, and which flags a user actually typed.

    parser = Parser(prog="sandbox")
    p.add_argument("--learning-rate", type=positive_float)     # inf, nan, 0 and -1 are refused by name
    given = given_flags(subparser, argv)                      # {"learning_rate", ...}: typed, not defaulted

argparse calls a type with the flag's text and, on `ArgumentTypeError`, reports
`sandbox train: error: argument --learning-rate: expected a finite number > 0, got 'inf'`: the flag is
named, in one line, exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import envs
from agents import FAMILIES
from agents.optim import OPTIMIZERS
from agents.settings import as_tuples
from evolve.strategies import STRATEGIES
from sandbox.components.base import COMPONENTS

SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit
TRACK_SETS = ("heldout", "train")  # envs.TRACK_SETS, spelled out so `--help` imports nothing heavy
AGENT_DEFAULTS = ("num_envs", "total_timesteps", "learning_rate", "optimizer")  # shown by --help, per agent


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (no usage block) and which takes no abbreviated flags
    (`--total` for `--total-timesteps` would hide which flag was meant, and which was given)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _number(text: str, kind: type, expected: str) -> float | int:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count: steps, envs, episodes, generations)."""
    value = _number(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def population(text: str) -> int:
    """A population: an integer >= 2 (selection and crossover need two)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 individuals, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (0 meaning "off": --eval-every, --workers, --elites)."""
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**32 - 1], what numpy and torch both take."""
    value = _number(text, int, f"an integer seed in [0, {SEED_MAX}]")
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, {SEED_MAX}], got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, a mutation's sigma, minutes)."""
    value = _number(text, float, "a finite number > 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (0 meaning "skip")."""
    value = _number(text, float, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """A rate in [0, 1] (a share of random actions, a probability)."""
    value = _number(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


NUMERIC_TYPES = (positive_int, population, non_negative_int, seed, positive_float, non_negative_float, unit_float)
"""Every numeric flag's type is one of these (a test over the whole parser holds every command to it)."""


# The registries are the one list of each kind: the choices are read from them whenever a parser is built, so
# a family, strategy, level or component registered before `main()` runs is a choice like the built-ins.
def level_names() -> list[str]:
    """The levels of `envs.LEVELS`."""
    return list(envs.LEVELS)


def agent_names() -> list[str]:
    """The families of `agents.FAMILIES`."""
    return list(FAMILIES)


def strategy_names() -> list[str]:
    """The strategies of `evolve.strategies.STRATEGIES`."""
    return list(STRATEGIES)


def component_kinds() -> list[str]:
    """The trainable components of `sandbox.components.base.COMPONENTS`."""
    return list(COMPONENTS)


def levels_help() -> str:
    return "; ".join(f"{name} ({level.description})" if level.description else name
                     for name, level in envs.LEVELS.items())


def agents_help() -> str:
    return "; ".join(f"{name}: {family.help}" for name, family in FAMILIES.items())


def strategies_help() -> str:
    return "; ".join(f"{name}: {strategy.help}" for name, strategy in STRATEGIES.items())


def add_level(p: argparse.ArgumentParser, default: str | None = "easy", what: str = "world level") -> None:
    p.add_argument("--level", choices=level_names(), default=default,
                   help=f"{what}: {levels_help()} (default {default or 'the one it was trained on'})")


def add_seed(p: argparse.ArgumentParser, what: str = "seed of the whole run") -> None:
    p.add_argument("--seed", type=seed, default=0, help=f"{what} (default 0)")


def add_tracks(p: argparse.ArgumentParser, default: str = "heldout") -> None:
    p.add_argument("--tracks", choices=TRACK_SETS, default=default,
                   help=f"track set: heldout (the generalisation test) or train (default {default})")


def add_overwrite(p: argparse.ArgumentParser, what: str = "RUN_DIR") -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace the run {what} holds (without it, a {what} that holds a run is refused)")


def add_trust_code(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-code", action="store_true",
                   help="let a checkpoint that names code outside the sandbox (a module:attr backbone or env id) "
                   "import it; only for files you trust")


def add_agent_flags(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """The flags of an agent's run (shared by `sandbox train` and `sandbox watch --agent`); unset ones take
    the agent's own defaults, which `--help` lists."""
    p.add_argument("--backbone",
                   help="mlp, cnn, attention, table (tabular), a registered name or module:Class (default: the "
                   "agent's settings for the env, e.g. a cnn on pixels; else mlp)")
    p.add_argument("--obs", choices=("rays", "pixels", "both"), help=f"{prefix}CarDrive's observation (default rays)")
    p.add_argument("--continuous", action="store_true", help=f"{prefix}CarDrive's continuous (steer, throttle) actions")
    p.add_argument("--n-rays", type=positive_int, metavar="N",
                   help=f"{prefix}CarDrive's rays across the field of view (default: the agent's settings for the "
                   "level, e.g. 25 on normal and hard; else the world's 9)")
    p.add_argument("--total-timesteps", type=positive_int, help=f"{prefix}env steps (default: the agent's own)")
    p.add_argument("--num-envs", type=positive_int, help=f"{prefix}envs stepped together (default: the agent's own)")
    p.add_argument("--learning-rate", type=positive_float, help=f"{prefix}the optimiser's learning rate "
                   "(default: the agent's own)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"{prefix}the optimiser (default: the agent's own; "
                   "rmsprop-tf: RMSprop as TensorFlow 1 and OpenAI Baselines' A2C step it)")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help=f"{prefix}start from a student's weights (a dagger run's or a `sandbox fit bc` checkpoint): "
                   "the run takes its backbone and sensor (rays, actions, input scaling) unless given, copies its "
                   "backbone and policy head, and starts the value head afresh (a2c, a3c, ppo, reinforce, "
                   "qlearning, sarsa)")
    p.add_argument("--eval-every", type=non_negative_int, default=0,
                   help=f"{prefix}evaluate on held-out tracks every N updates and keep the best evaluation's "
                   "weights in RUN_DIR/best.pt (default 0: only at the end)")
    p.add_argument("--eval-episodes", type=positive_int, default=20,
                   help=f"{prefix}held-out episodes per evaluation (default 20)")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help=f"{prefix}updates between checkpoints (default: 20, or as many as 50,000 env steps take "
                   "when updates are shorter, e.g. 1,250 for 8 envs x 5 steps; and one at the end)")
    p.add_argument("--workers", type=positive_int,
                   help=f"{prefix}a3c: Ray workers rolling out and computing gradients, one CPU each (default 2)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help=f"{prefix}a3c: the Ray cluster to run the workers on (auto: the one this machine belongs "
                   "to; default: a local Ray instance, started for the run and stopped after it)")
    p.add_argument("--set", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help=f"{prefix}any field of the agent's config, over the shipped settings for the env "
                   "(agents/settings/AGENT.toml), e.g. --set gamma=0.995 --set backbone_options={widths=[64,64]}; "
                   "values are TOML (a bare word is a string); repeat it for several")


class LinesFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a text holding line breaks (a table in an epilog) keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class _HelpWithAgentDefaults(argparse.Action):
    """`-h/--help` that first lists each agent's own defaults (importing the agents only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0,
                         help="show this help (with each agent's own defaults) and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.epilog = agent_defaults_text()
        parser.print_help()
        parser.exit()


def key_value(text: str) -> tuple[str, object]:
    """`key=value` -> (key, value): the value read as TOML (1e-3, true, [64, 64], {widths=[64]}), else a string."""
    import tomllib

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a config field as KEY, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a bare word: rmsprop, tanh ...
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise argparse.ArgumentTypeError(f"{key}: expected a finite number, got {value!r}")
    return key, as_tuples(parsed)


def add_agent_help(p: argparse.ArgumentParser) -> None:
    """A `--help` for a parser made with `add_help=False` that ends with every agent's own defaults."""
    p.add_argument("-h", "--help", action=_HelpWithAgentDefaults)


def agent_defaults_text() -> str:
    """'each agent's own defaults:' and one line per family, read from its config class."""
    import dataclasses

    lines = ["each agent's own defaults (what an unset flag takes):"]
    for name, family in FAMILIES.items():
        fields = {f.name: f.default for f in dataclasses.fields(family.config)}
        lines.append(f"  {name:10s} " + ", ".join(f"--{key.replace('_', '-')} {fields[key]}"
                                                  for key in AGENT_DEFAULTS if key in fields))
    return "\n".join(lines)


def given_flags(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The dests of `parser`'s optional flags that appear in `argv` (typed by the user, not defaulted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    given = set()
    for action in parser._actions:  # argparse keeps no record of which defaults were overridden
        for option in action.option_strings:
            if any(arg == option or arg.startswith(option + "=") for arg in argv):
                given.add(action.dest)
    return given


def refuse_on_resume(given: set[str], allowed: set[str], command: str) -> None:
    """With --resume, a flag that would change the run (its settings come from its checkpoint) is refused."""
    wrong = sorted(given - allowed - {"resume", "trust_code"})
    if wrong:
        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        keep = " and ".join("--" + name.replace("_", "-") for name in sorted(allowed)) or "no flag"
        raise ValueError(f"{flags} cannot apply to a resumed run: its settings come from its checkpoint "
                         f"(with --resume, `sandbox {command}` takes {keep})")


CARDRIVE = "sandbox/CarDrive-v0"
CARDRIVE_FLAGS = ("level", "obs", "continuous", "n_rays")  # flags of CarDrive's kwargs: refused with another --env


def agent_settings(args: argparse.Namespace, given: set[str]) -> dict:
    """An agent run's settings from the flags given (unset ones: the agent's own defaults)."""
    env_id = getattr(args, "env", CARDRIVE)
    if env_id != CARDRIVE:
        wrong = [f"--{name.replace('_', '-')}" for name in CARDRIVE_FLAGS if name in given]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} applies to {CARDRIVE} only, not --env {env_id}")
    env_kwargs = {key: getattr(args, key) for key in ("level", "obs", "n_rays") if getattr(args, key) is not None}
    if args.continuous:
        env_kwargs["continuous"] = True
    settings = {"env_id": env_id, "env_kwargs": env_kwargs, "seed": args.seed}
    for key in ("backbone", "total_timesteps", "num_envs", "learning_rate", "optimizer", "init_from"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings.update(_ray_settings(args))
    for key, value in args.set:
        if key in ("env_id", "env_kwargs"):
            raise ValueError(f"--set {key}: the env is chosen with --env, --level, --obs, --continuous and --n-rays")
        if key in settings:
            raise ValueError(f"--set {key} repeats a flag or an earlier --set; give it once")
        settings[key] = value
    return settings


RAY_FLAGS = {"workers": "num_workers", "ray": "ray_address"}  # flag -> the config field of an agent on Ray (a3c)


def _ray_settings(args: argparse.Namespace) -> dict:
    """--workers and --ray as settings; refused by name for an agent that does not run on Ray."""
    import dataclasses

    given = {flag: getattr(args, flag) for flag in RAY_FLAGS if getattr(args, flag, None) is not None}
    fields = {f.name for f in dataclasses.fields(FAMILIES[args.agent].config)} if args.agent in FAMILIES else set()
    wrong = [f"--{flag}" for flag in given if RAY_FLAGS[flag] not in fields]
    if wrong:
        on_ray = [name for name, family in FAMILIES.items()
                  if set(RAY_FLAGS.values()) <= {f.name for f in dataclasses.fields(family.config)}]
        raise ValueError(f"{', '.join(wrong)} applies to the agents that run on Ray ({', '.join(on_ray)}), "
                         f"not --agent {args.agent}")
    return {RAY_FLAGS[flag]: value for flag, value in given.items()}


def print_written(run_dir: str | os.PathLike, names: Sequence[str]) -> None:
    """'wrote RUN_DIR/ (...)' naming only those of `names` that are there ("tensorboard/" and
    "hall_of_fame/rank*.pt" stand for their folder)."""
    there = [name for name in names if (Path(run_dir) / name.split("/")[0]).exists()]
    print(f"wrote {run_dir}/ ({', '.join(there)})")
