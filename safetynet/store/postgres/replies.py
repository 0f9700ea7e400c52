"""The reply repository on PostgreSQL: the portable SQL of `store.sqlite.replies`; its group commit
retries a batch that lost a lock race with another process. Listeners stay in this process."""

from __future__ import annotations

import dataclasses
from typing import cast

from safetynet.clock import Clock
from safetynet.domain.replies import ESCALATION_CLAIM_SECONDS, ReplyItem
from safetynet.store.postgres.commit import PgGroupCommit
from safetynet.store.postgres.db import PgDatabase
from safetynet.store.sqlite.db import Database
from safetynet.store.sqlite.help_requests import UNREACHED_SQL
from safetynet.store.sqlite.replies import _GROUP_DELAY_SECONDS, CHUNK, ReplyStore

# `store.sqlite.help_requests.ESCALATE_SQL` with SKIP LOCKED: each request to one of any number of
# processes at a time (again only when its claim went untold: `escalation_told`).
_ESCALATE_SQL = """
UPDATE help_requests h SET escalated_at = $1
WHERE (h.campaign_id, h.household_id) IN (
    SELECT campaign_id, household_id FROM help_requests
    WHERE handled_at IS NULL AND escalation_told_at IS NULL
      AND ((escalated_at IS NULL AND (coalesce(reopened_at, opened_at) <= $2
                                     OR (reopened_at IS NULL AND """ + UNREACHED_SQL + """))) OR escalated_at <= $3)
      AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')
      AND (campaign_id, household_id) IN (SELECT campaign_id, household_id FROM campaign_households
                                          WHERE status = 'need_help')
    FOR UPDATE SKIP LOCKED)
  AND h.handled_at IS NULL AND h.escalation_told_at IS NULL
  AND (h.escalated_at IS NULL OR h.escalated_at <= $3)
RETURNING h.campaign_id, h.household_id"""


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

    async def claim_unhandled_help(self, waiting_since: float) -> list[tuple[int, int]]:
        # several web processes check at once: the rows one locks the others skip, and the outer
        # conditions, read again on the locked row, keep one handled or claimed meanwhile out
        now = self.clock.now()
        rows = await cast(PgDatabase, self.db).write_fetch(_ESCALATE_SQL, now, waiting_since,
                                                           now - ESCALATION_CLAIM_SECONDS)
        return sorted((r[0], r[1]) for r in rows)
