"""The auth repository on PostgreSQL: the portable SQL of `store.sqlite.auth` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.auth import AuthStore


class PgAuthStore(AuthStore):
    pass
