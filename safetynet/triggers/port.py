"""What the triggers need from campaigns: the port the broadcast side implements.

Kept to four calls so the trigger logic never depends on how campaigns are stored or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from safetynet.domain.campaigns import TRIGGER, Actor
from safetynet.i18n import t


@dataclass(frozen=True)
class CampaignRequest:
    """A campaign a trigger wants: as a draft waiting for one click (`start=False`), or started."""

    # Idempotency key: asking twice with the same key must return the same campaign, so a crash
    # between creating the campaign and storing the decision never makes a second one.
    dedupe_key: str
    kind: str  # real | drill (a drill's messages are marked 【訓練】/[DRILL] by the campaign side)
    start: bool
    title: str  # e.g. "地震 震度6弱 静岡県中部 (2009-08-11 05:09)", "【訓練】大津波警報 静岡県"
    hazard: str  # earthquake | tsunami | alert: lets the campaign side pick wording (evacuation for tsunami)
    scenario: str  # scenario file (triggers.jma.scenario) giving the message, scope and ladder
    source: str  # jma | cap
    reason: str  # the rules' reason, to show next to the proposal
    event_id: str = ""
    # Text offered by the source, per language: the CAP info texts, the JMA headline ("ja").
    messages: Mapping[str, str] = field(default_factory=dict)
    # Who pushed the telegram over the API (a city admin's session or token), None for the feed and the
    # watched folder: a campaign it starts is started on their behalf, so they cannot also approve it
    # (review: one admin pushed a telegram of their own making, then approved the real event it started).
    pushed_by: Actor | None = None


class CampaignPort(Protocol):
    async def create_campaign(self, request: CampaignRequest) -> int:
        """Creates the campaign (draft, or started when `request.start`) and returns its id."""
        ...

    async def update_campaign(self, campaign_id: int, title: str, messages: Mapping[str, str], reason: str) -> None:
        """A later report of the same event: new title (and source text); never a second campaign."""
        ...

    async def cancel_proposed(self, campaign_id: int, reason: str) -> bool:
        """Cancels the campaign if it still waits (a draft, or for approval), marking it withdrawn by the trigger;
        True again for a campaign this trigger withdrew already (a retry); False (nothing changed) when it
        runs or a person ended it."""
        ...

    async def campaign_state(self, campaign_id: int) -> str | None:
        """The campaign's state (`CampaignState`: draft, pending_approval, running, closed, cancelled), or
        "withdrawn" for one its trigger cancelled (`domain.triggers.WITHDRAWN`), None when there is none. Asked before each decision of the campaigns the trigger still counts on: one a
        person cancelled or closed ends its event for the rules (`EventState.ended`)."""
        ...


def starter_words(lang: str, started_by: str, source: str) -> str:
    """Who started a campaign, as city staff read it: a trigger by what it acted on (QA: 「開始: trigger」, a
    raw English word, in the 【承認待ち】 alert and the console), anyone else by their recorded name.
    `source`: the campaign's (jma | cap)."""
    if started_by != TRIGGER.label:
        return started_by
    return t(lang, "trigger.started_by.cap" if source == "cap" else "trigger.started_by.jma")
