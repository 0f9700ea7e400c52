"""PostgreSQL for the tests: each test gets a schema of its own in its worker's database.

`SAFETYNET_TEST_PG` names the server (default postgresql://postgres@127.0.0.1:5432); the database
`TEST_DB` is created on first use, one for each pytest-xdist worker of each pass (`safetynet_test_pg_gw0`…,
`safetynet_test_pg` and `safetynet_test_sqlite` in a run without workers). A schema per test (search_path in the URL) is a fresh, empty
store in ~2 ms (made and dropped on one connection kept for the session, `_Admin`), where a database
per test would cost a `CREATE DATABASE` and a `DROP DATABASE`, which forces a checkpoint. A store
opened on it migrates it (~85 ms of DDL, 0001_initial ~75 of them) under the migrations' advisory lock,
which is the database's: with one database for every worker of both passes, each test's migration
waited for the others' (4 processes making 15 stores each: 12.0-12.7 s in one database, 7.5-9.6 s in
one each). A test of a command that must refuse an unmigrated database needs it empty, so every test's
schema starts empty; the shared fixtures that make a new city put a migrated one in its place, a schema
an earlier test left as migrations make it (`_SHAPE`), emptied (`migrated_schema`, below). None is cloned:
a migrated schema replayed from `pg_dump` took 95 ms against 109 to migrate (median of 15).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.store import Store
from safetynet.store.postgres import PostgresStore, open_postgres_store

T = TypeVar("T")

SERVER = os.environ.get("SAFETYNET_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
# `SAFETYNET_TEST_STORE=postgres pytest …`: the shared fixtures (broadcast_helpers.make_cfg,
# replies_fixtures.make_config, dashboard_fixtures.make_config) open PostgreSQL, a schema per test.
# (`postgres-all`: every file, to find out which ones pass on PostgreSQL)
ON_POSTGRES = os.environ.get("SAFETYNET_TEST_STORE", "sqlite") in ("postgres", "postgres-all")
EVERY_FILE = os.environ.get("SAFETYNET_TEST_STORE") == "postgres-all"


def _test_db() -> str:
    """This process's database: one for each pytest-xdist worker of each pass (scripts/test.sh runs the
    SQLite pass, whose contract suite opens PostgreSQL too, beside the PostgreSQL pass), so that a store
    migrating in one waits for no other worker's migration (the advisory lock is per database)."""
    base = os.environ.get("SAFETYNET_TEST_PG_DB", "safetynet_test")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = f"{base}_{'pg' if ON_POSTGRES else 'sqlite'}"
    return f"{name}_{worker}" if worker else name


TEST_DB = _test_db()


_EXISTING: set[str] = set()  # databases seen to exist: a connection to check again was a test's every time


async def _ensure_database(name: str) -> None:
    if name in _EXISTING:
        return
    con = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # two suites starting at once on a new server both try: the loser gets either error
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()
    _EXISTING.add(name)


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A new empty schema; yields the store URL that works in it, and drops it afterwards."""
    await _ensure_database(TEST_DB)
    schema = _new_schema_name()
    con = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
    try:
        await con.execute(f"CREATE SCHEMA {schema}")
        yield _url_of(schema)
    finally:
        with contextlib.suppress(Exception):
            await con.execute(f"DROP SCHEMA {schema} CASCADE")
        await con.close()


@contextlib.asynccontextmanager
async def pg_store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    """The contract suite's PostgreSQL store: a new schema at this SafetyNet's version (a kept one)."""
    from contract.support import ROUTES

    admin = _the_admin()
    schema = _new_schema_name()
    await admin.acall(lambda con: con.execute(f"CREATE SCHEMA {schema}"))
    try:
        await admin.acall(lambda con: _take_kept(con, schema))
        store = await open_postgres_store(_url_of(schema), clock, ROUTES)
        try:
            yield store
        finally:
            await store.close()
    finally:
        await admin.acall(lambda con: _keep_or_drop(con, schema))


async def pg_break_writes(store: Store, broken: bool) -> None:
    """New connections come up read-only (or not), and the pool replaces every connection it has:
    what a read-only standby or a full disk does to writes, reads still working."""
    assert isinstance(store, PostgresStore)
    pool = store.db.pool
    settings = {"default_transaction_read_only": "on" if broken else "off"}
    pool.set_connect_args(store.db.url, server_settings=settings)
    await pool.expire_connections()


class _Admin:
    """One connection to `TEST_DB` kept for the whole session, on an event loop of its own in a daemon
    thread, that makes and drops the schema of every test: a connection (and an event loop) per schema
    and per drop, as before, was ~27 of the ~37 ms a test's schema cost (3 connections on a busy machine).
    A connection the server ended (a test's pg_terminate_backend, a restart) is made again."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.con: asyncpg.Connection | None = None
        threading.Thread(target=self.loop.run_forever, name="pg-test-admin", daemon=True).start()

    def execute(self, sql: str) -> None:
        self.call(lambda con: con.execute(sql))

    def call(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], timeout: float | None = None) -> T:
        """`fn(connection)` on the admin's loop, once more on a new connection if the server ended it."""
        return asyncio.run_coroutine_threadsafe(self._call(fn), self.loop).result(timeout)

    async def acall(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`call` from inside a running event loop, which goes on meanwhile."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._call(fn), self.loop))

    async def _call(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            if self.con is None or self.con.is_closed():
                await _ensure_database(TEST_DB)
                self.con = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
            try:
                return await fn(self.con)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError):
                self.con = None  # the server ended it: once more on a new one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


_admin: _Admin | None = None


def _the_admin() -> _Admin:
    global _admin
    if _admin is None:
        _admin = _Admin()
    return _admin


def _create_schema_sync() -> tuple[str, str]:
    schema = _new_schema_name()
    _the_admin().execute(f"CREATE SCHEMA {schema}")
    return schema, _url_of(schema)


def _new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def _url_of(schema: str) -> str:
    return f"{SERVER}/{TEST_DB}?search_path={schema}"


def _drop_schema_sync(schema: str) -> None:
    _the_admin().call(lambda con: _keep_or_drop(con, schema))


async def _keep_or_drop(con: asyncpg.Connection, schema: str) -> None:
    """Drops the test's schema, or keeps it for another test when it is as migrations make it (`_SHAPE`)."""
    if not await _kept(con, schema):
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# -- migrated schemas, used again ------------------------------------------------------------------
# A test's store migrating its empty schema cost ~170 ms of DDL and dropping it ~60 ms more (quiet; on the
# server's CPU too, beside the tests), and the PostgreSQL pass did it ~1,000 times: ~0.5 s more a test than
# on SQLite, whose fixtures copy a migrated template file (sqlite_template). Here a schema that ends its
# test as migrations make it (`_SHAPE`) and that no other process is connected to is emptied (rows
# deleted, sequences restarted: ~7 ms quiet, 30-60 ms under the suite's load, where migrating and dropping
# took ~1 s) and kept under another name; the shared fixtures that make a new city (`migrated_store_for`)
# and the contract suite's store take one in place of their empty schema.
# Anything else is dropped, as before: a test that changed a table, or whose process is still connected.

# What must match for a schema to be used again: each table's columns (collation, identity), indexes,
# constraints, triggers (enabled or not), functions, views, policies, types, relations with their storage
# options, row security and grants (the schema's own name left out), and its migrations. Not comments or
# owners: no test changes them.
_SHAPE = """
SELECT md5(string_agg(replace(x, $1 || '.', ''), E'\n' ORDER BY x)) FROM (
  SELECT concat_ws(' ', 'c', table_name, column_name, data_type, column_default, is_nullable, collation_name,
                   is_identity, identity_generation) AS x
    FROM information_schema.columns WHERE table_schema = $1
  UNION ALL SELECT concat_ws(' ', 'i', tablename, indexdef) FROM pg_indexes WHERE schemaname = $1
  UNION ALL SELECT concat_ws(' ', 'k', c.relname, k.conname, pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.connamespace = $1::regnamespace
  UNION ALL SELECT concat_ws(' ', 't', c.relname, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal
  UNION ALL SELECT concat_ws(' ', 'f', proname, md5(prosrc)) FROM pg_proc WHERE pronamespace = $1::regnamespace
  UNION ALL SELECT concat_ws(' ', 'r', relname, relkind, array_to_string(reloptions, ','), relrowsecurity,
                             relacl::text) FROM pg_class WHERE relnamespace = $1::regnamespace
  UNION ALL SELECT concat_ws(' ', 'v', viewname, definition) FROM pg_views WHERE schemaname = $1
  UNION ALL SELECT concat_ws(' ', 'p', tablename, policyname) FROM pg_policies WHERE schemaname = $1
  UNION ALL SELECT concat_ws(' ', 'y', typname) FROM pg_type WHERE typnamespace = $1::regnamespace AND typtype <> 'c'
    AND typelem = 0
) s
"""
# Schemas kept for the next tests of this process (more are dropped).
_KEEP_AT_MOST = 3
_kept_schemas: list[str] = []
_reference: str | None = None  # the shape and version of a schema this SafetyNet's migrations made


async def _shape(con: asyncpg.Connection, schema: str) -> str | None:
    """The schema's shape and version; None without a schema_version table (never migrated)."""
    if not await con.fetchval("SELECT to_regclass(format('%I.schema_version', $1::text)) IS NOT NULL", schema):
        return None
    version = await con.fetchval(f"SELECT md5(string_agg(version || ' ' || name, ',' ORDER BY version))"
                                 f" FROM {schema}.schema_version")
    return f"{await con.fetchval(_SHAPE, schema)} {version}"


async def _make_reference(con: asyncpg.Connection) -> None:
    """A schema migrated by the store's own code: its shape is the one kept schemas must have."""
    global _reference
    for (gone,) in await con.fetch(r"SELECT nspname FROM pg_namespace WHERE nspname ~ '^k_[0-9]+_[0-9a-f]{8}$'"):
        if not _alive(int(gone.split("_")[1])):  # kept by a run that ended without dropping them
            await con.execute(f"DROP SCHEMA IF EXISTS {gone} CASCADE")
    atexit.register(_drop_kept)
    schema = f"k_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await con.execute(f"CREATE SCHEMA {schema}")
    await _migrate(schema)
    _reference = await _shape(con, schema)
    _kept_schemas.append(schema)


async def _migrate(schema: str) -> None:
    """The store's own migrations on `schema`."""
    from contract.support import ROUTES

    from safetynet.clock import SystemClock

    store = await open_postgres_store(_url_of(schema), SystemClock(), ROUTES)
    await store.close()


_SERVER_PORT = urllib.parse.urlsplit(SERVER).port or 5432


def _own_ports() -> set[int]:
    """The local TCP ports of this process's sockets to PostgreSQL's port (Linux: its fds' socket inodes
    in /proc/net/tcp*; a local port may be reused toward another address, so the remote one counts too)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == _SERVER_PORT:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def _only_own_connections(con: asyncpg.Connection) -> bool:
    """Whether every other connection to the database is this process's. A connection just closed is
    listed until its backend has read the goodbye (well under a millisecond, quiet): up to 50 looks,
    5 ms apart, before it counts as another process's."""
    own = _own_ports()
    for _ in range(50):
        ports = await con.fetch("SELECT client_port FROM pg_stat_activity WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        if {p for (p,) in ports} <= own:
            return True
        await asyncio.sleep(0.005)  # the server's own exit of a backend: nothing to wait on
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_kept() -> None:
    """At the end of the run: the kept schemas go (the admin's thread still runs at exit)."""
    while _kept_schemas:
        schema = _kept_schemas.pop()
        with contextlib.suppress(Exception):
            _the_admin().call(lambda con, s=schema: con.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE"), timeout=10.0)


async def _kept(con: asyncpg.Connection, schema: str) -> bool:
    """Empties `schema` and keeps it under another name when it may serve another test (True); else False."""
    if len(_kept_schemas) >= _KEEP_AT_MOST or _reference is None:
        return False
    if await _shape(con, schema) != _reference:
        return False
    # another process still connected (a server the test did not stop) could still write into it, by the
    # statements it prepared: drop it then. A connection this process left open (a test's pool never
    # closed) is not one: nothing of a finished test runs on it.
    if not await _only_own_connections(con):
        return False
    kept = f"k_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    tables = [t for (t,) in await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1"
                                             " AND tablename <> 'schema_version'", schema)]
    try:
        async with con.transaction():
            await con.execute("SET LOCAL lock_timeout = '2s'")
            # a statement still under way on a connection of the test is waited for (2 s, then dropped)
            await con.execute("LOCK TABLE " + ", ".join(f'{schema}."{t}"' for t in tables) + " IN ACCESS EXCLUSIVE MODE")
            # DELETE, not TRUNCATE: under the suite's load TRUNCATE (new files for every table and index)
            # took 0.4-1.0 s, as long as the migration and drop it saves, DELETE 0.03-0.06 s. Its dead rows
            # stay until a vacuum; rows read without ORDER BY have no order on a new table either.
            await con.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order
            for t in tables:
                await con.execute(f'DELETE FROM {schema}."{t}"')
            for (seq,) in await con.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = $1", schema):
                await con.execute(f'ALTER SEQUENCE {schema}."{seq}" RESTART')
            await con.execute(f"ALTER SCHEMA {schema} RENAME TO {kept}")
    except asyncpg.PostgresError:
        return False
    _kept_schemas.append(kept)
    return True


async def _take_kept(con: asyncpg.Connection, schema: str) -> None:
    if _reference is None:
        await _make_reference(con)
    # only in place of an empty schema: a test's own (older, half-made) schema is left to the test
    if await con.fetchval("SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace", schema):
        return
    if not _kept_schemas:  # (all taken: a test with several stores) migrated here, as its store would
        await _migrate(schema)
        return
    kept = _kept_schemas.pop()
    try:
        async with con.transaction():
            await con.execute(f"DROP SCHEMA {schema}")
            await con.execute(f"ALTER SCHEMA {kept} RENAME TO {schema}")
    except asyncpg.PostgresError:  # gone (dropped by another run's cleanup): migrated here instead
        await _migrate(schema)


def migrated_schema(url: str) -> None:
    """Makes the empty schema `url` names (its search_path) one at this SafetyNet's version, as a store
    would find it after migrating it: a kept schema takes its name (or, none kept, it is migrated).
    Nothing when it is not empty."""
    query = url.partition("?")[2]
    schema = dict(p.partition("=")[::2] for p in query.split("&")).get("search_path", "")
    if not schema or url.partition("?")[0] != f"{SERVER}/{TEST_DB}":
        return
    _the_admin().call(lambda con: _take_kept(con, schema))


URL_ENV = "SAFETYNET_TEST_STORE_URL"


def store_env() -> dict[str, str]:
    """What a test config adds so that the store is this test's PostgreSQL schema (nothing on SQLite)."""
    url = os.environ.get(URL_ENV)
    return {"SAFETYNET_STORE_URL": url} if ON_POSTGRES and url else {}


@contextlib.contextmanager
def fresh_store_env() -> Iterator[dict[str, str]]:
    """Another empty store inside one test (a fuzz example, a second city): on PostgreSQL a schema
    of its own, dropped afterwards, as `store_env()` names it; nothing on SQLite (a new file does it)."""
    if not ON_POSTGRES:
        yield {}
        return
    schema, url = _create_schema_sync()
    try:
        yield {"SAFETYNET_STORE_URL": url}
    finally:
        _drop_schema_sync(schema)


def on_test_store(cfg: Config) -> Config:
    """`cfg` with this test's PostgreSQL schema as its store (unchanged on SQLite): for a test that
    builds its `Config` in code rather than from an environment."""
    env = store_env()
    if not env:
        return cfg
    return dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, url=env["SAFETYNET_STORE_URL"]))

# Which files the PostgreSQL run (SAFETYNET_TEST_STORE=postgres, run by scripts/test.sh after the
# SQLite run) takes: every file of tests/integration and tests/e2e, so that a new file runs on both
# stores by default, less the files below and the tests marked `sqlite_only`. tests/contract runs every
# adapter in each run already; tests/unit opens no store. Each test gets a schema of its own.

# About SQLite itself: its files, its migrations of older databases, its locks and crash recovery.
SQLITE_ONLY: dict[str, str] = {
    "test_broadcast_migrations.py": "SQLite migrations over a database file made before them",
    "test_channel_migrations.py": "SQLite migrations over a database file made before them",
    "test_trust_migrations.py": "SQLite migrations over a database file made before them",
    "test_store_db.py": "the SQLite Database: pragmas, migrations, its writer cancelled mid-transaction, group commit",
}

# Files that open PostgreSQL themselves (a schema or a private cluster of their own) in every run:
# the PostgreSQL run would repeat them.
POSTGRES_ITSELF: dict[str, str] = {
    "test_store_postgres.py": "the PostgreSQL adapter beyond the contract: init, store copy, claims",
    "test_scale_processes.py": "many `serve` processes on one PostgreSQL database, PostgreSQL restarted",
    "test_bench_pgcpu.py": "the benchmarks' own PostgreSQL database and their reading of its backends' CPU",
    "test_suite_kept_schemas.py": "the suite's own PostgreSQL schemas, kept for the next test",
}

# Files that should run on PostgreSQL but do not pass there yet: each names what fails.
NOT_YET_ON_POSTGRES: dict[str, str] = {}

# Files that never open a store (the in-memory one at most): a second run would test nothing new.
NO_STORE: dict[str, str] = {
    "test_bench_floor.py": "the benchmarks' floors",
    "test_bench_sms_webhook.py": "the SMS answer's signature check and TwiML, timed alone",
    "test_broadcast_keyed_pacing.py": "a pacing gate and the email sender",
    "test_broadcast_scenario.py": "scenario files",
    "test_broadcast_staff_alerts.py": "the in-memory store",
    "test_channel_base.py": "senders against the sandbox",
    "test_channel_bench.py": "`bench channels`: senders against the sandbox",
    "test_channel_log.py": "senders against the sandbox",
    "test_channel_sms.py": "senders against the sandbox",
    "test_channel_telegram.py": "senders against the sandbox",
    "test_channel_voice.py": "senders against the sandbox",
    "test_channel_webpush.py": "senders against the sandbox",
    "test_cli_language.py": "the command line's language (commands refused before any store)",
    "test_config.py": "configuration files (which store a config names)",
    "test_logs.py": "log masking",
    "test_roster_csv.py": "roster files",
    "test_sandbox.py": "the provider sandbox",
    "test_suite_checks.py": "the suite's own log scan and connection check, in a pytest run of their own",
    "test_sim_driver.py": "the residents' simulator against a stub app",
    "test_sim_http.py": "the residents' simulator against a stub app",
    "test_sim_indexed.py": "the residents' simulator",
    "test_sim_messages.py": "the residents' simulator",
    "test_sim_scenarios.py": "the residents' simulator",
    "test_triggers_cap.py": "CAP parsing",
    "test_triggers_fuzz.py": "telegram parsing",
    "test_triggers_replay.py": "the trigger rules over the JMA samples (`triggers replay` opens no store)",
}

# Files that assert only how pages look (widths, line breaks, print, the order rows are shown in): the
# page is made by the same Python and templates from what the store returns, whichever store that is,
# and what PostgreSQL returns for those pages is asserted in its pass by tests/integration
# (test_dashboard_pages.py, test_report_drill.py…). A browser test is seconds each; a second run of
# these would repeat the same pages (~2 minutes of the PostgreSQL pass on a 2-core machine).
PAGE_LAYOUT: dict[str, str] = {
    "test_layout_browser.py": "A4 print, 360/240-px phones, line breaks and the walking order (dash_views), in Chromium",
}

# Files that assert what a page's script does in Chromium (rows kept in place, buttons, the service worker,
# live updates drawn), over routes whose answers on PostgreSQL its pass asserts in the integration file
# named: the script reads the same JSON and the same stream whichever store is behind them. The resident's
# answer in a browser (test_replies_browser.py, test_replies_featurephone_browser.py) still runs on both
# stores, end to end. A second run of these was ~3½ minutes of the PostgreSQL pass's two workers on the
# twenty-fourth machine (228 s by --durations).
PAGE_SCRIPT: dict[str, str] = {
    "test_dashboard_browser.py": "live pages, print and login expiry in Chromium (test_dashboard_pages.py, "
                                 "test_dashboard_live.py, test_dashboard_console.py, test_staff_pages.py)",
    "test_dashboard_marks_browser.py": "handled and visited marks in Chromium (test_dashboard_marks.py, test_reopen_help.py)",
    "test_doorknock_browser.py": "the printed door-knock list, and its rows read again live, in Chromium "
                                 "(test_dashboard_pages.py: /doorknock/rows)",
    "test_live_rows_browser.py": "rows kept in place while touched, in Chromium (test_dashboard_live.py)",
    "test_paused_drill_browser.py": "open pages saying a drill is paused, in Chromium (test_paused_drill.py)",
    "test_pwa_browser.py": "the manifest and install in Chromium (test_pwa.py)",
    "test_replies_sw_browser.py": "the service worker's notification and answer in Chromium (test_replies_page.py)",
    "test_undo_browser.py": "undo buttons in Chromium (test_undo_in_person.py)",
}

LISTED = frozenset({*SQLITE_ONLY, *NO_STORE, *POSTGRES_ITSELF, *NOT_YET_ON_POSTGRES, *PAGE_LAYOUT, *PAGE_SCRIPT})

# Folders of the suite whose files run on PostgreSQL too (the rest run on SQLite only).
BOTH_STORE_FOLDERS = ("integration", "e2e")


def runs_on_postgres(path: Path) -> bool:
    """Whether the PostgreSQL run takes the test file at `path`."""
    if EVERY_FILE:
        return True
    return path.parent.name in BOTH_STORE_FOLDERS and path.name not in LISTED


class _Result(list):  # type: ignore[type-arg]
    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class PgReader:
    """What the reliability helpers read a finished run's database with (sqlite3's `execute(sql,
    params)`, rows by index or name), on this test's PostgreSQL schema: each call runs in a thread
    of its own, so it works inside a running event loop too."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        import threading

        from safetynet.store.postgres.db import pg_sql

        if "sqlite_master" in sql:  # the list of tables
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        out: list[Any] = []

        async def run() -> None:
            con = await asyncpg.connect(self.url)
            try:
                out.extend(await con.fetch(pg_sql(sql), *params))
            finally:
                await con.close()

        failed: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(run())
            except BaseException as e:  # raised again in the caller's thread
                failed.append(e)

        t = threading.Thread(target=main)
        t.start()
        t.join()
        if failed:
            raise failed[0]
        return _Result(out)

    def close(self) -> None:
        pass
