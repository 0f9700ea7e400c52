"""`safetynet serve`: the web server, dispatcher, ladder and triggers (or one `--role`) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys

from safetynet.config import (
    Config,
    ConfigError,
    cannot_listen,
    check_listen,
    check_store_url,
    database_unwritable,
)
from safetynet.console import cli_language, port_argument, say

# The lease `serve` takes and gives back at start to know the database takes writes.
WRITE_CHECK_LEASE = "serve.write_check"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help=say("cli.serve.host"))
    parser.add_argument("--port", type=port_argument, help=say("cli.serve.port"))
    parser.add_argument("--no-dispatch", action="store_true", help=say("cli.serve.no_dispatch"))
    parser.add_argument("--role", choices=("all", "web", "dispatcher"), default="all", help=say("cli.serve.role"))


async def serve_until_stopped(cfg: Config, args: argparse.Namespace) -> None:
    from safetynet.runtime import tune_gc
    from safetynet.system import running_system

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_system(cfg, host=args.host, port=args.port, dispatch=not args.no_dispatch,
                              send_workers=None, role=args.role) as system:
        tune_gc()
        from safetynet.broadcast.scenario import ScenarioError
        from safetynet.broadcast.triggered import scenario_problem

        unusable = scenario_problem(cfg)
        if unusable is not None:
            why = unusable.text(cli_language()) if isinstance(unusable, ScenarioError) else repr(unusable)
            print(say("cli.serve.trigger_scenario", scenario=cfg.resolve(cfg.triggers.jma.scenario), error=why),
                  file=sys.stderr, flush=True)
        # the first words are read by `demo` and the tests to know the server is up: not translated
        print(f"SafetyNet serving on {system.url} (public URL {cfg.server.public_url}); Ctrl-C stops", flush=True)
        if not await system.store.roster.list_associations():
            # a city set up but given no roster, or `init` run on a mistyped database: it starts (the roster
            # may come next), but the operator sees which database holds nothing before residents do
            from safetynet.admin import shown_database

            print(say("cli.serve.no_roster", db=shown_database(cfg)), file=sys.stderr, flush=True)
        await stop.wait()
        print(say("cli.serve.stopping"), flush=True)


def _check_writable(cfg: Config) -> None:
    """ConfigError when the SQLite database cannot be written, found by a write made and undone (a lease
    of its own, taken and given back) before anything starts. The server refuses to start then: QA's
    read-only database served "SafetyNet serving…" with only JSON error lines and /readyz 503, a server
    that shows its pages but records no answer and sends nothing; on a disaster night the operator must
    see it at once and fix the file, not learn it from residents. Any other store error (a lock held
    elsewhere past the busy timeout, PostgreSQL) is left to the running server, as before."""
    import uuid

    from safetynet.store import StoreError, store_session

    async def write() -> None:
        async with store_session(cfg) as store:
            owner = f"serve-start-{uuid.uuid4().hex}"
            if await store.coordination.acquire_lease(WRITE_CHECK_LEASE, owner, 1.0):
                await store.coordination.release_lease(WRITE_CHECK_LEASE, owner)

    if check_store_url(cfg.store.url) != "sqlite":
        return  # `database_unwritable` names SQLite files only: no connection and write at every start for nothing
    try:
        asyncio.run(write())
    except StoreError as e:
        if (said := database_unwritable(cfg, e, "cli.serve.db_unwritable")) is not None:
            raise ConfigError(said) from None


def refuse_a_database_with_no_city(cfg: Config) -> None:
    """ConfigError when the database has no SafetyNet tables at all (a mistyped PostgreSQL name that is
    another, empty database): `serve` would make an empty city there and run it with nobody in it, silently
    (QA). Refused, as SQLite's missing file is (`admin.require_database`): the README's order is `init`
    first. A look only: an older schema is migrated by the start, as ever."""
    from safetynet.admin import schema_behind, shown_database

    behind = schema_behind(cfg)
    if behind is not None and behind.found == 0:
        raise ConfigError(say("cli.serve.no_city", db=shown_database(cfg)))


def serve(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.runtime import run

    host = args.host or cfg.server.host
    port = cfg.server.port if args.port is None else args.port
    # every role listens (a dispatcher for /healthz, /readyz, /metrics); a host that names no address is
    # one line, not a socket.gaierror traceback after start-up (QA: `--host 999.1.1.1`, a mistyped [server] host)
    check_listen(host, port, "[server]", None if args.role == "dispatcher" else "cli.serve.bad_host")
    refuse_a_database_with_no_city(cfg)
    _check_writable(cfg)
    try:
        run(serve_until_stopped(cfg, args))
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        raise cannot_listen(e, host, port, "[server]") from None  # taken after the check: the same line
    return 0
