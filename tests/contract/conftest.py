"""The store adapters every contract test runs against: `store_factory` opens a fresh, empty store.

A new adapter (PostgreSQL) joins every suite with one line in ADAPTERS: how to open it, and how
to make its writes fail (what a full disk or a read-only database does).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_helpers import pg_break_writes, pg_store
from sqlite_helpers import on_every_writer
from sqlite_template import migrated_copy

from safetynet.clock import Clock, FakeClock
from safetynet.store import Store
from safetynet.store.memory import MemoryStore
from safetynet.store.sqlite import open_sqlite_store

from .support import ROUTES, BreakWrites, StoreFactory


@contextlib.asynccontextmanager
async def memory_store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    store = MemoryStore(ROUTES, clock)
    try:
        yield store
    finally:
        await store.close()


async def memory_break(store: Store, broken: bool) -> None:
    assert isinstance(store, MemoryStore)
    store.fail_writes(OSError("disk full") if broken else None)


@contextlib.asynccontextmanager
async def sqlite_store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    migrated_copy(tmp_path / "contract.db")
    store = await open_sqlite_store(tmp_path / "contract.db", clock, ROUTES)
    try:
        yield store
    finally:
        await store.close()


async def sqlite_break(store: Store, broken: bool) -> None:
    await on_every_writer(store, f"query_only = {int(broken)}")


@dataclass(frozen=True)
class Adapter:
    open: Callable[[Path, Clock], AbstractAsyncContextManager[Store]]
    break_writes: BreakWrites


ADAPTERS: dict[str, Adapter] = {
    "memory": Adapter(memory_store, memory_break),
    "sqlite": Adapter(sqlite_store, sqlite_break),
    "postgres": Adapter(pg_store, pg_break_writes),
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return ADAPTERS[request.param]


@pytest.fixture
def store_factory(adapter: Adapter, tmp_path: Path) -> StoreFactory:
    """`async with store_factory(clock) as store:` a fresh store of one adapter (FakeClock by default)."""

    def factory(clock: Clock | None = None) -> AbstractAsyncContextManager[Store]:
        return adapter.open(tmp_path, clock or FakeClock())

    return factory


@pytest.fixture
def break_writes(adapter: Adapter) -> BreakWrites:
    """`await break_writes(store, True)`: every write fails from now on; False mends it."""
    return adapter.break_writes
