"""`safetynet bench citywide|broadcast|replies|channels`: benchmarks that print numbers (and JSON).

Each subcommand's module is imported only when it runs; none asserts on its figures.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from safetynet.config import Config

_HELP = {
    "citywide": ("one city-wide drill end to end: import, enrolment, first wave, reply storm, ladder, accounting;"
                 " server CPU against a bare aiohttp client and sink",
                 "safetynet bench citywide --households 200000 --json"),
    "broadcast": ("the first wave of a city-wide campaign against the sandbox in another process;"
                  " CPU per delivery against a bare aiohttp client",
                  "safetynet bench broadcast --households 200000 --json"),
    "replies": ("the reply page under wrk, against a floor handler in the same run",
                "safetynet bench replies --households 200000 --rounds 3 --json"),
    "channels": ("each channel module against a bare loop over its client library",
                 "safetynet bench channels --n 3000 --json"),
}
_MODULES = {
    "citywide": "safetynet.lab.bench_citywide",
    "broadcast": "safetynet.lab.bench_broadcast",
    "replies": "safetynet.lab.bench_replies",
    "channels": "safetynet.lab.bench_channels",
}


def _runner(name: str) -> Any:
    """`run(cfg, args)` + `report(result, as_json)` when the module has them, else its `main(cfg, args)`."""

    def run(cfg: Config, args: argparse.Namespace) -> int:
        module = importlib.import_module(_MODULES[name])
        if hasattr(module, "run") and hasattr(module, "report"):
            print(module.report(module.run(cfg, args), bool(getattr(args, "json", False))), flush=True)
            return 0
        return int(module.main(cfg, args))

    return run


def add_arguments(subparsers: Any) -> None:
    """Adds one parser per benchmark to `subparsers` (the `bench` command's)."""
    for name, (help_, example) in _HELP.items():
        try:
            module = importlib.import_module(_MODULES[name])
        except ImportError:
            continue  # a benchmark not installed in this copy
        p: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help_, description=help_, epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=_runner(name))
