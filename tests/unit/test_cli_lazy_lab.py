"""The lab's commands (demo, bench) read their options only when one of them is the command: the
simulated city and the benchmarks were half the CLI's imports, paid by every `serve` start."""

from __future__ import annotations

import subprocess
import sys

from safetynet.cli import _command_of, build_parser

_PROBE = """
import sys
from safetynet.cli import build_parser
build_parser(sys.argv[1:]).parse_args(sys.argv[1:])
print(sorted(m for m in sys.modules if m.startswith("safetynet.lab.") and m != "safetynet.lab.sim"))
"""


def _lab_modules(*argv: str) -> str:
    run = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=60, check=True)
    return run.stdout.strip()


def test_a_product_command_imports_no_lab_module_and_a_lab_command_its_own() -> None:
    assert _lab_modules("--config", "x.toml", "serve") == "[]"
    assert _lab_modules("campaign", "list") == "[]"
    assert "safetynet.lab.sim.demo" in _lab_modules("demo", "--households", "60")


def test_the_command_is_the_first_word_that_is_not_an_option() -> None:
    assert _command_of(["--config", "demo", "serve"]) == "serve"  # --config's value is no command
    assert _command_of(["--config=x.toml", "bench", "replies"]) == "bench"
    assert _command_of(["--conf", "x.toml", "demo", "--households", "60"]) == "demo"  # argparse's abbreviation
    assert _command_of(["--help"]) is None


def test_the_full_parser_still_knows_every_lab_option() -> None:
    args = build_parser().parse_args(["bench", "replies", "--households", "10"])
    assert (args.command, args.households) == ("bench", 10)
    args = build_parser(["demo", "--households", "60"]).parse_args(["demo", "--households", "60"])
    assert args.households == 60
