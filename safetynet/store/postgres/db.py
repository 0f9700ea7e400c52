"""PostgreSQL connections: an asyncpg pool, ordered migrations, and the SQL dialect bridge.

Only the PostgreSQL adapter (`safetynet.store.postgres`) imports this module. `PgDatabase` offers
the same small surface as the SQLite `Database` (`fetchall`, `fetchone`, `fetchval`, `execute`,
`executemany`, `transaction()` yielding a connection with `execute`/`executemany`/
`execute_fetchall`), so each repository's SQL is written once in the portable subset both engines
share, and a repository overrides only what PostgreSQL does better (claims with `SKIP LOCKED`,
`COPY` for bulk loads). `pg_sql` turns that subset into PostgreSQL: `?` placeholders become `$n`,
`INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, `IS ?` a null-safe comparison, scalar
`max(a, b)`/`min(a, b)` `greatest`/`least`.

Why asyncpg (and not psycopg 3): see the commit that chose it and `pyproject.toml`.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import asyncpg
import structlog

from safetynet.store.errors import (
    CannotOpen,
    ConnectionLost,
    SchemaBehind,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
)

log = structlog.get_logger("store")

Row: TypeAlias = asyncpg.Record

# Errors that mean "the database cannot take this now" (down, restarting, read-only, out of disk),
# as opposed to a bad statement: they make the store unhealthy and surface as StoreUnavailable.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # disk full, too many connections
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    # what a new connection meets when the database is closed to connections (ALTER DATABASE …
    # ALLOW_CONNECTIONS false; also a lock not available now), gone, or its role refused
    asyncpg.ObjectNotInPrerequisiteStateError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    OSError,
)

# Busy, not broken: a lock not had in time (lock_timeout, NOWAIT: another process holds it) and a server
# at its connection limit. The work is refused; the store is not marked failed (`Database.refusing`).
_BUSY: tuple[type[BaseException], ...] = (asyncpg.LockNotAvailableError, asyncpg.TooManyConnectionsError)

# The server ended the connection the statement ran on (pg_terminate_backend, a restart, a crash).
_ENDED_BY_SERVER: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,  # "connection was closed in the middle of operation"
    asyncpg.AdminShutdownError,  # 57P01: terminating connection due to administrator command
    asyncpg.CrashShutdownError,
)


def connection_lost(e: BaseException) -> bool:
    """Whether `e` is asyncpg's word for a connection the server ended, as opposed to a database that
    takes none (down, read-only, full) or a bad statement. Besides its own errors for it, asyncpg says it
    in two ways that read like misuse: a FATAL ErrorResponse that comes while the connection is idle (a
    backend terminated between two statements of a transaction, or in the pool) leaves its protocol in
    the state that waits for the error's end (2, "error consume") until the socket's end is read, and a
    statement sent in between is refused with "cannot switch to state N; another operation (2) is in
    progress"; once the end is read, "the underlying connection is closed" / "protocol is in the
    failed state". Two coroutines on one connection read differently ("cannot perform operation:
    another operation is in progress", raised before any state switch): not this, and still a fault."""
    if isinstance(e, _ENDED_BY_SERVER):
        return True
    text = str(e)
    if isinstance(e, asyncpg.InternalClientError):
        return text.startswith("cannot switch to state") and (
            "another operation (2)" in text or '"failed" state' in text)
    if isinstance(e, asyncpg.InterfaceError):
        return "connection is closed" in text  # "connection is closed", "the underlying connection is closed"
    return False


# A migration's first line may say it must run outside a transaction (CREATE INDEX CONCURRENTLY).
NO_TRANSACTION = "-- transaction: none"

# Every process that migrates takes this lock first, so two `serve` starting at once cannot both
# apply the same migration.
_MIGRATE_LOCK = 0x5AFE_7E70


def _split_sql(sql: str) -> list[str]:
    """Top-level pieces of `sql` and its quoted strings (`'…'` kept whole), for the rewrites below."""
    return re.split(r"('(?:[^']|'')*')", sql)


def _scalar_minmax(sql: str) -> str:
    """SQLite's two-argument max()/min() are PostgreSQL's greatest()/least() (aggregates stay)."""
    out = []
    i = 0
    pattern = re.compile(r"\b(max|min)\s*\(", re.IGNORECASE)
    while True:
        m = pattern.search(sql, i)
        if m is None:
            out.append(sql[i:])
            return "".join(out)
        depth, j, comma = 1, m.end(), False
        while j < len(sql) and depth:
            ch = sql[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 1:
                comma = True
            j += 1
        out.append(sql[i:m.start()])
        out.append(("greatest(" if m.group(1).lower() == "max" else "least(") if comma else sql[m.start():m.end()])
        i = m.end()


def _alias_subqueries(sql: str) -> str:
    """PostgreSQL (before 16) wants a name for every subquery in FROM; SQLite does not."""
    out, i, k = [], 0, 0
    pattern = re.compile(r"\bFROM\s*\(\s*SELECT\b", re.IGNORECASE)
    while (m := pattern.search(sql, i)) is not None:
        depth, j = 0, sql.index("(", m.start())
        while j < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
            if depth == 0:
                break
        out.append(sql[i:j])
        nxt = re.match(r"\s*(\w+)", sql[j:])
        if nxt is None or nxt.group(1).upper() in _NOT_ALIAS:
            k += 1
            out.append(f" AS _sub{k}")
        i = j
    out.append(sql[i:])
    return "".join(out)


_NOT_ALIAS = {"WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "JOIN", "LEFT", "INNER", "ON", "HAVING", "EXCEPT",
              "INTERSECT", "OFFSET", "WINDOW", "CROSS"}


def _qualify_upsert(sql: str) -> str:
    """In `INSERT INTO t (…) … ON CONFLICT … DO UPDATE SET c = c + excluded.c`, a bare `c` is
    ambiguous to PostgreSQL (the row, or `excluded`?): it means the row, `t.c`."""
    m = re.match(r"\s*INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)", sql, re.IGNORECASE)
    u = re.search(r"\bDO\s+UPDATE\s+SET\b", sql, re.IGNORECASE)
    if m is None or u is None:
        return sql
    table, cols = m.group(1), {c.strip() for c in m.group(2).split(",")}
    head, tail = sql[:u.end()], sql[u.end():]
    pieces = re.split(r"(\bWHERE\b)", tail, maxsplit=1, flags=re.IGNORECASE)

    def fix_sets(text: str) -> str:
        fixed = []
        for assignment in re.split(r",(?![^()]*\))", text):
            lhs, eq, rhs = assignment.partition("=")
            if eq:
                rhs = re.sub(r"(?<![.\w])(" + "|".join(map(re.escape, cols)) + r")\b(?!\s*\()",
                             rf"{table}.\1", rhs)
            fixed.append(lhs + eq + rhs)
        return ",".join(fixed)

    pieces[0] = fix_sets(pieces[0])
    return head + "".join(pieces)


# What no mechanical rule turns into PostgreSQL: a parameter whose type nothing around it tells,
# a GROUP BY that leans on SQLite's bare columns (each pair is functionally the same query).
_REWRITES = (
    ("AND ? IS NOT NULL THEN ?", "AND CAST(? AS text) IS NOT NULL THEN ?"),
    (" GROUP BY r.household_id ORDER BY 1", " GROUP BY r.household_id, ch.association_id, ch.status ORDER BY 1"),
    # SQLite sorts NULL first; households without a group come first in letter order
    ("ORDER BY a.id, g.id, h.id", "ORDER BY a.id, g.id NULLS FIRST, h.id"),
)
# Reads that decide a write: SQLite's one writer serialises them; here several processes write, so
# the rows are locked (in key order, the same for every writer) until the transaction ends.
_LOCKED_READS = (
    "SELECT household_id, association_id, status, first_answer_at IS NOT NULL FROM campaign_households",
    # an undo's household (`reply_undo`): read before its check for a later answer, which then sees
    # an answer another process was writing (review: the undo wrote the restored status over it)
    "SELECT association_id, status, first_answer_at FROM campaign_households",
)
# Reads that must wait for, and then see, a write under way in another transaction, without writing
# themselves: the door-knock step's check that its campaign still runs (a close committing meanwhile
# would otherwise see its list remade and its notices owed), and an undo's reads of its campaign and the
# ladder (a close or a step being recorded is seen, its household listed).
_SHARED_READS = (
    "SELECT 1 FROM campaigns WHERE id = ? AND state = 'running'",
    "SELECT next_step FROM campaign_ladder WHERE campaign_id = ?",
    "SELECT state FROM campaigns WHERE id = ?",
)


@functools.lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """The portable SQL of the repositories in PostgreSQL's dialect (cached: the same few hundred
    statements run over and over)."""
    for old, new in _REWRITES:
        sql = sql.replace(old, new)
    sql = re.sub(r"\s+(NOT\s+INDEXED|INDEXED\s+BY\s+\w+)", "", sql)  # SQLite's plan pins
    # SQLite's CROSS JOIN … ON is an inner join whose order the planner keeps
    sql = re.sub(r"\bCROSS\s+JOIN\s+(\w+\s+\w+)\s+ON\b", r"JOIN \1 ON", sql)
    if sql.startswith(_LOCKED_READS):
        sql += " ORDER BY household_id FOR UPDATE"
    elif sql.startswith(_SHARED_READS):
        sql += " FOR SHARE"
    parts = _split_sql(sql)
    n = 0
    for k in range(0, len(parts), 2):  # even pieces are outside string literals
        p = parts[k]
        p = re.sub(r"\bIS\s+NOT\s+\?", "IS DISTINCT FROM ?", p)
        p = re.sub(r"\bIS\s+\?", "IS NOT DISTINCT FROM ?", p)
        p = re.sub(r"\bifnull\s*\(", "coalesce(", p, flags=re.IGNORECASE)
        pieces = p.split("?")
        rebuilt = pieces[0]
        for rest in pieces[1:]:
            n += 1
            rebuilt += f"${n}" + rest
        parts[k] = rebuilt
    out = "".join(parts)
    if re.match(r"\s*INSERT\s+OR\s+IGNORE\s+INTO", out, re.IGNORECASE):
        out = re.sub(r"INSERT\s+OR\s+IGNORE\s+INTO", "INSERT INTO", out, count=1, flags=re.IGNORECASE)
        m = re.search(r"\sRETURNING\s", out, re.IGNORECASE)
        out = (out[:m.start()] + " ON CONFLICT DO NOTHING" + out[m.start():]) if m else out + " ON CONFLICT DO NOTHING"
    return _qualify_upsert(_alias_subqueries(_scalar_minmax(out)))


# Tables whose key is an identity column: a one-row INSERT into one returns its id (`lastrowid`).
_ID_TABLES = frozenset({
    "districts", "associations", "household_groups", "households", "phone_verifications", "staff", "api_tokens",
    "delivery_attempts", "trigger_events", "replies", "campaigns", "audit_log", "contacts", "deliveries",
    "staff_contacts",
})


@functools.lru_cache(maxsize=1024)
def _with_returning_id(sql: str) -> str:
    m = re.match(r"\s*INSERT\s+INTO\s+(\w+)\b[^;]*\bVALUES\b", sql, re.IGNORECASE | re.DOTALL)
    if m is None or m.group(1) not in _ID_TABLES or re.search(r"\bRETURNING\b", sql, re.IGNORECASE):
        return sql
    return sql + " RETURNING id"


def _returns_rows(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head in ("SELECT", "VALUES") or head.startswith("WITH") or re.search(r"\bRETURNING\b", sql, re.I) is not None


def storable(params: Sequence[Any]) -> Sequence[Any]:
    """PostgreSQL text cannot hold NUL (U+0000), which any text from outside may carry (an SMS body or
    sender, a provider's message id) and SQLite stores: here it is kept as U+FFFD, the replacement
    character, so the write works and the same text finds the same row again (a redelivered webhook is
    still a duplicate). A scan of the parameters, well under a microsecond against a round trip's ~200."""
    for p in params:
        if type(p) is str and "\x00" in p:
            return [x.replace("\x00", "\ufffd") if type(x) is str else x for x in params]
    return params


def _status_count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Cursor:
    """What a statement gave: its rows (if any) and how many rows it changed."""

    __slots__ = ("lastrowid", "rowcount", "rows")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self.lastrowid = rows[0][0] if rows else None

    async def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    async def fetchall(self) -> list[Row]:
        return self.rows

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Pending:
    """`await conn.execute(…)` and `async with conn.execute(…) as cur`, as the SQLite driver allows."""

    def __init__(self, conn: PgConn, sql: str, params: Sequence[Any]) -> None:
        self._run = conn.run(sql, params)
        self._cur: Cursor | None = None

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> Cursor:
        self._cur = await self._run
        return self._cur

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConn:
    """One pooled connection inside a transaction."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        q = _with_returning_id(pg_sql(sql))
        params = storable(params)
        if _returns_rows(q):
            rows = await self.raw.fetch(q, *params)
            return Cursor(rows, len(rows))
        return Cursor([], _status_count(await self.raw.execute(q, *params)))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Pending:
        return _Pending(self, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(storable(r)) for r in rows]
        if batch:
            await self.raw.executemany(pg_sql(sql), batch)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.raw.fetch(pg_sql(sql), *storable(params)))


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in (resources.files("safetynet.store.postgres") / "migrations").iterdir():
        m = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise StoreError(f"duplicate migration numbers: {versions}")
    return found


async def _noop_reset(conn: asyncpg.Connection) -> None:
    """The adapter leaves no SET, LISTEN or advisory lock on a pooled connection, so the pool's
    default reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) would be one
    wasted round trip per checkout (176 µs instead of ~600 µs a pooled query)."""


def redact(url: str) -> str:
    """`url` as a person may see it: its password never, given in the user part (an `@` in it
    included, or with no user) or as `?password=` (review: both were shown, in lines that say the
    password is not)."""
    scheme, sep, rest = url.partition("//")
    if not sep:
        return url
    address, slash, tail = rest.partition("/")
    user, at, host = address.rpartition("@")  # the last @: one in an unescaped password is the password's
    if at:
        name, colon, _ = user.partition(":")
        address = f"{name}:***@{host}" if colon else f"{name}@{host}"
    path, mark, query = tail.partition("?")
    if mark:
        query = "&".join("password=***" if p.partition("=")[0].lower() == "password" else p
                         for p in query.split("&"))
    return f"{scheme}//{address}{slash}{path}{mark}{query}"


def database_name(url: str) -> str:
    """The database a PostgreSQL URL names; with none, PostgreSQL takes the user's name (as psql and
    createdb do)."""
    parts = urlsplit(url)
    return unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or getpass.getuser()


def _why_not_open(e: BaseException) -> str:
    """`CannotOpen.why` for the error of a first connection: each asks the operator to check another
    thing (QA: "database "x" does not exist" and "[Errno 111] Connect call failed" said no next step)."""
    if isinstance(e, asyncpg.InvalidCatalogNameError):
        return "no_database"
    if isinstance(e, asyncpg.InvalidAuthorizationSpecificationError):  # wrong password, no such role, pg_hba
        return "auth"
    # a host with several addresses (localhost: ::1 and 127.0.0.1) that all refuse is one OSError
    # "Multiple exceptions: [Errno 111] Connect call failed …" with no errno of its own
    if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and "Connect call failed" in str(e)):
        return "refused"
    return "other"


class PgDatabase:
    """An asyncpg pool over one PostgreSQL database, with the SQLite `Database`'s surface."""

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.pool = pool
        self.staff: PgDatabase = self  # staff pages: the pool already serves reads side by side
        self.failed: BaseException | None = None
        self.refusing: BaseException | None = None  # the last write was refused as busy (`_BUSY`)
        self._closed = False

    @classmethod
    async def open(cls, url: str, min_size: int = 2, max_size: int = 10, migrate: bool = True) -> PgDatabase:
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, reset=_noop_reset)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:  # no such database, no such role…
            raise CannotOpen(redact(url), str(e), _why_not_open(e)) from e
        except ValueError as e:  # a URL asyncpg cannot read (a port that is no number): a traceback, else
            raise CannotOpen(redact(url), str(e), "other") from e
        db = cls(url, pool)
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self.pool.close()

    # -- migrations ----------------------------------------------------------

    async def schema_version(self) -> int:
        async with self.pool.acquire() as con:
            await con.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                              " name text NOT NULL, applied_at double precision NOT NULL)")
            return int(await con.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))

    async def check_schema(self, migrations: list[tuple[int, str, str]] | None = None) -> None:
        """SchemaBehind when the schema is older than `migrations` (none at all: found 0), SchemaTooNew
        when newer, for an open that does not migrate; reads only, unlike `schema_version`, which makes
        its table (a command run against the live database of older servers changes nothing)."""
        current = 0
        if await self.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
            current = int(await self.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
        known = max((v for v, _, _ in (migrations if migrations is not None else _migrations())), default=0)
        if current > known:
            raise SchemaTooNew(current, known)
        if current < known:
            raise SchemaBehind(current, known)

    async def migrate(self, migrations: list[tuple[int, str, str]] | None = None) -> int:
        """Applies the migrations not yet recorded, each in its own transaction; returns the version."""
        async with self.pool.acquire() as con:
            await con.execute("SELECT pg_advisory_lock($1)", _MIGRATE_LOCK)
            try:
                await con.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                                  " name text NOT NULL, applied_at double precision NOT NULL)")
                current = int(await con.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
                steps = migrations if migrations is not None else _migrations()
                if current > (known := max((v for v, _, _ in steps), default=0)):
                    raise SchemaTooNew(current, known)
                for version, name, sql in steps:
                    if version <= current:
                        continue
                    try:
                        if sql.startswith(NO_TRANSACTION):
                            await con.execute(sql)
                            await con.execute("INSERT INTO schema_version VALUES ($1, $2, $3)",
                                              version, name, time.time())
                        else:
                            async with con.transaction():
                                await con.execute(sql)
                                await con.execute("INSERT INTO schema_version VALUES ($1, $2, $3)",
                                                  version, name, time.time())
                    except asyncpg.PostgresError as e:
                        raise StoreError(f"migration {version:04d}_{name} failed: {e}") from e
                    current = version
                    log.info("store_migrated", version=version, migration=name)
                return current
            finally:
                await con.execute("SELECT pg_advisory_unlock($1)", _MIGRATE_LOCK)

    # -- reads ---------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(await self.pool.fetch(pg_sql(sql), *storable(params)))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise self._mapped(e) from e

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            row: Row | None = await self.pool.fetchrow(pg_sql(sql), *storable(params))
            return row
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise self._mapped(e) from e

    async def fetchval(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return default if row is None else row[0]

    # -- writes --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConn]:
        """A pooled connection in a transaction; rolled back on any exception, cancellation included.
        A database that cannot take writes (down, read-only, full) raises StoreUnavailable; a connection
        the server ended, ConnectionLost (`while_committing` once the work is done: its COMMIT was sent)."""
        committing = False
        try:
            async with self.pool.acquire() as raw, raw.transaction():
                yield PgConn(raw)
                committing = True
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise self._mapped(e, writing=True, committing=committing) from e
        self._written()

    async def write_fetch(self, sql: str, *args: Any) -> list[Row]:
        """One statement in PostgreSQL's dialect that writes and returns rows, in a transaction of its
        own without BEGIN and COMMIT (two round trips fewer); errors mapped as a transaction's."""
        try:
            rows: list[Row] = await self.pool.fetch(sql, *args)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise self._mapped(e, writing=True) from e
        self._written()
        return rows

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A raw pooled connection, outside any transaction (COPY, LISTEN): errors mapped as above."""
        try:
            async with self.pool.acquire() as raw:
                yield raw
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise self._mapped(e, writing=True) from e

    def _mapped(self, e: BaseException, writing: bool = False, committing: bool = False) -> Exception:
        """The store's error for a driver's: ConnectionLost when the server ended the connection (the
        pool opens another for the next work), StoreUnavailable when the database cannot take the work
        (a write marks the store unhealthy either way), OverflowError for an id past 64 bits (as SQLite
        raises: it names nothing that exists), StoreError for the rest."""
        if isinstance(e, asyncpg.DataError) and "out of int64 range" in str(e):
            return OverflowError(str(e))
        if connection_lost(e):
            if writing:
                self._mark_failed(e, lost=True)
            return ConnectionLost(f"the connection to the database was lost: {e}", while_committing=committing)
        if isinstance(e, _BUSY):
            if writing:
                # as SQLite's lock held past its busy timeout: this work is refused, the store is not
                # broken (/healthz stays 200; /readyz says writes are refused until one goes through)
                log.warning("store_write_busy", error=str(e), url=redact(self.url))
                self.refusing = e
            return StoreUnavailable(str(e))
        if isinstance(e, CONNECTION_ERRORS):
            if writing:
                self._mark_failed(e)
            return StoreUnavailable(str(e))
        return StoreError(str(e))

    def _written(self) -> None:
        self.failed = self.refusing = None

    def _mark_failed(self, e: BaseException, lost: bool = False) -> None:
        if self.failed is None:
            if lost:
                # info: the caller says it, as what it does next (the dispatcher's retry, a warning; the
                # command line's line in the operator's language, with no log line on the terminal)
                log.info("store_connection_lost", error=str(e), url=redact(self.url))
            else:
                log.error("store_write_failed", error=str(e), url=redact(self.url))
        self.failed = e

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the rows changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)


def is_conflict(e: BaseException) -> bool:
    """A deadlock or serialisation failure: the transaction lost a race and may simply run again."""
    cause = e.__cause__ if isinstance(e, StoreError) else e
    return isinstance(cause, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError))
