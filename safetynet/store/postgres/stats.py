"""The stats repository on PostgreSQL: the portable SQL of `store.sqlite.stats` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.stats import SqliteStatsReads


class PgStatsReads(SqliteStatsReads):
    pass
