"""Roster entities: districts, associations, groups (班), households, contacts, staff."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from safetynet.domain import ContactKind, Role


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
    address: str  # in its kind's form: E.164 phone, chat id, web-push subscription JSON…
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
    notes: str = ""
    # (kind, address) from the roster's contact columns (one per channel that owns a column), in
    # column order: ("mobile", "+819012345678"), ("landline", …), ("telegram", "5550003")…
    contacts: tuple[tuple[ContactKind, str], ...] = ()

    def contact(self, kind: ContactKind) -> str:
        """The address of `kind`, or "" when the row has none."""
        return next((a for k, a in self.contacts if k == kind), "")


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
    language: str = "ja"
    active: bool = True
    # (kind, address) of the staff member's own contacts, over which alerts reach them (any channel
    # that sends to the kind); loaded by the staff lists, not by a session check.
    contacts: tuple[tuple[ContactKind, str], ...] = ()


@dataclass(frozen=True)
class ApiToken:
    """An API token as listed: never the token itself, which only its creator ever sees."""

    id: int
    role: Role
    scope: str
    label: str
    created_at: float
    expires_at: float | None = None
    last_used_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


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
