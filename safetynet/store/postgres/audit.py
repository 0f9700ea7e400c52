"""The audit repository on PostgreSQL: the portable SQL of `store.sqlite.audit` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.audit import AuditStore


class PgAuditStore(AuditStore):
    pass
