"""The store: every SQL statement lives in this package, behind repository classes.

`open_store(cfg)` returns a `Store` whose repositories (`roster`, `auth`, `campaigns`,
`replies`, `triggers`) are the interface the rest of the code uses. A PostgreSQL
backend would implement the same repositories.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from safetynet.clock import Clock, SystemClock
from safetynet.config import Config
from safetynet.store.db import Database, StoreError, StoreUnavailable

__all__ = ["Store", "StoreError", "StoreUnavailable", "open_store", "store_session"]


class Store:
    def __init__(self, db: Database, clock: Clock) -> None:
        from safetynet.store.auth import AuthStore
        from safetynet.store.campaigns import CampaignStore
        from safetynet.store.replies import ReplyStore
        from safetynet.store.roster import RosterStore
        from safetynet.store.triggers import TriggerStore

        self.db = db
        self.clock = clock
        self.roster = RosterStore(db, clock)
        self.auth = AuthStore(db, clock)
        self.campaigns = CampaignStore(db, clock)
        self.health = self.campaigns.health  # dispatcher heartbeats and channel health
        self.replies = ReplyStore(db, clock)
        self.triggers = TriggerStore(db, clock)

    @property
    def healthy(self) -> bool:
        """False while writes are failing (disk full, read-only file)."""
        return self.db.failed is None

    async def close(self) -> None:
        await self.replies.stop()
        await self.campaigns.stop()
        await self.db.close()


async def open_store(cfg: Config, clock: Clock | None = None, path: Path | None = None) -> Store:
    db = await Database.open(path or cfg.db_path, readers=cfg.store.readers)
    try:
        return Store(db, clock or SystemClock())
    except BaseException:
        await db.close()
        raise


@contextlib.asynccontextmanager
async def store_session(cfg: Config, clock: Clock | None = None) -> AsyncIterator[Store]:
    store = await open_store(cfg, clock)
    try:
        yield store
    finally:
        await store.close()
