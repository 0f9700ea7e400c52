"""Roster entities: districts, associations, groups (班), households, contacts, staff, and how pages list them."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    address: str  # in its kind's form: E.164 phone, chat id, web-push subscription JSON…
    source: str = "roster"  # roster | enrolment
    working: bool = True


# The optional household columns a file may leave out without wiping what the roster records.
UNSTATED_FIELDS: tuple[str, ...] = ("group", "address", "members", "vulnerable", "language", "notes")


def unstated_contact(kind: str) -> str:
    """How `HouseholdRecord.unstated` names a contact column the file lacks."""
    return f"contact:{kind}"


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
    consent: str = "yes"  # domain.consent.Consent: yes | no | ordinance
    # (kind, address) from the roster's contact columns (one per channel that owns a column), in
    # column order: ("mobile", "+819012345678"), ("landline", …), ("telegram", "5550003")…
    contacts: tuple[tuple[ContactKind, str], ...] = ()
    # False when the row states no consent (an empty 同意 cell, or no such column): `consent` is then the
    # default (domain.consent.default_consent), which the import gives a new household only; one already
    # in the roster keeps the consent recorded for it
    consent_stated: bool = True
    # The household fields (UNSTATED_FIELDS) whose column the file lacks: the row states nothing of them, so
    # a household already in the store keeps what it records (review: a file without 要配慮 wiped every
    # mark); the values here, the defaults, are a new household's. A defaulted consent then follows the
    # kept 要配慮 mark. `contact:KIND` for a contact column the file lacks: the household's roster contacts of
    # that kind stay (review: a file without 携帯電話 deleted every household's roster mobile).
    unstated: frozenset[str] = frozenset()

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
    consent: str = "yes"  # domain.consent.Consent


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


def new_contacts_of(before: Staff, after: Staff) -> Staff | None:
    """`after` with only the contacts `before` did not have (a head's new phone), None when there are none:
    the open calls for help go to those, not again to the addresses that had them."""
    new = tuple(c for c in after.contacts if c not in before.contacts)
    return replace(after, contacts=new) if new else None


@dataclass(frozen=True, slots=True)
class StaffContactReach:
    """What the last alert sent to one of a staff member's contacts came to (`AuthRepo.staff_contact_reach`):
    it reached them (sent, or delivered), or it was refused for good, with the delivery's `error` (a
    send failure's reason: blocked, invalid_number, subscription_gone…; a carrier's code for an SMS or a
    call not delivered). A contact no alert has gone to yet has none: its reach is unknown."""

    staff_id: int
    kind: ContactKind
    address: str
    reaches: bool
    at: float  # when that outcome was recorded
    error: str | None = None


@dataclass(frozen=True)
class StaffRemoval:
    """What removing a staff member did, in the one transaction that removed them."""

    staff_id: int
    role: Role
    # their alerts not yet claimed by a dispatcher, dropped (skipped, `staff_removed`): a head removed
    # for a lost phone must not get a household's name and address on it afterwards (QA)
    alerts_dropped: int = 0
    # the ids of the API tokens they made that still work: an integration's credential is not revoked
    # with its maker (README Decisions), but whoever removes them is told
    live_tokens: tuple[int, ...] = ()


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
    created_by: int | None = None  # the staff id of the admin who made it; None from the command line

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
    contacts_not_restored: int = 0  # the file's contacts their residents removed: not added back
    # consent (同意) left as recorded: households already in the store whose row states none (an empty cell,
    # or no consent column)
    consent_kept: int = 0
    # households whose consent was a default and whose cell now states it, the same: recorded as stated (a
    # 要配慮 mark no longer turns it 不同意), no update counted; a file exported before 0120 wrote 同意 in
    # every ordinary row (review)
    consent_now_stated: int = 0
    # (recorded, the file's, households) for each way consent changed, e.g. ("no", "yes", 1)
    consent_changes: tuple[tuple[str, str, int], ...] = ()
    # the same, a household each: (household id, association id, recorded, the file's), for the audit log
    consent_changed: tuple[tuple[int, int, str, str], ...] = ()
    # households `--replace` removed from one association and the file added to another (domain.moves):
    # not counted as added or removed; their residents' contacts, removals and code went with them
    households_moved: int = 0
    # removed households with more than one possible new row (or sharing one): no move, removed and added
    moves_ambiguous: int = 0
    # moved households whose empty consent cell kept the 不同意 recorded for them
    moved_consent_kept: int = 0


def consent_ways(changed: Sequence[tuple[int, int, str, str]]) -> tuple[tuple[str, str, int], ...]:
    """(recorded, new, households) for each way consent changed, from `ImportSummary.consent_changed`."""
    ways = Counter((before, after) for _, _, before, after in changed)
    return tuple((before, after, n) for (before, after), n in sorted(ways.items()))


class UnknownScopeError(ValueError):
    """A scope names a district, association or group that is not in the roster. `kind` and `name`
    say which (empty for a scope that is not one), for a message in the reader's language."""

    def __init__(self, message: str, kind: str = "", name: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


class StaffError(Exception):
    """A staff change that cannot be made (unknown scope, too many deputies, duplicate login). The
    message is English (logs, tests); `key` and `values` name the catalog text saying the same to a
    person (the admin page, the CLI), where there is one."""

    def __init__(self, message: str, key: str = "", **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


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
    language: str = "ja"  # read by the letters only


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
    consent: str = "yes"
    # the first working mobile: the door-knock list's 電話で確認 calls it before walking there
    mobile: str = ""
    # Name, address, members, vulnerable and phones left out: a `no` household outside a real
    # event, as a head sees it (domain.consent).
    withheld: bool = False


@dataclass(frozen=True)
class NotedHousehold:
    """A household and the latest words it wrote in a campaign (a note kept with 無事, an SMS kept as a
    note, the details form's 伝えたいこと), whatever its answer; never a staff confirmation's note."""

    line: HouseholdLine
    note: str
    noted_at: float


@dataclass(frozen=True)
class Coverage:
    """An association's households with at least one working contact, and those with none."""

    households: int
    with_channel: int
    without: tuple[HouseholdLine, ...]


# -- characters no cell may hold ------------------------------------------------

# Line breaks, the other C0/C1 controls (NUL, ESC, DEL…) and the bidi embeddings, overrides and
# isolates that reorder what a page or a spreadsheet shows (U+202E makes "txt.exe" read "exe.txt").
# None has a place in a name, an address or a note, and none is visible: they are refused with
# their row and column rather than stripped, so nothing is changed behind the importer's back.
BAD_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {"\x00": "NUL", "\t": "TAB", "\n": "LF", "\r": "CR", "\x1b": "ESC", "\x7f": "DEL"}


def character_name(ch: str) -> str:
    """`U+202E (RIGHT-TO-LEFT OVERRIDE)`, `U+0000 (NUL)`: what an error names a bad character by."""
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "") or "control character"
    return f"U+{ord(ch):04X} ({name})"


def bad_character(text: str) -> str | None:
    """Why `text` cannot be a cell (its first refused character, named, with its position), or None."""
    m = BAD_CHARACTER.search(text)
    if m is None:
        return None
    return (f"contains {character_name(m.group())} at character {m.start() + 1}, an invisible control "
            "character a roster cannot hold: delete it")


# -- staff logins, names and token labels ----------------------------------------

# A login is typed at the login form and named in audit lines, logs and commands (`staff remove LOGIN`):
# short, one word, ASCII that every keyboard and terminal shows the same. A name or a label is free
# text on the staff pages, but one visible line of bounded length (QA: ESC sequences and 100k characters).
LOGIN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
LOGIN_RULE = "1 to 64 characters: letters A-Z a-z, digits, and . _ - @"
MAX_STAFF_NAME = 100  # characters
MAX_TOKEN_LABEL = 200  # characters


class StaffInputError(StaffError):
    """A login, staff name or token label that cannot be stored (always with its catalog text)."""


def check_login(login: str) -> None:
    """StaffInputError unless `login` follows LOGIN_RULE."""
    if LOGIN.fullmatch(login) is None:
        shown = repr(login if len(login) <= 40 else login[:40] + "…")  # repr: an ESC shows as \x1b
        raise StaffInputError(f"login {shown} is not allowed: a login is {LOGIN_RULE}", "cli.staff.bad_login",
                              login=shown)


def _check_text(text: str, what: str, keys: tuple[str, str], limit: int) -> None:
    """`keys`: the catalog texts for (a control character, too long)."""
    if (m := BAD_CHARACTER.search(text)) is not None:
        char = character_name(m.group())
        raise StaffInputError(f"{what} contains {char} at character {m.start() + 1}, an invisible control "
                              "character: delete it", keys[0], char=char, position=m.start() + 1)
    if len(text) > limit:
        raise StaffInputError(f"{what} has {len(text)} characters; at most {limit} are allowed",
                              keys[1], length=len(text), limit=limit)


def check_staff_name(name: str) -> None:
    """StaffInputError for a staff member's shown name with a control character or over MAX_STAFF_NAME."""
    _check_text(name, "the name", ("cli.staff.bad_name_character", "cli.staff.bad_name_too_long"), MAX_STAFF_NAME)


def check_token_label(label: str) -> None:
    """StaffInputError for an API token's label with a control character or over MAX_TOKEN_LABEL."""
    _check_text(label, "the label", ("cli.token.bad_label_character", "cli.token.bad_label_too_long"),
                MAX_TOKEN_LABEL)
