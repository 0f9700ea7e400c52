"""What the reply intake and its store exchange: targets, items to record, outcomes, help rows, live changes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from safetynet.domain.campaigns import StatusTransition
from safetynet.domain.records import quick
from safetynet.domain.vocabulary import CampaignKind, CampaignState, Status

# A note is kept with the answers but changes no status (unknown SMS text, voice without input).
NOTE = "note"
# A staff member taking back an in-person confirmation: a reply of its own, naming the one it undoes.
UNDO = "undo"
NOTE_MAX_CHARS = 200
# Nobody reports more people than this for one household; larger numbers are typing slips.
MAX_PEOPLE = 99


class Location(StrEnum):
    HOME = "home"
    SHELTER = "shelter"
    ELSEWHERE = "elsewhere"


class InPersonMethod(StrEnum):
    VISIT = "visit"
    PHONE = "phone"
    PAPER = "paper"


class ReplyChannel(StrEnum):
    """Where an answer came from besides the channels: the `replies.channel` column holds one of
    these, or the name of the channel that carried the answer (sms, telegram…)."""

    WEB = "web"  # the reply page
    STAFF = "staff"  # a head or deputy (in person)


@quick
@dataclass(frozen=True, slots=True)
class ReplyDetails:
    people_safe: int | None = None
    people_injured: int | None = None
    location: Location | None = None
    note: str | None = None

    @property
    def empty(self) -> bool:
        return self.people_safe is None and self.people_injured is None and self.location is None and not self.note


NO_DETAILS = ReplyDetails()


@quick
@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """A household in a campaign, as a token (or a phone, or staff) resolves to it."""

    campaign_id: int
    household_id: int
    association_id: int
    status: Status
    campaign_state: CampaignState
    kind: CampaignKind
    closed_at: float | None
    language: str

    def accepts(self, now: float, grace_seconds: float) -> bool:
        """Running, or closed/cancelled less than `grace_seconds` ago; drafts never answer."""
        if self.campaign_state == CampaignState.RUNNING:
            return True
        if self.campaign_state in (CampaignState.CLOSED, CampaignState.CANCELLED):
            return self.closed_at is not None and now - self.closed_at <= grace_seconds
        return False


@dataclass(frozen=True, slots=True)
class RunningTarget:
    """A household in a running campaign, with when that campaign started (its creation, if it never
    recorded a start): what `answering_campaign` chooses among."""

    target: ReplyTarget
    started_at: float


def answering_order(kind: CampaignKind, started_at: float, campaign_id: int) -> tuple[int, float, int]:
    """The sort key of the campaigns running for one household, the one an answer belongs to first:
    a real event before a drill (a real event pauses running drills: the drill's question waits, the
    event's does not), then the latest started, then the latest created (the higher id)."""
    return (0 if kind == CampaignKind.REAL else 1, -started_at, -campaign_id)


def by_answering_order(running: Iterable[RunningTarget]) -> list[RunningTarget]:
    """`running` in `answering_order`, contact checks left out (a check asks no safety question)."""
    return sorted((r for r in running if r.target.kind != CampaignKind.CHECK
                   and r.target.campaign_state == CampaignState.RUNNING),
                  key=lambda r: answering_order(r.target.kind, r.started_at, r.target.campaign_id))


def first_running(running: Iterable[RunningTarget], made_at: float | None = None) -> list[ReplyTarget]:
    """Each household once, in the running campaign its answers belong to (`answering_order`), in that
    order: the households a phone's keyword answer is for (`ReplyRepo.running_targets_by_contact`).
    With `made_at` (when a text was sent, as its provider says), only campaigns begun by then: a
    text the provider delivers late (a redelivery after our restart) answers no question asked after
    it was written (a drill's 無事 is no answer to the earthquake's event begun since)."""
    seen: set[int] = set()
    first: list[ReplyTarget] = []
    for r in by_answering_order(running):
        if made_at is not None and made_at < r.started_at:
            continue
        if r.target.household_id not in seen:
            seen.add(r.target.household_id)
            first.append(r.target)
    return first


def made_for(status: Status | str, made_at: float | None) -> float | None:
    """When an answer the phone or the provider delivers late counts as made, for the campaigns it may
    answer (`answering_campaign`, `shared_with`, `first_running`): a 無事 answers no question asked
    after it was made; a call for help is taken whenever it was made, by every channel alike (a false
    alarm is cheaper than a missed one; review: an offline 助けが必要 tapped on a closed drill's
    notification before the earthquake stayed in the drill, and the event showed the household 未回答)."""
    return made_at if status == Status.SAFE else None


def hands_on(state: CampaignState, kind: CampaignKind) -> bool:
    """Whether a campaign in `state` hands the answers sent by its links or buttons on to a running
    campaign of the same household: closed (cancelled keeps its own page, running takes its own)."""
    return state == CampaignState.CLOSED and kind != CampaignKind.CHECK


def follows_on(link: ReplyTarget) -> bool:
    """`hands_on` for a reply link's household and campaign. Only then is the household's running
    campaign looked up: a running campaign's link, the common case, costs no read more."""
    return hands_on(link.campaign_state, link.kind)


def answering_campaign(link: ReplyTarget, running: Iterable[RunningTarget], made_at: float | None = None) -> ReplyTarget:
    """The campaign an answer sent by `link` (a reply token's household and campaign) belongs to.

    Its own while it runs (and while cancelled: its page says so). Closed, the household's running
    campaign comes first, chosen by `answering_order`: a household opening a drill's old link during
    a real event answers the event, which is the question asked now (QA: 助けが必要 sent from the
    closed drill's link stayed in the drill, the event's dashboard showed nothing and the ladder kept
    calling). With none running, the closed campaign's own (its grace takes late answers). A closed
    real event's link never hands its answer to a drill: a late answer to the event is the event's
    (its help request shows the household by name, as a real event may; a drill's would not). An
    answer made (`made_at`: a tap the phone kept offline and sends late) before a running campaign
    began is no answer to its question: a drill's 無事 tapped before the earthquake must not mark the
    household safe in it.
    """
    if not follows_on(link):
        return link
    for r in by_answering_order(running):
        if link.kind == CampaignKind.REAL and r.target.kind != CampaignKind.REAL:
            continue
        if made_at is not None and made_at < r.started_at:
            continue
        if r.target.household_id == link.household_id and r.target.campaign_id != link.campaign_id:
            return r.target
    return link



# The kinds of campaign whose answers another campaign of the same kind takes (a contact check asks
# no safety question; real events and drills never take each other's answers).
SHARING_KINDS = frozenset({CampaignKind.REAL, CampaignKind.DRILL})


def _shares(answered: ReplyTarget) -> bool:
    # a cancelled campaign's question was taken back (a mistaken alert): its answers stay its own
    return answered.kind in SHARING_KINDS and answered.campaign_state in (CampaignState.RUNNING,
                                                                          CampaignState.CLOSED)


def may_share(answered: ReplyTarget, running_of_kind: Collection[int]) -> bool:
    """Whether a resident's answer recorded in `answered` can be another campaign's too, by the ids of
    the running campaigns of its kind (`running_of_kind`): only then are the household's own running
    campaigns read (`shared_with`). One running campaign, the common case, costs no read more."""
    return _shares(answered) and any(c != answered.campaign_id for c in running_of_kind)


def shared_with(answered: ReplyTarget, running: Iterable[RunningTarget], made_at: float | None = None) -> list[ReplyTarget]:
    """The household's other running campaigns that take the answer (safe or need_help) it gave in
    `answered` as well, in `answering_order`: every one of the same kind (real events: every running
    real event over the household; drills: every running drill), never across kinds. 無事 or 助けが必要
    is a fact about the household at that moment, not about one question: QA found a household in a
    city-wide event and in an association's event answered in the later one only, the city-wide one
    showing it 未回答, texting and calling it and sending it to the door-knock list. An answer made
    (`made_at`, a tap kept offline) before a campaign began is no answer to its question."""
    if not _shares(answered):
        return []
    return [r.target for r in by_answering_order(running)
            if r.target.kind == answered.kind and r.target.household_id == answered.household_id
            and r.target.campaign_id != answered.campaign_id and (made_at is None or made_at >= r.started_at)]


def shared_key(dedupe_key: str, campaign_id: int) -> str:
    """The dedupe key of an answer's copy in another campaign (`shared_with`): derived from the
    answer's own, so a retry of the answer stays one reply in each campaign."""
    return f"{dedupe_key}>{campaign_id}"


# The reply page shows this many of a household's latest replies (reads left out).
RECENT_SHOWN = 10


@quick
@dataclass(frozen=True, slots=True)
class PageState:
    """What the reply page needs of a household, read in one go: its target and, once it has
    answered, its latest replies that are not reads, as (when, status), oldest first."""

    target: ReplyTarget
    recent: tuple[tuple[float, str], ...] = ()


def help_called_since(recent: Sequence[tuple[float, str]], since: float) -> bool:
    """Whether the household's latest answer (`PageState.recent`, oldest first) is a call for help
    made after `since`: what an answer the phone kept while it had no signal must not withdraw."""
    return bool(recent) and recent[-1][1] == "need_help" and recent[-1][0] > since


def recent_of(history: list[HistoryEntry]) -> tuple[tuple[float, str], ...]:
    """`PageState.recent` from a full history (the adapters that read it whole)."""
    return tuple((h.at, h.status) for h in history if h.status != "read")[-RECENT_SHOWN:]


@quick
@dataclass(frozen=True, slots=True)
class CampaignPage:
    """What a reply page shows of its campaign and association (cached per campaign)."""

    campaign_id: int
    kind: CampaignKind
    title: str
    messages: dict[str, str]
    association: str


@quick
@dataclass(frozen=True, slots=True)
class ReplyItem:
    campaign_id: int
    household_id: int
    association_id: int
    status: str  # a Status value among read/safe/need_help/confirmed_in_person, or NOTE
    channel: str
    dedupe_key: str
    at: float
    details: ReplyDetails = NO_DETAILS
    method: str | None = None
    staff_id: int | None = None
    actor: str | None = None


@quick
@dataclass(frozen=True, slots=True)
class RecordOutcome:
    duplicate: bool  # nothing new was stored: the dedupe key was seen before, or a read came after the answer
    help_opened: bool = False  # the household went (back) onto the open help list


@quick
@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """A reply naming its household by reply token, found inside the reply's own commit: one trip
    to the store where a lookup and then a write took two.

    `build` makes the reply from the target as read in that transaction, or refuses it with None (a
    campaign that takes no answers, a form gone stale). It runs where the store writes (on SQLite,
    in the batch's one call on the event loop): pure and quick; what it raises goes to its own caller only.
    """

    token_hash: str
    build: Callable[[ReplyTarget], ReplyItem | None]


@quick
@dataclass(frozen=True, slots=True)
class TokenOutcome:
    target: ReplyTarget | None  # None: no household in any campaign has this token
    outcome: RecordOutcome | None  # None: nothing stored (no target, or `build` refused it)


# A resident's own answer: a read after it says nothing more (see `late_reads`).
RESIDENT_ANSWERS = frozenset({str(Status.SAFE), str(Status.NEED_HELP)})


def late_reads(items: Sequence[ReplyItem], answered: Iterable[tuple[int, int]]) -> set[int]:
    """The positions in a batch of the reads that come after their household's own answer (not
    their keys: a household's reads share one, and a read before the answer is kept).

    A push shown or a page opened can be reported just after the resident answered (both requests
    found the household unanswered); storing it would show a read after the answer in the history.
    `answered` holds the (campaign, household) pairs whose stored status is a resident's answer when
    the batch begins. A read after an in-person confirmation is kept: if the visit is undone, it
    says the resident saw the message since.
    """
    current = set(answered)
    late: set[int] = set()
    for n, i in enumerate(items):
        key = (i.campaign_id, i.household_id)
        if i.status == Status.READ:
            if key in current:
                late.add(n)
        elif i.status in RESIDENT_ANSWERS:
            current.add(key)
        elif i.status == Status.CONFIRMED_IN_PERSON:
            current.discard(key)
    return late


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: str
    channel: str
    at: float
    people_safe: int | None
    people_injured: int | None
    location: str | None
    note: str | None
    method: str | None
    actor: str | None
    id: int = 0
    undoes: int | None = None  # an undo: the id of the reply it took back
    undone: bool = False  # taken back by a later undo


class UndoRefused(Exception):
    """An undo that can no longer be done (an in-person confirmation with an answer after it, a
    handled mark that is now someone else's); the message says why."""


def refuse_other_mark(marked_by: str | None, taking_back: str | None) -> None:
    """A person takes back their own "handled" mark only: their undo button may be minutes old, and
    the household may have asked again and been marked by another since."""
    if taking_back is not None and marked_by != taking_back:
        raise UndoRefused("someone else has marked it handled since; it is theirs to take back")


@dataclass(frozen=True, slots=True)
class InPersonMark:
    """The in-person confirmation that stands on a household confirmed in person: who, when, how and
    staff's note (DESIGN §2), and whether the store would still take it back (`undoable`: no answer
    came after it, and it was recorded with the status it replaced)."""

    household_id: int
    reply_id: int
    at: float
    method: str
    actor: str | None  # the login of who confirmed it (None: an API token)
    by: str  # how pages name them: their display name, else the login
    note: str
    undoable: bool


@dataclass(frozen=True, slots=True)
class UndoOutcome:
    status: Status  # the household's status after the undo
    already: bool  # it had been undone before: nothing new stored
    changed: bool = False  # the status moved back (False if it was already something else)


@dataclass(frozen=True, slots=True)
class HelpRow:
    """A household on the help list, with what the head needs to go there."""

    campaign_id: int
    household_id: int
    association_id: int
    association: str
    district: str
    group: str
    name: str
    address: str
    members: int
    vulnerable: bool
    language: str
    status: Status
    opened_at: float
    handled_at: float | None
    handled_by: str | None
    note: str | None
    people_injured: int | None
    location: str | None
    household_key: str = ""
    consent: str = "yes"
    withheld: bool = False  # its details left out (domain.consent)
    people_safe: int | None = None  # how many of the household said they are safe
    # The two notes before `note`, oldest first: a later 「配信停止」 must not push the injury off the card
    earlier_notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "household_id": self.household_id,
            "household": self.household_key,
            "withheld": self.withheld,
            "association": self.association,
            "group": self.group,
            "name": self.name,
            "address": self.address,
            "members": self.members,
            "vulnerable": self.vulnerable,
            "status": str(self.status),
            "opened_at": self.opened_at,
            "handled_at": self.handled_at,
            "handled_by": self.handled_by,
            "note": self.note,
            "earlier_notes": list(self.earlier_notes),
            "people_safe": self.people_safe,
            "people_injured": self.people_injured,
            "location": self.location,
        }


def escalation_cutoff(now: float, minutes: float) -> float | None:
    """Help requests open (or reopened) at or before this time are due to escalate; None: escalation
    is off (`[replies] help_escalate_minutes = 0`)."""
    return now - minutes * 60.0 if minutes > 0 else None


# A claim whose alerts are not queued this long after it (`escalation_told_at` still empty) was a
# process killed in between: the request is claimed again. Queueing takes milliseconds.
ESCALATION_CLAIM_SECONDS = 120.0


def escalation_due(opened_at: float, reopened_at: float | None, handled_at: float | None,
                   escalated_at: float | None, campaign_state: str, cutoff: float | None,
                   status: str = Status.NEED_HELP, told_at: float | None = None,
                   stale_claims_before: float | None = None, unreached: bool = False) -> bool:
    """Whether an open help request goes to the standing-in staff now (`cutoff`: `escalation_cutoff`):
    still open, its household still asking for help (`status`: a later 無事です, or a head's visit
    recorded as 訪問で確認, is an answer someone has), in a running campaign, not escalated since it
    was (re)opened, and waiting since the cutoff or before. A reopen (the undo of a wrong "handled"
    tap) starts the wait afresh: someone just acted on it, so they get the full wait. A claim never
    told (`told_at` empty) since `stale_claims_before` is due again (`ESCALATION_CLAIM_SECONDS`).
    `unreached`: every help alert of the request failed, was dropped or came back undelivered
    (`store.rules.UNREACHED_STATES`; none still on its way, at least one queued): due at once, unless reopened (someone acted on it then): the head who blocked the LINE
    account and the deputy whose mail relay is down heard nothing, and nobody else did for half an hour."""
    if cutoff is None or handled_at is not None or told_at is not None or status != Status.NEED_HELP:
        return False
    if campaign_state != CampaignState.RUNNING:
        return False
    if escalated_at is not None:
        return stale_claims_before is not None and escalated_at <= stale_claims_before
    if unreached and reopened_at is None:
        return True
    waiting_since = reopened_at if reopened_at is not None else opened_at
    return waiting_since <= cutoff


@dataclass(frozen=True, slots=True)
class HouseholdRef:
    """Where a household sits, for scope checks (names as in the roster)."""

    household_id: int
    association_id: int
    association: str
    district: str


@quick
@dataclass(frozen=True, slots=True)
class ReplyEvent:
    """What a committed batch of replies changed: status transitions, and campaigns whose help list moved."""

    transitions: tuple[StatusTransition, ...]
    help_changed: tuple[tuple[int, int], ...]  # (campaign_id, association_id)


@dataclass(frozen=True)
class HelpItem:
    """An open help request as the association page's help panel shows it."""

    household_id: int
    association_id: int
    group: str
    name: str
    address: str
    members: int
    vulnerable: bool
    note: str
    location: str
    people_injured: int | None
    opened_at: float
    household_key: str = ""
    consent: str = "yes"
    withheld: bool = False  # its details left out (domain.consent)
    # The household's status now: a request stays open until staff mark it handled, whatever the
    # household answers after it (a later 無事 must show on the card, not hide it).
    status: str = "need_help"
    status_at: float | None = None
    # Working phones (E.164) to call it back from the card; blank when withheld.
    landline: str = ""
    mobile: str = ""
    people_safe: int | None = None
    # When it went to the standing-in staff as left unhandled (`replies.escalate`): the head reading
    # the card knows others were told, and a district head or admin arriving from that alert finds it.
    escalated_at: float | None = None
    # The two notes before `note`, oldest first (`HelpRow.earlier_notes`)
    earlier_notes: tuple[str, ...] = ()
    # When staff marked it 対応済み and who (their login; `HelpRow.handled_by`): None while it is open
    handled_at: float | None = None
    handled_by: str | None = None
    handled_by_name: str = ""  # how pages name them: their display name, else the login (`InPersonMark.by`)

    @property
    def answered_since(self) -> bool:
        """The household's current answer is no longer need_help (it answered 無事, or staff confirmed it)."""
        return self.status != "need_help"


@dataclass(frozen=True)
class Change:
    """A reply since a cursor, with the household's current (not the reply's) status; `noted`: one of the
    household's replies in the range carried words of its own (what `household_notes` lists: not staff's)."""

    reply_id: int
    household_id: int
    association_id: int
    status: str
    noted: bool = False


@dataclass(frozen=True)
class ChannelCount:
    """Households of an association whose first answer came over this channel."""

    association_id: int
    channel: str
    n: int
