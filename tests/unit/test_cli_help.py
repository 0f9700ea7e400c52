"""Each command's help names all its subcommands: the lists are written out (a short usage line),
and `campaign --help` once left out `list`."""

from __future__ import annotations

import argparse

from safetynet.cli import build_parser


def _subcommand_lists(parser: argparse.ArgumentParser, path: str = "safetynet") -> list[tuple[str, str, list[str]]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.append((path, str(action.metavar), list(action.choices)))
            for name, child in action.choices.items():
                found += _subcommand_lists(child, f"{path} {name}")
    return found


def test_every_subcommand_list_in_the_help_names_them_all() -> None:
    lists = _subcommand_lists(build_parser())
    assert any(path == "safetynet campaign" for path, _, _ in lists)
    wrong = [(path, metavar, choices) for path, metavar, choices in lists
             if path != "safetynet" and metavar not in ("None", "{" + ",".join(choices) + "}")]  # the top one: COMMAND
    assert wrong == []
