"""The command line's flags: every numeric flag of every command refuses what it cannot take in one line that
names it; the hard-coded name lists equal the registries; `--help` shows each agent's own defaults."""

from __future__ import annotations

import argparse

import pytest

from sandbox.cli import build_parser, flags, main

BAD_OR_EDGE = ("inf", "nan", "-1", "0", "1e12")


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(argv prefix, parser) of every leaf (sub)command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, (*prefix, name))


def _required(parser: argparse.ArgumentParser) -> list[str]:
    """Values for the positionals and required flags, so that the flag under test is the only bad input."""
    argv = []
    for action in parser._actions:
        if not action.option_strings and action.dest != "help":
            argv.append(action.choices[0] if action.choices else "x.pt")
        elif action.required:
            argv += [action.option_strings[0], "x.npz"]
    return argv


NUMERIC = [(command, parser, action) for command, parser in _commands(build_parser())
           for action in parser._actions if action.type in flags.NUMERIC_TYPES]


def test_every_numeric_flag_is_range_checked():
    """No numeric flag is left as a bare int or float (which would take inf, nan and -1)."""
    for command, parser in _commands(build_parser()):
        for action in parser._actions:
            assert action.type not in (int, float), f"sandbox {' '.join(command)} {action.option_strings[0]}"
    assert len(NUMERIC) > 60  # every command's counts, rates, seeds and minutes


@pytest.mark.parametrize("value", BAD_OR_EDGE)
def test_each_numeric_flag_takes_a_legal_value_or_refuses_it_by_name(value, capsys):
    for command, parser, action in NUMERIC:
        flag = action.option_strings[0]
        try:
            legal = action.type(value) is not None
        except argparse.ArgumentTypeError:
            legal = False
        argv = [*command, *_required(parser), flag, value]
        if legal:  # parsing alone: a legal value would start a real run
            args = build_parser().parse_args(argv)
            assert getattr(args, action.dest) == action.type(value)
            continue
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, argv
        assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err, (argv, err)


@pytest.mark.parametrize(("kind", "text", "ok"), [
    (flags.positive_int, "3", True), (flags.positive_int, "1.5", False), (flags.non_negative_int, "0", True),
    (flags.positive_float, "1e-4", True), (flags.positive_float, "-inf", False), (flags.unit_float, "1", True),
    (flags.unit_float, "1.01", False), (flags.seed, str(2**32 - 1), True), (flags.seed, str(2**32), False),
    (flags.population, "2", True), (flags.population, "1", False), (flags.non_negative_float, "0", True),
])
def test_the_numeric_types(kind, text, ok):
    if ok:
        kind(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)


def test_the_choices_are_the_registries():
    import envs
    from agents import FAMILIES
    from evolve.strategies import STRATEGIES
    from sandbox.components.base import COMPONENTS

    assert flags.agent_names() == list(FAMILIES) and flags.strategy_names() == list(STRATEGIES)
    assert flags.level_names() == list(envs.LEVELS) and flags.component_kinds() == list(COMPONENTS)


@pytest.mark.parametrize("command", ["train", "watch"])
def test_help_shows_each_agents_own_defaults(command, capsys):
    from agents import FAMILIES

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, family in FAMILIES.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert f"--num-envs {family.config().num_envs}," in line
        assert f"--total-timesteps {family.config().total_timesteps}," in line


def test_eval_help_lists_the_track_sets(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert "{heldout,train}" in out


def test_given_flags_are_those_typed_not_those_defaulted():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    assert flags.given_flags(train, ["train", "--resume", "r", "--seed=0", "--total-timesteps", "9"]) == {
        "resume", "seed", "total_timesteps"}


def test_abbreviated_flags_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--agent", "a2c", "--total", "100"])
    assert exit_info.value.code == 2 and "--total" in capsys.readouterr().err
