"""Vocabulary of the triggers: intensities, tsunami grades, rule settings, decisions, stored records.

Everything here is pure data; parsing lives in `triggers/jma.py` and `triggers/cap.py`, deciding in
`triggers/rules.py`, reading the settings from config.toml in `triggers/settings.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class TriggerInputError(ValueError):
    """A body we refuse to read (malformed, wrong namespace, too large, a DTD): the message says why."""


# JMA seismic intensity scale (震度階級), weakest first. Rank = position + 1; 0 means "none reported".
INTENSITY_SCALE: tuple[str, ...] = ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")
_INTENSITY_LABELS = ("震度1", "震度2", "震度3", "震度4", "震度5弱", "震度5強", "震度6弱", "震度6強", "震度7")
_INTENSITY_ALIASES = {
    "5弱": "5-", "5強": "5+", "6弱": "6-", "6強": "6+",
    "５弱": "5-", "５強": "5+", "６弱": "6-", "６強": "6+",
    "１": "1", "２": "2", "３": "3", "４": "4", "７": "7",
}
# JMA marks a city whose stations went silent after strong shaking with this condition; it means
# "estimated 5弱 or more, not received yet", so it counts as 5弱 (missing it would be worse).
UNRECEIVED_5LOWER = "震度５弱以上未入電"


def intensity_rank(text: str | None) -> int:
    """Rank 1..9 of "1".."7" ("5-", "5弱" accepted); 0 for empty or unknown text."""
    if not text:
        return 0
    t = text.strip()
    t = _INTENSITY_ALIASES.get(t, t)
    try:
        return INTENSITY_SCALE.index(t) + 1
    except ValueError:
        return 0


def intensity_label(rank: int) -> str:
    return _INTENSITY_LABELS[rank - 1] if 1 <= rank <= len(_INTENSITY_LABELS) else "no intensity"


class TsunamiGrade:
    """Tsunami forecast grades as ranks; only warnings start campaigns."""

    NONE = 0
    ADVISORY = 1  # 津波注意報
    WARNING = 2  # 津波警報
    MAJOR = 3  # 大津波警報

    # Category/Kind/Code of VTSE41 (警報等情報要素／津波警報・注意報・予報).
    BY_CODE: Mapping[str, int] = {"51": WARNING, "52": MAJOR, "53": MAJOR, "62": ADVISORY}
    LABELS: Mapping[int, str] = {0: "no tsunami warning", 1: "津波注意報", 2: "津波警報", 3: "大津波警報"}


class JmaKind(StrEnum):
    """What a JMA telegram is, from its Control/Title (the data-type codes are not in the XML)."""

    INTENSITY_FLASH = "intensity_flash"  # 震度速報 (VXSE51)
    HYPOCENTER = "hypocenter"  # 震源に関する情報 (VXSE52)
    HYPOCENTER_INTENSITY = "hypocenter_intensity"  # 震源・震度に関する情報 (VXSE53)
    TSUNAMI = "tsunami"  # 津波警報・注意報・予報a (VTSE41)
    EARLY_WARNING = "early_warning"  # 緊急地震速報 (VXSE40-45)
    OTHER = "other"  # 地震回数, 活動状況, 震源要素更新, 配信テスト ...


KIND_BY_TITLE: Mapping[str, JmaKind] = {
    "震度速報": JmaKind.INTENSITY_FLASH,
    "震源に関する情報": JmaKind.HYPOCENTER,
    "震源・震度に関する情報": JmaKind.HYPOCENTER_INTENSITY,
    "津波警報・注意報・予報a": JmaKind.TSUNAMI,
}

# The kinds a reason names in words (catalog `trigger.reason.kind.<kind>`); any other is "report".
NAMED_KINDS: frozenset[str] = frozenset({*(k.value for k in JmaKind if k != JmaKind.OTHER), "cap"})

DECISIONS = ("ignore", "propose", "start", "update", "withdraw")
# Campaign states (`CampaignState`) in which a person ended a trigger's campaign: cancelled or closed (on /city,
# the API, the command line). The trigger's own withdrawal says "withdrawn" (`CampaignPort.campaign_state`):
# a retry of a withdrawal whose record failed is no person's cancel (the day's reread).
ENDED_BY_PERSON: frozenset[str] = frozenset({"cancelled", "closed"})
WITHDRAWN = "withdrawn"
ACTIONS = ("propose", "start")


@dataclass(frozen=True)
class AreaMatch:
    """One configured place found in a telegram: an area (細分区域), a city (市町村等) or a coast (津波予報区)."""

    code: str
    name: str
    level: str  # area | city | coast | geocode
    rank: int  # intensity rank, or tsunami grade for coasts
    note: str = ""  # JMA's Condition, e.g. UNRECEIVED_5LOWER


@dataclass(frozen=True)
class ReasonPart:
    """One piece of a decision's reason as data: a catalog key (`trigger.reason.*`) and its values, so
    the reason can be said in any reader's language (`triggers/reasons.py`), not only in the English
    stored beside it. A value is plain (a place name, a number, JMA's 震度6弱), another part (a word
    that has its own translation), or a tuple of parts (whole sentences, such as the reason a stale
    telegram would have had)."""

    key: str
    values: tuple[tuple[str, ReasonValue], ...] = ()

    @classmethod
    def of(cls, key: str, /, **values: ReasonValue) -> ReasonPart:
        return cls(key, tuple(values.items()))

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> ReasonPart:
        """The part `asdict` wrote: {"key": …, "values": [[name, value], …]}."""
        return cls(str(raw["key"]), tuple((str(name), _reason_value(v)) for name, v in raw.get("values", ())))


ReasonValue = str | int | float | ReasonPart | tuple[ReasonPart, ...]


def _reason_value(raw: Any) -> ReasonValue:
    if isinstance(raw, Mapping):
        return ReasonPart.from_data(raw)
    if isinstance(raw, list | tuple):
        return tuple(ReasonPart.from_data(p) for p in raw)
    if isinstance(raw, str | int | float):
        return raw
    raise TypeError(f"not a reason value: {raw!r}")


@dataclass(frozen=True)
class TriggerRules:
    """The trigger settings of config.toml, checked once (`triggers.settings.rules_from_config`)."""

    areas: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    coasts: frozenset[str] = frozenset()  # 津波予報区 codes: they collide with 細分区域 codes, so apart
    min_intensity: int = 5  # rank of "5-"
    action: str = "propose"
    drills: bool = False
    aftershock_window_seconds: float = 6 * 3600.0
    cap_codes: frozenset[str] = frozenset()
    cap_action: str = "propose"
    scenario: str = ""
    language: str = "ja"  # the city's (city.default_language): the campaign titles' catalog


@dataclass(frozen=True)
class Decision:
    """What the rules decided about one telegram or alert, and the facts the decision rests on.

    A decision is also the unit of memory: `rules.apply` folds decisions into the state, and the
    service stores each one (`to_json`) so the state can be rebuilt after a restart.
    """

    decision: str  # ignore | propose | start | update | withdraw
    reason: str
    source: str = "jma"  # jma | cap
    dedupe_key: str = ""
    event_key: str = ""  # the event this decision is about, "" when none (tests, duplicates)
    event_id: str = ""
    kind: str = "real"  # campaign kind: real | drill
    evidence: str = ""  # JmaKind of the telegram, or "cap"
    info_type: str = ""
    status: str = ""
    serial: str = ""
    intensity: int = 0  # highest intensity rank over your areas and cities in this telegram
    tsunami: int = 0  # highest tsunami grade over your coasts
    places: tuple[AreaMatch, ...] = ()
    reported_at: float = 0.0
    campaign: int | None = None  # the campaign concerned; for propose/start set once created
    mode: str = ""  # how the event's campaign was created: propose | start
    title: str = ""
    hazard: str = "earthquake"  # earthquake | tsunami | alert
    messages: tuple[tuple[str, str], ...] = ()  # (language, text) offered as the message
    aliases: tuple[str, ...] = ()  # CAP "sender,identifier" this event is also known by
    qualifies: bool = False  # the telegram alone meets the thresholds
    # `reason` as catalog keys and values, said in the reader's language (the replay in a Japanese
    # terminal); `reason` is its English. Empty in decisions stored before: they have only the text.
    parts: tuple[ReasonPart, ...] = ()
    # A decision about an event whose campaign a person ended: that campaign and how it ended (cancelled |
    # closed), so the memory rebuilt from the stored decisions knows it too (`EventState.ended`)
    earlier: int | None = None
    ended: str = ""

    @property
    def creates(self) -> bool:
        return self.decision in ("propose", "start")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Decision:
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in raw.items() if k in known}
        data["places"] = tuple(AreaMatch(**p) for p in data.get("places", ()))
        data["messages"] = tuple((str(a), str(b)) for a, b in data.get("messages", ()))
        data["aliases"] = tuple(data.get("aliases", ()))
        data["parts"] = tuple(ReasonPart.from_data(p) for p in data.get("parts", ()))
        return cls(**data)


@dataclass
class EventState:
    """What is known of one event (an earthquake, a tsunami, a CAP incident) that has or had a campaign."""

    key: str
    event_id: str
    kind: str  # real | drill
    campaign: int | None = None
    mode: str = ""  # propose | start
    withdrawn: bool = False
    intensity: int = 0
    tsunami: int = 0
    places: dict[str, AreaMatch] = field(default_factory=dict)
    evidence: dict[str, bool] = field(default_factory=dict)  # telegram kind -> still meets the thresholds
    started_at: float = 0.0
    title: str = ""
    # "cancelled" | "closed" once a person ended the campaign (the service asks the campaign side before each
    # decision): the event then has no campaign to update, withdraw or measure aftershocks against
    ended: str = ""

    @property
    def active(self) -> bool:
        """The event has a campaign the trigger still counts on: not withdrawn by a 取消, not ended by a person."""
        return self.campaign is not None and not self.withdrawn and not self.ended

    @property
    def ended_by_person(self) -> bool:
        return self.campaign is not None and not self.withdrawn and bool(self.ended)


@dataclass
class TriggerState:
    """Earlier events, as far as the rules need them."""

    seen: set[str] = field(default_factory=set)
    events: dict[str, EventState] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # CAP "sender,identifier" -> event key
    last_real: str | None = None  # key of the latest real event that has a campaign


@dataclass(frozen=True)
class TriggerRecord:
    """One stored decision (a row of trigger_events)."""

    source: str
    dedupe_key: str
    kind: str
    event_key: str
    event_id: str
    serial: str
    info_type: str
    status: str
    intensity: str | None  # "5-" style
    decision: str
    reason: str
    campaign_id: int | None
    origin: str
    detail: str  # Decision.to_json()
    reported_at: float | None
    received_at: float = 0.0
    id: int = 0

    @classmethod
    def of(cls, d: Decision, origin: str) -> TriggerRecord:
        return cls(
            source=d.source, dedupe_key=d.dedupe_key, kind=d.evidence, event_key=d.event_key,
            event_id=d.event_id, serial=d.serial, info_type=d.info_type, status=d.status,
            intensity=INTENSITY_SCALE[d.intensity - 1] if d.intensity else None, decision=d.decision,
            reason=d.reason, campaign_id=d.campaign, origin=origin[:200], detail=d.to_json(),
            reported_at=d.reported_at or None,
        )
