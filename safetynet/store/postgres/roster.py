"""The roster repository on PostgreSQL: the portable SQL of `store.sqlite.roster` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.roster import RosterStore


class PgRosterStore(RosterStore):
    pass
