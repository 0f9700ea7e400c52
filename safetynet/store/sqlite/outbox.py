"""The delivery outbox: claims under a lease, results written back in batches, fallbacks.

Rows are written before anything is sent (`CampaignStore.write_step`). A dispatcher claims due
rows of one lane (campaign × channel) with one `UPDATE … RETURNING`; if it dies, its claims go
back to the queue when the lease ends. Results go through a `GroupCommit`: many sends, one
transaction, and the household statuses and counters change in that same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import structlog

from safetynet.clock import Clock
from safetynet.domain import ANSWERED, ChannelName, Status
from safetynet.domain.campaigns import (
    NOTICE_STEP,
    PRIORITY_DEFAULT,
    PRIORITY_STAFF,
    STAFF_STEP,
    ChannelRoutes,
    ClaimedDelivery,
    ContactRef,
    DeliveryOutcome,
    HouseholdNotice,
    LadderStep,
    NoticeRecipient,
    OutcomeKind,
    PlannedDelivery,
    StaffAlert,
    StepHousehold,
    ladder_from_json,
    next_channel,
)
from safetynet.domain.redial import REPLACED_ERROR, redial_at, replaced, replacing_step_due
from safetynet.store.rules import (
    DELIVERY_STATE_OF_PROVIDER,
    EARLY_STATUS_HOLD_SECONDS,
    MAX_EARLY_STATUSES,
    merge_provider_state,
    provider_error,
    staff_alerts_gone,
)
from safetynet.store.sqlite.db import CHUNK, Conn, Database, GroupCommit, marks
from safetynet.store.sqlite.statuses import StatusChange, apply_status_changes

log = structlog.get_logger("store.outbox")

_LIVE = "('queued', 'claimed', 'sent', 'delivered')"


_CLAIM_SQL = (
    "UPDATE deliveries SET state = 'claimed', lease_until = ?, lease_owner = ?, updated_at = ?"
    " WHERE id IN (SELECT id FROM deliveries WHERE state = 'queued' AND campaign_id = ? AND channel = ?"
    " AND priority >= 0 AND step >= 0 AND next_attempt_at <= ? ORDER BY priority, next_attempt_at LIMIT ?)"
    " RETURNING id, campaign_id, household_id, step, contact_id, attempts, priority,"
    " (SELECT status FROM campaign_households ch"
    "  WHERE ch.campaign_id = deliveries.campaign_id AND ch.household_id = deliveries.household_id),"
    " (SELECT language FROM households h WHERE h.id = deliveries.household_id),"
    " (SELECT address FROM contacts c WHERE c.id = deliveries.contact_id AND c.state = 'working'), redials"
)

# Staff alerts of any campaign (a need-help answer may come after its campaign closed), oldest first.
_CLAIM_STAFF_SQL = (
    "UPDATE deliveries SET state = 'claimed', lease_until = ?, lease_owner = ?, updated_at = ?"
    " WHERE id IN (SELECT id FROM deliveries WHERE state = 'queued' AND staff_id IS NOT NULL AND channel = ?"
    " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)"
    " RETURNING id, campaign_id, staff_id, attempts, priority, address, body, link,"
    " (SELECT language FROM staff s WHERE s.id = deliveries.staff_id),"
    " (SELECT kind FROM campaigns c WHERE c.id = deliveries.campaign_id)"
)

_ANY_STAFF_DUE_SQL = ("SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'queued' AND staff_id IS NOT NULL"
                      " AND channel = ? AND next_attempt_at <= ?)")


# Household notices of any campaign (a cancelled one's "it was cancelled"), oldest first; the dispatcher
# asks for them after the running campaigns' deliveries.
_CLAIM_NOTICES_SQL = (
    "UPDATE deliveries SET state = 'claimed', lease_until = ?, lease_owner = ?, updated_at = ?"
    f" WHERE id IN (SELECT id FROM deliveries WHERE state = 'queued' AND step = {NOTICE_STEP} AND channel = ?"
    " AND next_attempt_at <= ? AND (? OR campaign_id IN (SELECT id FROM campaigns WHERE kind = 'real'))"
    " ORDER BY next_attempt_at, id LIMIT ?)"
    " RETURNING id, campaign_id, household_id, attempts, priority, address, body,"
    " (SELECT language FROM households h WHERE h.id = deliveries.household_id),"
    " (SELECT kind FROM campaigns c WHERE c.id = deliveries.campaign_id)"
)

# Due notices whose household's message on that channel was let go after all (claimed at the cancel,
# then skipped): dropped, not sent. The check is by key (the deliveries' unique index).
SKIP_UNREACHED_SQL = (
    "UPDATE deliveries SET state = 'skipped', error = 'not_reached', updated_at = ?"
    f" WHERE state = 'queued' AND step = {NOTICE_STEP} AND channel = ? AND next_attempt_at <= ?"
    " AND NOT EXISTS (SELECT 1 FROM deliveries s WHERE s.campaign_id = deliveries.campaign_id"
    " AND s.household_id = deliveries.household_id AND s.channel = deliveries.channel AND s.step >= 0"
    " AND s.state IN ('claimed', 'sent', 'delivered'))"
)

ANY_NOTICE_DUE_SQL = (f"SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'queued' AND step = {NOTICE_STEP}"
                      " AND channel = ? AND next_attempt_at <= ?)")

# Where a campaign's household deliveries went (or were going): the contacts to tell it was cancelled.
NOTICE_RECIPIENTS_SQL = (
    "SELECT DISTINCT d.household_id, d.channel, c.address, h.language FROM deliveries d"
    " JOIN contacts c ON c.id = d.contact_id JOIN households h ON h.id = d.household_id"
    " WHERE d.campaign_id = ? AND d.step >= 0 AND d.state IN ('claimed', 'sent', 'delivered') AND c.state = 'working'"
)

# Rows of `_queue_notices_sql(n)`; RETURNING names the rows new (a cancel retried adds nothing).
_NOTICE_ROW = f"(?, ?, {NOTICE_STEP}, ?, {PRIORITY_DEFAULT}, 'queued', ?, ?, ?, ?)"


def queue_notices_sql(rows: int) -> str:
    return ("INSERT OR IGNORE INTO deliveries (campaign_id, household_id, step, channel, priority, state,"
            " next_attempt_at, updated_at, address, body) VALUES " + ",".join([_NOTICE_ROW] * rows)
            + " RETURNING id")


def notice_claims(rows: Iterable[Any], channel: ChannelName, owner: str) -> list[ClaimedDelivery]:
    """Claimed household notices from the rows of a notice claim (either adapter's), oldest first."""
    out = [ClaimedDelivery(r[0], r[1], r[2], NOTICE_STEP, channel, None, r[3], r[5], r[7] or "ja", r[4], owner,
                           notice=HouseholdNotice(r[1], r[2], channel, r[5] or "", r[6] or "", drill=r[8] != "real"))
           for r in rows]
    out.sort(key=lambda d: d.id)
    return out


def notice_params(notices: Sequence[HouseholdNotice], at: float) -> list[Any]:
    return [x for n in notices for x in (n.campaign_id, n.household_id, str(n.channel), at, at, n.address, n.text)]


def staff_claims(rows: Iterable[Any], channel: ChannelName, owner: str) -> list[ClaimedDelivery]:
    """Claimed staff alerts from the rows of `_CLAIM_STAFF_SQL` (either adapter's), oldest first."""
    out = [ClaimedDelivery(r[0], r[1], 0, STAFF_STEP, channel, None, r[3], r[5], r[8] or "ja", r[4], owner,
                           StaffAlert(r[1], r[2], channel, r[5] or "", r[6] or "", r[7] or "", drill=r[9] != "real"))
           for r in rows]
    out.sort(key=lambda d: d.id)
    return out


def households_touched(by_kind: dict[OutcomeKind, list[DeliveryOutcome]]
                       ) -> tuple[list[StatusChange], list[DeliveryOutcome]]:
    """What a flush does to households: the sent ones become notified, the failed ones fall back
    to their next channel. A staff alert is nobody's household, and a notice comes after its
    campaign ended: neither."""
    changes = [StatusChange(o.delivery.campaign_id, o.delivery.household_id, Status.NOTIFIED, o.at)
               for o in by_kind.get(OutcomeKind.SENT, ()) if not o.delivery.composed]
    failed = [o for o in by_kind.get(OutcomeKind.FAILED, ()) if not o.delivery.composed]
    return changes, failed


class OutboxStore:
    def __init__(self, db: Database, clock: Clock, routes: ChannelRoutes) -> None:
        self.db = db
        self.clock = clock
        # which channels take which contact kind: the fall-back's order (the channel registry's, passed in)
        self.routes = routes
        # Results of concurrent sends share a commit; 5 ms of gathering costs nothing next to a send.
        self._ladders: dict[int, tuple[LadderStep, ...]] = {}
        self._results: GroupCommit[DeliveryOutcome, ChannelName | None] = GroupCommit(
            db, self._flush, max_items=1000, max_delay_seconds=0.005
        )
        # Provider status callbacks (two or three a message or call) share a commit the same way.
        self._statuses: GroupCommit[tuple[str, str, int | None], bool] = GroupCommit(
            db, self._flush_statuses, max_items=500, max_delay_seconds=0.002
        )

    async def stop(self) -> None:
        await self._results.stop()
        await self._statuses.stop()

    # -- claims --------------------------------------------------------------------------------

    async def claim(
        self, campaign_ids: Sequence[int], channel: ChannelName, limit: int, owner: str, lease_seconds: float
    ) -> list[ClaimedDelivery]:
        """Up to `limit` due deliveries of `channel`, campaigns in the order given, vulnerable first.
        Deliveries of households that have answered are marked skipped instead of returned."""
        if limit <= 0 or not campaign_ids:
            return []
        now = self.clock.now()
        async with self.db.transaction() as conn:
            rows: list[Any] = []
            for cid in campaign_ids:
                if len(rows) >= limit:
                    break
                # One statement claims and reads what the message needs (RETURNING may hold subqueries):
                # every round trip to the database thread counts when 1,000 messages a second go out.
                rows += await conn.execute_fetchall(_CLAIM_SQL, (now + lease_seconds, owner, now, cid, str(channel),
                                                                 now, limit - len(rows)))
            answered = [r[0] for r in rows if r[7] is None or r[7] in ANSWERED]
            if answered:
                await conn.executemany(
                    "UPDATE deliveries SET state = 'skipped', error = 'answered', lease_until = NULL,"
                    " lease_owner = NULL, updated_at = ? WHERE id = ?",
                    [(now, i) for i in answered],
                )
            skip = set(answered)
            skip |= await self._drop_replaced(conn, [(r[0], r[1], r[3]) for r in rows if r[10] and r[0] not in skip],
                                              channel, now)
        out = [ClaimedDelivery(r[0], r[1], r[2], r[3], channel, r[4], r[5], r[9], r[8] or "ja", r[6], owner)
               for r in rows if r[0] not in skip]
        out.sort(key=lambda d: (d.priority, d.id))
        return out

    async def queue_staff(self, alerts: Sequence[StaffAlert], at: float) -> int:
        """Queues staff alerts, due at `at`, ahead of every household delivery; returns how many."""
        if not alerts:
            return 0
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO deliveries (campaign_id, household_id, step, channel, priority, state, next_attempt_at,"
                " updated_at, staff_id, address, body, link, about_household_id)"
                " VALUES (?, NULL, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                [(a.campaign_id, STAFF_STEP, str(a.channel), PRIORITY_STAFF, at, at, a.staff_id, a.address, a.text,
                  a.link, a.about_household) for a in alerts],
            )
        return len(alerts)

    async def claim_staff(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float
                          ) -> list[ClaimedDelivery]:
        """Up to `limit` due staff alerts of `channel`, oldest first, of any campaign."""
        if limit <= 0:
            return []
        now = self.clock.now()
        # A read first: the dispatcher asks at every top-up, and almost always there is none; the
        # writer is left to the sends' results.
        if not await self.db.fetchval(_ANY_STAFF_DUE_SQL, (str(channel), now)):
            return []
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(_CLAIM_STAFF_SQL, (now + lease_seconds, owner, now, str(channel), now,
                                                                  limit))
        return staff_claims(rows, channel, owner)

    async def staff_gone(self, alerts: Sequence[ClaimedDelivery]) -> dict[int, str]:
        staff = [(d.id, d.staff.staff_id, d.channel, d.staff.address) for d in alerts if d.staff is not None]
        wanted = sorted({s for _, s, _, _ in staff})
        if not wanted:
            return {}
        # a claimed alert's look before it is sent: a few ids, by key (staff_contacts' unique index leads
        # with staff_id)
        contacts: dict[int, list[tuple[str, str]]] = {}
        for staff_id, kind, address in await self.db.fetchall(
                "SELECT s.id, c.kind, c.address FROM staff s LEFT JOIN staff_contacts c ON c.staff_id = s.id"
                f" WHERE s.id IN ({marks(len(wanted))})", tuple(wanted)):
            theirs = contacts.setdefault(int(staff_id), [])
            if kind is not None:
                theirs.append((str(kind), str(address)))
        return staff_alerts_gone(staff, contacts, self.routes.of_kind)

    async def notice_recipients(self, campaign_id: int) -> list[NoticeRecipient]:
        rows = await self.db.fetchall(NOTICE_RECIPIENTS_SQL, (campaign_id,))
        return [NoticeRecipient(r[0], r[1], r[2], r[3] or "ja") for r in rows]

    async def queue_notices(self, notices: Sequence[HouseholdNotice], at: float) -> int:
        """Queues household notices, due at `at`; one per household and channel; returns how many are new."""
        if not notices:
            return 0
        added = 0
        # a transaction a chunk: a city's notices must not hold the writer from its answers for seconds
        for i in range(0, len(notices), CHUNK):
            part = notices[i:i + CHUNK]
            async with self.db.transaction() as conn:
                added += len(list(await conn.execute_fetchall(queue_notices_sql(len(part)), notice_params(part, at))))
        return added

    async def notices_due(self, channel: ChannelName) -> int:
        return int(await self.db.fetchval(
            f"SELECT count(*) FROM deliveries WHERE state = 'queued' AND step = {NOTICE_STEP} AND channel = ?"
            " AND next_attempt_at <= ?", (str(channel), self.clock.now()), 0))

    async def claim_notices(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float,
                            drills: bool = True) -> list[ClaimedDelivery]:
        """Up to `limit` due household notices of `channel`, oldest first, of any campaign (of real
        events only without `drills`)."""
        if limit <= 0:
            return []
        now = self.clock.now()
        if not await self.db.fetchval(ANY_NOTICE_DUE_SQL, (str(channel), now)):  # almost always none
            return []
        async with self.db.transaction() as conn:
            await conn.execute(SKIP_UNREACHED_SQL, (now, str(channel), now))
            rows = await conn.execute_fetchall(_CLAIM_NOTICES_SQL, (now + lease_seconds, owner, now, str(channel),
                                                                    now, drills, limit))
        return notice_claims(rows, channel, owner)

    async def reclaim_expired(self, owner: str = "", keep: Sequence[int] | None = None) -> int:
        """Claims whose lease ended (their worker died) go back to the queue. A dispatcher never takes
        back its own claims (`owner`, or only its `keep` ids): it still holds them, and would send them
        twice; a renewal that landed late (a slow store, a starved event loop) must not cause that."""
        now = self.clock.now()
        n = await self.db.execute(
            "UPDATE deliveries SET state = 'queued', lease_until = NULL, lease_owner = NULL, updated_at = ?"
            " WHERE state = 'claimed' AND lease_until < ? AND lease_owner IS NOT ?",
            (now, now, owner or None),
        )
        if keep is not None:
            # its own run-out claims that it no longer holds: found first (few), as `keep` may be thousands
            kept = set(keep)
            lost = [int(r[0]) for r in await self.db.fetchall(
                "SELECT id FROM deliveries WHERE state = 'claimed' AND lease_until < ? AND lease_owner IS ?",
                (now, owner or None)) if int(r[0]) not in kept]
            for start in range(0, len(lost), CHUNK):
                part = lost[start:start + CHUNK]
                n += await self.db.execute(
                    "UPDATE deliveries SET state = 'queued', lease_until = NULL, lease_owner = NULL, updated_at = ?"
                    f" WHERE id IN ({marks(len(part))}) AND state = 'claimed' AND lease_until < ? AND lease_owner IS ?",
                    (now, *part, now, owner or None),
                )
        if n:
            log.info("deliveries_reclaimed", count=n)
        return n

    async def due_count(self, campaign_ids: Sequence[int], channels: Sequence[ChannelName] | None = None) -> int:
        """Queued deliveries due now in these campaigns (and channels, if given)."""
        if not campaign_ids or (channels is not None and not channels):
            return 0
        extra = f"AND channel IN ({marks(len(channels))})" if channels is not None else ""
        return int(await self.db.fetchval(
            f"SELECT count(*) FROM deliveries WHERE state = 'queued' AND campaign_id IN ({marks(len(campaign_ids))})"
            f" AND next_attempt_at <= ? {extra}",
            (*campaign_ids, self.clock.now(), *[str(c) for c in channels or ()]), 0,
        ))

    async def next_due_at(self, campaign_ids: Sequence[int]) -> float | None:
        if not campaign_ids:
            return None
        value = await self.db.fetchval(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'queued'"
            f" AND campaign_id IN ({marks(len(campaign_ids))})",
            tuple(campaign_ids),
        )
        return None if value is None else float(value)

    async def renew_leases(self, owner: str, lease_seconds: float, ids: Sequence[int]) -> int:
        """A live dispatcher keeps the claims it holds: a dead one's, and any it lost track of, run out
        and come back."""
        until, n = self.clock.now() + lease_seconds, 0
        for start in range(0, len(ids), CHUNK):
            part = list(ids[start:start + CHUNK])
            n += await self.db.execute(
                f"UPDATE deliveries SET lease_until = ? WHERE id IN ({marks(len(part))})"
                " AND state = 'claimed' AND lease_owner = ?",
                (until, *part, owner),
            )
        return n

    async def lease_ends_at(self) -> float | None:
        """When the earliest claim still held runs out (a dead worker's claims come back then)."""
        value = await self.db.fetchval("SELECT min(lease_until) FROM deliveries WHERE state = 'claimed'")
        return None if value is None else float(value)

    async def claimed_count(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM deliveries WHERE state = 'claimed'", (), 0))

    # -- results -------------------------------------------------------------------------------

    async def record(self, outcome: DeliveryOutcome) -> ChannelName | None:
        """Stores one outcome (returns after its commit). For a permanent failure that activated the
        household's next channel, returns that channel so its lane can be woken."""
        return await self._results.submit(outcome)

    async def record_many(self, outcomes: list[DeliveryOutcome]) -> list[ChannelName | None]:
        """Stores outcomes in one commit (all or none); `record`'s answer for each, in order."""
        return await self._results.submit_many(outcomes)

    async def _flush(self, conn: Conn, items: list[DeliveryOutcome]) -> list[ChannelName | None]:
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
            await conn.executemany(
                "INSERT INTO delivery_attempts (delivery_id, at, duration_ms, outcome, error_class, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                attempts,
            )
        if changes:
            await apply_status_changes(conn, changes)
        if sent := by_kind[OutcomeKind.SENT]:
            await self._apply_early_statuses(conn, sent, self.clock.now())
        return [activated.get(o.delivery.id) for o in items]

    async def _write_rows(self, conn: Conn, by_kind: dict[OutcomeKind, list[DeliveryOutcome]]) -> None:
        if sent := by_kind.get(OutcomeKind.SENT):
            # 'queued' too: a row whose lease ran out while its send was in flight is not sent twice.
            await conn.executemany(
                "UPDATE deliveries SET state = 'sent', attempts = attempts + ?, provider_id = ?, segments = ?,"
                " sent_at = ?, error = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ?"
                " WHERE id = ? AND state IN ('claimed', 'queued')",
                [(len(o.attempts), o.provider_id, o.segments, o.at, o.at, o.delivery.id) for o in sent],
            )
        if retry := by_kind.get(OutcomeKind.RETRY, []) + by_kind.get(OutcomeKind.RELEASED, []):
            await conn.executemany(
                "UPDATE deliveries SET state = 'queued', attempts = attempts + ?, next_attempt_at = ?,"
                " error = coalesce(?, error), lease_until = NULL, lease_owner = NULL, updated_at = ?"
                " WHERE id = ? AND state = 'claimed' AND lease_owner = ?",
                [(len(o.attempts), o.next_attempt_at if o.next_attempt_at is not None else o.at, o.error, o.at,
                  o.delivery.id, o.delivery.lease_owner) for o in retry],
            )
        if skipped := by_kind.get(OutcomeKind.SKIPPED):
            await conn.executemany(
                "UPDATE deliveries SET state = 'skipped', error = ?, lease_until = NULL, lease_owner = NULL,"
                " updated_at = ? WHERE id = ? AND state = 'claimed'",
                [(o.error, o.at, o.delivery.id) for o in skipped],
            )
        if failed := by_kind.get(OutcomeKind.FAILED):
            await conn.executemany(
                "UPDATE deliveries SET state = 'failed', attempts = attempts + ?, error = ?, lease_until = NULL,"
                " lease_owner = NULL, updated_at = ? WHERE id = ? AND state IN ('claimed', 'queued')",
                [(len(o.attempts), o.error, o.at, o.delivery.id) for o in failed],
            )

    # -- provider status callbacks -------------------------------------------------------------

    async def record_provider_status(self, provider_id: str, state: str, error_code: int | None = None) -> bool:
        """A provider's later word on a sent message or call (sent | delivered | undelivered | failed).

        Callbacks arrive out of order: the highest-ranked state is kept. A message the provider
        could not deliver counts as a failed channel: the household's next channel in that step
        is tried (an SMS to a switched-off phone → the voice call). False if no delivery has the id
        yet: the callback is then held (`EARLY_STATUS_HOLD_SECONDS`) and applied when the send's
        result records the id, in that same transaction."""
        return await self._statuses.submit((provider_id, state, error_code))

    async def _flush_statuses(self, conn: Conn, items: list[tuple[str, str, int | None]]) -> list[bool]:
        """In arrival order, in one transaction: two callbacks of one message see each other."""
        now = self.clock.now()
        applied: list[bool] = []
        for provider_id, state, error_code in items:
            done = await self._apply_provider_status(conn, provider_id, state, error_code, now)
            if not done:
                await self._hold_early_status(conn, provider_id, state, error_code, now)
            applied.append(done)
        return applied

    async def held_status_count(self) -> int:
        """Status callbacks held for ids not recorded (yet)."""
        return int(await self.db.fetchval("SELECT count(*) FROM early_provider_status", (), 0))

    async def apply_held_statuses(self) -> int:
        # A read first: no held callback whose send has its id (none held, the rule but for the moment of a
        # race; or only callbacks whose send is still to come) opens no write transaction, every 2 s.
        if not await self.db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM early_provider_status e JOIN deliveries d ON d.provider_id = e.provider_id)",
                (), 0):
            return 0
        applied = 0
        async with self.db.transaction() as conn:
            now = self.clock.now()
            await conn.execute("DELETE FROM early_provider_status WHERE received_at < ?",
                               (now - EARLY_STATUS_HOLD_SECONDS,))
            # taken by deleting them: another dispatcher's sweep at the same moment (PostgreSQL) waits for this
            # one's rows and then finds them gone, so a failed SMS falls back to one call, not two (review)
            held = await conn.execute_fetchall(
                "DELETE FROM early_provider_status WHERE provider_id IN (SELECT e.provider_id FROM"
                " early_provider_status e JOIN deliveries d ON d.provider_id = e.provider_id)"
                " RETURNING provider_id, state, error_code, received_at", ())
            for r in sorted(held, key=lambda r: float(r[3])):
                applied += await self._apply_provider_status(conn, r[0], r[1], r[2], now)
        if applied:
            # a callback no send's commit saw (PostgreSQL's race): worth knowing it happens, and how often
            log.info("early_status_callbacks_applied", count=applied, late=True)
        return applied

    async def _apply_provider_status(
        self, conn: Conn, provider_id: str, state: str, error_code: int | None, now: float
    ) -> bool:
        async with conn.execute(
            "SELECT id, campaign_id, household_id, step, channel, contact_id, attempts, provider_status, state,"
            " staff_id FROM deliveries WHERE provider_id = ?",
            (provider_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return False
        kept = merge_provider_state(row[7], state)
        if kept == row[7]:
            return True
        new_state = DELIVERY_STATE_OF_PROVIDER.get(kept)
        # still the call or message of this id: on PostgreSQL two callbacks of one call may be applied at
        # once, and the second, having waited for the first's row lock, must not redial (or fall back) a
        # second time a row the first queued again with its id cleared (the day's reread)
        async with conn.execute(
            "UPDATE deliveries SET provider_status = ?, state = CASE WHEN state IN ('sent', 'delivered',"
            " 'undelivered') AND ? IS NOT NULL THEN ? ELSE state END, error = coalesce(?, error), updated_at = ?"
            " WHERE id = ? AND provider_id = ? RETURNING id",
            (kept, new_state, new_state, provider_error(kept, error_code), now, row[0], provider_id),
        ) as cur:
            if await cur.fetchone() is None:
                return True
        # a staff alert (staff_id set) and a notice (step below 0) have no fall-back
        if new_state == "undelivered" and row[8] == "sent" and row[9] is None and row[3] >= 0:
            if await self._redial(conn, row[0], row[4], kept, now):
                return True
            d = ClaimedDelivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], None, "")
            _, change = await self._fall_back(conn, DeliveryOutcome(d, OutcomeKind.FAILED, now))
            del change  # the household was notified as far as we knew: no status goes back
        return True

    async def _drop_replaced(self, conn: Conn, redials: Sequence[tuple[int, int, int]], channel: ChannelName,
                             now: float) -> set[int]:
        """Of these claimed redials (id, campaign, step), the ones whose replacing step the ladder has
        planned meanwhile (a lane behind its queue), marked skipped: that step's own call goes instead."""
        if not redials:
            return set()
        progress: dict[int, int] = {}
        for cid in {c for _, c, _ in redials}:
            progress[cid] = int(await _fetchval(conn, "SELECT next_step FROM campaign_ladder WHERE campaign_id = ?",
                                                (cid,)) or 0)
        gone = [i for i, cid, step in redials
                if replaced(await self._ladder(conn, cid), step, channel, progress[cid])]
        if gone:
            await conn.executemany(
                "UPDATE deliveries SET state = 'skipped', error = ?, lease_until = NULL, lease_owner = NULL,"
                " updated_at = ? WHERE id = ? AND state = 'claimed'", [(REPLACED_ERROR, now, i) for i in gone])
            log.info("call_redials_replaced", channel=str(channel), deliveries=len(gone))
        return set(gone)

    async def _redial(self, conn: Conn, delivery_id: int, channel: ChannelName, state: str, now: float) -> bool:
        """A call that rang out (the provider's `state`), queued again on its own row (`domain.redial`) if
        the rule allows it; False: the step goes on as before (its next channel)."""
        rule = self.routes.redial.get(channel)
        if rule is None:
            return False
        async with conn.execute(
            "SELECT d.campaign_id, d.household_id, d.step, d.redials, c.state, c.started_at, c.created_at,"
            " ch.status, l.paused_seconds FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id"
            " LEFT JOIN campaign_households ch ON ch.campaign_id = d.campaign_id AND ch.household_id = d.household_id"
            " LEFT JOIN campaign_ladder l ON l.campaign_id = d.campaign_id WHERE d.id = ?", (delivery_id,),
        ) as cur:
            r = await cur.fetchone()
        if r is None:
            return False
        campaign_id, household_id, step, done = int(r[0]), int(r[1]), int(r[2]), int(r[3])
        ladder = await self._ladder(conn, campaign_id)
        at = redial_at(rule, state=state, redials_done=done, now=now, answered=r[7] is None or r[7] in ANSWERED,
                       running=r[4] == "running",
                       replaced_at=replacing_step_due(ladder, step, channel, float(r[5] if r[5] is not None else r[6]),
                                                      float(r[8] or 0.0)))
        if at is None:
            return False
        # the old call's id goes: a late callback of it (held, then dropped) must not land on the redial
        await conn.execute(
            "UPDATE deliveries SET state = 'queued', next_attempt_at = ?, redials = redials + 1, provider_id = NULL,"
            " provider_status = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ? WHERE id = ?",
            (at, now, delivery_id))
        log.info("call_redial_queued", delivery_id=delivery_id, campaign_id=campaign_id, household_id=household_id,
                 step=step, channel=str(channel), redial=done + 1, in_seconds=round(at - now, 1))
        return True

    async def _hold_early_status(
        self, conn: Conn, provider_id: str, state: str, error_code: int | None, now: float
    ) -> None:
        await conn.execute("DELETE FROM early_provider_status WHERE received_at < ?",
                           (now - EARLY_STATUS_HOLD_SECONDS,))
        async with conn.execute(
            "SELECT state, error_code FROM early_provider_status WHERE provider_id = ?", (provider_id,)
        ) as cur:
            held = await cur.fetchone()
        if held is None:
            if int(await _fetchval(conn, "SELECT count(*) FROM early_provider_status", ())) >= MAX_EARLY_STATUSES:
                log.warning("status_callback_not_held", reason="too_many_held")
                return
            await conn.execute(
                "INSERT INTO early_provider_status (provider_id, state, error_code, received_at) VALUES (?, ?, ?, ?)",
                (provider_id, state, error_code, now),
            )
        elif merge_provider_state(held[0], state) != held[0]:
            await conn.execute(
                "UPDATE early_provider_status SET state = ?, error_code = ?, received_at = ? WHERE provider_id = ?",
                (state, error_code, now, provider_id),
            )

    async def _apply_early_statuses(self, conn: Conn, sent: list[DeliveryOutcome], now: float) -> None:
        """Callbacks that came before these sends were recorded: applied now that the ids are."""
        ids = [o.provider_id for o in sent if o.provider_id]
        # One cheap look a commit: the table is empty but for the moment of a race.
        if not ids or not await _fetchval(conn, "SELECT EXISTS (SELECT 1 FROM early_provider_status)", ()):
            return
        await conn.execute("DELETE FROM early_provider_status WHERE received_at < ?",
                           (now - EARLY_STATUS_HOLD_SECONDS,))
        held: list[Any] = []
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            held += await conn.execute_fetchall(
                "SELECT provider_id, state, error_code FROM early_provider_status"
                f" WHERE provider_id IN ({marks(len(chunk))})",
                chunk,
            )
        applied = [r[0] for r in held if await self._apply_provider_status(conn, r[0], r[1], r[2], now)]
        if applied:
            await conn.executemany("DELETE FROM early_provider_status WHERE provider_id = ?", [(p,) for p in applied])
            log.info("early_status_callbacks_applied", count=len(applied))

    async def _fall_back(self, conn: Conn, o: DeliveryOutcome) -> tuple[ChannelName | None, StatusChange | None]:
        """After a permanent failure: the household's next channel in the same step is queued (the
        planner's order over its contacts as they are now); if none is left and nothing of the
        household is live, a household never reached becomes unreachable."""
        d = o.delivery
        key = (d.campaign_id, d.household_id, d.step)
        if o.contact_dead and d.contact_id is not None:
            # the same dead number behind SMS would fail the voice call too
            await conn.execute(
                "UPDATE deliveries SET state = 'failed', error = 'contact_dead', updated_at = ?"
                " WHERE campaign_id = ? AND household_id = ? AND step = ? AND state = 'standby' AND contact_id = ?",
                (o.at, *key, d.contact_id),
            )
        async with conn.execute(
            "UPDATE deliveries SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE id = ("
            " SELECT id FROM deliveries WHERE campaign_id = ? AND household_id = ? AND step = ? AND state = 'standby'"
            " ORDER BY fallback_rank LIMIT 1) RETURNING channel",
            (o.at, o.at, *key),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:  # a fallback planned ahead (plans made before fallbacks were computed)
            return row[0], None
        nxt = await self._next_channel(conn, o)
        if nxt is not None:
            await conn.execute(
                "INSERT OR IGNORE INTO deliveries (campaign_id, household_id, step, channel, contact_id, priority,"
                " fallback_rank, state, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (d.campaign_id, nxt.household_id, nxt.step, nxt.channel, nxt.contact_id, nxt.priority,
                 nxt.fallback_rank, o.at, o.at),
            )
            return nxt.channel, None
        live = await _fetchval(conn, f"SELECT count(*) FROM deliveries WHERE campaign_id = ? AND household_id = ?"
                                     f" AND step >= 0 AND state IN {_LIVE}", (d.campaign_id, d.household_id))
        if live:
            return None, None
        return None, StatusChange(d.campaign_id, d.household_id, Status.UNREACHABLE, o.at)

    async def _next_channel(self, conn: Conn, o: DeliveryOutcome) -> PlannedDelivery | None:
        d = o.delivery
        ladder = await self._ladder(conn, d.campaign_id)
        if d.step >= len(ladder):
            return None
        dead = d.contact_id if o.contact_dead else None
        async with conn.execute(
            "SELECT id, kind, state FROM contacts WHERE household_id = ? ORDER BY id", (d.household_id,)
        ) as cur:
            contacts = tuple(ContactRef(r[0], r[1], r[2] == "working" and r[0] != dead)
                             for r in await cur.fetchall())
        vulnerable = await _fetchval(conn, "SELECT vulnerable FROM households WHERE id = ?", (d.household_id,))
        async with conn.execute(
            "SELECT channel FROM deliveries WHERE campaign_id = ? AND household_id = ? AND step = ?",
            (d.campaign_id, d.household_id, d.step),
        ) as cur:
            tried = [r[0] for r in await cur.fetchall()]
        household = StepHousehold(d.household_id, 0, bool(vulnerable), contacts)
        return next_channel(household, d.step, ladder[d.step], tried, self.routes)

    async def _ladder(self, conn: Conn, campaign_id: int) -> tuple[LadderStep, ...]:
        # A campaign's ladder never changes once created: read once per campaign.
        if campaign_id not in self._ladders:
            text = await _fetchval(conn, "SELECT ladder FROM campaigns WHERE id = ?", (campaign_id,))
            self._ladders[campaign_id] = ladder_from_json(text) if text else ()
        return self._ladders[campaign_id]


async def _fetchval(conn: Conn, sql: str, params: Sequence[Any]) -> Any:
    async with conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return row[0] if row else None
