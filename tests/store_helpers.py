"""Store faults that integration tests inject on whichever store they run on (SQLite or PostgreSQL)."""

from __future__ import annotations

from pg_helpers import pg_break_writes
from sqlite_helpers import on_every_writer

from safetynet.store import Store
from safetynet.store.sqlite import SqliteStore


async def break_writes(store: Store, broken: bool) -> None:
    """Writes fail and reads still work (what a full disk or a read-only database does), or work again."""
    if isinstance(store, SqliteStore):
        await on_every_writer(store, f"query_only = {int(broken)}")
    else:
        await pg_break_writes(store, broken)
