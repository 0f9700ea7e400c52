"""The leader lease and shared lane slots on PostgreSQL: the portable SQL of
`store.sqlite.coordination` through `PgDatabase`. Each call is one upsert, and PostgreSQL's
`ON CONFLICT … DO UPDATE … WHERE` re-reads the row under its lock, so two processes never both take
a lease or the same slots."""

from __future__ import annotations

from safetynet.store.sqlite.coordination import CoordinationStore


class PgCoordinationStore(CoordinationStore):
    pass
