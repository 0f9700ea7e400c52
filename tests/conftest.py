"""Runs `async def test_*` in a fresh event loop (no pytest-asyncio), and shared fixtures."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PTB_TIMEDELTA", "1")
# The command line speaks the terminal's language (safetynet.console): the tests read its English,
# whatever the developer's locale; tests of the Japanese set LANG for the process they start.
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"
# Ctrl-C as a terminal gives it: scripts/test.sh starts its two passes as background jobs, and a shell
# script starts those with SIGINT ignored, which the processes the tests start would inherit too (the
# tests of Ctrl-C passed alone and failed in CI). Python's own handler here; a child then starts with
# the default and installs the same.
signal.signal(signal.SIGINT, signal.default_int_handler)

# Every log line of the session is scanned for secrets, tokens and phone numbers (tests/logscan.py).
pytest_plugins = ("logscan",)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
ARTIFACTS = REPO / "test-artifacts"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> bool | None:
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        params = inspect.signature(pyfuncitem.obj).parameters
        kwargs = {n: pyfuncitem.funcargs[n] for n in params}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=120))
        return True
    return None


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test (or an in-process CLI call) that configures logging must not change the next test's."""
    import logging

    import structlog

    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def _sqlite_threads() -> set[Any]:
    import threading

    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()}


_LEAKED: list[str] = []


@pytest.fixture(autouse=True)
def _no_sqlite_connection_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves an aiosqlite connection open leaves its thread, which is not a daemon: the run
    would hang at its end (CI: the SQLite pass waited for ever after its last test). Named here, and the
    connections stopped at the session's end (`pytest_sessionfinish`), so the run ends and says whose."""
    before = _sqlite_threads()
    yield
    for t in _sqlite_threads() - before:
        t.join(timeout=2)  # a connection closed at the very end of the test may still be finishing
        if t.is_alive():
            _LEAKED.append(request.node.nodeid)
            break


# (count, tests) of the connections pytest-xdist workers found left open: the controller fails the run
_WORKERS_LEAKED: list[tuple[int, list[str]]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import gc

    import aiosqlite

    left = [o for o in gc.get_objects() if isinstance(o, aiosqlite.Connection) and o._running]
    for conn in left:
        conn._running = False
        conn._tx.put_nowait((None, lambda: aiosqlite.core._STOP_RUNNING_SENTINEL))
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a worker's exit status does not fail the run: its controller does
        worker_output["sqlite_left_open"] = (len(left), _LEAKED)
        return
    found = [(len(left), _LEAKED), *_WORKERS_LEAKED]
    if any(n or names for n, names in found):
        names = ", ".join(dict.fromkeys(t for _, tests in found for t in tests)) or "unknown"
        print(f"\nerror: {sum(n for n, _ in found)} SQLite connection(s) left open by: {names}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    left = getattr(node, "workeroutput", {}).get("sqlite_left_open")
    if left:
        _WORKERS_LEAKED.append((left[0], list(left[1])))


@pytest.fixture
def tmp_config(tmp_path: Path) -> Path:
    """A config.toml in a temporary folder: SQLite under it, providers on the sandbox defaults."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    return cfg


@pytest.fixture(autouse=True)
def _postgres_schema() -> Iterator[None]:
    """With SAFETYNET_TEST_STORE=postgres, each test gets a PostgreSQL schema of its own, which the
    shared fixtures' configs name (pg_helpers.store_env)."""
    import pg_helpers

    if not pg_helpers.ON_POSTGRES:
        yield
        return
    schema, url = pg_helpers._create_schema_sync()
    os.environ[pg_helpers.URL_ENV] = url
    os.environ["SAFETYNET_STORE_URL"] = url  # what the command line (`main([...])`) reads
    try:
        yield
    finally:
        os.environ.pop(pg_helpers.URL_ENV, None)
        os.environ.pop("SAFETYNET_STORE_URL", None)
        pg_helpers._drop_schema_sync(schema)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of tests/e2e are `slow`. On PostgreSQL (SAFETYNET_TEST_STORE=postgres) the files that
    `pg_helpers.runs_on_postgres` names run, less their `sqlite_only` tests (SQLite's own files, locks
    and pragmas); the rest is deselected, not skipped: it ran on SQLite already."""
    import pg_helpers

    e2e = Path(__file__).resolve().parent / "e2e"
    for item in items:
        if e2e in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slow)
    if not pg_helpers.ON_POSTGRES:
        # deselected, not skipped, as sqlite_only tests are in the PostgreSQL pass: they run there
        only_pg = [item for item in items if item.get_closest_marker("postgres_only") is not None]
        if only_pg:
            config.hook.pytest_deselected(items=only_pg)
            items[:] = [item for item in items if item.get_closest_marker("postgres_only") is None]
        return
    here = Path(__file__).resolve().parent
    stale = [n for n in pg_helpers.LISTED if not any((here / f / n).exists() for f in pg_helpers.BOTH_STORE_FOLDERS)]
    if stale:
        raise pytest.UsageError(f"pg_helpers lists files that do not exist: {stale}")
    keep, drop = [], []
    for item in items:
        path = Path(str(item.fspath))
        if pg_helpers.runs_on_postgres(path) and item.get_closest_marker("sqlite_only") is None:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
