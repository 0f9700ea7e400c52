"""Campaigns in memory (`CampaignRepo`): lifecycle guards, households, ladder progress, planned steps."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

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
from safetynet.store.errors import StoreError
from safetynet.store.memory.tables import CampaignRow, DeliveryRow, LadderRow, MemberRow, Tables
from safetynet.store.rules import closing_lists, door_knock_made

_ANSWERED = frozenset(str(s) for s in ANSWERED)
# what a removed household keeps once erased (name, address, members, 要配慮, language, notes, consent)
# the consent a placeholder no cell stated (as SQLite's `_BLANK`)
_BLANK: tuple[str, str, int, bool, str, str, str, bool] = ("", "", 1, False, "ja", "", "no", False)


class MemoryCampaigns:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _row(self, campaign_id: int) -> CampaignRow | None:
        return self.t.campaigns.get(campaign_id)

    # -- campaigns ---------------------------------------------------------------------------

    async def create(
        self, *, kind: CampaignKind, title: str, scope: Sequence[str], messages: Mapping[str, str],
        ladder: Sequence[LadderStep], options: Mapping[str, Any] | None = None,
        source: str = "cli", created_by: str = "",
    ) -> Campaign:
        await self.t.write()
        row = CampaignRow(
            self.t.next_id("campaigns"), str(CampaignKind(kind)), title, "draft", json.dumps(list(scope)),
            json.dumps(dict(messages), ensure_ascii=False), ladder_to_json(ladder),
            json.dumps(dict(options or {}), ensure_ascii=False), source, created_by, self.t.clock.now(),
        )
        self.t.campaigns[row.id] = row
        return row.as_campaign()

    async def get(self, campaign_id: int) -> Campaign | None:
        await asyncio.sleep(0)
        row = self._row(campaign_id)
        return row.as_campaign() if row is not None else None

    async def list_campaigns(self, states: Iterable[CampaignState] | None = None, limit: int = 200) -> list[Campaign]:
        await asyncio.sleep(0)
        wanted = {str(s) for s in states} if states is not None else set()
        rows = [c for c in sorted(self.t.campaigns.values(), key=lambda c: -c.id) if not wanted or c.state in wanted]
        return [c.as_campaign() for c in rows[:limit]]

    async def find_by_dedupe_key(self, key: str) -> Campaign | None:
        await asyncio.sleep(0)
        for cid in sorted(self.t.campaigns):
            row = self.t.campaigns[cid]
            options = json.loads(row.options)
            if isinstance(options, dict) and options.get("dedupe_key") == key:
                return row.as_campaign()
        return None

    async def running(self) -> list[Campaign]:
        await asyncio.sleep(0)
        rows = [c for c in self.t.campaigns.values() if c.state == "running"]
        return [c.as_campaign() for c in sorted(rows, key=lambda c: (c.kind == "drill", c.id))]

    async def update_text(
        self, campaign_id: int, *, title: str | None = None, messages: Mapping[str, str] | None = None
    ) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state not in ("draft", "pending_approval", "running"):
            return False
        if title is not None:
            row.title = title
        if messages is not None:
            row.messages = json.dumps(dict(messages), ensure_ascii=False)
        return True

    async def set_options(self, campaign_id: int, options: Mapping[str, Any]) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None:
            return False
        row.options = json.dumps(dict(options), ensure_ascii=False)
        return True

    async def begin_running(self, campaign_id: int, at: float, started_by: str = "",
                            started_by_staff: int | None = None) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state != "draft" or row.kind == "real":
            return False
        row.started_by, row.started_by_staff = started_by, started_by_staff
        self._run(row, at)
        return True

    async def request_approval(self, campaign_id: int, at: float, started_by: str,
                               started_by_staff: int | None = None) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state != "draft" or row.kind != "real":
            return False
        row.state, row.started_by, row.started_by_staff, row.requested_at = (
            "pending_approval", started_by, started_by_staff, at)
        return True

    async def approve(self, campaign_id: int, at: float, approved_by: str, approved_by_staff: int) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state != "pending_approval" or row.started_by_staff == approved_by_staff:
            return False
        row.approved_by, row.approved_by_staff, row.approved_at = approved_by, approved_by_staff, at
        self._run(row, at)
        return True

    def _run(self, row: CampaignRow, at: float) -> None:
        row.state, row.started_at = "running", at
        row.households = len(self.t.campaign_members(row.id))
        self.t.seed_counts(row.id)
        ladder = self.t.ladders.get(row.id)
        if ladder is None:
            self.t.ladders[row.id] = LadderRow(1, at)
        else:
            ladder.next_step, ladder.updated_at = max(ladder.next_step, 1), at

    async def close(self, campaign_id: int, at: float) -> bool:
        return await self._finish(campaign_id, at, CampaignState.CLOSED, ("running",))

    async def cancel(self, campaign_id: int, at: float) -> bool:
        return await self._finish(campaign_id, at, CampaignState.CANCELLED, ("draft", "pending_approval", "running"))

    async def cancel_draft(self, campaign_id: int, at: float) -> bool:
        return await self._finish(campaign_id, at, CampaignState.CANCELLED, ("draft", "pending_approval"))

    async def _finish(self, campaign_id: int, at: float, to: CampaignState, from_: Sequence[str]) -> bool:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state not in from_:
            return False
        row.state, row.closed_at = str(to), at
        for d in self.t.deliveries.values():
            # staff alerts stay queued: a household that asked for help still needs it
            if d.campaign_id == campaign_id and d.state in ("queued", "standby") and d.step >= 0:
                d.state, d.error, d.updated_at = "skipped", f"campaign_{to}", at
        if closing_lists(str(to), row.kind):  # as SQLite's: the silent listed, their statuses kept
            self._list_silent(campaign_id, at)
        return True

    # -- retention ------------------------------------------------------------------------------

    async def finished_before(self, before: float, limit: int = 100) -> list[int]:
        await asyncio.sleep(0)
        found = sorted(c.id for c in self.t.campaigns.values() if c.state in ("closed", "cancelled")
                       and c.closed_at is not None and c.closed_at < before and c.purged_at is None)
        return found[:limit]

    async def purge(self, campaign_id: int, at: float) -> PurgeResult:
        await self.t.write()
        row = self._row(campaign_id)
        if row is None or row.state not in ("closed", "cancelled"):
            return PurgeResult(campaign_id, 0, 0, 0)
        replies = deliveries = attempts = 0
        for r in self.t.replies.values():
            if r.campaign_id == campaign_id and (r.note is not None or r.location is not None
                                                 or r.people_safe is not None or r.people_injured is not None):
                r.note = r.location = r.people_safe = r.people_injured = None
                replies += 1
        mine = set()
        for d in self.t.deliveries.values():
            if d.campaign_id == campaign_id:
                mine.add(d.id)
                if d.attempts > 0 and (d.provider_id is not None or d.error is not None):
                    d.provider_id = d.error = None
                    deliveries += 1
                if d.step < 0 and d.body is not None:  # names the household and its words, or a resident's contact
                    d.body = d.address = d.provider_id = d.error = None
                    deliveries += 1
        for i, a in enumerate(self.t.attempts):
            if a[0] in mine and a[5] is not None:
                self.t.attempts[i] = (*a[:5], None)
                attempts += 1
        row.purged_at = at
        return PurgeResult(campaign_id, replies, deliveries, attempts)

    async def erase_removed_households(self, at: float) -> int:
        await self.t.write()
        t = self.t
        live = {hid for (cid, hid) in t.members if t.campaigns[cid].purged_at is None}
        erased = 0
        for h in [h for h in t.households.values() if h.removed_at is not None and h.id not in live]:
            for cid in [c.id for c in t.contacts_of(h.id)]:
                del t.contacts[cid]
            t.codes.pop(h.id, None)
            for vid in [v.id for v in t.phone_codes.values() if v.household_id == h.id]:
                del t.phone_codes[vid]
            if _BLANK != (h.name, h.address, h.members, h.vulnerable, h.language, h.notes, h.consent,
                          h.consent_stated):
                (h.name, h.address, h.members, h.vulnerable, h.language, h.notes, h.consent,
                 h.consent_stated) = _BLANK
                h.updated_at = at
                erased += 1
        return erased

    # -- households and plans ----------------------------------------------------------------

    async def enrol_scope(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        batch_size: int = 20_000,
    ) -> int:
        households = self.t.in_scope(scope)  # UnknownScopeError before anything is written
        await self.t.write()
        if campaign_id not in self.t.campaigns:
            raise StoreError(f"no campaign {campaign_id}")
        return sum(self._enrol(campaign_id, h.id, h.association_id, token_hash_of(campaign_id, h.id))
                   for h in households)

    def _enrol(self, campaign_id: int, household_id: int, association_id: int, token_hash: str) -> bool:
        """Once per household and token hash, like INSERT OR IGNORE."""
        key = (campaign_id, household_id)
        if key in self.t.members or token_hash in self.t.tokens:
            return False
        self.t.members[key] = MemberRow(campaign_id, household_id, association_id, token_hash)
        self.t.tokens[token_hash] = key
        return True

    async def write_checks(self, campaign_id: int, rows: Sequence[CheckRow]) -> None:
        await self.t.write()
        if campaign_id not in self.t.campaigns:
            raise StoreError(f"no campaign {campaign_id}")
        for r in rows:
            key = (campaign_id, r.contact_id)
            if key in self.t.checks or r.token_hash in self.t.check_tokens:
                continue
            self.t.checks[key] = [r.household_id, str(r.channel), r.token_hash, None]
            self.t.check_tokens[r.token_hash] = key

    async def write_step(
        self, campaign_id: int, plan: StepPlan, at: float, enrol: Sequence[Enrolment] = ()
    ) -> None:
        await self.t.write()
        t = self.t
        if campaign_id not in t.campaigns:
            raise StoreError(f"no campaign {campaign_id}")
        for e in enrol:
            self._enrol(campaign_id, e.household_id, e.association_id, e.token_hash)
        self._write_plan(campaign_id, plan, at)

    def _write_plan(self, campaign_id: int, plan: StepPlan, at: float) -> None:
        t = self.t
        for p in plan.deliveries:
            key = (campaign_id, p.household_id, p.step, str(p.channel))
            if key not in t.delivery_keys:
                d = DeliveryRow(t.next_id("deliveries"), campaign_id, p.household_id, p.step, str(p.channel),
                                p.contact_id, p.priority, p.fallback_rank, "queued", at, at)
                t.deliveries[d.id] = d
                t.delivery_keys[key] = d.id
        for hid in plan.no_contact:
            m = t.members.get((campaign_id, hid))
            if m is not None and m.doorknock_at is None:
                m.doorknock_at = at
        t.apply_status_changes((campaign_id, hid, Status.UNREACHABLE, at) for hid in plan.no_contact)

    async def enrol_newcomers(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        plan: Callable[[list[StepHousehold]], StepPlan], at: float, limit: int = 5000,
    ) -> list[int]:
        t = self.t
        await t.write()
        current = t.in_scope(scope)  # UnknownScopeError as SQLite; read after the yield, written without one
        row = t.campaigns.get(campaign_id)
        if row is None or row.state != "running":
            return []
        newcomers = sorted((h for h in current if (campaign_id, h.id) not in t.members), key=lambda h: h.id)[:limit]
        households = [self._step_household(h.id, h.association_id) for h in newcomers]
        enrolled = [h for h in households
                    if self._enrol(campaign_id, h.id, h.association_id, token_hash_of(campaign_id, h.id))]
        for h in enrolled:
            key = (campaign_id, h.association_id, "pending")
            t.counts[key] = t.counts.get(key, 0) + 1
        row.households += len(enrolled)
        self._write_plan(campaign_id, plan(enrolled), at)
        ladder = t.ladders.get(campaign_id)
        if ladder is not None and door_knock_made(ladder_from_json(row.ladder), ladder.next_step):
            for h in enrolled:
                m = t.members[(campaign_id, h.id)]
                m.doorknock_at = m.doorknock_at if m.doorknock_at is not None else at
                t.doorknock_notices.setdefault((campaign_id, h.association_id), at)
        return [h.id for h in enrolled]

    async def step_households(self, campaign_id: int, batch_size: int = 5000) -> AsyncIterator[list[StepHousehold]]:
        await asyncio.sleep(0)
        t = self.t
        waiting = [m for m in t.campaign_members(campaign_id)
                   if m.status not in _ANSWERED and m.household_id in t.households]
        for i in range(0, len(waiting), batch_size):
            yield [self._step_household(m.household_id, m.association_id) for m in waiting[i : i + batch_size]]
            await asyncio.sleep(0)

    def _step_household(self, household_id: int, association_id: int) -> StepHousehold:
        """A household with its current contacts, as a step plans with them."""
        t = self.t
        return StepHousehold(household_id, association_id, t.households[household_id].vulnerable,
                             tuple(ContactRef(c.id, c.kind, c.state == "working") for c in t.contacts_of(household_id)))

    async def waiting_channels(self, campaign_id: int, first: int, last: int,
                               before_step: int | None = None) -> dict[int, frozenset[ChannelName]]:
        await asyncio.sleep(0)
        found: dict[int, set[ChannelName]] = defaultdict(set)
        for d in self.t.deliveries.values():
            if (d.campaign_id == campaign_id and 0 <= d.step < (before_step if before_step is not None else 1 << 30)
                    and first <= d.household_id <= last
                    and (d.state == "claimed" or (d.state == "queued" and d.redials == 0))):  # as SQLite's
                found[d.household_id].add(d.channel)
        return {h: frozenset(chs) for h, chs in found.items()}

    # -- ladder ------------------------------------------------------------------------------

    async def ladder_progress(self, campaign_id: int) -> LadderProgress:
        await asyncio.sleep(0)
        row = self.t.ladders.get(campaign_id)
        if row is None:
            return LadderProgress(campaign_id, 0)
        return LadderProgress(campaign_id, row.next_step, row.paused_since, row.paused_seconds)

    async def advance_ladder(self, campaign_id: int, done_step: int, at: float) -> bool:
        await self.t.write()
        row = self.t.ladders.get(campaign_id)
        if row is None or row.next_step != done_step:
            return False
        row.next_step, row.updated_at = done_step + 1, at
        return True

    async def set_paused(self, campaign_id: int, paused: bool, at: float) -> bool:
        await self.t.write()
        row = self.t.ladders.get(campaign_id)
        if row is None or (row.paused_since is None) != paused:
            return False
        if paused:
            row.paused_since = at
        else:
            assert row.paused_since is not None
            row.paused_seconds += max(0.0, at - row.paused_since)
            row.paused_since = None
        row.updated_at = at
        return True

    async def mark_doorknock(self, campaign_id: int, at: float) -> dict[int, int]:
        await self.t.write()
        self._make_list(campaign_id, at)
        return await self.doorknock_counts(campaign_id)

    async def record_doorknock(self, campaign_id: int, step: int, at: float) -> dict[int, int] | None:
        await self.t.write()
        row = self.t.ladders.get(campaign_id)
        campaign = self.t.campaigns.get(campaign_id)
        if row is None or row.next_step != step or campaign is None or campaign.state != "running":
            return None
        row.next_step, row.updated_at = step + 1, at
        self._make_list(campaign_id, at)
        for m in self._on_list(campaign_id):
            self.t.doorknock_notices.setdefault((campaign_id, m.association_id), at)
        return await self.doorknock_counts(campaign_id)

    async def owed_doorknock_notices(self) -> dict[int, list[int]]:
        await asyncio.sleep(0)
        owed: dict[int, list[int]] = {}
        for (campaign_id, association_id), _ in sorted(self.t.doorknock_notices.items(),
                                                       key=lambda kv: (kv[1], kv[0])):
            owed.setdefault(campaign_id, []).append(association_id)
        return owed

    async def doorknock_notices_told(self, campaign_id: int, association_ids: Iterable[int]) -> None:
        await self.t.write()
        for association_id in association_ids:
            self.t.doorknock_notices.pop((campaign_id, association_id), None)

    def _make_list(self, campaign_id: int, at: float) -> None:
        """The door-knock step's list (SQLite's `_make_doorknock_list`)."""
        self._list_silent(campaign_id, at)
        pending = [m.household_id for m in self.t.campaign_members(campaign_id) if m.status == "pending"]
        self.t.apply_status_changes((campaign_id, h, Status.UNREACHABLE, at) for h in pending)

    def _list_silent(self, campaign_id: int, at: float) -> None:
        """Every member that has not answered on the door-knock list (SQLite's `_list_silent`)."""
        for m in self.t.campaign_members(campaign_id):
            if m.status not in _ANSWERED and m.doorknock_at is None:
                m.doorknock_at = at

    def _on_list(self, campaign_id: int) -> list[MemberRow]:
        return [m for m in self.t.campaign_members(campaign_id)
                if m.doorknock_at is not None and m.status not in _ANSWERED]

    async def doorknock_counts(self, campaign_id: int) -> dict[int, int]:
        await asyncio.sleep(0)
        counts: dict[int, int] = {}
        for m in self._on_list(campaign_id):
            counts[m.association_id] = counts.get(m.association_id, 0) + 1
        return counts

    async def doorknock_households(self, campaign_id: int, association_id: int | None = None) -> list[int]:
        await asyncio.sleep(0)
        return [m.household_id for m in self._on_list(campaign_id)
                if association_id is None or m.association_id == association_id]

    async def household_statuses(self, campaign_id: int) -> dict[int, Status]:
        await asyncio.sleep(0)
        return {m.household_id: Status(m.status) for m in self.t.campaign_members(campaign_id)}

    async def delivery_counts(self, campaign_id: int) -> dict[tuple[int, str, str], int]:
        await asyncio.sleep(0)
        counts: dict[tuple[int, str, str], int] = {}
        for d in self.t.deliveries.values():
            if d.campaign_id == campaign_id:
                key = (d.step, d.channel, d.state)
                counts[key] = counts.get(key, 0) + 1
        return counts
