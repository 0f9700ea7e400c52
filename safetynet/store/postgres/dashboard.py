"""The dashboard repository on PostgreSQL: the portable SQL of `store.sqlite.dashboard` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.dashboard import SqliteDashboardReads


class PgDashboardReads(SqliteDashboardReads):
    pass
