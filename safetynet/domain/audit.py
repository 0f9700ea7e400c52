"""The audit log's entries (DESIGN §9): who looked at which households' details, exported what, and
confirmed which household in person, when."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AuditAction(StrEnum):
    VIEW = "view"  # a page or an API answer with households' names, addresses, phones or answers
    EXPORT = "export"  # a file of them: a report, the roster, letters, codes, the audit log itself; the
    # whole store copied into another database (`store copy`, `what` "store", the target's URL redacted)
    CONFIRM = "confirm"  # an in-person confirmation (訪問・電話・紙)
    UNDO = "undo"  # an in-person confirmation taken back
    TOKEN = "token"  # noqa: S105 - an API token made or revoked on the admin page (it acts as its role)
    CAMPAIGN = "campaign"  # a campaign started, approved, closed or cancelled (`what`), and by whom
    STAFF = "staff"  # a staff member added or removed, or a password set (`what`); the login in `detail`
    PURGE = "purge"  # retention run by hand (`privacy purge`): one per campaign erased, its counts, and the run
    IMPORT = "import"  # a roster file imported (`what` "roster"): its counts in `detail`, never a name
    CONSENT = "consent"  # a household's consent changed (`what` by what: "import"), "no→yes" in `detail`
    CONTACT = "contact"  # a household's contact removed by its resident (`what` "remove"), the kind in `detail`
    # a help request marked 対応済み by a staff member's text (`what` "help"; the channel, "sms", in `detail`):
    # the dashboard's button is not audited (README Decisions), a mark by a phone number alone is
    HANDLED = "handled"
    KEYS = "keys"  # this machine's keys made the city's (`safetynet keys adopt`, `what` "adopt"): which, in `detail`
    # a household's details (name, address, phones, note) sent to a staff member in an alert (`what` "help" or
    # "escalation"): the recipient as `actor` and `staff_id`, the channels in `detail`. None when the alert
    # withheld them (a drill's 不同意 household: its number and 班 alone)
    NOTIFY = "notify"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One staff act. `actor` is a staff login, `token:ID` for an API token, `cli:USER` for the
    command line (the operating system's user), `resident` for a household on its own enrolment page
    (the household in `household_id`); `what` names the page, list or file. `staff_id`: the
    person who acted, themselves or through an API token they made on the admin page; for `notify`,
    the staff member an alert gave the household's details to."""

    at: float
    actor: str
    action: str
    what: str
    role: str = ""
    staff_id: int | None = None
    campaign_id: int | None = None
    association_id: int | None = None
    household_id: int | None = None
    detail: str = ""  # format, a row count: short, never a name
    id: int = 0  # given by the store

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "role": self.role, "staff_id": self.staff_id,
                "action": self.action, "what": self.what, "campaign_id": self.campaign_id,
                "association_id": self.association_id, "household_id": self.household_id, "detail": self.detail}


AUDIT_COLUMNS = ("id", "at", "actor", "role", "staff_id", "action", "what", "campaign_id", "association_id",
                 "household_id", "detail")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What retention erased from one finished campaign: free texts and provider answers; its
    counts, statuses and answer times stay."""

    campaign_id: int
    replies: int  # answers whose note, location or people counts were erased
    deliveries: int  # deliveries whose provider id or error text was erased
    attempts: int  # attempts whose provider answer was erased
