"""The store: the only place that runs SQL, behind the ports of `store.ports`.

`open_store(cfg)` returns a `Store` (the port) whose repositories (`roster`, `auth`, `campaigns`,
`outbox`, `replies`, `triggers`, `dashboard`, `stats`) are the interface the rest of the code
uses. `[store] url` picks the adapter: empty or `sqlite:///PATH` is SQLite (`store.sqlite`),
`postgresql://…` is PostgreSQL (`store.postgres`); `store.memory` is the in-memory fake for unit tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from pathlib import Path

from safetynet.clock import Clock, SystemClock
from safetynet.config import Config, check_store_url
from safetynet.store.errors import SchemaBehind, SchemaTooNew, StoreError, StoreUnavailable
from safetynet.store.ports import Store

__all__ = ["SchemaBehind", "SchemaTooNew", "Store", "StoreError", "StoreUnavailable", "migrations_on_open",
           "open_store", "store_session"]

# Whether `open_store` applies the migrations a database lacks. Yes for the library (the server, the demo,
# the tests' fresh stores); the command line says, per command, with `migrations_on_open`: only the
# commands that set up or run the system migrate, the rest refuse an older schema untouched.
_MIGRATE_ON_OPEN: ContextVar[bool] = ContextVar("safetynet_store_migrate_on_open", default=True)


@contextlib.contextmanager
def migrations_on_open(migrate: bool) -> Iterator[None]:
    """Within: every `open_store` migrates (`migrate`), or refuses a schema that is not this SafetyNet's
    with SchemaBehind or SchemaTooNew and changes nothing. `asyncio.run` inside sees it (tasks copy the
    context they start in)."""
    token = _MIGRATE_ON_OPEN.set(migrate)
    try:
        yield
    finally:
        _MIGRATE_ON_OPEN.reset(token)


async def open_store(cfg: Config, clock: Clock | None = None, path: Path | None = None) -> Store:
    """The store `[store] url` names; `path` overrides the SQLite file (tests, benchmarks)."""
    migrate = _MIGRATE_ON_OPEN.get()
    if check_store_url(cfg.store.url) == "postgresql":
        from safetynet.store.postgres import open_postgres_store

        return await open_postgres_store(cfg.store.url.strip(), clock or SystemClock(), cfg.channel_routes,
                                         migrate=migrate)
    from safetynet.store.sqlite import open_sqlite_store

    return await open_sqlite_store(path or cfg.db_path, clock or SystemClock(), cfg.channel_routes,
                                   readers=cfg.store.readers, busy_timeout_seconds=cfg.store.busy_timeout_seconds,
                                   migrate=migrate)


@contextlib.asynccontextmanager
async def store_session(cfg: Config, clock: Clock | None = None) -> AsyncIterator[Store]:
    store = await open_store(cfg, clock)
    try:
        yield store
    finally:
        await store.close()
