"""The outbox repository on PostgreSQL: the portable SQL of `store.sqlite.outbox` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.outbox import OutboxStore


class PgOutboxStore(OutboxStore):
    pass
