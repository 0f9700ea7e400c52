"""Campaigns: their lifecycle (guarded in SQL), enrolled households, ladder progress, planned steps.

The outbox itself (claims, results) is the outbox repository (`outbox.OutboxStore`).
Transitions are single guarded UPDATEs (`… WHERE state = 'running'`), so a closed campaign can
never be reopened by a late or concurrent caller.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from safetynet.clock import Clock
from safetynet.domain import ANSWERED, CampaignKind, CampaignState, ChannelName, Status
from safetynet.domain.audit import PurgeResult
from safetynet.domain.campaigns import (
    Campaign,
    CheckRow,
    ContactRef,
    Enrolment,
    LadderProgress,
    LadderStep,
    StepHousehold,
    StepPlan,
    ladder_from_json,
    ladder_to_json,
)
from safetynet.store.rules import closing_lists, door_knock_made
from safetynet.store.sqlite.db import CHUNK, Conn, Database, Row, marks
from safetynet.store.sqlite.roster_scope import scope_filter
from safetynet.store.sqlite.statuses import StatusChange, apply_status_changes, init_counts

_COLS = (
    "id, kind, title, state, scope, messages, ladder, options, source, created_by, created_at,"
    " started_at, closed_at, households, started_by, started_by_staff, requested_at, approved_by,"
    " approved_by_staff, approved_at, purged_at"
)
# Retention erases in transactions of this many rows, and scans the attempt log this many at a time.
_PURGE_BATCH = 5000
_NO_STEP = 1 << 30  # `waiting_channels` without a step: every step
_PURGE_SCAN = 50_000
_ANSWERED_SQL = "(" + ",".join(f"'{s}'" for s in sorted(ANSWERED)) + ")"

# Retention of the roster (`erase_removed_households`): a removed household no unpurged campaign refers to.
# Driven from the campaigns (CROSS JOIN keeps SQLite's loop order): each unpurged campaign is one lookup of
# campaign_households' primary key; driven from campaign_households by household_id, which no index leads
# with, it scanned 2M rows per removed household (review: 209 s a statement at 200,000 households, four
# statements in one write transaction, once a day).
_ERASABLE = ("h.removed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c CROSS JOIN campaign_households ch"
             " ON ch.campaign_id = c.id AND ch.household_id = h.id WHERE c.purged_at IS NULL)")
# Its consent a placeholder 'no' no cell stated: back on the roster, the household takes its row's default, as
# a new one (a stated consent of a household not yet erased is kept: roster_import.KEEP_CONSENT).
_BLANK = ("name = '', address = '', members = 1, vulnerable = 0, language = 'ja', notes = '', consent = 'no',"
          " consent_stated = 0")
_BLANKED = ("h.name = '' AND h.address = '' AND h.members = 1 AND h.vulnerable = 0 AND h.language = 'ja'"
            " AND h.notes = '' AND h.consent = 'no' AND h.consent_stated = 0")

def _campaign(row: Row) -> Campaign:
    return Campaign(
        id=row["id"], kind=CampaignKind(row["kind"]), title=row["title"], state=CampaignState(row["state"]),
        scope=tuple(json.loads(row["scope"])), messages=json.loads(row["messages"]),
        ladder=ladder_from_json(row["ladder"]), options=json.loads(row["options"]), source=row["source"],
        created_by=row["created_by"], created_at=row["created_at"], started_at=row["started_at"],
        closed_at=row["closed_at"], households=row["households"], started_by=row["started_by"],
        started_by_staff=row["started_by_staff"], requested_at=row["requested_at"], approved_by=row["approved_by"],
        approved_by_staff=row["approved_by_staff"], approved_at=row["approved_at"], purged_at=row["purged_at"],
    )



class CampaignStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- campaigns -----------------------------------------------------------------------------

    async def create(
        self, *, kind: CampaignKind, title: str, scope: Sequence[str], messages: Mapping[str, str],
        ladder: Sequence[LadderStep], options: Mapping[str, Any] | None = None,
        source: str = "cli", created_by: str = "",
    ) -> Campaign:
        async with self.db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO campaigns (kind, title, state, scope, messages, ladder, options, source, created_by,"
                f" created_at) VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
                (str(kind), title, json.dumps(list(scope)), json.dumps(dict(messages), ensure_ascii=False),
                 ladder_to_json(ladder), json.dumps(dict(options or {}), ensure_ascii=False), source,
                 created_by, self.clock.now()),
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return _campaign(row)

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self.db.fetchone(f"SELECT {_COLS} FROM campaigns WHERE id = ?", (campaign_id,))
        return _campaign(row) if row else None

    async def list_campaigns(self, states: Iterable[CampaignState] | None = None, limit: int = 200) -> list[Campaign]:
        wanted = [str(s) for s in states] if states is not None else []
        where = f"WHERE state IN ({marks(len(wanted))})" if wanted else ""
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM campaigns {where} ORDER BY id DESC LIMIT ?", (*wanted, limit)
        )
        return [_campaign(r) for r in rows]

    async def find_by_dedupe_key(self, key: str) -> Campaign | None:
        """The campaign created for an idempotency key (kept in options; campaigns are few)."""
        row = await self.db.fetchone(
            f"SELECT {_COLS} FROM campaigns WHERE json_extract(options, '$.dedupe_key') = ? ORDER BY id LIMIT 1",
            (key,),
        )
        return _campaign(row) if row else None

    async def running(self) -> list[Campaign]:
        """Running campaigns, real events first, then oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM campaigns WHERE state = 'running' ORDER BY kind = 'drill', id"
        )
        return [_campaign(r) for r in rows]

    async def update_text(
        self, campaign_id: int, *, title: str | None = None, messages: Mapping[str, str] | None = None
    ) -> bool:
        """New title or texts for a campaign not finished yet (later sends use them)."""
        return await self.db.execute(
            "UPDATE campaigns SET title = coalesce(?, title), messages = coalesce(?, messages)"
            " WHERE id = ? AND state IN ('draft', 'pending_approval', 'running')",
            (title, json.dumps(dict(messages), ensure_ascii=False) if messages is not None else None, campaign_id),
        ) > 0

    async def set_options(self, campaign_id: int, options: Mapping[str, Any]) -> bool:
        return await self.db.execute(
            "UPDATE campaigns SET options = ? WHERE id = ?",
            (json.dumps(dict(options), ensure_ascii=False), campaign_id),
        ) > 0

    async def begin_running(self, campaign_id: int, at: float, started_by: str = "",
                            started_by_staff: int | None = None) -> bool:
        """The last act of starting a drill: counters seeded, draft → running, ladder step 0 recorded
        as done, who started it kept. False (nothing changed) unless it is a draft, and always for a
        real event, which runs only through `approve`."""
        return await self._run(
            campaign_id, at,
            "started_by = ?, started_by_staff = ? WHERE id = ? AND state = 'draft' AND kind <> 'real'",
            (started_by, started_by_staff, campaign_id))

    async def request_approval(self, campaign_id: int, at: float, started_by: str,
                               started_by_staff: int | None = None) -> bool:
        """A real event's first start: draft → pending_approval, who asked and when. Nothing is
        planned or sent. False unless it is a real event's draft."""
        return await self.db.execute(
            "UPDATE campaigns SET state = 'pending_approval', started_by = ?, started_by_staff = ?, requested_at = ?"
            " WHERE id = ? AND state = 'draft' AND kind = 'real'",
            (started_by, started_by_staff, at, campaign_id),
        ) > 0

    async def approve(self, campaign_id: int, at: float, approved_by: str, approved_by_staff: int) -> bool:
        """The second person: pending_approval → running as `begin_running` does, approver kept.
        False (nothing changed) unless it waits for approval and `approved_by_staff` is not the
        staff member who started it."""
        return await self._run(
            campaign_id, at,
            "approved_by = ?, approved_by_staff = ?, approved_at = ? WHERE id = ? AND state = 'pending_approval'"
            " AND (started_by_staff IS NULL OR started_by_staff <> ?)",
            (approved_by, approved_by_staff, at, campaign_id, approved_by_staff))

    async def _run(self, campaign_id: int, at: float, set_where: str, params: Sequence[Any]) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE campaigns SET state = 'running', started_at = ?,"
                " households = (SELECT count(*) FROM campaign_households WHERE campaign_id = ?), " + set_where,
                (at, campaign_id, *params),
            )
            if cur.rowcount == 0:
                return False
            await init_counts(conn, campaign_id)
            await conn.execute(
                "INSERT INTO campaign_ladder (campaign_id, next_step, updated_at) VALUES (?, 1, ?)"
                " ON CONFLICT (campaign_id) DO UPDATE SET next_step = max(next_step, 1), updated_at = excluded.updated_at",
                (campaign_id, at),
            )
        return True

    async def close(self, campaign_id: int, at: float) -> bool:
        """running → closed; what is still queued is skipped, and every household that has not
        answered goes on the door-knock list (`mark_doorknock`'s rule) unless it is a contact check.
        False if it was not running."""
        return await self._finish(campaign_id, at, CampaignState.CLOSED, ("running",))

    async def cancel(self, campaign_id: int, at: float) -> bool:
        """draft, pending_approval or running → cancelled. False if it had already finished."""
        return await self._finish(campaign_id, at, CampaignState.CANCELLED, ("draft", "pending_approval", "running"))

    async def cancel_draft(self, campaign_id: int, at: float) -> bool:
        """draft or pending_approval → cancelled (a proposal withdrawn before anything was sent);
        False if it runs or ended."""
        return await self._finish(campaign_id, at, CampaignState.CANCELLED, ("draft", "pending_approval"))

    async def _finish(self, campaign_id: int, at: float, to: CampaignState, from_: Sequence[str]) -> bool:
        async with self.db.transaction() as conn:
            ended = list(await conn.execute_fetchall(
                f"UPDATE campaigns SET state = ?, closed_at = ? WHERE id = ? AND state IN ({marks(len(from_))})"
                " RETURNING kind",
                (str(to), at, campaign_id, *from_),
            ))
            if not ended:
                return False
            # Staff alerts stay queued: a household that asked for help still needs it.
            await conn.execute(
                "UPDATE deliveries SET state = 'skipped', error = ?, updated_at = ?"
                " WHERE campaign_id = ? AND state IN ('queued', 'standby') AND step >= 0",
                (f"campaign_{to}", at, campaign_id),
            )
            if closing_lists(str(to), ended[0][0]):
                # closed before its door-knock step ran (or with none in its ladder): its silent
                # households would end the event answered by no one and listed nowhere (review)
                await _list_silent(conn, campaign_id, at)
        return True

    # -- retention ----------------------------------------------------------------------------

    async def finished_before(self, before: float, limit: int = 100) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT id FROM campaigns WHERE state IN ('closed', 'cancelled') AND closed_at < ? AND purged_at IS NULL"
            " ORDER BY id LIMIT ?",
            (before, limit),
        )
        return [r[0] for r in rows]

    async def purge(self, campaign_id: int, at: float) -> PurgeResult:
        """In short transactions of `_PURGE_BATCH` rows, so answers arriving meanwhile wait little."""
        if await self.db.fetchval(
                "SELECT 1 FROM campaigns WHERE id = ? AND state IN ('closed', 'cancelled')", (campaign_id,)) is None:
            return PurgeResult(campaign_id, 0, 0, 0)
        replies = await self._erase(_ERASE_REPLIES, campaign_id)
        deliveries = await self._erase(
            "UPDATE deliveries SET provider_id = NULL, error = NULL WHERE id IN (SELECT id FROM deliveries"
            " WHERE campaign_id = ? AND attempts > 0 AND (provider_id IS NOT NULL OR error IS NOT NULL) LIMIT ?)",
            campaign_id)
        # a staff alert's text names the household, its address and its words; a notice's address is
        # a resident's contact
        deliveries += await self._erase(
            "UPDATE deliveries SET body = NULL, address = NULL, provider_id = NULL, error = NULL WHERE id IN"
            " (SELECT id FROM deliveries WHERE campaign_id = ? AND step < 0 AND body IS NOT NULL LIMIT ?)",
            campaign_id)
        # the attempt log has no index by delivery: one pass over it, by id ranges
        attempts, last = 0, 0
        while True:
            upper = await self.db.fetchval(
                "SELECT max(id) FROM (SELECT id FROM delivery_attempts WHERE id > ? ORDER BY id LIMIT ?)",
                (last, _PURGE_SCAN))
            if upper is None:
                break
            attempts += await self.db.execute(
                "UPDATE delivery_attempts SET detail = NULL WHERE id > ? AND id <= ? AND detail IS NOT NULL"
                " AND delivery_id IN (SELECT id FROM deliveries WHERE campaign_id = ?)",
                (last, upper, campaign_id))
            last = upper
        await self.db.execute("UPDATE campaigns SET purged_at = ? WHERE id = ?", (at, campaign_id))
        # once more now that in-person confirmations are refused (`ReplyIntake._not_erased`): one written
        # during the scans above (seconds on a large city) would keep its note for good (review)
        replies += await self._erase(_ERASE_REPLIES, campaign_id)
        return PurgeResult(campaign_id, replies, deliveries, attempts)

    async def erase_removed_households(self, at: float) -> int:
        """One transaction: a few rows a roster import removed, rarely many. The row stays (purged
        campaigns' statuses refer to it; a removed household in no campaign was deleted at the import)."""
        async with self.db.transaction() as conn:
            for table in ("contacts", "enrolment_codes", "phone_verifications"):
                await conn.execute(f"DELETE FROM {table} WHERE household_id IN (SELECT id FROM households h"
                                   f" WHERE {_ERASABLE})")
            blanked = await conn.execute(
                f"UPDATE households SET {_BLANK}, updated_at = ? WHERE id IN (SELECT id FROM households h"
                f" WHERE {_ERASABLE} AND NOT ({_BLANKED}))", (at,))
            return int(blanked.rowcount)

    async def _erase(self, sql: str, campaign_id: int) -> int:
        total = 0
        while True:
            n = await self.db.execute(sql, (campaign_id, _PURGE_BATCH))
            total += n
            if n < _PURGE_BATCH:
                return total

    # -- households and plans ------------------------------------------------------------------

    async def enrol_scope(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        batch_size: int = 20_000,
    ) -> int:
        """Enrols the current households of `scope` ('city' | 'district:N' | 'association:N' |
        'group:A/G', as the roster reads them) with their reply-token hashes, in set-based batches:
        one INSERT … SELECT a transaction, the hash computed by SQLite through `token_hash_of`.
        Idempotent (a crashed start is simply redone). Returns the households enrolled now.
        Raises UnknownScopeError for a name the roster no longer has."""
        cond, params = await scope_filter(self.db, scope)
        total, last = 0, 0
        while True:
            # the batch's last id first (a read), so the write scans its range once
            upper = await self.db.fetchval(
                f"SELECT max(id) FROM (SELECT h.id FROM households h WHERE h.removed_at IS NULL"
                f" AND {cond} AND h.id > ? ORDER BY h.id LIMIT ?)",
                (*params, last, batch_size),
            )
            if upper is None:
                return total
            async with self.db.transaction() as conn:
                await conn.create_function("sn_token_hash", 2, token_hash_of, deterministic=True)
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO campaign_households (campaign_id, household_id, association_id, token_hash)"
                    f" SELECT ?, h.id, h.association_id, sn_token_hash(?, h.id) FROM households h"
                    f" WHERE h.removed_at IS NULL AND {cond} AND h.id > ? AND h.id <= ?",
                    (campaign_id, campaign_id, *params, last, upper),
                )
                total += max(0, cur.rowcount)
            last = upper


    async def write_step(
        self, campaign_id: int, plan: StepPlan, at: float, enrol: Sequence[Enrolment] = ()
    ) -> None:
        """In one transaction: enrol households (idempotent), insert the plan's deliveries (idempotent
        by their unique key), and put households without any working contact on the door-knock list
        as unreachable."""
        async with self.db.transaction() as conn:
            if enrol:
                await _enrol(conn, campaign_id, enrol)
            await self._queue(conn, campaign_id, plan, at)

    async def _queue(self, conn: Conn, campaign_id: int, plan: StepPlan, at: float) -> None:
        await conn.executemany(
            "INSERT OR IGNORE INTO deliveries (campaign_id, household_id, step, channel, contact_id, priority,"
            " fallback_rank, state, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
            [(campaign_id, d.household_id, d.step, d.channel, d.contact_id, d.priority, d.fallback_rank, at, at)
             for d in plan.deliveries],
        )
        if plan.no_contact:
            await self._doorknock(conn, campaign_id, plan.no_contact, at)

    async def enrol_newcomers(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        plan: Callable[[list[StepHousehold]], StepPlan], at: float, limit: int = 5000,
    ) -> list[int]:
        """`ports.CampaignRepo.enrol_newcomers`: the scope's scan (a table scan: `scope_filter`) on a
        reader, writing nothing in the common case (nobody new); then, in the writing transaction, which
        holds the campaign's row first (the order of a close and of the door-knock step: PostgreSQL waits
        for either under way), the candidates alone read again by id (review: the scan repeated there
        held SQLite's one writer for 0.3 s at 200,000 households). Every counter row it changes is
        locked first, in key order, as every writer of them does (review: pending before unreachable
        across two associations could deadlock a reply batch on PostgreSQL)."""
        cond, params = await scope_filter(self.db, scope)
        not_in = ("h.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM campaign_households ch"
                  " WHERE ch.campaign_id = ? AND ch.household_id = h.id)")
        found = await self.db.fetchall(
            f"SELECT h.id FROM households h WHERE {cond} AND {not_in} ORDER BY h.id LIMIT ?",
            (*params, campaign_id, limit))
        if not found:
            return []
        candidates = [r[0] for r in found]
        async with self.db.transaction() as conn:
            held = list(await conn.execute_fetchall(
                "UPDATE campaigns SET households = households WHERE id = ? AND state = 'running' RETURNING ladder",
                (campaign_id,)))
            if not held:
                return []
            # still current, in the scope, and not enrolled meanwhile (the scope's names resolved above)
            rows = list(await conn.execute_fetchall(
                f"SELECT h.id, h.association_id, h.vulnerable FROM households h WHERE h.id IN ({marks(len(candidates))})"
                f" AND {cond} AND {not_in} ORDER BY h.id", (*candidates, *params, campaign_id)))
            if not rows:
                return []
            ids = [r[0] for r in rows]
            households = _with_contacts(rows, list(await conn.execute_fetchall(
                f"{_CONTACTS} WHERE household_id IN ({marks(len(ids))}) ORDER BY household_id, id", ids)))
            await _enrol(conn, campaign_id, [Enrolment(h.id, h.association_id, token_hash_of(campaign_id, h.id))
                                             for h in households])
            per_association: dict[int, int] = defaultdict(int)
            for h in households:
                per_association[h.association_id] += 1
            planned = plan(households)
            association_of = {h.id: h.association_id for h in households}
            counters = {(a, str(Status.PENDING)): n for a, n in per_association.items()}
            for hid in planned.no_contact:  # their pending → unreachable below, against rows locked now
                counters.setdefault((association_of[hid], str(Status.UNREACHABLE)), 0)
            await conn.executemany(
                "INSERT INTO campaign_counts (campaign_id, association_id, status, n) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (campaign_id, association_id, status) DO UPDATE SET n = campaign_counts.n + excluded.n",
                [(campaign_id, a, st, n) for (a, st), n in sorted(counters.items())])
            await conn.execute("UPDATE campaigns SET households = households + ? WHERE id = ?", (len(ids), campaign_id))
            await self._queue(conn, campaign_id, planned, at)
            async with conn.execute("SELECT next_step FROM campaign_ladder WHERE campaign_id = ?",
                                    (campaign_id,)) as cur:
                step = await cur.fetchone()
            if step is not None and door_knock_made(ladder_from_json(held[0][0]), step[0]):
                # the list is made: a newcomer goes on it at once (its first message is on its way, and
                # its answer takes it off), and its association's heads are told anew
                await conn.executemany(
                    "UPDATE campaign_households SET doorknock_at = coalesce(doorknock_at, ?)"
                    " WHERE campaign_id = ? AND household_id = ?", [(at, campaign_id, h) for h in ids])
                await conn.executemany(
                    "INSERT OR IGNORE INTO doorknock_notices (campaign_id, association_id, owed_since) VALUES (?, ?, ?)",
                    [(campaign_id, a, at) for a in sorted(per_association)])
        return ids

    async def write_checks(self, campaign_id: int, rows: Sequence[CheckRow]) -> None:
        await self.db.executemany(
            "INSERT OR IGNORE INTO contact_checks (campaign_id, contact_id, household_id, channel, token_hash)"
            " VALUES (?, ?, ?, ?, ?)",
            [(campaign_id, r.contact_id, r.household_id, r.channel, r.token_hash) for r in rows],
        )

    async def _doorknock(self, conn: Conn, campaign_id: int, household_ids: Sequence[int], at: float) -> None:
        await conn.executemany(
            "UPDATE campaign_households SET doorknock_at = coalesce(doorknock_at, ?)"
            " WHERE campaign_id = ? AND household_id = ?",
            [(at, campaign_id, h) for h in household_ids],
        )
        await apply_status_changes(conn, [StatusChange(campaign_id, h, Status.UNREACHABLE, at) for h in household_ids])

    async def step_households(self, campaign_id: int, batch_size: int = 5000) -> AsyncIterator[list[StepHousehold]]:
        """Households of the campaign that have not answered, with their current contacts, in batches
        (see `waiting_channels` for what an earlier step still has queued)."""
        last = 0
        while True:
            rows = await self.db.fetchall(
                "SELECT ch.household_id, ch.association_id, h.vulnerable FROM campaign_households ch"
                " JOIN households h ON h.id = ch.household_id"
                f" WHERE ch.campaign_id = ? AND ch.household_id > ? AND ch.status NOT IN {_ANSWERED_SQL}"
                " ORDER BY ch.household_id LIMIT ?",
                (campaign_id, last, batch_size),
            )
            if not rows:
                return
            first, last = rows[0][0], rows[-1][0]
            # (household_id, id) is the order of the household index: no sort
            yield _with_contacts(rows, await self.db.fetchall(
                f"{_CONTACTS} WHERE household_id BETWEEN ? AND ? ORDER BY household_id, id", (first, last)))

    async def waiting_channels(self, campaign_id: int, first: int, last: int,
                               before_step: int | None = None) -> dict[int, frozenset[ChannelName]]:
        """Per household in [first, last]: channels with a delivery still queued or claimed (not a queued
        redial: the step being planned places its own call, and the redial is dropped at its claim)."""
        found: dict[int, set[ChannelName]] = defaultdict(set)
        for r in await self.db.fetchall(
            "SELECT household_id, channel FROM deliveries WHERE campaign_id = ? AND household_id BETWEEN ? AND ?"
            " AND step >= 0 AND step < ? AND (state = 'claimed' OR state = 'queued' AND redials = 0)",
            (campaign_id, first, last, _NO_STEP if before_step is None else before_step),
        ):
            found[r[0]].add(r[1])
        return {h: frozenset(chs) for h, chs in found.items()}

    # -- ladder --------------------------------------------------------------------------------

    async def ladder_progress(self, campaign_id: int) -> LadderProgress:
        row = await self.db.fetchone(
            "SELECT next_step, paused_since, paused_seconds FROM campaign_ladder WHERE campaign_id = ?", (campaign_id,)
        )
        if row is None:
            return LadderProgress(campaign_id, 0)
        return LadderProgress(campaign_id, row[0], row[1], row[2])

    async def advance_ladder(self, campaign_id: int, done_step: int, at: float) -> bool:
        """Records `done_step` as done; guarded so two schedulers cannot both do it."""
        return await self.db.execute(
            "UPDATE campaign_ladder SET next_step = ?, updated_at = ? WHERE campaign_id = ? AND next_step = ?",
            (done_step + 1, at, campaign_id, done_step),
        ) > 0

    async def set_paused(self, campaign_id: int, paused: bool, at: float) -> bool:
        """Starts or ends a pause of a drill's ladder; ending adds the pause to paused_seconds."""
        if paused:
            sql = ("UPDATE campaign_ladder SET paused_since = ?, updated_at = ?"
                   " WHERE campaign_id = ? AND paused_since IS NULL")
            params: tuple[Any, ...] = (at, at, campaign_id)
        else:
            sql = ("UPDATE campaign_ladder SET paused_seconds = paused_seconds + max(0, ? - paused_since),"
                   " paused_since = NULL, updated_at = ? WHERE campaign_id = ? AND paused_since IS NOT NULL")
            params = (at, at, campaign_id)
        return await self.db.execute(sql, params) > 0

    async def mark_doorknock(self, campaign_id: int, at: float) -> dict[int, int]:
        """Every household that has not answered goes on the door-knock list (the never-reached ones
        become unreachable). Returns households on the list per association."""
        async with self.db.transaction() as conn:
            await _make_doorknock_list(conn, campaign_id, at)
        return await self.doorknock_counts(campaign_id)

    async def record_doorknock(self, campaign_id: int, step: int, at: float) -> dict[int, int] | None:
        """The door-knock step recorded, its list made and its notices owed, in one transaction: a
        restart between them cannot leave a list nobody is told of. Nothing for a campaign no longer running."""
        async with self.db.transaction() as conn:
            # a campaign closed or cancelled since the ladder read it: its close made the list, and a
            # remade one would change its report (the never reached turned unreachable) and tell the heads
            async with conn.execute("SELECT 1 FROM campaigns WHERE id = ? AND state = 'running'", (campaign_id,)) as cur:
                if await cur.fetchone() is None:
                    return None
            cur = await conn.execute(
                "UPDATE campaign_ladder SET next_step = ?, updated_at = ? WHERE campaign_id = ? AND next_step = ?",
                (step + 1, at, campaign_id, step),
            )
            if cur.rowcount == 0:
                return None
            await _make_doorknock_list(conn, campaign_id, at)
            await conn.execute(
                "INSERT OR IGNORE INTO doorknock_notices (campaign_id, association_id, owed_since)"
                # typed: PostgreSQL reads a bare parameter in a SELECT list as text
                " SELECT DISTINCT campaign_id, association_id, CAST(? AS DOUBLE PRECISION) FROM campaign_households"
                " WHERE campaign_id = ?"
                f" AND doorknock_at IS NOT NULL AND status NOT IN {_ANSWERED_SQL}",
                (at, campaign_id),
            )
        return await self.doorknock_counts(campaign_id)

    async def owed_doorknock_notices(self) -> dict[int, list[int]]:
        owed: dict[int, list[int]] = {}
        for r in await self.db.fetchall(
            "SELECT campaign_id, association_id FROM doorknock_notices ORDER BY owed_since, campaign_id, association_id"
        ):
            owed.setdefault(r[0], []).append(r[1])
        return owed

    async def doorknock_notices_told(self, campaign_id: int, association_ids: Iterable[int]) -> None:
        ids = list(association_ids)
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            await self.db.execute(
                f"DELETE FROM doorknock_notices WHERE campaign_id = ? AND association_id IN ({marks(len(chunk))})",
                (campaign_id, *chunk),
            )

    async def doorknock_counts(self, campaign_id: int) -> dict[int, int]:
        rows = await self.db.fetchall(
            "SELECT association_id, count(*) FROM campaign_households WHERE campaign_id = ?"
            f" AND doorknock_at IS NOT NULL AND status NOT IN {_ANSWERED_SQL} GROUP BY association_id",
            (campaign_id,),
        )
        return {r[0]: r[1] for r in rows}

    async def doorknock_households(self, campaign_id: int, association_id: int | None = None) -> list[int]:
        """Household ids on the door-knock list that have still not answered."""
        extra, params = ("AND association_id = ?", (association_id,)) if association_id is not None else ("", ())
        rows = await self.db.fetchall(
            "SELECT household_id FROM campaign_households WHERE campaign_id = ? AND doorknock_at IS NOT NULL"
            f" AND status NOT IN {_ANSWERED_SQL} {extra} ORDER BY household_id",
            (campaign_id, *params),
        )
        return [r[0] for r in rows]

    async def household_statuses(self, campaign_id: int) -> dict[int, Status]:
        rows = await self.db.fetchall(
            "SELECT household_id, status FROM campaign_households WHERE campaign_id = ?", (campaign_id,)
        )
        return {r[0]: Status(r[1]) for r in rows}

    async def delivery_counts(self, campaign_id: int) -> dict[tuple[int, str, str], int]:
        """(step, channel, state) → deliveries, for reports and tests."""
        rows = await self.db.fetchall(
            "SELECT step, channel, state, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY step, channel, state",
            (campaign_id,),
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}


_ERASE_REPLIES = (
    "UPDATE replies SET note = NULL, location = NULL, people_safe = NULL, people_injured = NULL"
    " WHERE id IN (SELECT id FROM replies WHERE campaign_id = ? AND (note IS NOT NULL OR location IS NOT NULL"
    " OR people_safe IS NOT NULL OR people_injured IS NOT NULL) LIMIT ?)"
)


# A household's contacts as a step plans with them (`_with_contacts`)
_CONTACTS = "SELECT household_id, id, kind, state = 'working' FROM contacts"


def _with_contacts(rows: Sequence[Row], contact_rows: Iterable[Row]) -> list[StepHousehold]:
    """(household id, association id, vulnerable) rows with their `_CONTACTS` rows, as a step plans them."""
    contacts: dict[int, list[ContactRef]] = defaultdict(list)
    for hid, cid, kind, working in contact_rows:
        contacts[hid].append(ContactRef(cid, kind, bool(working)))
    return [StepHousehold(r[0], r[1], bool(r[2]), tuple(contacts.get(r[0], ()))) for r in rows]


async def _enrol(conn: Conn, campaign_id: int, enrol: Sequence[Enrolment]) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO campaign_households (campaign_id, household_id, association_id, token_hash)"
        " VALUES (?, ?, ?, ?)",
        [(campaign_id, e.household_id, e.association_id, e.token_hash) for e in enrol],
    )


async def _make_doorknock_list(conn: Conn, campaign_id: int, at: float) -> None:
    """The door-knock step's list, inside the caller's transaction: every silent household on it, and
    the never reached made unreachable."""
    await _list_silent(conn, campaign_id, at)
    async with conn.execute(
        "SELECT household_id FROM campaign_households WHERE campaign_id = ? AND status = 'pending'", (campaign_id,),
    ) as cur:
        pending = [r[0] for r in await cur.fetchall()]
    await apply_status_changes(conn, [StatusChange(campaign_id, h, Status.UNREACHABLE, at) for h in pending])


async def _list_silent(conn: Conn, campaign_id: int, at: float) -> None:
    """Every household of the campaign that has not answered goes on the door-knock list (inside the
    caller's transaction). The door-knock step also makes the never reached unreachable; a close
    leaves their status: 'pending' in its report says nothing was sent to them before it."""
    await conn.execute(
        "UPDATE campaign_households SET doorknock_at = coalesce(doorknock_at, ?)"
        f" WHERE campaign_id = ? AND status NOT IN {_ANSWERED_SQL}",
        (at, campaign_id),
    )
