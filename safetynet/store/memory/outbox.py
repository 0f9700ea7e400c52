"""The delivery outbox in memory (`OutboxRepo`): claims under a lease, results, fall-backs, provider states."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from safetynet.domain import ANSWERED, ChannelName, Status
from safetynet.domain.campaigns import (
    NOTICE_STEP,
    PRIORITY_DEFAULT,
    PRIORITY_STAFF,
    STAFF_STEP,
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
from safetynet.store.memory.tables import DeliveryRow, Tables
from safetynet.store.rules import (
    DELIVERY_STATE_OF_PROVIDER,
    EARLY_STATUS_HOLD_SECONDS,
    MAX_EARLY_STATUSES,
    merge_provider_state,
    provider_error,
    staff_alerts_gone,
)

log = structlog.get_logger("store.outbox")

_LIVE = ("queued", "claimed", "sent", "delivered")
_ANSWERED = frozenset(str(s) for s in ANSWERED)
Change = tuple[int, int, Status, float]


class MemoryOutbox:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _rows(self, campaign_ids: Sequence[int], state: str) -> list[DeliveryRow]:
        wanted = set(campaign_ids)
        return [d for d in self.t.deliveries.values() if d.state == state and d.campaign_id in wanted]

    # -- claims ------------------------------------------------------------------------------

    async def claim(
        self, campaign_ids: Sequence[int], channel: ChannelName, limit: int, owner: str, lease_seconds: float
    ) -> list[ClaimedDelivery]:
        if limit <= 0 or not campaign_ids:
            return []
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        taken: list[DeliveryRow] = []
        for cid in campaign_ids:
            if len(taken) >= limit:
                break
            due = sorted((d for d in self._rows([cid], "queued") if d.channel == str(channel)
                          and d.step >= 0 and d.next_attempt_at <= now), key=lambda d: (d.priority, d.next_attempt_at, d.id))
            for d in due[: limit - len(taken)]:
                d.state, d.lease_until, d.lease_owner, d.updated_at = "claimed", now + lease_seconds, owner, now
                taken.append(d)
        out = []
        for d in taken:
            member = t.members.get((d.campaign_id, d.household_id))
            if member is None or member.status in _ANSWERED:
                d.state, d.error, d.lease_until, d.lease_owner, d.updated_at = "skipped", "answered", None, None, now
                continue
            ladder = t.ladders.get(d.campaign_id)
            if d.redials and replaced(self._ladder(d.campaign_id), d.step, d.channel, ladder.next_step if ladder else 0):
                d.state, d.error, d.lease_until, d.lease_owner, d.updated_at = "skipped", REPLACED_ERROR, None, None, now
                continue
            household = t.households.get(d.household_id)
            contact = t.contacts.get(d.contact_id) if d.contact_id is not None else None
            address = contact.address if contact is not None and contact.state == "working" else None
            out.append(ClaimedDelivery(d.id, d.campaign_id, d.household_id, d.step, channel, d.contact_id,
                                       d.attempts, address, (household.language if household else None) or "ja",
                                       d.priority, owner))
        out.sort(key=lambda c: (c.priority, c.id))
        return out

    async def queue_staff(self, alerts: Sequence[StaffAlert], at: float) -> int:
        await self.t.write()
        t = self.t
        for a in alerts:
            row = DeliveryRow(t.next_id("deliveries"), a.campaign_id, 0, STAFF_STEP, str(a.channel), None,
                              PRIORITY_STAFF, 0, "queued", at, at, staff_id=a.staff_id, address=a.address,
                              body=a.text, link=a.link, about_household_id=a.about_household)
            t.deliveries[row.id] = row
        return len(alerts)

    async def claim_staff(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float
                          ) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        out: list[ClaimedDelivery] = []
        due = sorted((d for d in t.deliveries.values() if d.state == "queued" and d.staff_id is not None
                      and d.channel == str(channel) and d.next_attempt_at <= now),
                     key=lambda d: (d.next_attempt_at, d.id))
        for d in due:
            if len(out) >= limit:
                break
            campaign = t.campaigns.get(d.campaign_id)
            drill = campaign is None or campaign.kind != "real"
            d.state, d.lease_until, d.lease_owner, d.updated_at = "claimed", now + lease_seconds, owner, now
            assert d.staff_id is not None
            staff = t.staff.get(d.staff_id)
            out.append(ClaimedDelivery(d.id, d.campaign_id, 0, STAFF_STEP, channel, None, d.attempts, d.address,
                                       (staff.language if staff else None) or "ja", d.priority, owner,
                                       StaffAlert(d.campaign_id, d.staff_id, channel, d.address or "", d.body or "",
                                                  d.link or "", drill=drill)))
        out.sort(key=lambda c: c.id)
        return out

    async def staff_gone(self, alerts: Sequence[ClaimedDelivery]) -> dict[int, str]:
        await asyncio.sleep(0)
        staff = [(d.id, d.staff.staff_id, d.channel, d.staff.address) for d in alerts if d.staff is not None]
        wanted = {s for _, s, _, _ in staff if s in self.t.staff}
        contacts: dict[int, list[tuple[str, str]]] = {s: [] for s in wanted}
        for c in self.t.staff_contacts.values():
            if c.staff_id in wanted:
                contacts[c.staff_id].append((c.kind, c.address))
        return staff_alerts_gone(staff, contacts, self.t.routes.of_kind)

    async def notice_recipients(self, campaign_id: int) -> list[NoticeRecipient]:
        await asyncio.sleep(0)
        t, out = self.t, set()
        for d in t.deliveries.values():
            if d.campaign_id != campaign_id or d.step < 0 or d.state not in ("claimed", "sent", "delivered"):
                continue
            contact = t.contacts.get(d.contact_id) if d.contact_id is not None else None
            household = t.households.get(d.household_id)
            if contact is not None and contact.state == "working":
                out.add(NoticeRecipient(d.household_id, ChannelName(d.channel), contact.address,
                                        (household.language if household else None) or "ja"))
        return list(out)

    async def queue_notices(self, notices: Sequence[HouseholdNotice], at: float) -> int:
        await self.t.write()
        t, added = self.t, 0
        for n in notices:
            key = (n.campaign_id, n.household_id, NOTICE_STEP, str(n.channel))
            if key in t.delivery_keys:
                continue
            row = DeliveryRow(t.next_id("deliveries"), n.campaign_id, n.household_id, NOTICE_STEP, str(n.channel),
                              None, PRIORITY_DEFAULT, 0, "queued", at, at, address=n.address, body=n.text)
            t.deliveries[row.id] = row
            t.delivery_keys[key] = row.id
            added += 1
        return added

    async def notices_due(self, channel: ChannelName) -> int:
        await asyncio.sleep(0)
        now = self.t.clock.now()
        return sum(1 for d in self.t.deliveries.values() if d.state == "queued" and d.step == NOTICE_STEP
                   and d.channel == str(channel) and d.next_attempt_at <= now)

    async def claim_notices(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float,
                            drills: bool = True) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        due = [d for d in t.deliveries.values() if d.state == "queued" and d.step == NOTICE_STEP
               and d.channel == str(channel) and d.next_attempt_at <= now]
        reached = {(d.campaign_id, d.household_id) for d in t.deliveries.values() if d.step >= 0
                   and d.channel == str(channel) and d.state in ("claimed", "sent", "delivered")}
        for d in due:
            if (d.campaign_id, d.household_id) not in reached:  # its message let go after all
                d.state, d.error, d.updated_at = "skipped", "not_reached", now
        real = {c.id for c in t.campaigns.values() if c.kind == "real"}
        due = sorted((d for d in due if d.state == "queued" and (drills or d.campaign_id in real)),
                     key=lambda d: (d.next_attempt_at, d.id))[:limit]
        out: list[ClaimedDelivery] = []
        for d in due:
            campaign = t.campaigns.get(d.campaign_id)
            household = t.households.get(d.household_id)
            d.state, d.lease_until, d.lease_owner, d.updated_at = "claimed", now + lease_seconds, owner, now
            out.append(ClaimedDelivery(
                d.id, d.campaign_id, d.household_id, NOTICE_STEP, channel, None, d.attempts, d.address,
                (household.language if household else None) or "ja", d.priority, owner,
                notice=HouseholdNotice(d.campaign_id, d.household_id, channel, d.address or "", d.body or "",
                                       drill=campaign is None or campaign.kind != "real")))
        return out

    async def reclaim_expired(self, owner: str = "", keep: Sequence[int] | None = None) -> int:
        await self.t.write()
        now, n = self.t.clock.now(), 0
        kept = None if keep is None else set(keep)
        for d in self.t.deliveries.values():
            if (d.state == "claimed" and d.lease_until is not None and d.lease_until < now
                    and (d.lease_owner != (owner or None) or (kept is not None and d.id not in kept))):
                d.state, d.lease_until, d.lease_owner, d.updated_at = "queued", None, None, now
                n += 1
        if n:
            log.info("deliveries_reclaimed", count=n)
        return n

    async def due_count(self, campaign_ids: Sequence[int], channels: Sequence[ChannelName] | None = None) -> int:
        if not campaign_ids or (channels is not None and not channels):
            return 0
        await asyncio.sleep(0)
        now = self.t.clock.now()
        wanted = {str(c) for c in channels} if channels is not None else None
        return sum(1 for d in self._rows(campaign_ids, "queued")
                   if d.next_attempt_at <= now and (wanted is None or d.channel in wanted))

    async def next_due_at(self, campaign_ids: Sequence[int]) -> float | None:
        if not campaign_ids:
            return None
        await asyncio.sleep(0)
        return min((d.next_attempt_at for d in self._rows(campaign_ids, "queued")), default=None)

    async def renew_leases(self, owner: str, lease_seconds: float, ids: Sequence[int]) -> int:
        await self.t.write()
        until, n = self.t.clock.now() + lease_seconds, 0
        for i in ids:
            d = self.t.deliveries.get(i)
            if d is not None and d.state == "claimed" and d.lease_owner == owner:
                d.lease_until = until
                n += 1
        return n

    async def lease_ends_at(self) -> float | None:
        await asyncio.sleep(0)
        return min((d.lease_until for d in self.t.deliveries.values()
                    if d.state == "claimed" and d.lease_until is not None), default=None)

    async def claimed_count(self) -> int:
        await asyncio.sleep(0)
        return sum(1 for d in self.t.deliveries.values() if d.state == "claimed")

    # -- results -----------------------------------------------------------------------------

    async def record(self, outcome: DeliveryOutcome) -> ChannelName | None:
        """One outcome, written at once (the in-memory 'commit' of one)."""
        return (await self.record_many([outcome]))[0]

    async def record_many(self, outcomes: list[DeliveryOutcome]) -> list[ChannelName | None]:
        """Outcomes written at once (one in-memory 'commit': all or none)."""
        await self.t.write()
        return [self._record(o) for o in outcomes]

    def _record(self, outcome: DeliveryOutcome) -> ChannelName | None:
        o, d = outcome, outcome.delivery
        row = self.t.deliveries.get(d.id)
        if row is not None:
            self._write_row(row, o)
        changes: list[Change] = []
        activated: ChannelName | None = None
        if d.composed:
            pass  # a staff alert is nobody's household, a notice comes after its campaign: no status, no fall-back
        elif o.kind == OutcomeKind.SENT:
            changes.append((d.campaign_id, d.household_id, Status.NOTIFIED, o.at))
        elif o.kind == OutcomeKind.FAILED:
            activated, change = self._fall_back(o)
            if change is not None:
                changes.append(change)
        for a in o.attempts:
            self.t.attempts.append((d.id, a.at, a.duration_ms, a.outcome, a.error_class, a.detail))
        self.t.apply_status_changes(changes)
        if o.kind == OutcomeKind.SENT and o.provider_id:
            self._apply_early_statuses(o.provider_id, self.t.clock.now())
        return activated

    def _write_row(self, row: DeliveryRow, o: DeliveryOutcome) -> None:
        n = len(o.attempts)
        if o.kind == OutcomeKind.SENT and row.state in ("claimed", "queued"):
            # 'queued' too: a row whose lease ran out while its send was in flight is not sent twice
            row.state, row.attempts, row.provider_id, row.segments = "sent", row.attempts + n, o.provider_id, o.segments
            row.sent_at, row.error, row.lease_until, row.lease_owner, row.updated_at = o.at, None, None, None, o.at
        elif (o.kind in (OutcomeKind.RETRY, OutcomeKind.RELEASED) and row.state == "claimed"
              and row.lease_owner == o.delivery.lease_owner):
            row.state, row.attempts = "queued", row.attempts + n
            row.next_attempt_at = o.next_attempt_at if o.next_attempt_at is not None else o.at
            row.error = o.error if o.error is not None else row.error
            row.lease_until, row.lease_owner, row.updated_at = None, None, o.at
        elif o.kind == OutcomeKind.SKIPPED and row.state == "claimed":
            row.state, row.error, row.lease_until, row.lease_owner, row.updated_at = "skipped", o.error, None, None, o.at
        elif o.kind == OutcomeKind.FAILED and row.state in ("claimed", "queued"):
            row.state, row.attempts, row.error = "failed", row.attempts + n, o.error
            row.lease_until, row.lease_owner, row.updated_at = None, None, o.at

    def _fall_back(self, o: DeliveryOutcome) -> tuple[ChannelName | None, Change | None]:
        """After a permanent failure: the household's next channel in the same step is queued; if
        none is left and nothing of the household is live, a household never reached is unreachable."""
        t, d = self.t, o.delivery
        same_step = sorted((r for r in t.deliveries.values() if (r.campaign_id, r.household_id, r.step)
                            == (d.campaign_id, d.household_id, d.step)), key=lambda r: r.id)
        if o.contact_dead and d.contact_id is not None:
            # the same dead number behind SMS would fail the voice call too
            for r in same_step:
                if r.state == "standby" and r.contact_id == d.contact_id:
                    r.state, r.error, r.updated_at = "failed", "contact_dead", o.at
        standby = sorted((r for r in same_step if r.state == "standby"), key=lambda r: r.fallback_rank)
        if standby:  # a fallback planned ahead (plans made before fallbacks were computed)
            r = standby[0]
            r.state, r.next_attempt_at, r.updated_at = "queued", o.at, o.at
            return r.channel, None
        nxt = self._next_channel(o, [r.channel for r in same_step])
        if nxt is not None:
            key = (d.campaign_id, nxt.household_id, nxt.step, str(nxt.channel))
            if key not in t.delivery_keys:
                row = DeliveryRow(t.next_id("deliveries"), d.campaign_id, nxt.household_id, nxt.step,
                                  str(nxt.channel), nxt.contact_id, nxt.priority, nxt.fallback_rank, "queued",
                                  o.at, o.at)
                t.deliveries[row.id] = row
                t.delivery_keys[key] = row.id
            return nxt.channel, None
        if any(r.campaign_id == d.campaign_id and r.household_id == d.household_id and r.step >= 0
               and r.state in _LIVE for r in t.deliveries.values()):
            return None, None
        return None, (d.campaign_id, d.household_id, Status.UNREACHABLE, o.at)

    def _next_channel(self, o: DeliveryOutcome, tried: list[ChannelName]) -> PlannedDelivery | None:
        d = o.delivery
        ladder = self._ladder(d.campaign_id)
        if d.step >= len(ladder):
            return None
        dead = d.contact_id if o.contact_dead else None
        contacts = tuple(ContactRef(c.id, c.kind, c.state == "working" and c.id != dead)
                         for c in self.t.contacts_of(d.household_id))
        h = self.t.households.get(d.household_id)
        household = StepHousehold(d.household_id, 0, bool(h.vulnerable) if h else False, contacts)
        return next_channel(household, d.step, ladder[d.step], tried, self.t.routes)

    def _ladder(self, campaign_id: int) -> tuple[LadderStep, ...]:
        c = self.t.campaigns.get(campaign_id)
        return ladder_from_json(c.ladder) if c is not None and c.ladder else ()

    # -- provider status callbacks -----------------------------------------------------------

    async def record_provider_status(self, provider_id: str, state: str, error_code: int | None = None) -> bool:
        await self.t.write()
        now = self.t.clock.now()
        if self._apply_provider_status(provider_id, state, error_code, now):
            return True
        self._hold_early_status(provider_id, state, error_code, now)
        return False

    async def held_status_count(self) -> int:
        await asyncio.sleep(0)
        return len(self.t.early_statuses)

    async def apply_held_statuses(self) -> int:
        await self.t.write()
        now = self.t.clock.now()
        applied = [p for p, (state, code, _) in sorted(self.t.early_statuses.items(), key=lambda kv: kv[1][2])
                   if self._apply_provider_status(p, state, code, now)]
        for p in applied:
            del self.t.early_statuses[p]
        return len(applied)

    def _apply_provider_status(self, provider_id: str, state: str, error_code: int | None, now: float) -> bool:
        row = next((d for d in sorted(self.t.deliveries.values(), key=lambda d: d.id)
                    if d.provider_id == provider_id), None)
        if row is None:
            return False
        kept = merge_provider_state(row.provider_status, state)
        if kept == row.provider_status:
            return True
        new_state = DELIVERY_STATE_OF_PROVIDER.get(kept)
        was = row.state
        row.provider_status = kept
        if row.state in ("sent", "delivered", "undelivered") and new_state is not None:
            row.state = new_state
        row.error = provider_error(kept, error_code) or row.error
        row.updated_at = now
        # a staff alert and a notice have no fall-back
        if new_state == "undelivered" and was == "sent" and row.staff_id is None and row.step >= 0:
            if self._redial(row, kept, now):
                return True
            d = ClaimedDelivery(row.id, row.campaign_id, row.household_id, row.step, row.channel,
                                row.contact_id, row.attempts, None, "")
            self._fall_back(DeliveryOutcome(d, OutcomeKind.FAILED, now))  # notified as far as we knew: no status back
        return True

    def _redial(self, row: DeliveryRow, state: str, now: float) -> bool:
        """As SQLite's: a call that rang out, queued again on its row if the rule allows it."""
        rule = self.t.routes.redial.get(row.channel)
        campaign = self.t.campaigns.get(row.campaign_id)
        if rule is None or campaign is None:
            return False
        member = self.t.members.get((row.campaign_id, row.household_id))
        progress = self.t.ladders.get(row.campaign_id)
        started = campaign.started_at if campaign.started_at is not None else campaign.created_at
        at = redial_at(rule, state=state, redials_done=row.redials, now=now,
                       answered=member is None or member.status in _ANSWERED, running=campaign.state == "running",
                       replaced_at=replacing_step_due(self._ladder(row.campaign_id), row.step, row.channel, started,
                                                      progress.paused_seconds if progress else 0.0))
        if at is None:
            return False
        row.state, row.next_attempt_at, row.redials, row.updated_at = "queued", at, row.redials + 1, now
        row.provider_id = row.provider_status = row.lease_until = row.lease_owner = None
        return True

    def _drop_stale_statuses(self, now: float) -> None:
        for pid in [p for p, (_, _, at) in self.t.early_statuses.items() if at < now - EARLY_STATUS_HOLD_SECONDS]:
            del self.t.early_statuses[pid]

    def _hold_early_status(self, provider_id: str, state: str, error_code: int | None, now: float) -> None:
        self._drop_stale_statuses(now)
        held = self.t.early_statuses.get(provider_id)
        if held is None:
            if len(self.t.early_statuses) >= MAX_EARLY_STATUSES:
                log.warning("status_callback_not_held", reason="too_many_held")
                return
            self.t.early_statuses[provider_id] = (state, error_code, now)
        elif merge_provider_state(held[0], state) != held[0]:
            self.t.early_statuses[provider_id] = (state, error_code, now)

    def _apply_early_statuses(self, provider_id: str, now: float) -> None:
        """A callback that came before this send was recorded: applied now that its id is."""
        if not self.t.early_statuses:
            return
        self._drop_stale_statuses(now)
        held = self.t.early_statuses.get(provider_id)
        if held is not None and self._apply_provider_status(provider_id, held[0], held[1], now):
            del self.t.early_statuses[provider_id]
            log.info("early_status_callbacks_applied", count=1)
