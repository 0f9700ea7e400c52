"""Replies, statuses from them and the help list in memory (`ReplyRepo`)."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Iterable, Sequence

import structlog

from safetynet.domain import ANSWERED, CampaignKind, CampaignState, Status
from safetynet.domain.campaigns import ContactCheck, StatusTransition, ladder_from_json
from safetynet.domain.replies import (
    ESCALATION_CLAIM_SECONDS,
    NOTE,
    RESIDENT_ANSWERS,
    UNDO,
    CampaignPage,
    HelpRow,
    HistoryEntry,
    HouseholdRef,
    PageState,
    RecordOutcome,
    ReplyChannel,
    ReplyEvent,
    ReplyItem,
    ReplyTarget,
    RunningTarget,
    TokenAnswer,
    TokenOutcome,
    UndoOutcome,
    UndoRefused,
    escalation_due,
    first_running,
    recent_of,
    refuse_other_mark,
)
from safetynet.store.memory.tables import HelpRequestRow, MemberRow, PhoneCodeRow, ReplyRow, Tables
from safetynet.store.ports import ReplyListener
from safetynet.store.rules import (
    STAFF_TEXTS_KEPT_SECONDS,
    UNREACHED_STATES,
    answer_minute,
    closing_lists,
    door_knock_made,
    status_after_undo,
    undo_key,
)

log = structlog.get_logger("store")

# What a reply may say (the replies table's CHECK in SQLite; an undo is stored by undo_confirmation only).
_STATUSES = frozenset({"read", "safe", "need_help", "confirmed_in_person", NOTE})
_ANSWERED = frozenset(str(s) for s in ANSWERED)
_CONFIRMED = str(Status.CONFIRMED_IN_PERSON)
_STAFF = str(ReplyChannel.STAFF)


class MemoryReplies:
    def __init__(self, t: Tables) -> None:
        self.t = t
        self._listeners: list[ReplyListener] = []
        self._counters = {"lookups": 0, "lookup_batches": 0, "writes": 0, "write_batches": 0}

    def add_listener(self, listener: ReplyListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ReplyListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: ReplyEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("reply_listener_failed")

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    # -- reads -------------------------------------------------------------------------------

    def _target(self, m: MemberRow) -> ReplyTarget | None:
        c = self.t.campaigns.get(m.campaign_id)
        h = self.t.households.get(m.household_id)
        if c is None or h is None:
            return None
        return ReplyTarget(m.campaign_id, m.household_id, m.association_id, Status(m.status),
                           CampaignState(c.state), CampaignKind(c.kind), c.closed_at, h.language or "ja")

    async def target_by_token_hash(self, token_hash: str) -> ReplyTarget | None:
        await asyncio.sleep(0)
        self._counters["lookups"] += 1
        self._counters["lookup_batches"] += 1
        key = self.t.tokens.get(token_hash)
        return self._target(self.t.members[key]) if key is not None else None

    async def page_state(self, token_hash: str) -> PageState | None:
        target = await self.target_by_token_hash(token_hash)
        if target is None:
            return None
        if target.status not in ANSWERED:
            return PageState(target)
        return PageState(target, recent_of(await self.history(target.campaign_id, target.household_id)))

    async def target(self, campaign_id: int, household_id: int) -> ReplyTarget | None:
        await asyncio.sleep(0)
        m = self.t.members.get((campaign_id, household_id))
        return self._target(m) if m is not None else None

    async def check_by_token(self, token_hash: str) -> ContactCheck | None:
        await asyncio.sleep(0)
        key = self.t.check_tokens.get(token_hash)
        if key is None:
            return None
        household_id, channel, _, confirmed_at = self.t.checks[key]
        c = self.t.campaigns[key[0]]
        h = self.t.households.get(household_id)
        return ContactCheck(key[0], key[1], household_id, channel, c.state, confirmed_at,
                            h.language if h is not None else "ja")

    async def confirm_check(self, token_hash: str, at: float) -> ContactCheck | None:
        await self.t.write()
        key = self.t.check_tokens.get(token_hash)
        if key is not None and self.t.checks[key][3] is None and self.t.campaigns[key[0]].state == "running":
            self.t.checks[key][3] = at
        return await self.check_by_token(token_hash)

    async def running_targets_by_contact(self, kinds: Sequence[str], address: str,
                                         campaign_id: int | None = None,
                                         made_at: float | None = None) -> list[ReplyTarget]:
        await asyncio.sleep(0)
        t = self.t
        holders = {c.household_id for c in t.contacts.values()
                   if c.kind in kinds and c.address == address and c.state == "working"}
        found = [m for m in t.members.values() if m.household_id in holders
                 and (campaign_id is None or m.campaign_id == campaign_id)
                 and (c := t.campaigns.get(m.campaign_id)) is not None and c.state == "running"
                 and c.kind != CampaignKind.CHECK]
        return first_running(self._running(found), made_at)

    def _running(self, members: Iterable[MemberRow]) -> list[RunningTarget]:
        found: list[RunningTarget] = []
        for m in members:
            target = self._target(m)
            if target is not None:
                found.append(RunningTarget(target, self.t.campaigns[m.campaign_id].began))
        return found

    async def running_targets_of(self, household_id: int) -> list[RunningTarget]:
        await asyncio.sleep(0)
        t = self.t
        return self._running(m for m in t.members.values() if m.household_id == household_id
                             and (c := t.campaigns.get(m.campaign_id)) is not None and c.state == "running")

    async def campaign_page(self, campaign_id: int, association_id: int) -> CampaignPage | None:
        await asyncio.sleep(0)
        c = self.t.campaigns.get(campaign_id)
        a = self.t.association(association_id)
        if c is None or a is None:
            return None
        try:
            messages = json.loads(c.messages)
        except ValueError:
            messages = {}
        if not isinstance(messages, dict):
            messages = {}
        return CampaignPage(c.id, CampaignKind(c.kind), c.title, {str(k): str(v) for k, v in messages.items()}, a.name)

    async def household_ref(self, campaign_id: int, household_id: int) -> HouseholdRef | None:
        await asyncio.sleep(0)
        m = self.t.members.get((campaign_id, household_id))
        a = self.t.association(m.association_id) if m is not None else None
        return HouseholdRef(household_id, a.id, a.name, a.district) if a is not None else None

    def _replies_of(self, campaign_id: int, household_id: int) -> list[ReplyRow]:
        return sorted((r for r in self.t.replies.values()
                       if r.campaign_id == campaign_id and r.household_id == household_id), key=lambda r: r.id)

    async def history(self, campaign_id: int, household_id: int) -> list[HistoryEntry]:
        await asyncio.sleep(0)
        undone = self.t.undone()
        return [HistoryEntry(r.status, r.channel, r.received_at, r.people_safe, r.people_injured, r.location, r.note,
                             r.method, r.actor or None, r.id, r.undoes, r.id in undone)
                for r in self._replies_of(campaign_id, household_id)]

    async def reply_id(self, dedupe_key: str) -> int | None:
        await asyncio.sleep(0)
        return next((r.id for r in self.t.replies.values() if r.dedupe_key == dedupe_key), None)

    async def staff_text_answer(self, dedupe_key: str) -> str | None:
        await asyncio.sleep(0)
        kept = self.t.staff_texts.get(dedupe_key)
        return kept[0] if kept is not None and kept[1] >= self.t.clock.now() - STAFF_TEXTS_KEPT_SECONDS else None

    async def keep_staff_text(self, dedupe_key: str, answer: str, at: float) -> None:
        await self.t.write()
        texts = self.t.staff_texts
        for key in [k for k, (_, kept_at) in texts.items() if kept_at < at - STAFF_TEXTS_KEPT_SECONDS]:
            del texts[key]
        texts.setdefault(dedupe_key, (answer, at))

    async def forget_staff_texts(self, before: float) -> int:
        await self.t.write()
        gone = [k for k, (_, kept_at) in self.t.staff_texts.items() if kept_at < before]
        for key in gone:
            del self.t.staff_texts[key]
        return len(gone)

    async def count_replies(self, campaign_id: int, statuses: Sequence[str] = (), channel: str | None = None) -> int:
        await asyncio.sleep(0)
        return sum(1 for r in self.t.replies.values() if r.campaign_id == campaign_id
                   and (not statuses or r.status in statuses) and (channel is None or r.channel == channel))

    def _help_row(self, key: tuple[int, int], h: HelpRequestRow) -> HelpRow | None:
        t = self.t
        m, hh = t.members.get(key), t.households.get(key[1])
        a = t.association(m.association_id) if m is not None else None
        if m is None or hh is None or a is None:
            return None
        note, injured, location, safe = t.latest_details(*key)
        staff = t.staff.get(h.handled_by) if h.handled_by is not None else None
        return HelpRow(
            campaign_id=key[0], household_id=key[1], association_id=m.association_id, association=a.name,
            district=a.district, group=t.group_name(hh.group_id), name=hh.name, address=hh.address,
            members=hh.members, vulnerable=hh.vulnerable, language=hh.language, status=Status(m.status),
            opened_at=h.opened_at, handled_at=h.handled_at,
            handled_by=h.handled_by_login if h.handled_by_login is not None else (staff.login if staff else None),
            note=note, people_injured=injured, people_safe=safe, location=location,
            household_key=hh.household_key, consent=hh.consent, earlier_notes=t.earlier_notes(*key),
        )

    async def help_list(
        self, campaign_id: int, association_ids: Sequence[int] | None = None, include_handled: bool = False
    ) -> list[HelpRow]:
        await asyncio.sleep(0)
        if association_ids is not None and not association_ids:
            return []
        rows = []
        for key, h in self.t.help.items():
            if key[0] != campaign_id or (h.handled_at is not None and not include_handled):
                continue
            row = self._help_row(key, h)
            if row is not None and (association_ids is None or row.association_id in association_ids):
                rows.append(row)
        # open first, vulnerable first, oldest first
        return sorted(rows, key=lambda r: (r.handled_at is not None, not r.vulnerable, r.opened_at))

    async def help_row(self, campaign_id: int, household_id: int) -> HelpRow | None:
        await asyncio.sleep(0)
        key = (campaign_id, household_id)
        h = self.t.help.get(key)
        return self._help_row(key, h) if h is not None else None

    # -- writes ------------------------------------------------------------------------------

    async def record_by_token(self, answer: TokenAnswer) -> TokenOutcome:
        await self.t.write()
        key = self.t.tokens.get(answer.token_hash)
        # read and written with no await between: what the SQL stores do in one transaction
        target = self._target(self.t.members[key]) if key is not None else None
        if target is None:
            return TokenOutcome(None, None)
        item = answer.build(target)
        return TokenOutcome(target, None if item is None else self._store(item))

    async def record(self, item: ReplyItem) -> RecordOutcome:
        if item.status not in _STATUSES:
            raise ValueError(f"not a reply status: {item.status!r}")
        await self.t.write()
        return self._store(item)

    def _store(self, item: ReplyItem) -> RecordOutcome:
        if item.status not in _STATUSES:
            raise ValueError(f"not a reply status: {item.status!r}")
        self._counters["writes"] += 1
        self._counters["write_batches"] += 1
        if item.dedupe_key in self.t.reply_keys:
            return RecordOutcome(duplicate=True)
        t, d = self.t, item.details
        member = t.members.get((item.campaign_id, item.household_id))
        if item.status == Status.READ and member is not None and member.status in RESIDENT_ANSWERS:
            return RecordOutcome(duplicate=True)  # a read after the answer: see domain.late_reads
        row = ReplyRow(t.next_id("replies"), item.campaign_id, item.household_id, item.status, item.channel,
                       item.dedupe_key, d.people_safe, d.people_injured,
                       str(d.location) if d.location is not None else None, d.note or None, item.method,
                       item.staff_id, item.actor, item.at)
        if item.channel == _STAFF and item.status == _CONFIRMED and member is not None:
            row.prior_status = member.status  # what undo_confirmation puts back
        t.replies[row.id] = row
        t.reply_keys.add(item.dedupe_key)
        transitions = []
        if item.status != NOTE:
            transitions = t.apply_status_changes([(item.campaign_id, item.household_id, Status(item.status), item.at)])
        opened = self._open_help(row) if item.status == Status.NEED_HELP else False
        help_changed = ((item.campaign_id, item.association_id),) if opened else ()
        if transitions or help_changed:
            self._emit(ReplyEvent(tuple(transitions), help_changed))
        return RecordOutcome(duplicate=False, help_opened=opened)

    async def undo_confirmation(
        self, campaign_id: int, household_id: int, reply_id: int, staff_id: int | None, actor: str | None,
        dedupe_key: str | None = None,
    ) -> UndoOutcome | None:
        await self.t.write()
        t = self.t
        r, m, c = t.replies.get(reply_id), t.members.get((campaign_id, household_id)), t.campaigns.get(campaign_id)
        if (r is None or m is None or c is None or (r.campaign_id, r.household_id) != (campaign_id, household_id)
                or r.status != _CONFIRMED or r.channel != _STAFF):
            return None
        status = Status(m.status)
        undone = t.undone()
        if reply_id in undone or (dedupe_key is not None and dedupe_key in t.reply_keys):
            return UndoOutcome(status, already=True)
        since = [x for x in self._replies_of(campaign_id, household_id) if x.id > reply_id]
        if any(x.status in _ANSWERED and x.id not in undone for x in since):
            raise UndoRefused("an answer came after this confirmation, so it can no longer be taken back")
        if r.prior_status is None:
            raise UndoRefused("this confirmation was recorded before confirmations could be taken back")
        ladder = t.ladders.get(campaign_id)
        door_knocked = door_knock_made(ladder_from_json(c.ladder), ladder.next_step if ladder is not None else 0)
        restored = status_after_undo(Status(r.prior_status), any(x.status == "read" for x in since), door_knocked)
        now = t.clock.now()
        undo = ReplyRow(t.next_id("replies"), campaign_id, household_id, UNDO, _STAFF, dedupe_key or undo_key(reply_id),
                        None, None, None, None, r.method, staff_id, actor, now, prior_status=str(status),
                        undoes=reply_id)
        t.replies[undo.id] = undo
        t.reply_keys.add(undo.dedupe_key)
        if restored == status or status != Status.CONFIRMED_IN_PERSON:
            return UndoOutcome(status, already=False, changed=False)  # confirmed twice: the earlier one stands
        answered = restored in ANSWERED
        first_answer_at = m.first_answer_at
        m.status, m.status_at = str(restored), now
        if not answered:
            m.first_answer_at = None
            if (door_knocked or closing_lists(c.state, c.kind)) and m.doorknock_at is None:
                m.doorknock_at = now
        for st, delta in ((str(status), -1), (str(restored), 1)):
            key = (campaign_id, m.association_id, st)
            t.counts[key] = t.counts.get(key, 0) + delta
        if not answered and first_answer_at is not None:  # the confirmation was the first answer
            minute = (campaign_id, m.association_id, answer_minute(first_answer_at, c.began))
            if minute in t.minutes:
                t.minutes[minute] -= 1
        transition = StatusTransition(campaign_id, household_id, m.association_id, status, restored, False)
        self._emit(ReplyEvent((transition,), ()))
        return UndoOutcome(restored, already=False, changed=True)

    def _open_help(self, reply: ReplyRow) -> bool:
        """Puts the household on the open help list; True when it was not open already (a household
        that asks again after being handled goes back on it)."""
        key = (reply.campaign_id, reply.household_id)
        h = self.t.help.get(key)
        if h is not None and h.handled_at is None:
            h.reply_id = reply.id
            return False
        if h is None:
            self.t.help[key] = HelpRequestRow(reply.id, reply.received_at)
        else:
            h.reply_id, h.opened_at = reply.id, reply.received_at
            h.handled_at = h.handled_by = h.handled_by_login = h.escalated_at = h.reopened_at = None
            h.escalation_told_at = None
        return True

    async def mark_handled(self, campaign_id: int, household_id: int, staff_id: int | None, login: str,
                           dedupe_key: str | None = None) -> bool | None:
        await self.t.write()
        key = (campaign_id, household_id)
        h, m = self.t.help.get(key), self.t.members.get(key)
        if h is None or m is None:
            return None
        if h.handled_at is not None or (dedupe_key is not None and h.handled_key == dedupe_key):
            return False
        h.handled_at, h.handled_by, h.handled_by_login = self.t.clock.now(), staff_id, login
        h.handled_key = dedupe_key or h.handled_key
        self._emit(ReplyEvent((), ((campaign_id, m.association_id),)))
        return True

    async def reopen_help(self, campaign_id: int, household_id: int, marked_by: str | None = None) -> bool | None:
        await self.t.write()
        key = (campaign_id, household_id)
        h, m = self.t.help.get(key), self.t.members.get(key)
        if h is None or m is None:
            return None
        if h.handled_at is None:
            return False
        refuse_other_mark(h.handled_by_login, marked_by)
        h.handled_at = h.handled_by = h.handled_by_login = h.escalated_at = h.escalation_told_at = None
        h.reopened_at = self.t.clock.now()
        self._emit(ReplyEvent((), ((campaign_id, m.association_id),)))
        return True

    async def unnotified_help(self, max_age_seconds: float = 6 * 3600,
                              min_age_seconds: float = 0.0) -> list[tuple[int, int]]:
        await asyncio.sleep(0)
        now = self.t.clock.now()
        found = [(h.opened_at, key) for key, h in self.t.help.items()
                 if h.handled_at is None and h.notified_at is None
                 and now - max_age_seconds < h.opened_at <= now - min_age_seconds]
        return [key for _, key in sorted(found, key=lambda f: f[0], reverse=True)]

    async def claim_unhandled_help(self, waiting_since: float) -> list[tuple[int, int]]:
        await self.t.write()
        now = self.t.clock.now()
        claimed = []
        # per request with help alerts: whether every one failed or was dropped
        unreached: dict[tuple[int, int], bool] = {}
        for d in self.t.deliveries.values():
            if d.about_household_id is not None:
                key = (d.campaign_id, d.about_household_id)
                unreached[key] = unreached.get(key, True) and d.state in UNREACHED_STATES
        for key, h in self.t.help.items():
            c = self.t.campaigns.get(key[0])
            m = self.t.members.get(key)
            if c is not None and m is not None and escalation_due(
                    h.opened_at, h.reopened_at, h.handled_at, h.escalated_at, c.state, waiting_since, m.status,
                    h.escalation_told_at, now - ESCALATION_CLAIM_SECONDS, unreached.get(key, False)):
                h.escalated_at = now
                claimed.append(key)
        return sorted(claimed)

    async def escalation_told(self, campaign_id: int, household_id: int) -> None:
        await self.t.write()
        h = self.t.help.get((campaign_id, household_id))
        if h is not None and h.escalated_at is not None and h.escalation_told_at is None:
            h.escalation_told_at = self.t.clock.now()

    async def mark_notified(self, campaign_id: int, household_id: int) -> None:
        await self.t.write()
        h = self.t.help.get((campaign_id, household_id))
        if h is not None and h.notified_at is None:
            h.notified_at = self.t.clock.now()

    # -- phone confirmation (enrolment) ------------------------------------------------------

    async def start_phone_verification(
        self, household_id: int, phone: str, code_hash: str, ttl_seconds: float, max_pending: int = 3
    ) -> bool:
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        for vid in [v.id for v in t.phone_codes.values() if v.expires_at < now]:
            del t.phone_codes[vid]
        if sum(1 for v in t.phone_codes.values() if v.household_id == household_id) >= max_pending:
            return False
        row = PhoneCodeRow(t.next_id("phone_codes"), household_id, phone, code_hash, now + ttl_seconds, now)
        t.phone_codes[row.id] = row
        return True

    async def check_phone_code(self, household_id: int, code_hash: str, max_attempts: int) -> str | None:
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        mine = [v for v in t.phone_codes.values() if v.household_id == household_id]
        live = sorted((v for v in mine if v.expires_at >= now and v.attempts < max_attempts), key=lambda v: -v.id)
        for v in live:
            if hmac.compare_digest(v.code_hash, code_hash):
                del t.phone_codes[v.id]
                return v.phone
        if live:
            for v in mine:
                v.attempts += 1
        return None

    async def forget_phone_codes(self, before: float) -> int:
        await self.t.write()
        gone = [v.id for v in self.t.phone_codes.values() if v.expires_at < before]
        for vid in gone:
            del self.t.phone_codes[vid]
        return len(gone)
