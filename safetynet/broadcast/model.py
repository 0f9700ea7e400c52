"""Campaigns and their ladder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from safetynet.domain import CampaignKind, CampaignState, ChannelName, ContactKind


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


def default_ladder() -> tuple[LadderStep, ...]:
    """The free channels at once (the priced ones for households without any), each priced channel
    at its own time, then the door-knock list: from the channel registry."""
    # Layering note: the registry sits below broadcast; when this model moves to domain/, this
    # function stays above the channels layer (the domain imports no channel).
    from safetynet.channels.registry import default_ladder_steps

    return tuple(LadderStep(after, channels, fallback, knock) for after, channels, fallback, knock in
                 default_ladder_steps())


DEFAULT_LADDER: tuple[LadderStep, ...] = default_ladder()


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
class Campaign:
    id: int
    kind: CampaignKind
    title: str
    state: CampaignState
    scope: tuple[str, ...]  # 'city' | 'district:NAME' | 'association:NAME' | 'group:ASSOCIATION/GROUP'
    messages: dict[str, str]  # language -> text (without the drill prefix and the link)
    ladder: tuple[LadderStep, ...] = DEFAULT_LADDER
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "cli"
    created_by: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    closed_at: float | None = None
    households: int = 0

    @property
    def is_drill(self) -> bool:
        return self.kind == CampaignKind.DRILL


# --- the outbox ---------------------------------------------------------------------------------

# Claim order inside a campaign and channel: lower goes first.
PRIORITY_VULNERABLE = 0
PRIORITY_DEFAULT = 10


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


class OutcomeKind(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # back to the queue at next_attempt_at
    FAILED = "failed"  # permanent: the household's next channel in the step is tried
    RELEASED = "released"  # not attempted (graceful stop, paused lane): back to the queue as it was
    SKIPPED = "skipped"  # not attempted, never will be (its campaign ended while it was held)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One provider call, for the append-only attempt log."""

    at: float
    duration_ms: float
    outcome: str  # sent | retry | failed
    error_class: str | None = None
    detail: str | None = None


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


# --- whether anything is being sent ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DispatcherBeat:
    """A dispatcher's heartbeat, as stored: who, where, which lanes, since when, last heard."""

    owner: str
    host: str
    pid: int
    lanes: tuple[str, ...]
    started_at: float
    seen_at: float
    stopped_at: float | None = None


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
