"""SQLite connections: one writer, a few readers, migrations, group commit, the placeholder helper.

Only the SQLite adapter (`safetynet.store.sqlite`) imports this module; nothing outside the store
sees SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import structlog

from safetynet.domain.records import quick
from safetynet.store.errors import SchemaBehind, SchemaTooNew, StoreError, StoreUnavailable

log = structlog.get_logger("store")

Row = sqlite3.Row
Conn = aiosqlite.Connection
T = TypeVar("T")
R = TypeVar("R")

# A checkpoint copies each page the WAL holds once, however often it was written since the last:
# under a storm of answers the same index pages are written over and over, so a WAL of up to
# 10,000 pages (40 MB; SQLite's default is 1,000) is copied back a tenth as often for little more
# each time (issue 18: a POST's rate +13-20 %, its p99 25 -> 40-56 ms, README Performance).
WAL_PAGES_PER_CHECKPOINT = 10_000
_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "temp_store=MEMORY",
    f"wal_autocheckpoint={WAL_PAGES_PER_CHECKPOINT}",
)
# How long a statement waits for another process's lock (a CLI import, a backup) before failing
# with "database is locked": `[store] busy_timeout_seconds`.
BUSY_TIMEOUT_SECONDS = 5.0


# SQLite allows 32,766 parameters a statement; IN lists go in chunks of this many, which keeps each
# statement's plan cheap too.
CHUNK = 500


def marks(n: int) -> str:
    """`?,?,…` for `n` parameters (an IN list, or a row of VALUES between parentheses)."""
    return ",".join("?" * n)


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    folder = resources.files("safetynet.store.sqlite") / "migrations"
    for entry in folder.iterdir():
        m = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise StoreError(f"duplicate migration numbers: {versions}")
    return found


def make_private(path: Path) -> None:
    """The database (and its -wal and -shm) hold every resident's name, address and phone: owner only.

    SQLite gives the -wal and -shm files the mode of the database file, so a database created
    0600 keeps them 0600; the files of an older install are tightened here.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is an empty database
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                p.chmod(mode & 0o700)


def _connect_on_loop(path: Path) -> sqlite3.Connection:
    """The event loop's own writer (`Database.write`): it never waits for another process's lock
    (busy_timeout 0: the write goes to the writer's thread instead) and never checkpoints (the
    checkpointer's thread does), so a call on it costs its statements and its commit. Its rows are
    plain tuples (the writer's are `sqlite3.Row`): steps read them by position."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        for p in _PRAGMAS:
            conn.execute(f"PRAGMA {p}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA busy_timeout=0")
    except BaseException:
        conn.close()
        raise
    return conn


def items_per_checkpoint(wal_pages: int, items: int, now: int, pages: int = WAL_PAGES_PER_CHECKPOINT) -> int:
    """After how many items written on the loop the next checkpoint runs, learnt from the last one:
    `wal_pages` the WAL held then, after `items`; `now` is the current pace. Aims at `pages`, as
    SQLite's own autocheckpoint would. What the WAL holds is not only these items' pages: another
    connection's autocheckpoint may have emptied it in between (too few pages), or its own writes
    filled it (too many). So the pace moves at most twofold a turn and stays within bounds, and a
    WAL of no pages teaches nothing."""
    if wal_pages <= 0 or items <= 0:
        return now
    learnt = pages * items // wal_pages
    return max(_MIN_CHECKPOINT_ITEMS, min(_MAX_CHECKPOINT_ITEMS, now * 2, max(now // 2, learnt)))


# An answer adds 3-4 pages to the WAL in batches of ~30 (its row, its dedupe key, its household's
# status and index entries): the first guess, before a checkpoint has told. At the most, a WAL of
# some 40,000 pages (160 MB) between checkpoints.
_FIRST_CHECKPOINT_ITEMS = 3_000
_MIN_CHECKPOINT_ITEMS = 100
_MAX_CHECKPOINT_ITEMS = 12_000


def _busy(e: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock (or is recovering the WAL): the extended codes, such as
    SQLITE_BUSY_SNAPSHOT and SQLITE_BUSY_RECOVERY, are the primary code and more."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


async def _thread_gone(conn: Conn) -> None:
    """Waits for a stopped connection's thread. aiosqlite asks it to stop without waiting, and the
    thread then answers on the event loop: a command that ends its loop at once (the CLI) got
    "Event loop is closed" from that thread after its own clean error (QA, 1 run in 6)."""
    thread = getattr(conn, "_thread", None)
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)


async def _close(conn: Conn) -> None:
    try:
        await conn.close()
    finally:
        await _thread_gone(conn)


async def _connect(path: Path, *, readonly: bool = False, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> Conn:
    pending = aiosqlite.connect(str(path), isolation_level=None)
    try:
        conn = await pending
    except BaseException:
        await _thread_gone(pending)
        raise
    try:
        conn.row_factory = sqlite3.Row
        for p in _PRAGMAS:
            await conn.execute(f"PRAGMA {p}")
        await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        if readonly:
            await conn.execute("PRAGMA query_only=1")
    except BaseException:
        await _close(conn)
        raise
    return conn


class Reads:
    """The read methods of `Database` and `ReadLane`: each is one trip to a reader's thread
    (execute + fetch + close would be three)."""

    def _reader(self) -> Conn:
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._reader().execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        for row in await self._reader().execute_fetchall(sql, params):
            return row
        return None

    async def fetchval(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return default if row is None else row[0]

    async def fetch_packed(self, sql: str, params: Sequence[Any] = ()) -> list[list[Any]]:
        """The rows of a `packed(…)` query, as lists (see `packed`)."""
        return unpack(await self.fetchval(sql, params))


def packed(columns: str) -> str:
    """`SELECT json_group_array(json_array(<columns>))`: the rows of a hot read as one JSON value.

    Python's sqlite3 lets go of the GIL around every step and every column it fetches; on a
    reader's thread, each time it wants the GIL back it waits for the event loop to let go (under
    load, for its switch interval). A lookup of 25 tokens fetched as rows asks for the GIL ~250
    times, as one value a handful. REAL columns go through `real()`: JSON keeps 15 digits.
    """
    return f"SELECT json_group_array(json_array({columns}))"


def real(column: str) -> str:
    """A REAL column inside `packed(…)`, as text that converts back exactly (`float(text)`)."""
    return f"iif({column} IS NULL, NULL, printf('%!.20e', {column}))"


def unpack(value: Any) -> list[list[Any]]:
    return json.loads(value) if value else []


class ReadLane(Reads):
    """Reads on one reader connection of their own.

    Staff pages read through one: under a surge of residents' answers, the shared readers each
    hold a queue of token lookups, and a dashboard read waiting behind them would wait its turn on
    every trip.
    """

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def _reader(self) -> Conn:
        return self._conn


class Database(Reads):
    """The writer connection (serialised by a lock), a round-robin of reader connections, and a
    reader of its own for staff pages (`staff`)."""

    def __init__(self, path: Path, writer: Conn, readers: list[Conn], staff_reader: Conn | None = None,
                 loop_writer: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._writer = writer
        self._loop_writer = loop_writer
        # opened at the first checkpoint: a process that writes no answers (the CLI) needs no thread for it
        self._checkpointer: Conn | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self._items_since_checkpoint = 0
        self._checkpoint_after = _FIRST_CHECKPOINT_ITEMS
        self.checkpoints = 0
        self._readers = readers
        self._next_reader = itertools.cycle(range(len(readers)))
        self._staff_reader = staff_reader
        self.staff: Reads = ReadLane(staff_reader) if staff_reader is not None else self
        self._write_lock = asyncio.Lock()
        self.failed: BaseException | None = None
        # the last write was refused for a lock another process held past the busy timeout (not a failure:
        # /healthz stays 200; /readyz says writes are refused, until a write goes through)
        self.refusing: BaseException | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path, readers: int = 2, migrate: bool = True,
                   busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> Database:
        try:
            make_private(path)
            writer = await _connect(path, busy_timeout_seconds=busy_timeout_seconds)
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot open the database {path}: {e}") from e
        opened: list[Conn] = []
        loop_writer: sqlite3.Connection | None = None
        try:
            if migrate:
                await _migrate(writer)
            for _ in range(max(1, readers) + 1):  # the last one is the staff pages' own
                opened.append(await _connect(path, readonly=True, busy_timeout_seconds=busy_timeout_seconds))
            loop_writer = _connect_on_loop(path)
        except BaseException:
            for c in opened:
                await _close(c)
            if loop_writer is not None:
                loop_writer.close()
            await _close(writer)
            raise
        return cls(path, writer, opened[:-1], opened[-1], loop_writer)

    async def check_schema(self) -> None:
        """SchemaBehind or SchemaTooNew unless the schema is this SafetyNet's, for an open that does not
        migrate (`open_sqlite_store(migrate=False)`); reads only, unlike `schema_version`, which makes its table."""
        await check_schema(self._writer)

    async def close(self) -> None:
        """Closes every connection, even when cancelled on the way (Ctrl-C as a command closes its store):
        a connection left open keeps its thread, which is no daemon, and the process never exits (the
        suite hung at its end so). The cancellation goes on once all are closed."""
        if self._closed:
            return
        self._closed = True
        cancelled = False

        async def finish(step: Awaitable[object]) -> None:
            nonlocal cancelled
            try:
                await step
            except asyncio.CancelledError:
                cancelled = True
            except Exception:  # noqa: S110 - closing: what failed is closed as far as it goes
                pass

        if self._checkpoint is not None:
            await finish(self._checkpoint)
        for c in [*self._readers, *(c for c in (self._staff_reader, self._checkpointer) if c is not None)]:
            await finish(_close(c))
        if self._loop_writer is not None:
            with contextlib.suppress(Exception):
                self._loop_writer.close()
        await finish(_close(self._writer))
        if cancelled:
            raise asyncio.CancelledError

    # -- reads ---------------------------------------------------------------

    def _reader(self) -> Conn:
        return self._readers[next(self._next_reader)]


    # -- writes --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """BEGIN IMMEDIATE … COMMIT on the writer; rolls back on any exception, cancellation included.

        A cancelled await does not stop the statement: aiosqlite runs whatever was queued on the
        connection's thread. So a task cancelled while waiting on BEGIN or COMMIT may leave the
        transaction open, and every later BEGIN would fail. The ROLLBACK is queued in the same step
        that sees the cancellation (aiosqlite queues a call before its first await), so it runs
        right after the statement in flight, before any later transaction's BEGIN.
        """
        async with self._write_lock:
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                self._mark_failed(e)
                raise StoreUnavailable(str(e)) from e
            except BaseException:
                await _rollback(conn)
                raise
            try:
                yield conn
            except sqlite3.OperationalError as e:
                # disk full, read-only file, I/O error: the store cannot take writes; say so loudly
                await _rollback(conn)
                self._mark_failed(e)
                raise StoreUnavailable(str(e)) from e
            except BaseException:
                await _rollback(conn)
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as e:
                await _rollback(conn)
                self._mark_failed(e)
                raise StoreUnavailable(str(e)) from e
            except BaseException:
                # cancelled: the COMMIT still runs; if it did not end the transaction, this does
                await _rollback(conn)
                raise
            self._written()

    async def write(self, steps: Steps[R], items: int = 1) -> R:
        """BEGIN IMMEDIATE, the statements `steps` yields, COMMIT: as one call, on the event loop.

        For small batches only (a group commit's: `items` of them): about a millisecond for 30
        answers. A WAL commit with synchronous=NORMAL makes no fsync but the first after each
        checkpoint that emptied the WAL (its header); the loop's connection never checkpoints (it
        counts `items` towards the checkpointer's next turn) and never waits for a lock: when another
        process holds the database (an import, a backup), the write goes to the writer's thread,
        which waits up to `busy_timeout_seconds`. On the loop rather than the writer's thread
        because the hand-over cost as much as the writing (issue 18: a reply POST's CPU 1.60-1.69x
        -> 1.55-1.60x the floor handler's and its rate 0.56-0.58 -> 0.62-0.64, README Performance). Nothing awaits between BEGIN and COMMIT,
        so a cancelled caller cannot stop it half way.
        """
        raw = self._loop_writer
        async with self._write_lock:
            if raw is not None:
                try:
                    result: R = _transact_raw(raw, run_steps, steps, busy_raises=True)
                except _Busy:
                    pass  # not started: the writer's thread takes it and waits for the lock
                except StoreUnavailable as e:
                    self._mark_failed(e.__cause__ or e)
                    raise
                else:
                    self._written()
                    self._written_on_loop(items)
                    return result
            return await self._write_locked(run_steps, steps)

    def _written_on_loop(self, items: int) -> None:
        self._items_since_checkpoint += items
        if self._items_since_checkpoint >= self._checkpoint_after and self._checkpoint is None \
                and not self._closed:
            items, self._items_since_checkpoint = self._items_since_checkpoint, 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint(items),
                                                                      name="sqlite-checkpoint")

    async def _run_checkpoint(self, items: int) -> None:
        """A PASSIVE checkpoint (it never blocks a writer or a reader) of what `items` wrote, on a
        connection and thread of its own: on the writer's, it would wait behind a transaction."""
        try:
            if self._checkpointer is None:
                self._checkpointer = await _connect(self.path)
            async with self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                row = await cur.fetchone()
            # a busy one (row[0] = 1: a writer or reader held it off) says nothing of the pace
            if row is not None and not row[0]:
                self._checkpoint_after = items_per_checkpoint(int(row[1]), items, self._checkpoint_after)
                self.checkpoints += 1
        except Exception as e:  # the next write tries again; a failing disk shows there first
            log.warning("store_checkpoint_failed", error=str(e), path=str(self.path))
        finally:
            self._checkpoint = None

    async def _write_call(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(sqlite3 connection, *args)` in one transaction, as one call on the writer's thread.

        A cancelled caller does not stop it: the whole transaction is one item on the connection's
        queue, so it commits or rolls back whole, and nothing else runs on the writer in between."""
        async with self._write_lock:
            return await self._write_locked(fn, *args)

    async def _write_locked(self, fn: Callable[..., R], *args: Any) -> R:
        try:
            result: R = await _on_thread(self._writer, _transact, self._writer, fn, *args)
        except StoreUnavailable as e:
            self._mark_failed(e.__cause__ or e)
            raise
        self._written()
        return result

    def _written(self) -> None:
        self.failed = self.refusing = None

    def _mark_failed(self, e: BaseException) -> None:
        if isinstance(e, sqlite3.OperationalError) and _busy(e):
            # another process held the lock past the busy timeout (a roster import, a backup): this write
            # is refused, but the store is not broken, and /healthz must not say it is (a liveness probe
            # would restart a web process for it, which helps nothing)
            log.warning("store_write_busy", error=str(e), path=str(self.path))
            self.refusing = e
            return
        if self.failed is None:
            log.error("store_write_failed", error=str(e), path=str(self.path))
        self.failed = e

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction, in one trip; returns the rows changed."""
        return await self._write_call(_rowcount, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._write_call(_executemany, sql, list(rows))


# -- statements as data: a whole write in one call (on the loop's connection or the writer's thread) -


@quick
@dataclass(frozen=True, slots=True)
class Sql:
    """A statement a `Steps` generator yields; its rows are sent back (none for `many`), to be read
    by position (tuples on the loop's connection, `sqlite3.Row` on the writer's thread)."""

    sql: str
    params: Any = ()  # the parameters; for `many`, an iterable of them
    many: bool = False


# A write as a generator of statements: the same code runs synchronously on SQLite's writer thread
# (`run_steps`, one trip) and awaited statement by statement on PostgreSQL's connection (`drive`).
Steps = Generator[Sql, list[Any], R]


def run_steps(conn: sqlite3.Connection, steps: Steps[R]) -> R:
    """Runs `steps` on `conn`, on the thread that owns it."""
    try:
        stmt = next(steps)
        while True:
            if stmt.many:
                conn.executemany(stmt.sql, stmt.params)
                rows: list[Any] = []
            else:
                rows = conn.execute(stmt.sql, stmt.params).fetchall()
            stmt = steps.send(rows)
    except StopIteration as done:
        return done.value
    finally:
        steps.close()


async def drive(conn: Any, steps: Steps[R]) -> R:
    """Runs `steps` inside the caller's transaction: on SQLite's writer in one trip, elsewhere (a
    PostgreSQL connection) one awaited statement at a time."""
    if isinstance(conn, aiosqlite.Connection):
        return await _on_thread(conn, _run_steps_on, conn, steps)
    try:
        stmt = next(steps)
        while True:
            if stmt.many:
                await conn.executemany(stmt.sql, stmt.params)
                rows: list[Any] = []
            else:
                rows = list(await conn.execute_fetchall(stmt.sql, stmt.params))
            stmt = steps.send(rows)
    except StopIteration as done:
        return done.value
    finally:
        steps.close()


async def _on_thread(conn: Conn, fn: Callable[..., R], *args: Any) -> R:
    """`fn(*args)` on `conn`'s own thread, queued behind what is already there. aiosqlite has no
    public way to do this; `_execute` is what its own methods use (aiosqlite is pinned to 0.22)."""
    return await conn._execute(fn, *args)


def _raw(conn: Conn) -> sqlite3.Connection:
    return conn._conn  # on the connection's thread only (see _on_thread)


def _run_steps_on(conn: Conn, steps: Steps[R]) -> R:
    return run_steps(_raw(conn), steps)


def _rowcount(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    return raw.execute(sql, params).rowcount


def _executemany(raw: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    raw.executemany(sql, rows)


class _Busy(Exception):
    """Another connection holds the write lock: nothing was started."""


def _transact(conn: Conn, fn: Callable[..., R], *args: Any) -> R:
    """On the writer's thread: `fn(connection, *args)` in one transaction (`_transact_raw`)."""
    return _transact_raw(_raw(conn), fn, *args)


def _transact_raw(raw: sqlite3.Connection, fn: Callable[..., R], *args: Any, busy_raises: bool = False) -> R:
    """`fn(raw, *args)` in one transaction, on the thread that owns `raw`. Errors that mean the
    database cannot take writes (disk full, read-only, I/O) come out as StoreUnavailable, as from
    `transaction()`; with `busy_raises`, a lock held elsewhere comes out as `_Busy`."""
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if busy_raises and _busy(e):
            raise _Busy() from e
        raise StoreUnavailable(str(e)) from e
    try:
        result = fn(raw, *args)
    except sqlite3.OperationalError as e:
        _rollback_now(raw)
        raise StoreUnavailable(str(e)) from e
    except BaseException:
        _rollback_now(raw)
        raise
    try:
        raw.execute("COMMIT")
    except sqlite3.Error as e:
        _rollback_now(raw)
        raise StoreUnavailable(str(e)) from e
    return result


def _rollback_now(raw: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # "no transaction is active" is fine
        raw.execute("ROLLBACK")


async def _rollback(conn: Conn) -> None:
    # Queued before the first await (see Database.transaction): a second cancellation here cannot
    # keep it from running. "No transaction is active" (COMMIT already done) is fine.
    with contextlib.suppress(Exception):
        await conn.execute("ROLLBACK")


async def schema_version(conn: Conn) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def check_schema(conn: Conn, migrations: list[tuple[int, str, str]] | None = None) -> None:
    """SchemaBehind when the database's schema is older than `migrations` (none at all: found 0),
    SchemaTooNew when newer; reads only."""
    async with conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'") as cur:
        row = await cur.fetchone()
    current = 0
    if row and row[0]:
        async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
    known = max((v for v, _, _ in (migrations if migrations is not None else _migrations())), default=0)
    if current > known:
        raise SchemaTooNew(current, known)
    if current < known:
        raise SchemaBehind(current, known)


# First line of a migration that rebuilds a table other tables refer to (SQLite's way to change a
# CHECK): it runs with foreign keys off, and commits only if `foreign_key_check` finds nothing.
FOREIGN_KEYS_OFF = "-- foreign_keys: off"


async def _migrate(conn: Conn, migrations: list[tuple[int, str, str]] | None = None) -> None:
    current = await schema_version(conn)
    steps = migrations if migrations is not None else _migrations()
    if current > (known := max((v for v, _, _ in steps), default=0)):
        raise SchemaTooNew(current, known)
    for version, name, sql in steps:
        if version <= current:
            continue
        keys_off = sql.startswith(FOREIGN_KEYS_OFF)
        # a rebuilt table must leave no dangling reference: the CHECK fails the script if one does
        check = ("CREATE TEMP TABLE foreign_key_problems (n INTEGER CHECK (n = 0));\n"
                 "INSERT INTO foreign_key_problems SELECT count(*) FROM pragma_foreign_key_check;\n"
                 "DROP TABLE temp.foreign_key_problems;\n") if keys_off else ""
        # executescript commits any open transaction first; wrap each migration in its own.
        script = (f"BEGIN IMMEDIATE;\n{sql}\n{check}"
                  f"INSERT INTO schema_version VALUES ({version}, '{name}', {time.time()});\nCOMMIT;")
        try:
            if keys_off:
                await conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: before it
            await conn.executescript(script)
        except sqlite3.Error as e:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise StoreError(f"migration {version:04d}_{name} failed: {e}") from e
        finally:
            if keys_off:
                await conn.execute("PRAGMA foreign_keys = ON")
        log.info("store_migrated", version=version, migration=name)


class GroupCommit(Generic[T, R]):
    """Collects items from many callers and writes them in one transaction.

    `flush(conn, items)` runs inside the transaction and returns one result per item.
    A caller's `submit` returns only after the commit: an acknowledged item is stored.
    `submit_many` hands over several items at once; they share one transaction (all or none).
    """

    def __init__(
        self,
        db: Database,
        flush: Callable[[Conn, list[T]], Awaitable[list[R]]],
        max_items: int = 500,
        max_delay_seconds: float = 0.002,
    ) -> None:
        self._db = db
        self._flush = flush
        self._max_items = max_items
        self._max_delay = max_delay_seconds
        # one entry per caller: its items and the future of their results
        self._queue: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, item: T) -> R:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: list[T]) -> list[R]:
        """Results of `items` (in order), after the commit that stored all of them."""
        if not items:
            return []
        task = self._task
        if task is None:
            self.start()
            task = self._task
            assert task is not None
        # the writing task's loop, not asyncio's: on Python 3.11 each ask is a getpid() system call
        fut: asyncio.Future[list[R]] = task.get_loop().create_future()
        self._queue.append((items, fut))
        self._queued += len(items)
        self._wakeup.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                if self._stopping:
                    return
                continue
            if self._queued < self._max_items and self._max_delay > 0:
                # a short wait gathers concurrent callers into the same commit
                await asyncio.sleep(self._max_delay)
            while self._queue:
                await self._write(self._next_batch())

    def _next_batch(self) -> list[tuple[list[T], asyncio.Future[list[R]]]]:
        """Whole callers up to `max_items` items (one caller's items are never split), at least one."""
        n = items = 0
        while n < len(self._queue) and (n == 0 or items + len(self._queue[n][0]) <= self._max_items):
            items += len(self._queue[n][0])
            n += 1
        batch, self._queue = self._queue[:n], self._queue[n:]
        self._queued -= items
        return batch

    async def _commit(self, items: list[T]) -> list[R]:
        """One batch in one transaction; one result per item."""
        async with self._db.transaction() as conn:
            return await self._flush(conn, items)

    async def _write(self, batch: list[tuple[list[T], asyncio.Future[list[R]]]]) -> None:
        try:
            results = await self._commit([i for items, _ in batch for i in items])
        except Exception as e:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        start = 0
        for items, fut in batch:
            end = start + len(items)
            if not fut.done():
                fut.set_result(results[start:end])
            start = end


class OneTripCommit(GroupCommit[T, R]):
    """A group commit whose batch is one call (`Database.write`, on the event loop's connection):
    `steps(items)` yields the batch's statements and returns one result per item."""

    def __init__(self, db: Database, steps: Callable[[list[T]], Steps[list[R]]], max_items: int = 500,
                 max_delay_seconds: float = 0.002) -> None:
        super().__init__(db, self._awaited, max_items, max_delay_seconds)
        self._steps = steps

    async def _awaited(self, conn: Conn, items: list[T]) -> list[R]:
        # the same statements through `transaction()`, one trip each (what a plain GroupCommit does)
        return await drive(conn, self._steps(items))

    async def _commit(self, items: list[T]) -> list[R]:
        return await self._db.write(self._steps(items), len(items))
