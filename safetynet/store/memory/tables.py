"""The in-memory store's data: plain rows in dicts, and what several repositories share.

Each repository method runs without an await between its first read and its last write, so it
is atomic the way a transaction is. Every method yields to the loop once first, as a real store's
round trip would, so tests see the same interleavings.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from safetynet.clock import Clock
from safetynet.domain import ANSWERED, CampaignKind, CampaignState, Status, next_status
from safetynet.domain.audit import AuditEntry
from safetynet.domain.campaigns import (
    Campaign,
    ChannelHealth,
    ChannelRoutes,
    DispatcherBeat,
    StatusTransition,
    ladder_from_json,
)
from safetynet.domain.roster import Association, Contact, Household, UnknownScopeError
from safetynet.domain.triggers import TriggerRecord
from safetynet.store.errors import StoreUnavailable
from safetynet.store.rules import answer_minute


@dataclass
class HouseholdRow:
    id: int
    association_id: int
    group_id: int | None
    household_key: str
    name: str
    address: str
    members: int
    vulnerable: bool
    language: str
    notes: str
    created_at: float
    updated_at: float
    removed_at: float | None = None
    consent: str = "yes"
    consent_stated: bool = True  # by a roster cell; False: the default of an empty one (follows 要配慮)


@dataclass
class ContactRow:
    id: int
    household_id: int
    kind: str
    address: str
    source: str
    state: str  # working | dead
    created_at: float
    dead_reason: str | None = None


@dataclass
class StaffRow:
    id: int
    login: str
    display_name: str
    role: str
    scope: str
    password_hash: str | None
    language: str
    created_at: float
    active: bool = True


@dataclass
class StaffContactRow:
    id: int
    staff_id: int
    kind: str
    address: str
    created_at: float


@dataclass
class ApiTokenRow:
    token_hash: str
    role: str
    scope: str
    label: str
    created_at: float
    revoked_at: float | None = None
    expires_at: float | None = None
    last_used_at: float | None = None
    created_by: int | None = None


@dataclass
class CampaignRow:
    """Texts, ladder and options kept as the JSON a database holds, so every read is a fresh copy."""

    id: int
    kind: str
    title: str
    state: str
    scope: str
    messages: str
    ladder: str
    options: str
    source: str
    created_by: str
    created_at: float
    started_at: float | None = None
    closed_at: float | None = None
    households: int = 0
    started_by: str = ""
    started_by_staff: int | None = None
    requested_at: float | None = None
    approved_by: str = ""
    approved_by_staff: int | None = None
    approved_at: float | None = None
    purged_at: float | None = None

    def as_campaign(self) -> Campaign:
        return Campaign(
            id=self.id, kind=CampaignKind(self.kind), title=self.title, state=CampaignState(self.state),
            scope=tuple(json.loads(self.scope)), messages=json.loads(self.messages),
            ladder=ladder_from_json(self.ladder), options=json.loads(self.options), source=self.source,
            created_by=self.created_by, created_at=self.created_at, started_at=self.started_at,
            closed_at=self.closed_at, households=self.households, started_by=self.started_by,
            started_by_staff=self.started_by_staff, requested_at=self.requested_at, approved_by=self.approved_by,
            approved_by_staff=self.approved_by_staff, approved_at=self.approved_at, purged_at=self.purged_at,
        )

    @property
    def began(self) -> float:
        return self.started_at if self.started_at is not None else self.created_at


@dataclass
class MemberRow:
    """A household in a campaign."""

    campaign_id: int
    household_id: int
    association_id: int
    token_hash: str
    status: str = "pending"
    status_at: float | None = None
    first_answer_at: float | None = None
    doorknock_at: float | None = None


@dataclass
class LadderRow:
    next_step: int
    updated_at: float
    paused_since: float | None = None
    paused_seconds: float = 0.0


@dataclass
class DeliveryRow:
    id: int
    campaign_id: int
    household_id: int
    step: int
    channel: str
    contact_id: int | None
    priority: int
    fallback_rank: int
    state: str
    next_attempt_at: float
    updated_at: float
    attempts: int = 0
    lease_until: float | None = None
    lease_owner: str | None = None
    provider_id: str | None = None
    provider_status: str | None = None
    segments: int | None = None
    error: str | None = None
    sent_at: float | None = None
    # a staff alert (household_id 0): its recipient, address, text and link
    staff_id: int | None = None
    address: str | None = None
    body: str | None = None
    link: str | None = None
    about_household_id: int | None = None  # a help alert's household
    redials: int = 0  # times a call that rang out was queued again on this row (`domain.redial`)


@dataclass
class ReplyRow:
    id: int
    campaign_id: int
    household_id: int
    status: str
    channel: str
    dedupe_key: str
    people_safe: int | None
    people_injured: int | None
    location: str | None
    note: str | None
    method: str | None
    staff_id: int | None
    actor: str | None
    received_at: float
    prior_status: str | None = None  # a staff confirmation: the household's status just before it
    undoes: int | None = None  # an undo: the id of the confirmation it takes back


@dataclass
class HelpRequestRow:
    reply_id: int
    opened_at: float
    handled_at: float | None = None
    handled_by: int | None = None
    handled_by_login: str | None = None
    notified_at: float | None = None
    escalated_at: float | None = None
    reopened_at: float | None = None
    escalation_told_at: float | None = None
    handled_key: str | None = None  # the last staff text that marked it handled (kept when reopened)


@dataclass
class PhoneCodeRow:
    id: int
    household_id: int
    phone: str
    code_hash: str
    expires_at: float
    created_at: float
    attempts: int = 0


@dataclass
class Tables:
    """Every table of the store, as dicts keyed like their primary keys."""

    clock: Clock
    # which channels take which contact kind (the channel registry's, passed in): the known kinds
    # and the fall-back's order
    routes: ChannelRoutes
    ids: dict[str, Iterator[int]] = field(default_factory=lambda: defaultdict(lambda: itertools.count(1)))
    districts: dict[int, str] = field(default_factory=dict)
    associations: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (district id, name)
    groups: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (association id, name)
    households: dict[int, HouseholdRow] = field(default_factory=dict)
    contacts: dict[int, ContactRow] = field(default_factory=dict)
    # (household, kind, address) -> when its resident removed it: a roster import does not add it back
    contact_removals: dict[tuple[int, str, str], float] = field(default_factory=dict)
    codes: dict[int, tuple[str, float]] = field(default_factory=dict)  # household id -> (code hash, at)
    phone_codes: dict[int, PhoneCodeRow] = field(default_factory=dict)
    staff: dict[int, StaffRow] = field(default_factory=dict)
    staff_contacts: dict[int, StaffContactRow] = field(default_factory=dict)
    sessions: dict[str, tuple[int, str, float, float]] = field(default_factory=dict)  # hash -> staff, csrf, at, until
    api_tokens: dict[int, ApiTokenRow] = field(default_factory=dict)
    campaigns: dict[int, CampaignRow] = field(default_factory=dict)
    members: dict[tuple[int, int], MemberRow] = field(default_factory=dict)
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)  # token hash -> member key
    counts: dict[tuple[int, int, str], int] = field(default_factory=dict)  # (campaign, association, status)
    minutes: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (campaign, association, minute)
    ladders: dict[int, LadderRow] = field(default_factory=dict)
    doorknock_notices: dict[tuple[int, int], float] = field(default_factory=dict)  # (campaign, association) -> since
    deliveries: dict[int, DeliveryRow] = field(default_factory=dict)
    delivery_keys: dict[tuple[int, int, int, str], int] = field(default_factory=dict)
    attempts: list[tuple[int, float, float, str, str | None, str | None]] = field(default_factory=list)
    early_statuses: dict[str, tuple[str, int | None, float]] = field(default_factory=dict)
    replies: dict[int, ReplyRow] = field(default_factory=dict)
    reply_keys: set[str] = field(default_factory=set)
    staff_texts: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (answer, received at)
    help: dict[tuple[int, int], HelpRequestRow] = field(default_factory=dict)
    triggers: dict[int, TriggerRecord] = field(default_factory=dict)
    dispatchers: dict[str, DispatcherBeat] = field(default_factory=dict)
    channel_health: dict[tuple[str, str], ChannelHealth] = field(default_factory=dict)  # (owner, channel)
    audit: dict[int, AuditEntry] = field(default_factory=dict)
    # contact checks: (campaign, contact) -> [household, channel, token hash, confirmed at]; token hash -> key
    checks: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    check_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)
    # set while writes are to fail (tests of a store that cannot write), and after a failed one
    fail_with: BaseException | None = None
    failed: BaseException | None = None

    def next_id(self, table: str) -> int:
        return next(self.ids[table])

    # -- writes ------------------------------------------------------------------------------

    async def write(self) -> None:
        """Before a write: one turn of the loop, then StoreUnavailable while writes are made to fail."""
        await asyncio.sleep(0)
        if self.fail_with is not None:
            self.failed = self.fail_with
            raise StoreUnavailable(str(self.fail_with))
        self.failed = None

    # -- roster ------------------------------------------------------------------------------

    def association(self, association_id: int) -> Association | None:
        found = self.associations.get(association_id)
        if found is None:
            return None
        return Association(association_id, found[1], self.districts.get(found[0], ""))

    def association_named(self, name: str) -> Association | None:
        for aid, (_, n) in self.associations.items():
            if n == name:
                return self.association(aid)
        return None

    def earlier_notes(self, campaign_id: int, household_id: int) -> tuple[str, ...]:
        """The two notes before the latest, oldest first (`latest_details_sql`'s last two columns)."""
        notes = [r.note for r in sorted(self.replies.values(), key=lambda r: r.id)
                 if r.campaign_id == campaign_id and r.household_id == household_id and r.channel != "staff" and r.note]
        return tuple(notes[-3:-1])

    def latest_details(self, campaign_id: int, household_id: int) -> tuple[str | None, int | None, str | None, int | None]:
        """(note, people injured, location, people safe): each the latest the household gave in the
        campaign, whichever reply it came with (a plain second "help" must not blank the card); never
        a staff confirmation's note (staff's words, perhaps undone)."""
        mine = sorted((r for r in self.replies.values() if r.campaign_id == campaign_id
                       and r.household_id == household_id and r.channel != "staff"), key=lambda r: -r.id)
        return (next((r.note for r in mine if r.note), None),
                next((r.people_injured for r in mine if r.people_injured is not None), None),
                next((r.location for r in mine if r.location is not None), None),
                next((r.people_safe for r in mine if r.people_safe is not None), None))

    def group_name(self, group_id: int | None) -> str:
        return self.groups[group_id][1] if group_id is not None and group_id in self.groups else ""

    def contacts_of(self, household_id: int) -> list[ContactRow]:
        return sorted((c for c in self.contacts.values() if c.household_id == household_id), key=lambda c: c.id)

    def has_working_contact(self, household_id: int) -> bool:
        return any(c.household_id == household_id and c.state == "working" for c in self.contacts.values())

    def household(self, row: HouseholdRow) -> Household:
        a = self.association(row.association_id)
        return Household(
            id=row.id, association_id=row.association_id, association=a.name if a else "",
            district=a.district if a else "", group=self.group_name(row.group_id),
            household_key=row.household_key, name=row.name, address=row.address, members=row.members,
            vulnerable=row.vulnerable, language=row.language, notes=row.notes,
            contacts=tuple(contact(c) for c in self.contacts_of(row.id)), removed_at=row.removed_at,
            consent=row.consent,
        )

    def current(self) -> list[HouseholdRow]:
        """Households on the roster now (not removed), in id order."""
        return sorted((h for h in self.households.values() if h.removed_at is None), key=lambda h: h.id)

    def in_scope(self, scopes: Iterable[str] | str) -> list[HouseholdRow]:
        """Current households of the scopes (their union); raises UnknownScopeError as SQLite does."""
        assoc_ids: set[int] = set()
        group_ids: set[int] = set()
        for raw in [scopes] if isinstance(scopes, str) else scopes:
            scope = str(raw).strip()
            kind, _, name = scope.partition(":")
            if scope == "city":
                return self.current()
            if kind == "district":
                found = [aid for aid, (did, _) in self.associations.items() if self.districts.get(did) == name]
                if not found:
                    raise UnknownScopeError(f"unknown district: {name}", "district", name)
                assoc_ids.update(found)
            elif kind == "association":
                a = self.association_named(name)
                if a is None:
                    raise UnknownScopeError(f"unknown association: {name}", "association", name)
                assoc_ids.add(a.id)
            elif kind == "group":
                group_ids.add(self._group(name))
            else:
                raise UnknownScopeError(
                    f"scope must be city, district:NAME, association:NAME or group:A/G: {scope!r}"
                )
        return [h for h in self.current() if h.association_id in assoc_ids or h.group_id in group_ids]

    def _group(self, spec: str) -> int:
        assoc, sep, group = spec.partition("/")
        a = self.association_named(assoc)
        for gid, (aid, name) in self.groups.items():
            if sep and a is not None and aid == a.id and name == group:
                return gid
        raise UnknownScopeError(f"unknown group: {spec} (write group:ASSOCIATION/GROUP)", "group", spec)

    # -- campaigns ---------------------------------------------------------------------------

    def campaign_members(self, campaign_id: int) -> list[MemberRow]:
        """The campaign's households, in household id order."""
        return sorted((m for m in self.members.values() if m.campaign_id == campaign_id),
                      key=lambda m: m.household_id)

    def apply_status_changes(
        self, changes: Iterable[tuple[int, int, Status, float]]
    ) -> list[StatusTransition]:
        """(campaign, household, status, at) in order, as `store.sqlite.statuses` applies them: the
        status `next_status` gives, the first answer's time, the counters and the answer curve."""
        transitions: list[StatusTransition] = []
        for campaign_id, household_id, status, at in changes:
            m = self.members.get((campaign_id, household_id))
            if m is None:
                continue  # not part of this campaign: nothing to count
            old = Status(m.status)
            new = next_status(old, status)
            if new == old:
                continue
            first = new in ANSWERED and m.first_answer_at is None
            m.status, m.status_at = str(new), at
            if first:
                m.first_answer_at = at
                c = self.campaigns.get(campaign_id)
                minute = answer_minute(at, c.began if c is not None else 0.0)
                key = (campaign_id, m.association_id, minute)
                self.minutes[key] = self.minutes.get(key, 0) + 1
            for st, delta in ((str(old), -1), (str(new), 1)):
                ckey = (campaign_id, m.association_id, st)
                self.counts[ckey] = self.counts.get(ckey, 0) + delta
            transitions.append(StatusTransition(campaign_id, household_id, m.association_id, old, new, first))
        return transitions

    def undone(self) -> set[int]:
        """Ids of the replies an undo took back."""
        return {r.undoes for r in self.replies.values() if r.undoes is not None}

    def seed_counts(self, campaign_id: int) -> None:
        """Counters recounted from the campaign's households (when it starts)."""
        for key in [k for k in self.counts if k[0] == campaign_id]:
            del self.counts[key]
        for m in self.campaign_members(campaign_id):
            key = (campaign_id, m.association_id, m.status)
            self.counts[key] = self.counts.get(key, 0) + 1

    def covered(self, campaign_id: int) -> set[int]:
        """Associations with counters in the campaign (those it covers once started)."""
        return {a for (c, a, _) in self.counts if c == campaign_id}


def contact(row: ContactRow) -> Contact:
    return Contact(row.id, row.household_id, row.kind, row.address, row.source, row.state == "working")

