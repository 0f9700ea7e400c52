"""The reply repository on PostgreSQL: the portable SQL of `store.sqlite.replies`; its group commit
retries a batch that lost a lock race with another process. Listeners stay in this process."""

from __future__ import annotations

import dataclasses

from safetynet.clock import Clock
from safetynet.domain.replies import ReplyItem
from safetynet.store.postgres.commit import PgGroupCommit
from safetynet.store.sqlite.db import Database
from safetynet.store.sqlite.replies import _GROUP_DELAY_SECONDS, CHUNK, ReplyStore


class PgReplyStore(ReplyStore):
    PACKED_READS = False  # asyncpg reads on the event loop: rows cost no hand-over of the GIL
    LOCKS_TARGETS = True  # several processes write: a token answer's household is read under its row lock

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, clock)
        self._commit = PgGroupCommit(db, self._flush, max_items=CHUNK, max_delay_seconds=_GROUP_DELAY_SECONDS)

    def _storable(self, item: ReplyItem) -> ReplyItem:
        # the key as stored (a NUL kept as U+FFFD, see db.storable): the batch knows its new rows by the
        # keys the INSERT returns
        if "\x00" in item.dedupe_key:
            return dataclasses.replace(item, dedupe_key=item.dedupe_key.replace("\x00", "\ufffd"))
        return item
