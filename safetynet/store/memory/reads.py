"""The staff pages' and the stats document's reads in memory (`DashboardReads`, `StatsReads`)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterable

from safetynet.domain import ALL_STATUSES, ANSWERED, ChannelName, Scope
from safetynet.domain.campaigns import (
    CHECK_OUTCOMES,
    CampaignInfo,
    CheckTally,
    CountRow,
    MinuteRow,
    OpenHelp,
    tally_checks,
)
from safetynet.domain.replies import Change, ChannelCount, HelpItem, InPersonMark
from safetynet.domain.roster import Association, Coverage, HouseholdLine, NotedHousehold
from safetynet.store.memory.tables import CampaignRow, HouseholdRow, MemberRow, Tables

_STATUSES = tuple(str(s) for s in ALL_STATUSES)
_ANSWERED = frozenset(str(s) for s in ANSWERED)


def _info(c: CampaignRow, t: Tables) -> CampaignInfo:
    try:
        scope = json.loads(c.scope)
    except ValueError:
        scope = [c.scope]
    if isinstance(scope, str):
        scope = [scope]
    paused = c.kind != "real" and c.state == "running" and any(
        x.kind == "real" and x.state == "running" for x in t.campaigns.values())
    return CampaignInfo(c.id, c.kind, c.title, c.state, tuple(scope), c.created_at, c.started_at, c.closed_at,
                        c.households, c.started_by, c.requested_at, c.approved_by, c.approved_at, c.purged_at,
                        paused)


def first_phone(t: Tables, household_id: int, kind: str) -> str:
    """The household's first working contact of a phone kind, '' without one."""
    return next((c.address for c in t.contacts_of(household_id) if c.kind == kind and c.state == "working"), "")


def _newest_first(rows: Iterable[CampaignRow]) -> list[CampaignRow]:
    return sorted(rows, key=lambda c: (c.began, c.id), reverse=True)


class MemoryDashboardReads:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _phone(self, household_id: int, kind: str) -> str:
        return first_phone(self.t, household_id, kind)

    def _line(self, h: HouseholdRow, m: MemberRow | None) -> HouseholdLine:
        landline = self._phone(h.id, "landline")
        return HouseholdLine(h.id, h.association_id, self.t.group_name(h.group_id), h.household_key, h.name,
                             h.address, h.members, h.vulnerable, m.status if m else "", m.status_at if m else None,
                             landline if m else "", self.t.has_working_contact(h.id), h.consent,
                             mobile=self._phone(h.id, "mobile") if m else "")

    # -- roster ------------------------------------------------------------------------------

    async def associations(self) -> list[Association]:
        await asyncio.sleep(0)
        found = [a for aid in self.t.associations if (a := self.t.association(aid)) is not None]
        return sorted(found, key=lambda a: (a.district, a.name))

    async def associations_in_scope(self, scope: Scope) -> list[Association]:
        every = await self.associations()
        if scope.kind == "city":
            return every
        if scope.kind == "district":
            return [a for a in every if a.district == scope.name]
        return [a for a in every if a.name == scope.name]

    async def association(self, association_id: int) -> Association | None:
        await asyncio.sleep(0)
        return self.t.association(association_id)

    async def association_by_name(self, name: str) -> Association | None:
        await asyncio.sleep(0)
        return self.t.association_named(name)

    async def coverage(self, association_id: int) -> Coverage:
        await asyncio.sleep(0)
        mine = [h for h in self.t.current() if h.association_id == association_id]
        mine.sort(key=lambda h: (self.t.group_name(h.group_id), h.address, h.household_key))
        lines = [self._line(h, None) for h in mine]
        without = tuple(h for h in lines if not h.has_channel)
        return Coverage(households=len(lines), with_channel=len(lines) - len(without), without=without)

    async def contact_checks(self, association_ids: Iterable[int] | None = None) -> list[CheckTally]:
        await asyncio.sleep(0)
        wanted = None if association_ids is None else set(association_ids)
        latest: dict[int, tuple[int, bool]] = {}  # contact -> (campaign, confirmed)
        for (campaign_id, contact_id), row in self.t.checks.items():
            campaign = self.t.campaigns.get(campaign_id)
            if row[3] is None and (campaign is None or campaign.state != "closed"):
                continue  # `CHECKS_THAT_COUNT`
            if contact_id not in latest or campaign_id > latest[contact_id][0]:
                latest[contact_id] = (campaign_id, row[3] is not None)
        rows: list[tuple[int, int, str, str]] = []
        for h in self.t.current():
            if wanted is not None and h.association_id not in wanted:
                continue
            for c in self.t.contacts_of(h.id):
                seen = latest.get(c.id)
                state = ("dead" if c.state == "dead" else "unchecked" if seen is None
                         else "confirmed" if seen[1] else "unconfirmed")
                rows.append((h.id, c.id, c.kind, state))
        rows.sort(key=lambda r: r[1])  # contact id order, as SQLite reads them
        return tally_checks((r[0], r[2], r[3]) for r in rows)

    async def check_counts(self, campaign_id: int,
                           association_ids: Iterable[int] | None = None) -> dict[ChannelName, dict[str, int]]:
        await asyncio.sleep(0)
        aids = None if association_ids is None else set(association_ids)
        within = None if aids is None else {
            m.household_id for m in self.t.campaign_members(campaign_id) if m.association_id in aids}
        out: dict[ChannelName, dict[str, int]] = {}
        for (cid, contact_id), row in sorted(self.t.checks.items(), key=lambda kv: kv[1][1]):
            if cid != campaign_id or (within is not None and row[0] not in within):
                continue
            contact = self.t.contacts.get(contact_id)
            state = ("dead" if contact is not None and contact.state == "dead"
                     else "confirmed" if row[3] is not None else "unconfirmed")
            out.setdefault(row[1], {"confirmed": 0, "unconfirmed": 0, "dead": 0})[state] += 1
        return out

    # -- campaigns ---------------------------------------------------------------------------

    async def campaign(self, campaign_id: int) -> CampaignInfo | None:
        await asyncio.sleep(0)
        c = self.t.campaigns.get(campaign_id)
        return _info(c, self.t) if c is not None else None

    def _covering(self, association_ids: Iterable[int] | None, states: tuple[str, ...]) -> list[CampaignRow] | None:
        ids = None if association_ids is None else set(association_ids)
        if ids is not None and not ids:
            return None
        return _newest_first(c for c in self.t.campaigns.values()
                             if c.state in states and (ids is None or self.t.covered(c.id) & ids))

    async def campaigns_for(self, association_ids: Iterable[int] | None, limit: int = 20) -> list[CampaignInfo]:
        await asyncio.sleep(0)
        found = self._covering(association_ids, ("running", "closed", "cancelled"))
        return [_info(c, self.t) for c in (found or [])[:limit]]

    async def drafts(self, limit: int = 10) -> list[CampaignInfo]:
        await asyncio.sleep(0)
        found = sorted((c for c in self.t.campaigns.values() if c.state == "draft"),
                       key=lambda c: (c.created_at, c.id), reverse=True)
        return [_info(c, self.t) for c in found[:limit]]

    async def awaiting_approval(self, limit: int = 10) -> list[CampaignInfo]:
        await asyncio.sleep(0)
        found = sorted((c for c in self.t.campaigns.values() if c.state == "pending_approval"),
                       key=lambda c: (c.requested_at or c.created_at, c.id), reverse=True)
        return [_info(c, self.t) for c in found[:limit]]

    async def real_event_scopes(self) -> frozenset[str]:
        await asyncio.sleep(0)
        return frozenset(item for c in self.t.campaigns.values() if c.state == "running" and c.kind == "real"
                         for item in json.loads(c.scope))

    async def households_within(self, campaign_ids: Iterable[int], association_ids: Iterable[int]) -> dict[int, int]:
        await asyncio.sleep(0)
        cids, aids = set(campaign_ids), set(association_ids)
        found: dict[int, int] = {}
        for (cid, aid, _), n in self.t.counts.items():
            if cid in cids and aid in aids:
                found[cid] = found.get(cid, 0) + n
        return found

    async def campaign_association_ids(self, campaign_id: int) -> set[int]:
        await asyncio.sleep(0)
        return self.t.covered(campaign_id)

    async def covered_among(self, campaign_id: int, association_ids: Iterable[int]) -> set[int]:
        await asyncio.sleep(0)
        return self.t.covered(campaign_id) & set(association_ids)

    async def latest_campaign_for(self, association_ids: Iterable[int] | None) -> CampaignInfo | None:
        await asyncio.sleep(0)
        ids = None if association_ids is None else list(association_ids)
        for states in (("running",), ("closed", "cancelled")):
            found = self._covering(ids, states)  # newest first
            if found and states == ("running",):
                found = sorted(found, key=lambda c: c.kind != "real")  # stable: the newest real event first
            if found:
                return _info(found[0], self.t)
        return None

    async def previous_campaign(self, campaign: CampaignInfo) -> CampaignInfo | None:
        await asyncio.sleep(0)
        before = campaign.started_at or campaign.created_at
        found = _newest_first(c for c in self.t.campaigns.values() if c.id != campaign.id and c.kind == campaign.kind
                              and c.state in ("running", "closed") and c.began < before)
        for c in found:
            info = _info(c, self.t)
            if info.scope_key == campaign.scope_key:
                return info
        return None

    # -- households in a campaign ------------------------------------------------------------

    def _members(self, campaign_id: int, association_ids: set[int]) -> list[tuple[HouseholdRow, MemberRow]]:
        return [(self.t.households[m.household_id], m) for m in self.t.campaign_members(campaign_id)
                if m.association_id in association_ids and m.household_id in self.t.households]

    async def households(self, campaign_id: int, association_id: int) -> list[HouseholdLine]:
        await asyncio.sleep(0)
        rows = self._members(campaign_id, {association_id})
        rows.sort(key=lambda hm: (self.t.group_name(hm[0].group_id), hm[0].address, hm[0].household_key))
        return [self._line(h, m) for h, m in rows]

    async def households_with_status(
        self, campaign_id: int, association_ids: Iterable[int], statuses: Iterable[str], never_answered: bool = False,
        *, after: HouseholdLine | None = None, limit: int | None = None,
    ) -> list[HouseholdLine]:
        await asyncio.sleep(0)
        aids, sts = set(association_ids), set(statuses)
        lines = [self._line(h, m) for h, m in self._members(campaign_id, aids)
                 if m.status in sts and (not never_answered or m.first_answer_at is None)]
        return self._page(campaign_id, lines, after, limit)

    async def household_numbers(self, campaign_id: int, association_ids: Iterable[int],
                                statuses: Iterable[str]) -> list[tuple[int, str, int]]:
        return [(h.id, h.household_key, h.association_id)
                for h in await self.households_with_status(campaign_id, association_ids, statuses)]

    def _page(self, campaign_id: int, lines: list[HouseholdLine], after: HouseholdLine | None,
              limit: int | None) -> list[HouseholdLine]:
        def order(line: HouseholdLine) -> tuple[int, str, str, int]:
            # the member's association, as the campaign recorded it
            m = self.t.members[(campaign_id, line.id)]
            return (m.association_id, line.group, line.address, line.id)

        lines.sort(key=order)
        if after is not None:
            cursor = (after.association_id, after.group, after.address, after.id)
            lines = [line for line in lines if order(line) > cursor]
        return lines[:limit] if limit is not None else lines

    def _check_outcomes(self, campaign_id: int) -> dict[int, str]:
        """Household id → its outcome in the check (`CHECK_OUTCOMES`), for the households asked."""
        asked: dict[int, str] = {}
        for (cid, contact_id), row in self.t.checks.items():
            if cid != campaign_id:
                continue
            contact = self.t.contacts.get(contact_id)
            now = ("confirmed" if row[3] is not None
                   else "bounced" if contact is not None and contact.state == "dead" else "unconfirmed")
            before = asked.get(row[0], "unconfirmed")
            asked[row[0]] = min(before, now, key=CHECK_OUTCOMES.index)
        return asked

    async def check_outcomes(self, campaign_id: int) -> list[tuple[int, str, int]]:
        await asyncio.sleep(0)
        asked = self._check_outcomes(campaign_id)
        counts: dict[tuple[int, str], int] = {}
        for m in self.t.campaign_members(campaign_id):
            key = (m.association_id, asked.get(m.household_id, "not_asked"))
            counts[key] = counts.get(key, 0) + 1
        return [(a, o, n) for (a, o), n in sorted(counts.items())]

    async def check_unconfirmed(
        self, campaign_id: int, association_ids: Iterable[int], *, after: HouseholdLine | None = None,
        limit: int | None = None,
    ) -> list[HouseholdLine]:
        await asyncio.sleep(0)
        asked = self._check_outcomes(campaign_id)
        lines = [dataclasses.replace(self._line(h, m), status=asked.get(h.id, "not_asked"))
                 for h, m in self._members(campaign_id, set(association_ids)) if asked.get(h.id) != "confirmed"]
        return self._page(campaign_id, lines, after, limit)

    async def household_notes(self, campaign_id: int, association_ids: Iterable[int]) -> list[NotedHousehold]:
        await asyncio.sleep(0)
        latest: dict[int, tuple[int, str, float]] = {}
        for r in self.t.replies.values():
            if r.campaign_id == campaign_id and r.channel != "staff" and r.note and r.id > latest.get(
                    r.household_id, (0, "", 0.0))[0]:
                latest[r.household_id] = (r.id, r.note, r.received_at)
        found = [(h, m, m.association_id) for h, m in
                 self._members(campaign_id, set(association_ids)) if h.id in latest]
        found.sort(key=lambda x: (x[2], self.t.group_name(x[0].group_id), x[0].address, x[0].id))
        return [NotedHousehold(self._line(h, m), latest[h.id][1], latest[h.id][2]) for h, m, _ in found]

    async def in_person_marks(self, campaign_id: int, association_id: int) -> list[InPersonMark]:
        await asyncio.sleep(0)
        t, undone = self.t, self.t.undone()
        answered = {str(s) for s in ANSWERED}
        mine = {h.id for h, m in self._members(campaign_id, {association_id}) if m.status == "confirmed_in_person"}
        replies = sorted((r for r in t.replies.values() if r.campaign_id == campaign_id and r.household_id in mine
                          and r.id not in undone), key=lambda r: r.id)
        latest: dict[int, InPersonMark] = {}
        for r in replies:
            if r.status == "confirmed_in_person" and r.channel == "staff":
                staff = t.staff.get(r.staff_id) if r.staff_id is not None else None
                latest[r.household_id] = InPersonMark(
                    r.household_id, r.id, r.received_at, r.method or "", r.actor,
                    staff.display_name if staff else r.actor or "", r.note or "", r.prior_status is not None)
            elif r.status in answered and r.household_id in latest:  # an answer after it: it stands
                latest[r.household_id] = dataclasses.replace(latest[r.household_id], undoable=False)
        return sorted(latest.values(), key=lambda m: m.reply_id)

    async def help_panel(self, campaign_id: int, association_ids: Iterable[int],
                         include_handled: bool = False) -> list[HelpItem]:
        await asyncio.sleep(0)
        t, aids = self.t, set(association_ids)
        items = []
        for (cid, hid), hr in t.help.items():
            m, h = t.members.get((cid, hid)), t.households.get(hid)
            if (cid != campaign_id or (hr.handled_at is not None and not include_handled) or m is None or h is None
                    or m.association_id not in aids):
                continue
            staff = t.staff.get(hr.handled_by) if hr.handled_by is not None else None
            note, injured, location, safe = t.latest_details(cid, hid)
            items.append(HelpItem(h.id, h.association_id, t.group_name(h.group_id), h.name, h.address, h.members,
                                  h.vulnerable, note or "", location or "", injured, hr.opened_at, h.household_key,
                                  h.consent, status=m.status, status_at=m.status_at,
                                  landline=self._phone(h.id, "landline"), mobile=self._phone(h.id, "mobile"),
                                  people_safe=safe, escalated_at=hr.escalation_told_at,
                                  earlier_notes=t.earlier_notes(cid, hid), handled_at=hr.handled_at,
                                  handled_by=hr.handled_by_login if hr.handled_by_login is not None
                                  else (staff.login if staff else None),
                                  handled_by_name=staff.display_name if staff else hr.handled_by_login or ""))
        return sorted(items, key=lambda i: (i.opened_at, i.household_id))

    async def open_help_counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, int]:
        await asyncio.sleep(0)
        found = _open_help(self.t, campaign_id)
        if association_ids is None:
            return found
        return {a: found.get(a, 0) for a in sorted(set(association_ids))}

    async def escalations_told(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, float]:
        await asyncio.sleep(0)
        aids = None if association_ids is None else set(association_ids)
        found: dict[int, float] = {}
        for (cid, hid), hr in self.t.help.items():
            m = self.t.members.get((cid, hid))
            if cid == campaign_id and hr.escalation_told_at is not None and m is not None and (
                    aids is None or m.association_id in aids):
                found[m.association_id] = max(found.get(m.association_id, 0.0), hr.escalation_told_at)
        return found

    async def open_help_everywhere(self, association_ids: Iterable[int] | None = None) -> list[OpenHelp]:
        await asyncio.sleep(0)
        t = self.t
        aids = None if association_ids is None else set(association_ids)
        found: dict[tuple[int, int], int] = {}
        for (cid, hid), hr in t.help.items():
            m, c = t.members.get((cid, hid)), t.campaigns.get(cid)
            if hr.handled_at is not None or m is None or c is None or c.purged_at is not None:
                continue
            if aids is None or m.association_id in aids:
                found[cid, m.association_id] = found.get((cid, m.association_id), 0) + 1
        ordered = sorted(found.items(), key=lambda kv: (-t.campaigns[kv[0][0]].began, -kv[0][0], kv[0][1]))
        return [OpenHelp(_info(t.campaigns[cid], self.t), aid, n) for (cid, aid), n in ordered]

    # -- live changes ------------------------------------------------------------------------

    async def counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        await asyncio.sleep(0)
        aids = None if association_ids is None else set(association_ids)
        out: dict[int, dict[str, int]] = {}
        for (cid, aid, status), n in self.t.counts.items():
            if cid == campaign_id and (aids is None or aid in aids):
                out.setdefault(aid, dict.fromkeys(_STATUSES, 0))[status] += n
        return out

    async def reply_cursor(self) -> int:
        await asyncio.sleep(0)
        return max(self.t.replies, default=0)

    async def changes_since(
        self, campaign_id: int, after_reply_id: int, upto_reply_id: int, limit: int,
        association_ids: Iterable[int] | None = None,
    ) -> list[Change]:
        await asyncio.sleep(0)
        aids = None if association_ids is None else set(association_ids)
        if aids == set() or upto_reply_id <= after_reply_id:
            return []
        latest: dict[int, int] = {}
        noted: set[int] = set()
        for r in self.t.replies.values():
            m = self.t.members.get((r.campaign_id, r.household_id))
            if (after_reply_id < r.id <= upto_reply_id and r.campaign_id == campaign_id and m is not None
                    and (aids is None or m.association_id in aids)):
                latest[r.household_id] = max(latest.get(r.household_id, 0), r.id)
                if r.note and r.channel != "staff":  # as household_notes
                    noted.add(r.household_id)
        out = []
        for hid, rid in sorted(latest.items(), key=lambda hr: hr[1])[: limit + 1]:
            m = self.t.members[(campaign_id, hid)]
            out.append(Change(rid, hid, m.association_id, m.status, hid in noted))
        return out

    # -- report ------------------------------------------------------------------------------

    async def first_answers_by_channel(self, campaign_id: int) -> list[ChannelCount]:
        await asyncio.sleep(0)
        first: dict[int, tuple[int, str]] = {}
        undone = self.t.undone()
        for r in self.t.replies.values():
            if r.campaign_id == campaign_id and r.status in _ANSWERED and r.id not in undone:
                if r.household_id not in first or r.id < first[r.household_id][0]:
                    first[r.household_id] = (r.id, r.channel)
        counts: dict[tuple[int, str], int] = {}
        for hid, (_, channel) in first.items():
            m = self.t.members.get((campaign_id, hid))
            if m is not None:
                counts[(m.association_id, channel)] = counts.get((m.association_id, channel), 0) + 1
        return [ChannelCount(a, ch, n) for (a, ch), n in sorted(counts.items())]


def _open_help(t: Tables, campaign_id: int) -> dict[int, int]:
    found: dict[int, int] = {}
    for (cid, hid), hr in t.help.items():
        m = t.members.get((cid, hid))
        if cid == campaign_id and hr.handled_at is None and m is not None:
            found[m.association_id] = found.get(m.association_id, 0) + 1
    return found


class MemoryStatsReads:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def counts(self, campaign_id: int) -> list[CountRow]:
        await asyncio.sleep(0)
        return [CountRow(aid, status, n) for (cid, aid, status), n in sorted(self.t.counts.items())
                if cid == campaign_id and n != 0]

    async def minutes(self, campaign_id: int) -> list[MinuteRow]:
        await asyncio.sleep(0)
        rows = [MinuteRow(aid, minute, n) for (cid, aid, minute), n in self.t.minutes.items() if cid == campaign_id]
        return sorted(rows, key=lambda r: (r.minute, r.association_id))

    async def associations(self) -> list[Association]:
        await asyncio.sleep(0)
        return [a for aid in sorted(self.t.associations) if (a := self.t.association(aid)) is not None]

    async def open_help_requests(self, campaign_id: int) -> dict[int, int]:
        await asyncio.sleep(0)
        return _open_help(self.t, campaign_id)

    async def household_phones(self, household_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        await asyncio.sleep(0)
        return {hid: (first_phone(self.t, hid, "landline"), first_phone(self.t, hid, "mobile"))
                for hid in set(household_ids) if hid in self.t.households}
