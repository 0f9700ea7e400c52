"""The delivery outbox on PostgreSQL: the portable SQL of `store.sqlite.outbox`, with claims that
any number of dispatchers can make at once.

A claim locks its rows with `FOR UPDATE SKIP LOCKED`: two dispatchers claiming the same lane get
disjoint rows without waiting on each other, and a row is claimed under a lease that its owner
renews while sending (`renew_leases`); a dead owner's rows come back with `reclaim_expired`.
A claim is one statement; a flush of sends is two (rows, attempts and the household rows to change;
then statuses and counters), whatever their number: round trips, not rows, cost most here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from safetynet.clock import Clock
from safetynet.domain import ANSWERED, ChannelName
from safetynet.domain.campaigns import (
    NOTICE_STEP,
    PRIORITY_DEFAULT,
    ChannelRoutes,
    ClaimedDelivery,
    DeliveryOutcome,
    HouseholdNotice,
    OutcomeKind,
)
from safetynet.store.postgres.commit import PgGroupCommit
from safetynet.store.postgres.db import PgConn, PgDatabase, storable
from safetynet.store.postgres.statuses import CURRENT_SQL, WRITE_SQL, change_keys, plan_writes
from safetynet.store.sqlite.db import Database
from safetynet.store.sqlite.outbox import (
    _ANY_STAFF_DUE_SQL,
    ANY_NOTICE_DUE_SQL,
    SKIP_UNREACHED_SQL,
    OutboxStore,
    households_touched,
    notice_claims,
    staff_claims,
)

# ANY(ARRAY(…)): the claimed ids are looked up by key; a join with the subquery was planned as a hash
# join over a scan of the whole table (measured: 43 ms for 500 of 20,000 rows, most of it the scan).
# A delivery of a household that has answered (or left the campaign) is marked skipped by the same
# statement (the row assignment's subquery reads the status once a row, by key, whatever the plan):
# one statement, so no transaction around it, one round trip a claim instead of three or four.
_CLAIM_SQL = """
UPDATE deliveries d SET (state, error, lease_until, lease_owner) = (
    SELECT CASE WHEN a THEN 'skipped' ELSE 'claimed' END, CASE WHEN a THEN 'answered' ELSE d.error END,
      CASE WHEN a THEN NULL ELSE $1::float8 END, CASE WHEN a THEN NULL ELSE $2::text END
    FROM coalesce((SELECT ch.status = ANY($7::text[]) FROM campaign_households ch
                   WHERE ch.campaign_id = d.campaign_id AND ch.household_id = d.household_id), true) AS a),
  updated_at = $3
WHERE d.id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND campaign_id = $4 AND channel = $5
      AND priority >= 0 AND step >= 0 AND next_attempt_at <= $3 ORDER BY priority, next_attempt_at LIMIT $6
      FOR UPDATE SKIP LOCKED))
RETURNING d.id, d.campaign_id, d.household_id, d.step, d.contact_id, d.attempts, d.priority, d.state,
  (SELECT language FROM households h WHERE h.id = d.household_id),
  (SELECT address FROM contacts c WHERE c.id = d.contact_id AND c.state = 'working'), d.redials"""
_ANSWERED = sorted(str(s) for s in ANSWERED)

# Staff alerts (priority below every household's) are claimed apart, oldest first, of any campaign; as
# the households' claim, under SKIP LOCKED so that two dispatchers never take the same row.
_CLAIM_STAFF_SQL = """
UPDATE deliveries d SET state = 'claimed', lease_until = $1, lease_owner = $2, updated_at = $3
WHERE d.id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND staff_id IS NOT NULL AND channel = $4
      AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING d.id, d.campaign_id, d.staff_id, d.attempts, d.priority, d.address, d.body, d.link,
  (SELECT language FROM staff s WHERE s.id = d.staff_id),
  (SELECT kind FROM campaigns c WHERE c.id = d.campaign_id)"""

# Household notices (a cancelled campaign's word to those it reached), as the staff alerts' claim.
_CLAIM_NOTICES_SQL = f"""
UPDATE deliveries d SET state = 'claimed', lease_until = $1, lease_owner = $2, updated_at = $3
WHERE d.id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND step = {NOTICE_STEP} AND channel = $4
      AND next_attempt_at <= $3 AND ($6 OR campaign_id IN (SELECT id FROM campaigns WHERE kind = 'real'))
      ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING d.id, d.campaign_id, d.household_id, d.attempts, d.priority, d.address, d.body,
  (SELECT language FROM households h WHERE h.id = d.household_id),
  (SELECT kind FROM campaigns c WHERE c.id = d.campaign_id)"""

# Household notices in one statement a chunk (the portable one is a multi-row VALUES: 40 round trips
# for 20,000 notices, a second on PostgreSQL).
_QUEUE_NOTICES_SQL = f"""
INSERT INTO deliveries (campaign_id, household_id, step, channel, priority, state, next_attempt_at, updated_at,
  address, body)
SELECT u.c, u.h, {NOTICE_STEP}, u.ch, {PRIORITY_DEFAULT}, 'queued', $1, $1, u.a, u.b
FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS u(c, h, ch, a, b)
ON CONFLICT DO NOTHING RETURNING id"""
# Notices a statement (and a transaction): short enough for the answers' commits to pass between.
_NOTICE_CHUNK = 5000

# A flush's sends, its attempt log and the household rows whose status it changes (locked), in one
# statement: with `WRITE_SQL` after it, a flush of 500 sends is four round trips (BEGIN, this, the
# statuses, COMMIT) where it was ten (COPY alone took two). Sorted ids: one lock order for every writer.
_RECORD_SQL = """
WITH sent AS (
  UPDATE deliveries d SET state = 'sent', attempts = d.attempts + u.n, provider_id = u.provider_id,
    segments = u.segments, sent_at = u.at, error = NULL, lease_until = NULL, lease_owner = NULL, updated_at = u.at
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::float8[]) AS u(id, n, provider_id, segments, at)
  WHERE d.id = u.id AND d.state IN ('claimed', 'queued')
  RETURNING 1
), attempts AS (
  INSERT INTO delivery_attempts (delivery_id, at, duration_ms, outcome, error_class, detail)
  SELECT * FROM unnest($6::bigint[], $7::float8[], $8::float8[], $9::text[], $10::text[], $11::text[])
  RETURNING 1
)""" + CURRENT_SQL.format(campaigns=12, households=13)


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
        db = cast(PgDatabase, self.db)
        args = (now + lease_seconds, owner, now)
        if len(campaign_ids) == 1:
            rows = await db.write_fetch(_CLAIM_SQL, *args, campaign_ids[0], str(channel), limit, _ANSWERED)
        else:  # one claim over several lanes, all or nothing
            rows = []
            async with db.transaction() as conn:
                for cid in campaign_ids:
                    if len(rows) >= limit:
                        break
                    rows += await conn.raw.fetch(_CLAIM_SQL, *args, cid, str(channel), limit - len(rows), _ANSWERED)
        redials = [(r[0], r[1], r[3]) for r in rows if r[7] == "claimed" and r[10]]
        gone: set[int] = set()
        if redials:  # rare: only calls that rang out, queued again
            async with db.transaction() as conn:
                gone = await self._drop_replaced(cast(Any, conn), redials, channel, now)
        out = [ClaimedDelivery(r[0], r[1], r[2], r[3], channel, r[4], r[5], r[9], r[8] or "ja", r[6], owner)
               for r in rows if r[7] == "claimed" and r[0] not in gone]
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

    async def queue_notices(self, notices: Sequence[HouseholdNotice], at: float) -> int:
        db, added = cast(PgDatabase, self.db), 0
        for i in range(0, len(notices), _NOTICE_CHUNK):
            part = notices[i:i + _NOTICE_CHUNK]
            rows = await db.write_fetch(_QUEUE_NOTICES_SQL, at, [n.campaign_id for n in part],
                                        [n.household_id for n in part], [str(n.channel) for n in part],
                                        storable([n.address for n in part]), storable([n.text for n in part]))
            added += len(rows)
        return added

    async def claim_notices(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float,
                            drills: bool = True) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        now = self.clock.now()
        if not await self.db.fetchval(ANY_NOTICE_DUE_SQL, (str(channel), now)):
            return []
        async with cast(PgDatabase, self.db).transaction() as conn:
            await conn.execute(SKIP_UNREACHED_SQL, (now, str(channel), now))
            rows = await conn.raw.fetch(_CLAIM_NOTICES_SQL, now + lease_seconds, owner, now, str(channel), limit,
                                        drills)
        return notice_claims(rows, channel, owner)

    async def _flush(self, conn: Any, items: list[DeliveryOutcome]) -> list[ChannelName | None]:
        """The portable flush's work in fewer statements: the other outcomes and their fall-backs
        first (rare: the portable statements), then the sends, the attempt log and the household rows
        to change in one statement, then the new statuses and counters in one more."""
        raw = cast(PgConn, conn).raw
        by_kind: dict[OutcomeKind, list[DeliveryOutcome]] = defaultdict(list)
        for o in items:
            by_kind[o.kind].append(o)
        sent = sorted(by_kind.get(OutcomeKind.SENT, ()), key=lambda o: o.delivery.id)
        others: dict[OutcomeKind, list[DeliveryOutcome]] = {k: v for k, v in by_kind.items() if k != OutcomeKind.SENT}
        if others:
            await self._write_rows(conn, others)
        changes, failed = households_touched(by_kind)
        activated: dict[int, ChannelName | None] = {}
        for o in failed:
            channel, change = await self._fall_back(conn, o)
            activated[o.delivery.id] = channel
            if change is not None:
                changes.append(change)
        attempts = [(o.delivery.id, a.at, a.duration_ms, a.outcome, a.error_class, a.detail)
                    for o in items for a in o.attempts]
        if sent or attempts or changes:
            rows = await raw.fetch(
                _RECORD_SQL, [o.delivery.id for o in sent], [len(o.attempts) for o in sent],
                [o.provider_id for o in sent], [o.segments for o in sent], [o.at for o in sent],
                *([a[i] for a in attempts] for i in range(6)), *change_keys(changes))
            writes = plan_writes(rows, changes)
            # the statement that writes the statuses also says whether provider statuses wait for ids
            if writes or sent:
                held = await raw.fetchval(WRITE_SQL, *writes.params())
                if sent and held:
                    await self._apply_early_statuses(conn, sent, self.clock.now())
        return [activated.get(o.delivery.id) for o in items]
