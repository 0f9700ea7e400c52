"""The shared vocabulary: statuses, campaign kinds and states, roles and scopes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """A household's status in a campaign."""

    PENDING = "pending"
    NOTIFIED = "notified"
    READ = "read"
    SAFE = "safe"
    NEED_HELP = "need_help"
    CONFIRMED_IN_PERSON = "confirmed_in_person"
    UNREACHABLE = "unreachable"


ALL_STATUSES: tuple[Status, ...] = tuple(Status)
ANSWERED: frozenset[Status] = frozenset({Status.SAFE, Status.NEED_HELP, Status.CONFIRMED_IN_PERSON})

# Higher rank wins when two facts about a household meet; answers replace each other (latest wins).
_RANK = {
    Status.PENDING: 0,
    Status.NOTIFIED: 1,
    Status.UNREACHABLE: 2,
    Status.READ: 3,
    Status.SAFE: 10,
    Status.NEED_HELP: 10,
    Status.CONFIRMED_IN_PERSON: 10,
}


def next_status(current: Status, incoming: Status) -> Status:
    """The status after `incoming` is observed; an answer always replaces, nothing downgrades it."""
    if incoming in ANSWERED:
        return incoming
    return incoming if _RANK[incoming] > _RANK[current] else current


# A channel's name: the outbox's channel value, its config section, its metrics label. The list of
# channels is the channel registry (channels/registry.py), nowhere else.
ChannelName = str
# What a contact's address is (mobile, landline, telegram, webpush…); each is declared by one channel.
ContactKind = str


class CampaignKind(StrEnum):
    DRILL = "drill"
    REAL = "real"
    # 連絡先確認: every contact is asked once to confirm it works; no answer is a safety status.
    CHECK = "check"


class CampaignState(StrEnum):
    DRAFT = "draft"
    # A real event started by one person, waiting for a second (DESIGN §9): nothing is sent yet.
    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Role(StrEnum):
    CITY_ADMIN = "city_admin"
    DISTRICT_HEAD = "district_head"
    ASSOCIATION_HEAD = "association_head"
    DEPUTY = "deputy"


# The roles that start campaigns (city admins anywhere, district heads inside their district) and so
# make the two-person rule of a real event, with the city admin who approves it.
CAMPAIGN_ROLES = frozenset({Role.CITY_ADMIN, Role.DISTRICT_HEAD})

MAX_DEPUTIES_PER_ASSOCIATION = 3


@dataclass(frozen=True)
class Scope:
    """What a viewer may see: the whole city, one district, or one association (by name)."""

    kind: str  # city | district | association
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        text = text.strip()
        if text == "city":
            return cls("city")
        kind, sep, name = text.partition(":")
        if sep and kind in ("district", "association") and name.strip():
            return cls(kind, name.strip())
        raise ValueError(f"scope must be city, district:NAME or association:NAME, got {text!r}")

    def __str__(self) -> str:
        return "city" if self.kind == "city" else f"{self.kind}:{self.name}"

    def allows(self, district: str, association: str) -> bool:
        if self.kind == "city":
            return True
        if self.kind == "district":
            return district == self.name
        return association == self.name


def default_scope_kind(role: Role) -> str:
    return {
        Role.CITY_ADMIN: "city",
        Role.DISTRICT_HEAD: "district",
        Role.ASSOCIATION_HEAD: "association",
        Role.DEPUTY: "association",
    }[role]
