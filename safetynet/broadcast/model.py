"""Campaigns and their ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safetynet.domain import CampaignKind, CampaignState, Channel


@dataclass(frozen=True)
class LadderStep:
    """One rung: at `after_seconds` from the start, send over `channels` to households not answered yet.

    `door_knock` marks the last rung: no send; the unanswered go on the door-knock list and the
    association head and deputies get the link.
    `fallback` channels are used, in order, for households that have none of `channels`
    (step 0: households with no app channel get SMS at once, landline-only ones a call).
    """

    after_seconds: float
    channels: tuple[Channel, ...] = ()
    fallback: tuple[Channel, ...] = ()
    door_knock: bool = False


DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep(0, (Channel.WEBPUSH, Channel.TELEGRAM), fallback=(Channel.SMS, Channel.VOICE)),
    LadderStep(600, (Channel.SMS,)),
    LadderStep(1200, (Channel.VOICE,)),
    LadderStep(1800, door_knock=True),
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
