"""The replies repository on PostgreSQL: the portable SQL of `store.sqlite.replies` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.replies import ReplyStore


class PgReplyStore(ReplyStore):
    pass
