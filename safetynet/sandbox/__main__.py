"""`python -m safetynet.sandbox [--config PATH] …`: the sandbox without the full CLI."""

from __future__ import annotations

import argparse

from safetynet.config import ConfigError, config_path_from, load_config
from safetynet.console import print_error
from safetynet.sandbox.server import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m safetynet.sandbox")
parser.add_argument("--config", default=None)
add_arguments(parser)
args = parser.parse_args()
try:
    raise SystemExit(main(load_config(config_path_from(args.config)), args))
except ConfigError as e:  # a bad config, a port in use: one line, as `safetynet sandbox` says it
    print_error(e)
    raise SystemExit(2) from None
