"""The delivery outbox on PostgreSQL: the portable SQL of `store.sqlite.outbox`, with claims that
any number of dispatchers can make at once.

A claim locks its rows with `FOR UPDATE SKIP LOCKED`: two dispatchers claiming the same lane get
disjoint rows without waiting on each other, and a row is claimed under a lease that its owner
renews while sending (`renew_leases`); a dead owner's rows come back with `reclaim_expired`.
Results of a batch of sends go back as one `UPDATE … FROM unnest(…)` and their attempts by COPY.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from safetynet.clock import Clock
from safetynet.domain import ANSWERED, ChannelName
from safetynet.domain.campaigns import ChannelRoutes, ClaimedDelivery, DeliveryOutcome, OutcomeKind
from safetynet.store.postgres.commit import PgGroupCommit
from safetynet.store.postgres.db import PgConn, PgDatabase
from safetynet.store.postgres.statuses import apply_status_changes
from safetynet.store.sqlite.db import Database
from safetynet.store.sqlite.outbox import _ANY_STAFF_DUE_SQL, OutboxStore, households_touched, staff_claims

# ANY(ARRAY(…)): the claimed ids are looked up by key; a join with the subquery was planned as a hash
# join over a scan of the whole table (measured: 43 ms for 500 of 20,000 rows, most of it the scan)
_CLAIM_SQL = """
UPDATE deliveries d SET state = 'claimed', lease_until = $1, lease_owner = $2, updated_at = $3
WHERE d.id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND campaign_id = $4 AND channel = $5
      AND priority >= 0 AND next_attempt_at <= $3 ORDER BY priority, next_attempt_at LIMIT $6
      FOR UPDATE SKIP LOCKED))
RETURNING d.id, d.campaign_id, d.household_id, d.step, d.contact_id, d.attempts, d.priority,
  (SELECT status FROM campaign_households ch WHERE ch.campaign_id = d.campaign_id AND ch.household_id = d.household_id),
  (SELECT language FROM households h WHERE h.id = d.household_id),
  (SELECT address FROM contacts c WHERE c.id = d.contact_id AND c.state = 'working')"""

# Staff alerts (priority below every household's) are claimed apart, oldest first, of any campaign; as
# the households' claim, under SKIP LOCKED so that two dispatchers never take the same row.
_CLAIM_STAFF_SQL = """
UPDATE deliveries d SET state = 'claimed', lease_until = $1, lease_owner = $2, updated_at = $3
WHERE d.id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND staff_id IS NOT NULL AND channel = $4
      AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING d.id, d.campaign_id, d.staff_id, d.attempts, d.priority, d.address, d.body, d.link,
  (SELECT language FROM staff s WHERE s.id = d.staff_id),
  (SELECT kind FROM campaigns c WHERE c.id = d.campaign_id)"""

_SENT_SQL = """
UPDATE deliveries d SET state = 'sent', attempts = d.attempts + u.n, provider_id = u.provider_id,
  segments = u.segments, sent_at = u.at, error = NULL, lease_until = NULL, lease_owner = NULL, updated_at = u.at
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::float8[]) AS u(id, n, provider_id, segments, at)
WHERE d.id = u.id AND d.state IN ('claimed', 'queued')"""

_ATTEMPT_COLUMNS = ("delivery_id", "at", "duration_ms", "outcome", "error_class", "detail")


class PgOutboxStore(OutboxStore):
    def __init__(self, db: Database, clock: Clock, routes: ChannelRoutes) -> None:
        super().__init__(db, clock, routes)
        self._results = PgGroupCommit(db, self._flush, max_items=1000, max_delay_seconds=0.005)

    async def claim(
        self, campaign_ids: Sequence[int], channel: ChannelName, limit: int, owner: str, lease_seconds: float
    ) -> list[ClaimedDelivery]:
        if limit <= 0 or not campaign_ids:
            return []
        now = self.clock.now()
        async with cast(PgDatabase, self.db).transaction() as conn:
            rows: list[Any] = []
            for cid in campaign_ids:
                if len(rows) >= limit:
                    break
                rows += await conn.raw.fetch(_CLAIM_SQL, now + lease_seconds, owner, now, cid, str(channel),
                                             limit - len(rows))
            answered = [r[0] for r in rows if r[7] is None or r[7] in ANSWERED]
            if answered:
                await conn.raw.execute(
                    "UPDATE deliveries SET state = 'skipped', error = 'answered', lease_until = NULL,"
                    " lease_owner = NULL, updated_at = $1 WHERE id = ANY($2::bigint[])", now, answered)
        skip = set(answered)
        out = [ClaimedDelivery(r[0], r[1], r[2], r[3], channel, r[4], r[5], r[9], r[8] or "ja", r[6], owner)
               for r in rows if r[0] not in skip]
        out.sort(key=lambda d: (d.priority, d.id))
        return out

    async def claim_staff(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float
                          ) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        now = self.clock.now()
        if not await self.db.fetchval(_ANY_STAFF_DUE_SQL, (str(channel), now)):
            return []
        async with cast(PgDatabase, self.db).transaction() as conn:
            rows = await conn.raw.fetch(_CLAIM_STAFF_SQL, now + lease_seconds, owner, now, str(channel), limit)
        return staff_claims(rows, channel, owner)

    async def _write_rows(self, conn: Any, by_kind: dict[OutcomeKind, list[DeliveryOutcome]]) -> None:
        sent = by_kind.get(OutcomeKind.SENT)
        if sent:
            raw = cast(PgConn, conn).raw
            sent = sorted(sent, key=lambda o: o.delivery.id)  # one lock order for every writer
            await raw.execute(_SENT_SQL, [o.delivery.id for o in sent], [len(o.attempts) for o in sent],
                              [o.provider_id for o in sent], [o.segments for o in sent], [o.at for o in sent])
        await super()._write_rows(conn, {k: v for k, v in by_kind.items() if k != OutcomeKind.SENT})

    async def _flush(self, conn: Any, items: list[DeliveryOutcome]) -> list[ChannelName | None]:
        """As the portable flush, with the attempt log going in by COPY."""
        by_kind: dict[OutcomeKind, list[DeliveryOutcome]] = defaultdict(list)
        for o in items:
            by_kind[o.kind].append(o)
        await self._write_rows(conn, by_kind)
        changes, failed = households_touched(by_kind)
        activated: dict[int, ChannelName | None] = {}
        for o in failed:
            channel, change = await self._fall_back(conn, o)
            activated[o.delivery.id] = channel
            if change is not None:
                changes.append(change)
        attempts = [(o.delivery.id, a.at, a.duration_ms, a.outcome, a.error_class, a.detail)
                    for o in items for a in o.attempts]
        if attempts:
            await cast(PgConn, conn).raw.copy_records_to_table("delivery_attempts", records=attempts,
                                                               columns=_ATTEMPT_COLUMNS)
        if changes:
            await apply_status_changes(cast(PgConn, conn), changes)
        if sent := by_kind[OutcomeKind.SENT]:
            await self._apply_early_statuses(conn, sent, self.clock.now())
        return [activated.get(o.delivery.id) for o in items]
