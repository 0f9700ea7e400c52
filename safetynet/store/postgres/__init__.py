"""The PostgreSQL adapter of the store's ports (DESIGN §8): an asyncpg pool, any number of processes.

Each repository keeps one module, as in `store.sqlite`; they share the portable SQL of the SQLite
repositories through `db.PgDatabase` (same surface, PostgreSQL dialect) and replace what PostgreSQL
does differently: claims with `FOR UPDATE SKIP LOCKED` (`outbox`), `COPY` for roster imports and
campaign enrolment (`roster`, `campaigns`), identity keys (`auth`), JSON lookups (`campaigns`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from safetynet.clock import Clock
from safetynet.domain.campaigns import ChannelRoutes
from safetynet.store.ports import Store
from safetynet.store.postgres.audit import PgAuditStore
from safetynet.store.postgres.auth import PgAuthStore
from safetynet.store.postgres.campaigns import PgCampaignStore
from safetynet.store.postgres.coordination import PgCoordinationStore
from safetynet.store.postgres.dashboard import PgDashboardReads
from safetynet.store.postgres.db import PgDatabase
from safetynet.store.postgres.health import PgHealthStore
from safetynet.store.postgres.outbox import PgOutboxStore
from safetynet.store.postgres.replies import PgReplyStore
from safetynet.store.postgres.roster import PgRosterStore
from safetynet.store.postgres.stats import PgStatsReads
from safetynet.store.postgres.triggers import PgTriggerStore

__all__ = ["PgDatabase", "PostgresStore", "open_postgres_store"]


class PostgresStore:
    """Every repository over one PostgreSQL database (the `Store` port)."""

    def __init__(self, db: PgDatabase, clock: Clock, routes: ChannelRoutes) -> None:
        self.db = db
        self.clock = clock
        d = cast(Any, db)  # the repositories take the SQLite Database's surface, which PgDatabase offers
        self.roster = PgRosterStore(d, clock, routes)
        self.auth = PgAuthStore(d, clock, routes)
        self.campaigns = PgCampaignStore(d, clock)
        self.outbox = PgOutboxStore(d, clock, routes)
        self.replies = PgReplyStore(d, clock)
        self.triggers = PgTriggerStore(d, clock)
        self.dashboard = PgDashboardReads(d)
        self.stats = PgStatsReads(d)
        self.health = PgHealthStore(d)
        self.audit = PgAuditStore(d)
        self.coordination = PgCoordinationStore(d, clock)

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


async def open_postgres_store(url: str, clock: Clock, routes: ChannelRoutes, *, pool_size: int = 10,
                              migrate: bool = True) -> PostgresStore:
    """Opens (migrating if need be) the database at `url`; with `migrate` False, one whose schema is not
    this SafetyNet's is refused untouched (SchemaBehind, SchemaTooNew)."""
    db = await PgDatabase.open(url, min_size=min(2, pool_size), max_size=pool_size, migrate=migrate)
    try:
        if not migrate:
            await db.check_schema()
        return PostgresStore(db, clock, routes)
    except BaseException:
        await db.close()
        raise


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> Store:  # mypy holds the adapter to every port
        return store
