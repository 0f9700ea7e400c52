"""What every store adapter decides the same way (pure): roster checks, provider states, held
callbacks, what an undone confirmation gives back.

Kept apart from the adapters so SQLite, the in-memory fake and PostgreSQL cannot drift.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from safetynet.domain import CampaignKind, CampaignState, ChannelName, ContactKind, Status, next_status
from safetynet.domain.campaigns import LadderStep
from safetynet.domain.consent import CONSENTS
from safetynet.domain.roster import BAD_CHARACTER, HouseholdRecord, bad_character

# Provider states by rank: out-of-order callbacks keep the highest; equal ranks keep the first.
PROVIDER_RANK = {"sent": 1, "undelivered": 2, "failed": 2, "delivered": 3}

# What a provider state makes of a delivery that was sent (sent stays sent).
DELIVERY_STATE_OF_PROVIDER = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}

# The states of a delivery that reached nobody and never will: failed at our side, dropped (skipped), or
# refused by the provider after it took it (undelivered: a call busy or unanswered, a text not delivered).
# Every help alert of a request in one of them: the request escalates at once (`escalation_due`'s
# `unreached`; the day's reread: a head who slept through the call waited the half hour).
UNREACHED_STATES = ("failed", "skipped", "undelivered")

# What a staff alert's outcome says of the address it went to (`AuthRepo.staff_contact_reach`): it
# works (the provider took the alert, or delivered it) or it refused it (failed at our side once the
# sends were spent, or not delivered by the carrier). A skipped alert (`UNREACHED_STATES` for a help
# request) was never offered to the address (its recipient removed, their address replaced, its
# campaign gone): it says nothing of whether the address works, and the one before it stands.
STAFF_REACHED_STATES = ("sent", "delivered")
STAFF_REFUSED_STATES = ("failed", "undelivered")

# A status callback for an id not recorded yet is held this long; the race it covers lasts a
# group commit, or a backed-up send worker's queue, never minutes.
EARLY_STATUS_HOLD_SECONDS = 600.0
# Only Twilio can post status callbacks (signed), but a misconfigured account could send us its
# whole traffic: the held ones stay few whatever comes.
MAX_EARLY_STATUSES = 10_000

# An API token's "last used" is written at most this often per token: a dashboard polling every
# few seconds must not turn each of its reads into a write.
LAST_USED_EVERY_SECONDS = 60.0

# The `error` of a staff alert dropped unsent because its recipient was removed.
STAFF_REMOVED = "staff_removed"
# The `error` of a staff alert dropped unsent because its address stopped being one of its recipient's
# contacts (a deputy's lost phone replaced on /admin): not `staff_removed`, the person is still there.
STAFF_CONTACT_CHANGED = "staff_contact_changed"

# Rows of dispatchers gone this long are dropped when another beats: a restart a day leaves no pile.
FORGET_DISPATCHER_SECONDS = 7 * 86400.0


def merge_provider_state(old: str | None, new: str) -> str:
    """The state kept when `new` arrives after `old`."""
    if old is None or PROVIDER_RANK.get(new, 0) > PROVIDER_RANK.get(old, 0):
        return new
    return old


def provider_error(state: str, error_code: int | None) -> str | None:
    """The error a provider's failure code leaves on the delivery (None: keep what it had)."""
    return f"provider_{state}:{error_code}" if error_code else None


def staff_alerts_readdressed(alerts: Iterable[tuple[int, ChannelName, str | None]],
                             contacts: Collection[tuple[ContactKind, str]],
                             of_kind: Mapping[ContactKind, tuple[ChannelName, ...]]) -> list[int]:
    """Of a staff member's unsent alerts (id, channel, address), the ids of those whose address is no
    longer one of `contacts` (theirs, as they are now) of a kind the channel sends to: a number replaced
    is no number of theirs. An alert whose address retention erased is left alone (nothing to send)."""
    return [i for i, channel, address in alerts
            if address and not any(a == address and channel in of_kind.get(k, ()) for k, a in contacts)]


def staff_alerts_gone(alerts: Iterable[tuple[int, int, ChannelName, str | None]],
                      contacts: Mapping[int, Collection[tuple[ContactKind, str]]],
                      of_kind: Mapping[ContactKind, tuple[ChannelName, ...]]) -> dict[int, str]:
    """Of claimed staff alerts (id, staff id, channel, address), given `contacts` by staff id of the
    staff members still there: id → why the alert must not go (`STAFF_REMOVED`, or
    `STAFF_CONTACT_CHANGED` as `staff_alerts_readdressed` says)."""
    out: dict[int, str] = {}
    for i, staff_id, channel, address in alerts:
        theirs = contacts.get(staff_id)
        if theirs is None:
            out[i] = STAFF_REMOVED
        elif staff_alerts_readdressed([(i, channel, address)], theirs, of_kind):
            out[i] = STAFF_CONTACT_CHANGED
    return out


def answer_minute(at: float, started_at: float) -> int:
    """The minute after the start in which an answer came (the answer curve's bucket)."""
    return max(0, int((at - started_at) // 60))


def check_records(records: Sequence[HouseholdRecord], known_kinds: Collection[ContactKind]) -> None:
    """Rules the file reader enforces too; checked again so no caller can write a broken roster.
    `known_kinds`: the contact kinds some channel declares (the store's routes)."""
    district_of: dict[str, str] = {}
    keys: set[tuple[str, str]] = set()
    for r in records:
        text = (r.district, r.association, r.group, r.household_key, r.name, r.address, r.language, r.notes)
        if BAD_CHARACTER.search("".join(filter(None, text))) is not None:
            found = next(t for t in text if t and BAD_CHARACTER.search(t))
            raise ValueError(f"household {r.household_key!r} of association {r.association!r}: a cell "
                             f"{bad_character(found)}")
        if r.consent not in CONSENTS:
            raise ValueError(f"household {r.household_key!r} of association {r.association!r}: consent must be"
                             f" yes, no or ordinance, not {r.consent!r}")
        for kind, _ in r.contacts:
            if kind not in known_kinds:
                raise ValueError(f"household {r.household_key!r} of association {r.association!r}: "
                                 f"unknown contact kind {kind!r}")
        if district_of.setdefault(r.association, r.district) != r.district:
            raise ValueError(f"association {r.association} is in two districts")
        key = (r.association, r.household_key)
        if key in keys:
            raise ValueError(f"household {r.household_key} of association {r.association} appears twice")
        keys.add(key)


# How long the answer to a staff text is kept for a provider's retry of it (Telegram keeps an update
# unacknowledged for 24 hours; LINE and Twilio retry within minutes).
STAFF_TEXTS_KEPT_SECONDS = 2 * 86400.0


def undo_key(reply_id: int) -> str:
    """The dedupe key of the undo of reply `reply_id` (one undo per reply)."""
    return f"undo:{reply_id}"


def door_knock_made(ladder: Sequence[LadderStep], next_step: int) -> bool:
    """Whether the ladder's door-knock step is behind a campaign whose next step is `next_step`."""
    door = next((n for n, s in enumerate(ladder) if s.door_knock), None)
    return door is not None and next_step > door


def closing_lists(state: str, kind: str) -> bool:
    """Whether a campaign in `state` has every silent household on its door-knock list for having
    closed: an event ends with each household answered, confirmed or listed, whether or not its
    door-knock step ran (a check asks no one whether they are safe: it lists no one)."""
    return state == CampaignState.CLOSED and kind != CampaignKind.CHECK


def status_after_undo(prior: Status, read_since: bool, door_knocked: bool) -> Status:
    """The status an undone confirmation gives back: the one before it, moved on by a resident's
    'read' since, and unreachable for a household still silent once the door-knock step was made
    (as that step left every household it never reached)."""
    restored = next_status(prior, Status.READ) if read_since else prior
    return Status.UNREACHABLE if door_knocked and restored == Status.PENDING else restored
