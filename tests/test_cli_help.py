"""Every command and option of `eosc-perf` explains itself in --help, with its default."""

from __future__ import annotations

import argparse

from eosc_perf.cli import parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [commands] = [action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_option_has_help_text():
    for name, command in subcommands().items():
        assert command.description, name
        for action in command._actions:
            assert action.help, f"eosc-perf {name} {'/'.join(action.option_strings) or action.dest} has no help"


def shown(command: argparse.ArgumentParser) -> str:
    return " ".join(command.format_help().split())  # as one line: wrapping depends on the terminal


def test_help_names_defaults_worth_knowing_and_no_empty_ones():
    commands = subcommands()
    serve = shown(commands["serve"])
    assert "(default: 127.0.0.1)" in serve and "(default: 5000)" in serve
    assert "(default: None)" not in serve and "(default: False)" not in serve
    assert "(default: 3600)" in shown(commands["dev-token"])
    assert "(default: store)" in shown(commands["project"])
