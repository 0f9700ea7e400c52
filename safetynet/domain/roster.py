"""Roster entities: districts, associations, groups (班), households, contacts, staff, and how pages list them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from safetynet.domain.vocabulary import ContactKind, Role


@dataclass(frozen=True)
class Association:
    id: int
    name: str
    district: str


@dataclass(frozen=True)
class Contact:
    id: int
    household_id: int
    kind: ContactKind
    address: str  # E.164 phone, Telegram chat id, or web-push subscription JSON
    source: str = "roster"  # roster | enrolment
    working: bool = True


@dataclass(frozen=True)
class HouseholdRecord:
    """One household as read from (or written to) a roster file, before it has an id."""

    district: str
    association: str
    group: str
    household_key: str
    name: str
    address: str = ""
    members: int = 1
    vulnerable: bool = False
    language: str = "ja"
    phone: str = ""  # mobile, E.164
    landline: str = ""  # E.164
    telegram: str = ""  # numeric chat id
    notes: str = ""


@dataclass(frozen=True)
class Household:
    id: int
    association_id: int
    association: str
    district: str
    group: str
    household_key: str
    name: str
    address: str
    members: int
    vulnerable: bool
    language: str
    notes: str = ""
    contacts: tuple[Contact, ...] = field(default=())
    # Set when `roster import --replace` dropped a household that campaigns still refer to.
    removed_at: float | None = None


@dataclass(frozen=True)
class Staff:
    id: int
    login: str
    display_name: str
    role: Role
    scope: str  # city | district:NAME | association:NAME
    phone: str = ""
    telegram_chat_id: str = ""
    webpush: str = ""
    language: str = "ja"
    active: bool = True


@dataclass(frozen=True)
class ImportSummary:
    districts: int
    associations: int
    households_added: int
    households_updated: int
    households_removed: int
    contacts: int
    households_unchanged: int = 0
    contacts_added: int = 0
    contacts_removed: int = 0
    households_without_channel: int = 0  # among the imported households


class UnknownScopeError(ValueError):
    """A scope names a district, association or group that is not in the roster."""


class StaffError(Exception):
    """A staff change that cannot be made (unknown scope, too many deputies, duplicate login)."""


class TargetHousehold(NamedTuple):
    """A household as a campaign needs it: compact, streamed in batches for 200k households."""

    id: int
    association_id: int
    group_id: int | None
    vulnerable: bool
    language: str
    contacts: tuple[Contact, ...]


class CodeTarget(NamedTuple):
    """A household to print an enrolment letter for."""

    household_id: int
    district: str
    association: str
    group: str
    household_key: str
    name: str
    address: str


@dataclass(frozen=True)
class AssociationCount:
    association_id: int
    association: str
    district: str
    households: int
    without_channel: int  # households with no working contact at all
    vulnerable: int


@dataclass(frozen=True)
class RosterSummary:
    districts: int
    associations: int
    households: int
    without_channel: int
    vulnerable: int
    contacts: dict[str, int]  # working contacts per kind
    per_association: tuple[AssociationCount, ...]


@dataclass(frozen=True)
class HouseholdLine:
    """A household as a staff page lists it, with its status in one campaign."""

    id: int
    association_id: int
    group: str
    household_key: str
    name: str
    address: str
    members: int
    vulnerable: bool
    status: str
    status_at: float | None
    landline: str
    has_channel: bool


@dataclass(frozen=True)
class Coverage:
    """An association's households with at least one working contact, and those with none."""

    households: int
    with_channel: int
    without: tuple[HouseholdLine, ...]
