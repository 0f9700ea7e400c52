"""Reaching under the store port to SQLite itself: fault injection in SQLite integration tests only."""

from __future__ import annotations

from safetynet.store import Store
from safetynet.store.sqlite import Database, SqliteStore


def sqlite_db(store: Store) -> Database:
    """The database of a SQLite store (its writer, its readers)."""
    assert isinstance(store, SqliteStore), f"a SQLite store is needed here, not {type(store).__name__}"
    return store.db
