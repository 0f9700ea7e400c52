"""Campaigns, their ladder and outbox, and the order in which a household's channels are tried."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from safetynet.domain.records import quick
from safetynet.domain.redial import RedialRule
from safetynet.domain.vocabulary import CampaignKind, CampaignState, ChannelName, ContactKind, Status


@dataclass(frozen=True)
class LadderStep:
    """One rung: at `after_seconds` from the start, send over `channels` to households not answered yet.

    `door_knock` marks the last rung: no send; the unanswered go on the door-knock list and the
    association head and deputies get the link.
    `fallback` channels are used, in order, for households that have none of `channels`
    (step 0: households with no app channel get SMS at once, landline-only ones a call).
    """

    after_seconds: float
    channels: tuple[ChannelName, ...] = ()
    fallback: tuple[ChannelName, ...] = ()
    door_knock: bool = False


# The default ladder is made from the channel registry (`channels.registry.default_ladder`): the
# domain names no channel.


def ladder_to_json(ladder: Sequence[LadderStep]) -> str:
    return json.dumps([
        {"after_seconds": s.after_seconds, "channels": [str(c) for c in s.channels],
         "fallback": [str(c) for c in s.fallback], "door_knock": s.door_knock}
        for s in ladder
    ])


def ladder_from_json(text: str) -> tuple[LadderStep, ...]:
    return tuple(
        LadderStep(float(s["after_seconds"]), tuple(str(c) for c in s.get("channels", ())),
                   tuple(str(c) for c in s.get("fallback", ())), bool(s.get("door_knock", False)))
        for s in json.loads(text)
    )


@dataclass(frozen=True)
class Actor:
    """Who starts, approves or cancels a campaign: a staff member (a person, by staff id), or not a
    person: a trigger (`trigger`), an API token (`token:ID`), the command line without `--as` (`cli:USER`).

    The two-person rule compares staff ids, never labels: two display names, or a login renamed in
    between, cannot pass for two people, and only a person can approve. A token made by a person on
    the admin page acts `on_behalf_of` them: it never approves, and its maker cannot approve what
    it started (one city admin with a token of their own is still one person)."""

    label: str
    staff_id: int | None = None
    on_behalf_of: int | None = None
    # the role it acts in, for the audit log's `role` (a staff member's, a token's own); none for a
    # trigger or the command line without `--as`. Never part of the two-person rule.
    role: str = ""

    @property
    def person_id(self) -> int | None:
        """The staff id of the person who acts, themselves or through their token."""
        return self.staff_id if self.staff_id is not None else self.on_behalf_of

    @property
    def is_person(self) -> bool:
        return self.staff_id is not None


TRIGGER = Actor("trigger")


@dataclass(frozen=True)
class Campaign:
    id: int
    kind: CampaignKind
    title: str
    state: CampaignState
    scope: tuple[str, ...]  # 'city' | 'district:NAME' | 'association:NAME' | 'group:ASSOCIATION/GROUP'
    messages: dict[str, str]  # language -> text (without the drill prefix and the link)
    ladder: tuple[LadderStep, ...]
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "cli"
    created_by: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    closed_at: float | None = None
    households: int = 0
    # The two-person rule: who started it (for a real event: asked for it, at `requested_at`), who
    # approved it and when. A staff member is kept by id; a trigger or a token by label alone.
    started_by: str = ""
    started_by_staff: int | None = None
    requested_at: float | None = None
    approved_by: str = ""
    approved_by_staff: int | None = None
    approved_at: float | None = None
    # When retention erased its free texts (DESIGN §9); its counts stay.
    purged_at: float | None = None

    @property
    def is_drill(self) -> bool:
        return self.kind == CampaignKind.DRILL

    def approval(self) -> dict[str, Any]:
        """The two-person rule's fields, as the API and the CLI print them."""
        return {"started_by": self.started_by, "requested_at": self.requested_at, "approved_by": self.approved_by,
                "approved_at": self.approved_at}

    def summary(self) -> dict[str, Any]:
        """The campaign as `GET /api/campaigns` lists it (and `campaign list --json`)."""
        return {"id": self.id, "kind": str(self.kind), "state": str(self.state), "title": self.title,
                "scope": list(self.scope), "households": self.households, "created_at": self.created_at,
                "started_at": self.started_at, "closed_at": self.closed_at, "source": self.source, **self.approval()}


def going_on(running: Sequence[Campaign]) -> list[Campaign]:
    """The running campaigns whose work goes on now: while a real event runs, the real events alone (its
    drills and contact checks are held: the dispatcher sends none of their messages, staff texts mark and
    confirm in the real event's lists, pages say 一時停止中: `CampaignInfo.paused`); otherwise all."""
    real = [c for c in running if c.kind == CampaignKind.REAL]
    return real or list(running)


@dataclass(frozen=True)
class CampaignInfo:
    """A campaign as staff pages and reports show it (no texts, no ladder)."""

    id: int
    kind: str
    title: str
    state: str
    scope: tuple[str, ...]
    created_at: float
    started_at: float | None
    closed_at: float | None
    households: int
    started_by: str = ""
    requested_at: float | None = None
    approved_by: str = ""
    approved_at: float | None = None
    purged_at: float | None = None
    # A running drill or contact check while a real event runs: none of its messages is sent and its steps wait (the
    # dispatcher and the ladder, README Decisions); pages say so beside 実施中.
    paused: bool = False

    @property
    def scope_key(self) -> str:
        """The scope as one comparable string (campaigns of the same scope compare in reports)."""
        return ",".join(sorted(self.scope))

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "state": self.state,
                "started_at": self.started_at, "closed_at": self.closed_at}

    def approval(self) -> dict[str, object]:
        """Who started and who approved it (a real event), for pages and the API."""
        return {"started_by": self.started_by, "requested_at": self.requested_at,
                "approved_by": self.approved_by, "approved_at": self.approved_at}


@dataclass(frozen=True)
class OpenHelp:
    """Help requests of one association in one campaign that no one marked handled yet (`open`), the
    campaign as the staff pages name it. A request stays open after its campaign closed: the head's
    page of a newer campaign must still point to it."""

    campaign: CampaignInfo
    association_id: int
    open: int


class Enrolment(NamedTuple):
    """A household taking part in a campaign, with the hash of its reply token."""

    household_id: int
    association_id: int
    token_hash: str


@quick
@dataclass(frozen=True, slots=True)
class StatusTransition:
    """A household's status in a campaign that really changed (what live pages and alerts follow)."""

    campaign_id: int
    household_id: int
    association_id: int
    old: Status
    new: Status
    first_answer: bool


@dataclass(frozen=True)
class CountRow:
    """A live counter: households of an association in a status."""

    association_id: int
    status: str
    n: int


@dataclass(frozen=True)
class MinuteRow:
    """Households of an association whose first answer came in this minute after the start."""

    association_id: int
    minute: int
    n: int


# --- the outbox ---------------------------------------------------------------------------------

# Claim order inside a campaign and channel: lower goes first.
PRIORITY_VULNERABLE = 0
PRIORITY_DEFAULT = 10
# A staff alert: claimed before every household delivery of its lane (household priorities are >= 0).
PRIORITY_STAFF = -10
# The step of a staff alert's row: it belongs to no ladder step.
STAFF_STEP = -1
# The step of a household notice's row (a cancelled campaign's "it was cancelled"): no ladder step
# either. Rows below step 0 are composed when queued and change no household's status.
NOTICE_STEP = -2
# How long after a cancel its notices wait: the deliveries claimed at that moment are sent or let go
# meanwhile, and a notice whose household's message was let go is dropped (told of nothing it got).
NOTICE_DELAY_SECONDS = 10.0


class DeliveryState(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    STANDBY = "standby"  # a fallback planned ahead (older plans): activated only if the ones before it failed


class PlannedDelivery(NamedTuple):
    """One row the planner wants in the outbox (before it has an id). A tuple: 200,000 households
    make half a million of them in a few seconds."""

    household_id: int
    step: int
    channel: ChannelName
    contact_id: int
    priority: int
    fallback_rank: int  # 0 for the household's first channel in the step; n for its n-th fallback


class ContactRef(NamedTuple):
    id: int
    kind: ContactKind
    working: bool


class StepHousehold(NamedTuple):
    """A household as the planner needs it (no addresses: little memory for 200,000 of them)."""

    id: int
    association_id: int
    vulnerable: bool
    contacts: tuple[ContactRef, ...]


@dataclass(frozen=True)
class StepPlan:
    """What the planner decided for one ladder step over a batch of households."""

    deliveries: tuple[PlannedDelivery, ...]
    # households with no working contact at all: straight to the door-knock list, unreachable
    no_contact: tuple[int, ...]
    # households with contacts but none the step uses: they wait for the next step
    not_covered: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StaffAlert:
    """A message to one contact of an association's head or deputy (a need-help alert, a door-knock
    list). It is an outbox row like a household's delivery (lanes, rate limits, retries, attempt
    log), composed when queued, of no household, and claimed before every household delivery."""

    campaign_id: int
    staff_id: int
    channel: ChannelName
    address: str
    text: str
    link: str  # the staff page the alert points to (the reply URL of a household's message)
    drill: bool = False  # the campaign's kind, as the store reads it back (not stored with the row)
    # a help alert: the household whose call for help it carries (`domain.replies.escalation_due`'s
    # `unreached`); None for the other staff alerts
    about_household: int | None = None


@dataclass(frozen=True, slots=True)
class HouseholdNotice:
    """A word to a household's contact after its campaign was cancelled (a mistaken alert taken back):
    an outbox row like a delivery (lanes, rate limits, retries, attempt log), composed when queued,
    sent whatever its campaign's state, claimed after every running campaign's deliveries (a new
    event's alert never waits for it), and changing no household's status."""

    campaign_id: int
    household_id: int
    channel: ChannelName
    address: str
    text: str  # the link to the reply page, which says the campaign was cancelled, is made when sent
    drill: bool = False  # the campaign's kind, as the store reads it back (not stored with the row)


class NoticeRecipient(NamedTuple):
    """A household's contact a cancelled campaign's message went out to (or was on its way to)."""

    household_id: int
    channel: ChannelName
    address: str
    language: str


def notice_plan(reached: Iterable[NoticeRecipient], calls: Collection[ChannelName]) -> list[NoticeRecipient]:
    """Who hears that a campaign was cancelled: every channel that carried its message to a household,
    once per address (two households sharing a mobile get one SMS), but not a call where a written
    channel reached the household too (a phone ringing at night to take back an alert); a household
    reached only by a call is called (a landline may be all an elderly resident has). `calls`: the
    channels that ring (voice). Pure."""
    by_household: dict[int, list[NoticeRecipient]] = {}
    for r in reached:
        by_household.setdefault(r.household_id, []).append(r)
    out: list[NoticeRecipient] = []
    seen: set[tuple[str, str]] = set()
    for household_id in sorted(by_household):
        rows = sorted(by_household[household_id], key=lambda r: (r.channel, r.address))
        written = [r for r in rows if r.channel not in calls]
        channels: set[str] = set()  # a step sends a household one message a channel: one notice too
        for r in written or rows:
            if (r.channel, r.address) not in seen and r.channel not in channels:
                seen.add((r.channel, r.address))
                channels.add(r.channel)
                out.append(r)
    return out


@quick
@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a dispatcher holds under a lease, with what is needed to build its message."""

    id: int
    campaign_id: int
    household_id: int
    step: int
    channel: ChannelName
    contact_id: int | None
    attempts: int
    address: str | None  # None when the contact is gone or dead since planning
    language: str
    priority: int = 0
    lease_owner: str = ""
    # Set for a staff alert (household_id is then 0, step STAFF_STEP, contact_id None).
    staff: StaffAlert | None = None
    # Set for a household notice (step NOTICE_STEP, contact_id None).
    notice: HouseholdNotice | None = None

    @property
    def composed(self) -> bool:
        """A staff alert or a household notice: its text made when queued, sent whatever its
        campaign's state, no household status changed by it and no fall-back after it."""
        return self.staff is not None or self.notice is not None


class OutcomeKind(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # back to the queue at next_attempt_at
    FAILED = "failed"  # permanent: the household's next channel in the step is tried
    RELEASED = "released"  # not attempted (graceful stop, paused lane): back to the queue as it was
    SKIPPED = "skipped"  # not attempted, never will be (its campaign ended while it was held)


@quick
@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One provider call, for the append-only attempt log."""

    at: float
    duration_ms: float
    outcome: str  # sent | retry | failed
    error_class: str | None = None
    detail: str | None = None


@quick
@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery: ClaimedDelivery
    kind: OutcomeKind
    at: float
    attempts: tuple[AttemptRecord, ...] = ()
    provider_id: str | None = None
    segments: int | None = None
    error: str | None = None
    next_attempt_at: float | None = None
    contact_dead: bool = False


@dataclass(frozen=True)
class LadderProgress:
    """Where a campaign is on its ladder; survives restarts so a step is neither repeated nor skipped."""

    campaign_id: int
    next_step: int  # the first step not planned yet
    paused_since: float | None = None  # a drill paused by a running real event
    paused_seconds: float = 0.0  # total time paused so far (pushes later steps back)


# --- a household's channels in a step (pure: the planner and every store's fall-back use them) -----
#
# A step's channels are tried in the order the scenario lists them, then its fallback channels the
# same way (DESIGN §5: never a call while a mobile can take an SMS). A household's own order of
# contacts counts only among the free channels (app messengers, web push, email: "this family
# prefers Telegram" is respected); it never puts a call before an SMS, whichever of a household's
# mobile and landline the roster listed first. Which channels send to which contact kind, and which
# are free, is the channel registry's to say: it hands a `ChannelRoutes` in (`registry.routes()`).


@dataclass(frozen=True)
class ChannelRoutes:
    """Contact kind → the channels that send to it (registry order: mobile → sms, voice), and the
    channels among which a household's own order of contacts decides (the free ones)."""

    of_kind: Mapping[ContactKind, tuple[ChannelName, ...]]
    preferred: frozenset[ChannelName] = frozenset()
    # channel → when a call of it that rang out is placed again (`domain.redial`), from its settings
    redial: Mapping[ChannelName, RedialRule] = field(default_factory=dict)


class PlannableContact(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> ContactKind: ...
    @property
    def working(self) -> bool: ...


class PlannableHousehold(Protocol):
    """What the planner reads of a household (domain.roster.TargetHousehold fits)."""

    @property
    def id(self) -> int: ...
    @property
    def vulnerable(self) -> bool: ...
    @property
    def contacts(self) -> Sequence[PlannableContact]: ...


def reachable(contacts: Sequence[PlannableContact], routes: ChannelRoutes) -> dict[ChannelName, int]:
    """Channel → the first of `contacts` (working ones, the caller's filter) that takes it, in the
    household's order (the dict keeps that order: the household's preference among the free channels);
    but where that contact is another channel's too and a later one is of a kind only this channel
    reaches, that one: a household's mobile is texted and its landline called. Before, the call went to
    the mobile the texts had gone to, and a landline listed after a mobile never rang (review)."""
    have: dict[ChannelName, int] = {}
    later: dict[ChannelName, list[PlannableContact]] = {}
    of_kind = routes.of_kind
    for c in contacts:
        for ch in of_kind.get(c.kind, ()):
            if ch not in have:
                have[ch] = c.id
            else:
                later.setdefault(ch, []).append(c)
    for ch, others in later.items():
        if any(other != ch and cid == have[ch] for other, cid in have.items()):
            own = next((c.id for c in others if of_kind.get(c.kind) == (ch,)), None)
            if own is not None:
                have[ch] = own
    return have


def pick_channels(
    have: Mapping[ChannelName, int], allowed: Sequence[ChannelName], taken: set[ChannelName],
    routes: ChannelRoutes,
) -> list[tuple[ChannelName, int]]:
    """(channel, contact id) for the `allowed` channels the household has (`reachable`) and not
    `taken` yet (adds them to it), in the scenario's order; the free channels among them swap
    places to follow the household's own order."""
    preferred = routes.preferred
    picked: list[ChannelName] = []
    apps = 0
    for ch in allowed:
        if ch in have and ch not in taken:
            taken.add(ch)
            picked.append(ch)
            apps += ch in preferred
    if apps > 1:
        ordered = iter([ch for ch in have if ch in preferred and ch in picked])
        picked = [next(ordered) if ch in preferred else ch for ch in picked]
    return [(ch, have[ch]) for ch in picked]


def channel_order(
    household: PlannableHousehold, step: LadderStep, routes: ChannelRoutes,
    busy: frozenset[ChannelName] = frozenset(),
) -> list[tuple[ChannelName, int]]:
    """(channel, contact id) in the order they are tried for this household in this step.
    `busy` channels still have an earlier step's message waiting: not planned again."""
    have = reachable([c for c in household.contacts if c.working], routes)
    taken: set[ChannelName] = set(busy)
    primary = pick_channels(have, step.channels, taken, routes)
    return primary + pick_channels(have, step.fallback, taken, routes)


def next_channel(
    household: PlannableHousehold, step_index: int, step: LadderStep, tried: Iterable[ChannelName],
    routes: ChannelRoutes,
) -> PlannedDelivery | None:
    """After the channels in `tried` failed in this step: the household's next one, or None."""
    done = frozenset(tried)
    order = [(ch, cid) for ch, cid in channel_order(household, step, routes) if ch not in done]
    if not order:
        return None
    ch, contact_id = order[0]
    prio = PRIORITY_VULNERABLE if household.vulnerable else PRIORITY_DEFAULT
    return PlannedDelivery(household.id, step_index, ch, contact_id, prio, len(done))


# --- whether anything is being sent ---------------------------------------------------------------


# The roles of a heartbeat row: a dispatcher's, or a web process's (no lanes), kept only so that an upgrade
# sees the process (`admin.live_processes`) and counted as a dispatcher nowhere.
DISPATCHER_ROLE, WEB_ROLE = "dispatcher", "web"


@dataclass(frozen=True, slots=True)
class DispatcherBeat:
    """A dispatcher's heartbeat, as stored: who, where, which lanes, since when, last heard; or, `role`
    WEB_ROLE, a web process's."""

    owner: str
    host: str
    pid: int
    lanes: tuple[str, ...]
    started_at: float
    seen_at: float
    stopped_at: float | None = None
    role: str = DISPATCHER_ROLE


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """How one channel fares in one dispatcher: `idle` (nothing tried yet), `ok` (the provider
    answers), `failing` (attempts in a row fail for a reason that is not the recipient's), with
    when that began, the last reason and the provider's (redacted) answer."""

    owner: str
    channel: str
    state: str
    since: float
    reason: str = ""
    detail: str = ""
    failures: int = 0
    updated_at: float = 0.0


# --- the contact check (連絡先確認) ---------------------------------------------------------------


class CheckRow(NamedTuple):
    """A contact asked in a check: by which channel, and the hash of its own confirm token."""

    contact_id: int
    household_id: int
    channel: ChannelName
    token_hash: str


@dataclass(frozen=True)
class ContactCheck:
    """A contact's row in a check, as a confirm link finds it."""

    campaign_id: int
    contact_id: int
    household_id: int
    channel: ChannelName
    campaign_state: str
    confirmed_at: float | None
    language: str = "ja"


# A contact's standing after the checks: confirmed by a tap in its latest check; asked and not
# (yet) confirmed; dead (a bounce); never asked.
CHECK_STATES: tuple[str, ...] = ("confirmed", "unconfirmed", "dead", "unchecked")
# A household's outcome in one contact check: a contact confirmed; none confirmed and one bounced (a
# number or address to correct); asked and silent; nothing the check could ask (a landline alone,
# no contact). The report lists every household but the confirmed ones, for the association to call on.
CHECK_OUTCOMES: tuple[str, ...] = ("confirmed", "bounced", "unconfirmed", "not_asked")


@dataclass(frozen=True)
class CheckTally:
    """Contacts of one kind by check state, and the households still reachable by that kind (a
    working contact confirmed or never checked: one asked and silent no longer counts)."""

    kind: ContactKind
    confirmed: int = 0
    unconfirmed: int = 0
    dead: int = 0
    unchecked: int = 0
    reachable_households: int = 0

    def as_dict(self) -> dict[str, int | str]:
        return {"kind": self.kind, "confirmed": self.confirmed, "unconfirmed": self.unconfirmed,
                "dead": self.dead, "unchecked": self.unchecked, "reachable_households": self.reachable_households}


def tally_checks(rows: Iterable[tuple[int, ContactKind, str]]) -> list[CheckTally]:
    """(household id, contact kind, check state) per contact → one tally per kind, in first-seen
    order (pure: every store's reads share it)."""
    counts: dict[ContactKind, dict[str, int]] = {}
    reach: dict[ContactKind, set[int]] = {}
    for household_id, kind, state in rows:
        c = counts.setdefault(kind, dict.fromkeys(CHECK_STATES, 0))
        c[state] += 1
        if state in ("confirmed", "unchecked"):
            reach.setdefault(kind, set()).add(household_id)
    return [CheckTally(kind, c["confirmed"], c["unconfirmed"], c["dead"], c["unchecked"], len(reach.get(kind, ())))
            for kind, c in counts.items()]
