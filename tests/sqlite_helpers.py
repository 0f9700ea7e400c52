"""Reaching under the store port to SQLite itself: fault injection in SQLite integration tests only."""

from __future__ import annotations

from safetynet.store import Store
from safetynet.store.sqlite import Database, SqliteStore


def sqlite_db(store: Store) -> Database:
    """The database of a SQLite store (its writer, its readers)."""
    assert isinstance(store, SqliteStore), f"a SQLite store is needed here, not {type(store).__name__}"
    return store.db


async def on_every_writer(store: Store, pragma: str) -> None:
    """`PRAGMA pragma` on both connections that write: the writer's thread's and the event loop's
    own (the answers' group commit), as a full disk or a read-only file would hit both."""
    db = sqlite_db(store)
    await db._writer.execute(f"PRAGMA {pragma}")
    if db._loop_writer is not None:
        db._loop_writer.execute(f"PRAGMA {pragma}")
