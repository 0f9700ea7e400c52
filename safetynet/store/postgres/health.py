"""The health repository on PostgreSQL: the portable SQL of `store.sqlite.health` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.health import HealthStore


class PgHealthStore(HealthStore):
    pass
