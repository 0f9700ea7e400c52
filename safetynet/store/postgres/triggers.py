"""The triggers repository on PostgreSQL: the portable SQL of `store.sqlite.triggers` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.triggers import TriggerStore


class PgTriggerStore(TriggerStore):
    pass
