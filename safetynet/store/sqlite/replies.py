"""Replies, household statuses, counters and the help list.

Answers arrive in bursts (a city answering in the first minutes), so writes go through one
`GroupCommit`: many answers share a transaction, and each caller is answered only after the commit
that stored its answer. Every reply carries a `dedupe_key`, so a retried webhook, a double tap or
a re-posted form is stored once.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from safetynet.clock import Clock
from safetynet.domain import CampaignKind, Status
from safetynet.domain.campaigns import ContactCheck
from safetynet.domain.replies import (
    ESCALATION_CLAIM_SECONDS,
    NOTE,
    RESIDENT_ANSWERS,
    CampaignPage,
    HelpRow,
    HistoryEntry,
    HouseholdRef,
    PageState,
    RecordOutcome,
    ReplyEvent,
    ReplyItem,
    ReplyTarget,
    RunningTarget,
    TokenAnswer,
    TokenOutcome,
    UndoOutcome,
    first_running,
    late_reads,
    refuse_other_mark,
)
from safetynet.store.rules import STAFF_TEXTS_KEPT_SECONDS
from safetynet.store.sqlite.db import (
    CHUNK,
    Conn,
    Database,
    GroupCommit,
    OneTripCommit,
    Sql,
    Steps,
    drive,
    marks,
    packed,
    real,
)
from safetynet.store.sqlite.help_requests import ESCALATE_SQL, HELP_SQL, help_row_from, open_help
from safetynet.store.sqlite.reply_targets import (
    RUNNING_SQL,
    STATUS,
    TARGET_SQL,
    PageLookups,
    TokenLookups,
    by_token_hashes,
    running_from_row,
    target_from_row,
    targets_by_hash,
)
from safetynet.store.sqlite.reply_undo import not_undone, note_prior_statuses, undo_confirmation
from safetynet.store.sqlite.statuses import StatusChange, current_statuses, status_steps

log = structlog.get_logger("store")

# No wait for company before a commit (here and on PostgreSQL): answers that come while one commit
# is written share the next, so a batch grows with the commit's own cost (SQLite's WAL commit with
# synchronous=NORMAL makes no fsync; PostgreSQL's WAL flush was 0.2 ms). A fixed 2 ms gather left
# the event loop idle while every connection waited on it (issue 18: POSTs alone under wrk 8.5k →
# 11–15k answers/s, the citywide reply storm 0.38 → 0.31 ms of server CPU an answer; README).
_GROUP_DELAY_SECONDS = 0.0


Listener = Callable[[ReplyEvent], None]
# What the group commit answers each entry: the outcome (None: not stored), the batch's news, the
# target a token answer found (None for a plain item), and what its `build` raised, for its caller only.
Stored = tuple[RecordOutcome | None, "BatchNews | None", ReplyTarget | None, Exception | None]


class BatchNews:
    """What one batch changed (statuses, the help list), told to listeners once after its commit:
    by the first of the batch's callers to wake."""

    __slots__ = ("event", "told")

    def __init__(self, event: ReplyEvent) -> None:
        self.event = event
        self.told = False

_INSERT_HEAD = (
    "INSERT INTO replies (campaign_id, household_id, status, channel, dedupe_key, people_safe, people_injured,"
    " location, note, method, staff_id, actor, received_at) VALUES "
)


def _insert_row(i: ReplyItem) -> tuple[object, ...]:
    d = i.details
    location = str(d.location) if d.location is not None else None
    return (i.campaign_id, i.household_id, i.status, i.channel, i.dedupe_key, d.people_safe, d.people_injured,
            location, d.note or None, i.method, i.staff_id, i.actor, i.at)


_CHECK_SQL = (
    "SELECT cc.campaign_id, cc.contact_id, cc.household_id, cc.channel, k.state, cc.confirmed_at, h.language"
    " FROM contact_checks cc JOIN campaigns k ON k.id = cc.campaign_id JOIN households h ON h.id = cc.household_id"
    " WHERE cc.token_hash = ?"
)


_HISTORY_COLUMNS = ("status, channel, {at}, people_safe, people_injured, location, note, method,"
                    f" coalesce(actor, ''), id, undoes, NOT ({not_undone()}), household_id")


class ReplyStore:
    # The hot reads (token lookups, histories) come back as one JSON value a query (`db.packed`):
    # a cost of Python's sqlite3 on a reader's thread that an adapter on the event loop does not have.
    PACKED_READS = True
    # SQLite's single writer holds the database for the whole batch: nothing else changes a household
    # between a token answer's read and its write. PostgreSQL locks the rows (`_under_lock`).
    LOCKS_TARGETS = False

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # A batch of answers is one call on the event loop's own connection (`Database.write`).
        self._commit: GroupCommit[ReplyItem | TokenAnswer, Stored] = OneTripCommit(
            db, self._flush_steps, max_items=CHUNK, max_delay_seconds=_GROUP_DELAY_SECONDS
        )
        self._listeners: list[Listener] = []
        self._lookups = TokenLookups(db, packed=self.PACKED_READS)
        self._pages = PageLookups(db, packed=self.PACKED_READS)
        self._flushes = 0
        self._flushed = 0

    async def stop(self) -> None:
        """Flushes and stops background group commits."""
        await self._commit.stop()

    def add_listener(self, listener: Listener) -> None:
        """`listener(event)` runs after each commit that changed statuses or the help list."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- reads ---------------------------------------------------------------------------------

    async def target_by_token_hash(self, token_hash: str) -> ReplyTarget | None:
        """Batched with the other lookups of the same moment (an answer by token reads its target in
        its own commit instead: `record_by_token`)."""
        return await self._lookups.get(token_hash)

    async def page_state(self, token_hash: str) -> PageState | None:
        """The reply page's read, batched like the token lookups (one trip: target and latest replies)."""
        return await self._pages.get(token_hash)

    async def target(self, campaign_id: int, household_id: int) -> ReplyTarget | None:
        row = await self.db.fetchone(
            TARGET_SQL + " WHERE ch.campaign_id = ? AND ch.household_id = ?", (campaign_id, household_id)
        )
        return target_from_row(row) if row else None

    async def check_by_token(self, token_hash: str) -> ContactCheck | None:
        row = await self.db.fetchone(_CHECK_SQL, (token_hash,))
        return ContactCheck(*row) if row else None

    async def confirm_check(self, token_hash: str, at: float) -> ContactCheck | None:
        await self.db.execute(
            "UPDATE contact_checks SET confirmed_at = ? WHERE token_hash = ? AND confirmed_at IS NULL"
            " AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')",
            (at, token_hash),
        )
        return await self.check_by_token(token_hash)

    async def running_targets_by_contact(self, kinds: Sequence[str], address: str,
                                         campaign_id: int | None = None,
                                         made_at: float | None = None) -> list[ReplyTarget]:
        """Households with a working contact of one of `kinds` at `address` that are in a running
        campaign (`campaign_id` when given), latest campaign first (a phone several households
        share finds them all)."""
        if not kinds:
            return []
        only = " AND k.id = ?" if campaign_id is not None else ""
        rows = await self.db.fetchall(
            RUNNING_SQL + " JOIN contacts c ON c.household_id = ch.household_id"
            f" WHERE k.state = 'running' AND k.kind <> 'check' AND c.kind IN ({marks(len(kinds))})"
            f" AND c.address = ?{only} AND c.state = 'working'",
            (*kinds, address, *(() if campaign_id is None else (campaign_id,))),
        )
        # a household answers in one running campaign only: the domain's rule picks it
        return first_running((running_from_row(r) for r in rows), made_at)

    async def running_targets_of(self, household_id: int) -> list[RunningTarget]:
        # by the primary key (campaign, household) of each running campaign: no index by household alone
        # (k, joined on the campaign, is one of those: its state needs no condition of its own)
        rows = await self.db.fetchall(
            RUNNING_SQL + " WHERE ch.campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')"
            " AND ch.household_id = ?", (household_id,))
        return [running_from_row(r) for r in rows]

    async def campaign_page(self, campaign_id: int, association_id: int) -> CampaignPage | None:
        row = await self.db.fetchone(
            "SELECT k.id, k.kind, k.title, k.messages, a.name FROM campaigns k, associations a"
            " WHERE k.id = ? AND a.id = ?",
            (campaign_id, association_id),
        )
        if row is None:
            return None
        try:
            messages = json.loads(row[3])
        except ValueError:
            messages = {}
        if not isinstance(messages, dict):
            messages = {}
        return CampaignPage(row[0], CampaignKind(row[1]), row[2], {str(k): str(v) for k, v in messages.items()}, row[4])

    async def household_ref(self, campaign_id: int, household_id: int) -> HouseholdRef | None:
        """Where a household of a campaign sits (for scope checks); None if not in the campaign."""
        row = await self.db.fetchone(
            "SELECT ch.household_id, ch.association_id, a.name, d.name FROM campaign_households ch"
            " JOIN associations a ON a.id = ch.association_id JOIN districts d ON d.id = a.district_id"
            " WHERE ch.campaign_id = ? AND ch.household_id = ?",
            (campaign_id, household_id),
        )
        return HouseholdRef(row[0], row[1], row[2], row[3]) if row else None

    async def history(self, campaign_id: int, household_id: int) -> list[HistoryEntry]:
        """Every reply of a household in a campaign, oldest first (append-only: nothing is lost;
        an undone confirmation stays, marked undone, and its undo follows it)."""
        where = " FROM replies WHERE campaign_id = ? AND household_id = ? ORDER BY id"  # replies_household
        params = (campaign_id, household_id)
        if self.PACKED_READS:
            rows: Sequence[Sequence[Any]] = await self.db.fetch_packed(
                packed(_HISTORY_COLUMNS.format(at=real("received_at"))) + where, params)
        else:
            rows = await self.db.fetchall("SELECT " + _HISTORY_COLUMNS.format(at="received_at") + where, params)
        return [HistoryEntry(r[0], r[1], float(r[2]), r[3], r[4], r[5], r[6], r[7], r[8] or None, r[9], r[10],
                             bool(r[11])) for r in rows]

    async def reply_id(self, dedupe_key: str) -> int | None:
        """The id of the reply stored under `dedupe_key` (what an undo names)."""
        row = await self.db.fetchone("SELECT id FROM replies WHERE dedupe_key = ?", (dedupe_key,))
        return int(row[0]) if row else None

    async def staff_text_answer(self, dedupe_key: str) -> str | None:
        row = await self.db.fetchone("SELECT answer FROM staff_texts WHERE dedupe_key = ? AND received_at >= ?",
                                     (dedupe_key, self.clock.now() - STAFF_TEXTS_KEPT_SECONDS))
        return str(row[0]) if row else None

    async def keep_staff_text(self, dedupe_key: str, answer: str, at: float) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM staff_texts WHERE received_at < ?", (at - STAFF_TEXTS_KEPT_SECONDS,))
            await conn.execute("INSERT INTO staff_texts (dedupe_key, answer, received_at) VALUES (?, ?, ?)"
                               " ON CONFLICT (dedupe_key) DO NOTHING", (dedupe_key, answer, at))

    async def forget_staff_texts(self, before: float) -> int:
        return await self.db.execute("DELETE FROM staff_texts WHERE received_at < ?", (before,))

    async def count_replies(self, campaign_id: int, statuses: Sequence[str] = (), channel: str | None = None) -> int:
        sql = "SELECT count(*) FROM replies WHERE campaign_id = ?"
        params: list[object] = [campaign_id]
        if statuses:
            sql += f" AND status IN ({marks(len(statuses))})"
            params += list(statuses)
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel)
        return int(await self.db.fetchval(sql, params, 0))

    async def help_list(
        self, campaign_id: int, association_ids: Sequence[int] | None = None, include_handled: bool = False
    ) -> list[HelpRow]:
        """Open help requests (vulnerable first, oldest first), then handled ones if asked."""
        where = ["h.campaign_id = ?"]
        params: list[object] = [campaign_id]
        if not include_handled:
            where.append("h.handled_at IS NULL")
        if association_ids is not None:
            if not association_ids:
                return []
            where.append(f"ch.association_id IN ({marks(len(association_ids))})")
            params += list(association_ids)
        rows = await self.db.fetchall(HELP_SQL.format(where=" AND ".join(where)), params)
        return [help_row_from(r) for r in rows]

    async def help_row(self, campaign_id: int, household_id: int) -> HelpRow | None:
        rows = await self.db.fetchall(
            HELP_SQL.format(where="h.campaign_id = ? AND h.household_id = ?"), (campaign_id, household_id)
        )
        return help_row_from(rows[0]) if rows else None

    # -- writes --------------------------------------------------------------------------------

    async def record(self, item: ReplyItem) -> RecordOutcome:
        """Stores one reply (with many others in one transaction); returns after the commit."""
        outcome, news, _, _ = await self._commit.submit(self._storable(item))
        self._tell(news)
        assert outcome is not None  # a plain item is always stored or a duplicate
        return outcome

    async def record_by_token(self, answer: TokenAnswer) -> TokenOutcome:
        """`record` of a reply whose target is read in its own batch: one trip to the writer."""
        outcome, news, target, failed = await self._commit.submit(answer)
        if failed is not None:
            raise failed
        self._tell(news)
        return TokenOutcome(target, outcome)

    def _tell(self, news: BatchNews | None) -> None:
        if news is not None and not news.told:
            news.told = True
            self._emit(news.event)

    def _storable(self, item: ReplyItem) -> ReplyItem:
        """The item as the database keeps it (PostgreSQL changes a NUL in its key)."""
        return item

    async def undo_confirmation(
        self, campaign_id: int, household_id: int, reply_id: int, staff_id: int | None, actor: str | None,
        dedupe_key: str | None = None,
    ) -> UndoOutcome | None:
        """Takes back the staff confirmation `reply_id` (see `reply_undo`); None if there is none such.

        Raises `UndoRefused` when an answer came after it. Runs in its own transaction on the writer,
        after any batch of answers in flight, so the check and the change see the same household.
        """
        async with self.db.transaction() as conn:
            done = await undo_confirmation(conn, campaign_id, household_id, reply_id, staff_id, actor,
                                           self.clock.now(), dedupe_key)
        if done is None:
            return None
        outcome, transition = done
        if transition is not None:
            self._emit(ReplyEvent((transition,), ()))
        return outcome

    async def mark_handled(self, campaign_id: int, household_id: int, staff_id: int | None, login: str,
                           dedupe_key: str | None = None) -> bool | None:
        """True if it was open and is now handled; False if already handled (or by the text of
        `dedupe_key` before); None if never asked for help."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await _help_mark(conn, campaign_id, household_id)
            if row is None:
                return None
            if row[1] is not None or (dedupe_key is not None and row[3] == dedupe_key):
                return False
            # still open when written: of two taps at once (PostgreSQL reads committed), one marks it;
            # a page's mark (no key) leaves the last text's key, which its retry still finds
            marked = await conn.execute(
                "UPDATE help_requests SET handled_at = ?, handled_by = ?, handled_by_login = ?,"
                " handled_key = coalesce(?, handled_key)"
                " WHERE campaign_id = ? AND household_id = ? AND handled_at IS NULL",
                (now, staff_id, login, dedupe_key, campaign_id, household_id),
            )
            if marked.rowcount == 0:
                return False
            association_id = int(row[0])
        self._emit(ReplyEvent((), ((campaign_id, association_id),)))
        return True

    async def reopen_help(self, campaign_id: int, household_id: int, marked_by: str | None = None) -> bool | None:
        """True if it was handled and is open again; False if open already; None if never asked for help."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await _help_mark(conn, campaign_id, household_id)
            if row is None:
                return None
            if row[1] is None:
                return False
            refuse_other_mark(row[2], marked_by)
            # the mark read is the mark taken back (PostgreSQL reads committed, a later mark may land
            # in between): of two taps at once one reopens, and a new mark of another is left alone
            reopened = await conn.execute(
                "UPDATE help_requests SET handled_at = NULL, handled_by = NULL, handled_by_login = NULL,"
                " escalated_at = NULL, escalation_told_at = NULL, reopened_at = ? WHERE campaign_id = ? AND household_id = ? AND handled_at = ?",
                (now, campaign_id, household_id, row[1]),
            )
            if reopened.rowcount == 0:
                # marked anew between the read and the write: someone's mark stands, as read again
                again = await _help_mark(conn, campaign_id, household_id)
                if again is not None and again[1] is not None:
                    refuse_other_mark(again[2], marked_by)
                return False
            association_id = int(row[0])
        self._emit(ReplyEvent((), ((campaign_id, association_id),)))
        return True

    async def unnotified_help(self, max_age_seconds: float = 6 * 3600,
                              min_age_seconds: float = 0.0) -> list[tuple[int, int]]:
        """Open help requests whose alert never went out (a restart in between), newest first."""
        now = self.clock.now()
        rows = await self.db.fetchall(
            "SELECT campaign_id, household_id FROM help_requests WHERE handled_at IS NULL AND notified_at IS NULL"
            " AND opened_at > ? AND opened_at <= ? ORDER BY opened_at DESC",
            (now - max_age_seconds, now - min_age_seconds),
        )
        return [(r[0], r[1]) for r in rows]

    async def claim_unhandled_help(self, waiting_since: float) -> list[tuple[int, int]]:
        """Marks escalated, and returns, the open help requests of running campaigns waiting since
        `waiting_since` or before and not escalated since; one statement, so each is returned once."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(ESCALATE_SQL, (now, waiting_since, now - ESCALATION_CLAIM_SECONDS))
            rows = await cur.fetchall()
        return sorted((r[0], r[1]) for r in rows)

    async def escalation_told(self, campaign_id: int, household_id: int) -> None:
        await self.db.execute(
            "UPDATE help_requests SET escalation_told_at = ? WHERE campaign_id = ? AND household_id = ?"
            " AND escalated_at IS NOT NULL AND escalation_told_at IS NULL",
            (self.clock.now(), campaign_id, household_id),
        )

    async def mark_notified(self, campaign_id: int, household_id: int) -> None:
        await self.db.execute(
            "UPDATE help_requests SET notified_at = coalesce(notified_at, ?) WHERE campaign_id = ? AND household_id = ?",
            (self.clock.now(), campaign_id, household_id),
        )

    # -- phone confirmation (enrolment) ----------------------------------------------------------

    async def start_phone_verification(
        self, household_id: int, phone: str, code_hash: str, ttl_seconds: float, max_pending: int = 3
    ) -> bool:
        """Stores a code sent to `phone`; False when the household already has `max_pending` live ones."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM phone_verifications WHERE expires_at < ?", (now,))
            async with conn.execute(
                "SELECT count(*) FROM phone_verifications WHERE household_id = ?", (household_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] >= max_pending:
                return False
            await conn.execute(
                "INSERT INTO phone_verifications (household_id, phone, code_hash, expires_at, created_at)"
                " VALUES (?,?,?,?,?)",
                (household_id, phone, code_hash, now + ttl_seconds, now),
            )
        return True

    async def check_phone_code(self, household_id: int, code_hash: str, max_attempts: int) -> str | None:
        """The phone whose live code matches (and the code is used up), else None (an attempt is spent)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT id, phone, code_hash FROM phone_verifications WHERE household_id = ? AND expires_at >= ?"
                " AND attempts < ? ORDER BY id DESC",
                (household_id, now, max_attempts),
            ) as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                if hmac.compare_digest(str(row[2]), code_hash):
                    await conn.execute("DELETE FROM phone_verifications WHERE id = ?", (row[0],))
                    return str(row[1])
            if rows:
                await conn.execute(
                    "UPDATE phone_verifications SET attempts = attempts + 1 WHERE household_id = ?", (household_id,)
                )
        return None

    async def forget_phone_codes(self, before: float) -> int:
        return await self.db.execute("DELETE FROM phone_verifications WHERE expires_at < ?", (before,))

    def _emit(self, event: ReplyEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("reply_listener_failed")

    def counters(self) -> dict[str, int]:
        """How well concurrent answers are shared: lookups and writes, and the batches they took."""
        return {"lookups": self._lookups.lookups + self._pages.lookups,
                "lookup_batches": self._lookups.batches + self._pages.batches,
                "writes": self._flushed, "write_batches": self._flushes}

    async def _flush(self, conn: Conn, entries: list[ReplyItem | TokenAnswer]) -> list[Stored]:
        """A batch inside the caller's transaction, statement by statement (PostgreSQL's group commit)."""
        return await drive(conn, self._flush_steps(entries))

    def _flush_steps(self, entries: list[ReplyItem | TokenAnswer]) -> Steps[list[Stored]]:
        """The statements of one batch of replies (on SQLite, run in one call on the loop's connection;
        the token answers' `build` runs here too). Token answers find their targets in one read of the batch's transaction. One
        whose household an earlier entry of the batch answers waits for another round of the same
        transaction, its target read again: its `build` sees what came before it, as one answer
        after another would."""
        self._flushes += 1
        out: dict[int, Stored] = {}
        waiting = list(range(len(entries)))
        while waiting:
            waiting = yield from self._round(entries, waiting, out)
        return [out[n] for n in range(len(entries))]

    def _round(self, entries: list[ReplyItem | TokenAnswer], indices: list[int],
               out: dict[int, Stored]) -> Steps[list[int]]:
        """Stores the entries at `indices` that can go now, answers them in `out`; returns the rest."""
        hashes = sorted({e.token_hash for n in indices if isinstance(e := entries[n], TokenAnswer)})
        targets: dict[str, ReplyTarget] = {}
        if hashes:
            targets = targets_by_hash((yield Sql(by_token_hashes(len(hashes)), hashes)))
            if self.LOCKS_TARGETS and targets:
                targets = yield from _under_lock(entries, indices, targets)
        items: list[ReplyItem] = []
        slots: list[tuple[int, ReplyTarget | None]] = []
        later: list[int] = []
        answered: set[tuple[int, int]] = set()  # households an entry of this round writes to
        held: set[tuple[int, int]] = set()  # households whose entries wait for the next round, in order
        for n in indices:
            e = entries[n]
            target: ReplyTarget | None = None
            if isinstance(e, TokenAnswer):
                target = targets.get(e.token_hash)
                if target is None:
                    out[n] = (None, None, None, None)
                    continue
                household = (target.campaign_id, target.household_id)
                if household in answered or household in held:
                    held.add(household)
                    later.append(n)
                    continue
                try:
                    item = e.build(target)
                except Exception as failed:  # the caller's bug, the caller's error: not the batch's
                    out[n] = (None, None, target, failed)
                    continue
                if item is None:
                    out[n] = (None, None, target, None)
                    continue
                item = self._storable(item)
            else:
                item, household = e, (e.campaign_id, e.household_id)
                if household in held:
                    later.append(n)
                    continue
            answered.add(household)
            items.append(item)
            slots.append((n, target))
        results = yield from self._store_steps(items)
        for (n, target), (outcome, news) in zip(slots, results, strict=True):
            out[n] = (outcome, news, target, None)
        return later

    def _store_steps(self, items: list[ReplyItem]) -> Steps[list[tuple[RecordOutcome, BatchNews | None]]]:
        if not items:
            return []
        self._flushed += len(items)
        late = yield from _late_reads(items)
        inserted = yield from _insert_new([i for n, i in enumerate(items) if n not in late] if late else items)
        fresh: list[ReplyItem] = []
        is_new: list[bool] = []
        for n, i in enumerate(items):
            new = i.dedupe_key in inserted and n not in late
            inserted.discard(i.dedupe_key)  # the same key twice in one batch: the second is a duplicate
            is_new.append(new)
            if new:
                fresh.append(i)
        yield from note_prior_statuses(fresh)
        changes = [StatusChange(i.campaign_id, i.household_id, STATUS[i.status], i.at) for i in fresh if i.status != NOTE]
        transitions = (yield from status_steps(changes)) if changes else []
        opened: dict[str, bool] = {}
        for i in fresh:
            if i.status == Status.NEED_HELP:
                opened[i.dedupe_key] = yield from open_help(i)
        help_changed = tuple(sorted({(i.campaign_id, i.association_id) for i in fresh if opened.get(i.dedupe_key)}))
        news = BatchNews(ReplyEvent(tuple(transitions), help_changed)) if transitions or help_changed else None
        return [
            (RecordOutcome(duplicate=not new, help_opened=opened.get(i.dedupe_key, False) if new else False), news)
            for i, new in zip(items, is_new, strict=True)
        ]


def _under_lock(entries: list[ReplyItem | TokenAnswer], indices: list[int],
                targets: dict[str, ReplyTarget]) -> Steps[dict[str, ReplyTarget]]:
    """`targets` with each household's status as read under its row lock (PostgreSQL: another process
    may be writing it). Every household the round writes to is locked, campaign by campaign in
    household order (`current_statuses`), so the status step finds them locked already, in the same
    order as every other writer."""
    by_campaign: dict[int, set[int]] = {}
    for n in indices:
        e = entries[n]
        who: ReplyItem | ReplyTarget | None = targets.get(e.token_hash) if isinstance(e, TokenAnswer) else e
        if who is not None:
            by_campaign.setdefault(who.campaign_id, set()).add(who.household_id)
    locked: dict[tuple[int, int], Status] = {}
    for campaign_id in sorted(by_campaign):
        current = yield from current_statuses(campaign_id, sorted(by_campaign[campaign_id]))
        locked.update({(campaign_id, hh): status for hh, (_, status, _) in current.items()})
    return {h: dataclasses.replace(t, status=locked.get((t.campaign_id, t.household_id), t.status))
            for h, t in targets.items()}


# Rows per multi-row INSERT: 13 parameters each, well under SQLite's 32,766.
_INSERT_ROWS = 250
_ROW_MARKS = "(" + marks(13) + ")"


def _late_reads(items: list[ReplyItem]) -> Steps[set[int]]:
    """The batch's reads that come after their household's own answer (`domain.late_reads`), from
    the households' statuses read inside the batch's transaction, one campaign at a time.

    Every household of the batch in a campaign with a read is read, not only those with a read: on
    PostgreSQL this read locks the rows (`current_statuses`), so an answer another process is
    writing to one of them is waited for and seen, and the status step after it finds its rows
    locked already, in the same order as every other writer."""
    with_reads = sorted({i.campaign_id for i in items if i.status == Status.READ})
    if not with_reads:
        return set()
    by_campaign: dict[int, set[int]] = {}
    for i in items:
        by_campaign.setdefault(i.campaign_id, set()).add(i.household_id)
    answered: list[tuple[int, int]] = []
    for campaign_id in with_reads:
        current = yield from current_statuses(campaign_id, sorted(by_campaign[campaign_id]))
        answered.extend((campaign_id, hh) for hh, (_, status, _) in current.items() if status in RESIDENT_ANSWERS)
    return late_reads(items, answered)


def _insert_new(items: list[ReplyItem]) -> Steps[set[str]]:
    """Inserts the replies whose dedupe key is new, in one statement per chunk; returns their keys.

    `ON CONFLICT DO NOTHING RETURNING` does the duplicate check and the insert in one pass (and
    one round trip): a key already stored, or repeated in the batch, is skipped.
    """
    inserted: set[str] = set()
    for n in range(0, len(items), _INSERT_ROWS):
        chunk = items[n : n + _INSERT_ROWS]
        values = ",".join([_ROW_MARKS] * len(chunk))
        params = [v for i in chunk for v in _insert_row(i)]
        rows = yield Sql(_INSERT_HEAD + values + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key", params)
        inserted.update(r[0] for r in rows)
    return inserted


async def _help_mark(conn: Any, campaign_id: int, household_id: int) -> Any:
    """(association id, handled_at, handled_by_login, handled_key) of a household's help request, or None."""
    async with conn.execute(
        "SELECT ch.association_id, h.handled_at, h.handled_by_login, h.handled_key FROM help_requests h"
        " JOIN campaign_households ch ON ch.campaign_id = h.campaign_id AND ch.household_id = h.household_id"
        " WHERE h.campaign_id = ? AND h.household_id = ?",
        (campaign_id, household_id),
    ) as cur:
        return await cur.fetchone()
