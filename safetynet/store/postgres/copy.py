"""`safetynet store copy --to URL`: a SQLite city moved into an empty PostgreSQL database.

Both schemas are migrated to their latest version first; every table then goes across in the
PostgreSQL migration's order (parents before children) by binary COPY, all in one transaction,
identity counters are moved past the copied ids, and every table's rows are counted on both sides.
A target with a row in any table the copy writes is refused before anything moves: copying never
merges two cities, nor a city and the heartbeats of a `serve` that ran there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from safetynet.store.errors import StoreError
from safetynet.store.postgres.db import PgDatabase
from safetynet.store.sqlite.db import BUSY_TIMEOUT_SECONDS, Database

_BATCH = 20_000


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def same(self) -> bool:
        return self.source == self.target


class TargetNotEmpty(StoreError):
    """The PostgreSQL database already holds rows in `tables` (a city, or only the heartbeats of a
    `serve` that ran on it): nothing was copied."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(f"the PostgreSQL database already has rows in {', '.join(tables)}: nothing was copied;"
                         " copy only into an empty one")
        self.tables = tables


def table_order() -> list[str]:
    """Tables in the order the PostgreSQL migrations create them (a table after those it refers to)."""
    names: list[str] = []
    folder = resources.files("safetynet.store.postgres") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for m in re.finditer(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", entry.read_text(encoding="utf-8")):
                if m.group(1) not in names:
                    names.append(m.group(1))
    return names


async def copy_sqlite_to_postgres(sqlite_path: Path, url: str, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS,
                                  ) -> list[TableCount]:
    """Copies every table; returns the counts per table (source and target). The caller checks
    that `sqlite_path` exists (opening would create an empty one)."""
    src = await Database.open(sqlite_path, readers=1, busy_timeout_seconds=busy_timeout_seconds)
    try:
        dst = await PgDatabase.open(url, min_size=1, max_size=2)
        try:
            return await _copy(src, dst)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(src: Database, dst: PgDatabase) -> list[TableCount]:
    tables = table_order()
    counts: list[TableCount] = []
    async with dst.connection() as con:
        columns_of = {table: await _common_columns(src, con, table) for table in tables}
        # every table the copy writes, not only the city's own: a `serve` that ran there once left
        # heartbeats (dispatchers, channel_health), and copying over them made the counts differ after
        # the whole copy (QA); refused here, before a row moves
        held = [t for t in tables if columns_of[t] and await con.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
        if held:
            raise TargetNotEmpty(held)
        async with con.transaction():
            for table in tables:
                columns = columns_of[table]
                total = 0
                async for batch in _batches(src, table, columns):
                    await con.copy_records_to_table(table, records=batch, columns=columns)
                    total += len(batch)
                if "id" in columns:
                    # past the ids SQLite gave out too (AUTOINCREMENT's sequence): a removed staff member's id is
                    # never another's (0112), and PostgreSQL took max(id) + 1 for the next (review)
                    given = int(await src.fetchval("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,), 0) or 0)
                    await con.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest(coalesce(max(id), 0), $1) + 1,"
                        f" false) FROM {table}", given)
                target = int(await con.fetchval(f"SELECT count(*) FROM {table}"))
                source = int(await src.fetchval(f"SELECT count(*) FROM {table}", (), 0))
                counts.append(TableCount(table, source, target))
            if not all(c.same for c in counts):
                raise StoreError("row counts differ after the copy: " + ", ".join(
                    f"{c.table} {c.source}→{c.target}" for c in counts if not c.same))
    return counts


async def _common_columns(src: Database, con: asyncpg.Connection, table: str) -> list[str]:
    theirs = [r[1] for r in await src.fetchall(f"PRAGMA table_info({table})")]
    ours = {r[0] for r in await con.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " AND table_schema = ANY (current_schemas(false))", table)}
    if table == "schema_version":
        return []
    return [c for c in theirs if c in ours]


async def _batches(src: Database, table: str, columns: list[str]):  # type: ignore[no-untyped-def]
    if not columns:
        return
    cols = ", ".join(columns)
    offset = 0
    while True:
        # no writer runs meanwhile, so the scan order is the same from one page to the next
        rows = await src.fetchall(f"SELECT {cols} FROM {table} LIMIT ? OFFSET ?", (_BATCH, offset))
        if not rows:
            return
        yield [tuple(r) for r in rows]
        offset += len(rows)
