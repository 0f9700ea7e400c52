"""The SQLite adapter of the store's ports: one writer, a few readers, WAL, group commits.

Each repository's SQL lives in its module (`roster`, `auth`, `campaigns`, `outbox`, `replies`,
`triggers`, `dashboard`, `stats`, `health`, `audit`; `roster_import`, `roster_scope`, `statuses`,
`reply_targets`, `reply_undo` and `help_requests` are parts of them); connections, migrations and `GroupCommit` in `db`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from safetynet.clock import Clock
from safetynet.domain.campaigns import ChannelRoutes
from safetynet.store.ports import Store
from safetynet.store.sqlite.audit import AuditStore
from safetynet.store.sqlite.auth import AuthStore
from safetynet.store.sqlite.campaigns import CampaignStore
from safetynet.store.sqlite.coordination import CoordinationStore
from safetynet.store.sqlite.dashboard import SqliteDashboardReads
from safetynet.store.sqlite.db import BUSY_TIMEOUT_SECONDS, Database
from safetynet.store.sqlite.health import HealthStore
from safetynet.store.sqlite.outbox import OutboxStore
from safetynet.store.sqlite.replies import ReplyStore
from safetynet.store.sqlite.roster import RosterStore
from safetynet.store.sqlite.stats import SqliteStatsReads
from safetynet.store.sqlite.triggers import TriggerStore

__all__ = ["Database", "SqliteStore", "open_sqlite_store"]


class SqliteStore:
    """Every repository over one database file (the `Store` port)."""

    def __init__(self, db: Database, clock: Clock, routes: ChannelRoutes) -> None:
        self.db = db
        self.clock = clock
        self.roster = RosterStore(db, clock, routes)
        self.auth = AuthStore(db, clock, routes)
        self.campaigns = CampaignStore(db, clock)
        self.outbox = OutboxStore(db, clock, routes)
        self.replies = ReplyStore(db, clock)
        self.triggers = TriggerStore(db, clock)
        # staff pages never queue behind residents' token lookups
        self.dashboard = SqliteDashboardReads(db.staff)
        self.stats = SqliteStatsReads(db.staff)
        self.health = HealthStore(db)
        self.audit = AuditStore(db)
        self.coordination = CoordinationStore(db, clock)

    @property
    def healthy(self) -> bool:
        return self.db.failed is None

    @property
    def takes_writes(self) -> bool:
        return self.healthy and self.db.refusing is None

    async def close(self) -> None:
        await self.replies.stop()
        await self.outbox.stop()
        await self.db.close()


async def open_sqlite_store(path: Path, clock: Clock, routes: ChannelRoutes, readers: int = 2,
                            busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS, migrate: bool = True) -> SqliteStore:
    """Opens (creating and migrating if need be) the database at `path`; with `migrate` False, one whose
    schema is not this SafetyNet's is refused untouched (SchemaBehind, SchemaTooNew). `routes`: which
    channels take which contact kind (the channel registry's: the store names no channel)."""
    db = await Database.open(path, readers=readers, busy_timeout_seconds=busy_timeout_seconds, migrate=migrate)
    try:
        if not migrate:
            await db.check_schema()
        return SqliteStore(db, clock, routes)
    except BaseException:
        await db.close()
        raise



if TYPE_CHECKING:

    def _conforms(store: SqliteStore) -> Store:  # mypy holds the adapter to every port
        return store
