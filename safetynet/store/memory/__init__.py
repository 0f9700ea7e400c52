"""The in-memory adapter of every store port: a fake for unit tests, not fast, not durable.

Plain dicts and lists (`tables.Tables`), with the semantics the contract tests (`tests/contract/`)
hold SQLite to: guarded state changes, idempotency by the same unique keys, claims under a lease,
a result answered only once it is stored, the fall-back to a household's next channel. Each
method is atomic (no await between its first read and its last write) and yields to the loop once,
as a round trip to a database would.

`fail_writes(error)` makes every later write raise `StoreUnavailable` (and `healthy` turn False)
until `fail_writes(None)`: what a full disk or a read-only file does to SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safetynet.clock import Clock, SystemClock
from safetynet.domain.campaigns import ChannelRoutes
from safetynet.store.memory.audit import MemoryAudit
from safetynet.store.memory.auth import MemoryAuth
from safetynet.store.memory.campaigns import MemoryCampaigns
from safetynet.store.memory.coordination import MemoryCoordination
from safetynet.store.memory.health import MemoryDispatchHealth
from safetynet.store.memory.outbox import MemoryOutbox
from safetynet.store.memory.reads import MemoryDashboardReads, MemoryStatsReads
from safetynet.store.memory.replies import MemoryReplies
from safetynet.store.memory.roster import MemoryRoster
from safetynet.store.memory.tables import Tables
from safetynet.store.memory.triggers import MemoryTriggers
from safetynet.store.ports import Store

__all__ = ["MemoryStore"]


class MemoryStore:
    """Every repository over one set of in-memory tables (the `Store` port)."""

    def __init__(self, routes: ChannelRoutes, clock: Clock | None = None) -> None:
        """`routes`: which channels take which contact kind (the channel registry's: the store names
        no channel)."""
        self.clock: Clock = clock or SystemClock()
        self.tables = Tables(self.clock, routes)
        self.roster = MemoryRoster(self.tables)
        self.auth = MemoryAuth(self.tables)
        self.campaigns = MemoryCampaigns(self.tables)
        self.outbox = MemoryOutbox(self.tables)
        self.replies = MemoryReplies(self.tables)
        self.triggers = MemoryTriggers(self.tables)
        self.dashboard = MemoryDashboardReads(self.tables)
        self.stats = MemoryStatsReads(self.tables)
        self.health = MemoryDispatchHealth(self.tables)
        self.audit = MemoryAudit(self.tables)
        self.coordination = MemoryCoordination(self.tables)
        self.closed = False

    @property
    def healthy(self) -> bool:
        return self.tables.failed is None

    @property
    def takes_writes(self) -> bool:
        return self.healthy  # no other process to hold a lock

    def fail_writes(self, error: BaseException | None) -> None:
        """From now on every write raises StoreUnavailable(error); None lets writes through again."""
        self.tables.fail_with = error

    async def close(self) -> None:
        self.closed = True



if TYPE_CHECKING:

    def _conforms(store: MemoryStore) -> Store:  # mypy holds the adapter to every port
        return store
