"""`python -m safetynet.sandbox [--config PATH] …`: the sandbox without the full CLI."""

from __future__ import annotations

import argparse

from safetynet.config import config_path_from, load_config
from safetynet.sandbox.server import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m safetynet.sandbox")
parser.add_argument("--config", default=None)
add_arguments(parser)
args = parser.parse_args()
raise SystemExit(main(load_config(config_path_from(args.config)), args))
