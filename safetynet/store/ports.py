"""The store's ports: one Protocol per repository, and `Store`, the aggregate the rest of the code uses.

Every adapter (`store.sqlite`, `store.memory`, later PostgreSQL) implements these; the contract
tests (`tests/contract/`) hold each one to the same behaviour. Types in and out are the domain's
dataclasses and tuples, never a driver's rows. The ports are typing only: a call goes straight to
the adapter's method, with nothing in between on the hot paths (claims, results, token lookups).

Rules every adapter keeps, whatever its engine:
- A write is done when its awaitable returns (`OutboxRepo.record` and `ReplyRepo.record` answer a
  caller only after the commit that holds its item), and a failing store raises `StoreError`
  (`StoreUnavailable` while writes fail), never a driver's exception.
- State changes are guarded: a closed or cancelled campaign never reopens, a ladder step is
  recorded done once, a delivery is written back only by the holder of its claim.
- Idempotency by unique keys: a household is enrolled in a campaign once, a delivery is planned once
  per (campaign, household, step, channel), a reply is stored once per `dedupe_key`, a trigger
  decision once per `dedupe_key`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from safetynet.clock import Clock
from safetynet.domain import CampaignKind, CampaignState, ChannelName, ContactKind, Role, Scope, Status
from safetynet.domain.audit import AuditEntry, PurgeResult
from safetynet.domain.campaigns import (
    Campaign,
    CampaignInfo,
    ChannelHealth,
    CheckRow,
    CheckTally,
    ClaimedDelivery,
    ContactCheck,
    CountRow,
    DeliveryOutcome,
    DispatcherBeat,
    Enrolment,
    HouseholdNotice,
    LadderProgress,
    LadderStep,
    MinuteRow,
    NoticeRecipient,
    OpenHelp,
    StaffAlert,
    StepHousehold,
    StepPlan,
)
from safetynet.domain.moves import MovePlan
from safetynet.domain.replies import (
    CampaignPage,
    Change,
    ChannelCount,
    HelpItem,
    HelpRow,
    HistoryEntry,
    HouseholdRef,
    InPersonMark,
    PageState,
    RecordOutcome,
    ReplyEvent,
    ReplyItem,
    ReplyTarget,
    RunningTarget,
    TokenAnswer,
    TokenOutcome,
    UndoOutcome,
)
from safetynet.domain.roster import (
    ApiToken,
    Association,
    CodeTarget,
    Contact,
    Coverage,
    Household,
    HouseholdLine,
    HouseholdRecord,
    ImportSummary,
    NotedHousehold,
    RosterSummary,
    Staff,
    StaffContactReach,
    StaffRemoval,
    TargetHousehold,
)
from safetynet.domain.triggers import TriggerRecord

ReplyListener = Callable[[ReplyEvent], None]


class RosterRepo(Protocol):
    """Districts, associations, groups, households, contacts and enrolment codes.

    Households removed by `import_households(..., replace=True)` but still referred to by campaigns
    keep their record with `removed_at` set; every "current roster" read leaves them out. Phones are
    stored as E.164 whatever form they come in. Scopes are 'city', 'district:N', 'association:N' or
    'group:ASSOCIATION/GROUP'; a name the roster does not have raises `UnknownScopeError`.
    """

    async def import_households(self, records: Sequence[HouseholdRecord], replace: bool = False,
                                consent_stated: bool = True) -> ImportSummary:
        """Upserts households by (association, household key), all or nothing. A household's roster
        contacts become the file's, but for the kinds whose column the file lacks (`contact:KIND` in the
        record's `unstated`); enrolment contacts stay. The household fields in `unstated` keep what the
        store records. With `replace`, households of the file's associations that the file does not list
        are removed (their contacts and codes go). A contact its resident removed (`remove_contact`) is not
        added back (`contacts_not_restored`). A row that states no consent (a record's `consent_stated`
        False: an empty cell; `consent_stated` False: a file with no consent column) leaves a household
        already in the store the consent a cell stated for it, a household back on the roster included;
        a defaulted one moves only towards 不同意, and a new (or erased) household takes the record's, the
        default. Raises ValueError, writing nothing, if an association is in two districts or a key repeats."""
        ...

    async def count_missing(self, records: Sequence[HouseholdRecord]) -> dict[str, int]:
        """Per association of `records`: current households they do not list (non-zero counts only)."""
        ...

    async def plan_moves(self, records: Sequence[HouseholdRecord]) -> MovePlan:
        """The moves `import_households(records, replace=True)` would make (`domain.moves`: refs are the
        removed household's id and the record's index), without writing: `roster check`."""
        ...

    def iter_export_records(
        self, kinds: Sequence[ContactKind], batch_size: int = 5000
    ) -> AsyncIterator[list[HouseholdRecord]]:
        """The current roster in file form, in id order, in batches: roster contacts of `kinds` only
        (the roster's contact columns), the first of each kind, in the order of `kinds`."""
        ...

    async def export_records(self, kinds: Sequence[ContactKind]) -> list[HouseholdRecord]: ...

    async def summary(self) -> RosterSummary:
        """Counts per association (households, vulnerable, without a working contact) and contacts per kind."""
        ...

    async def get_household(self, household_id: int) -> Household | None:
        """The household with its contacts, also when it was removed from the roster."""
        ...

    async def list_associations(self) -> list[Association]:
        """Every association, in id order."""
        ...

    async def association_by_name(self, name: str) -> Association | None: ...

    async def count_in_scope(self, scopes: Iterable[str]) -> int:
        """Current households of the scopes (their union); raises UnknownScopeError."""
        ...

    def households_in_scope(
        self, scopes: Iterable[str], batch_size: int = 2000
    ) -> AsyncIterator[list[TargetHousehold]]:
        """Current households of the scopes with all their contacts (working or not), in id order,
        in batches. Raises UnknownScopeError."""
        ...

    async def add_contact(
        self, household_id: int, kind: ContactKind, address: str, source: str = "enrolment"
    ) -> Contact:
        """Adds a contact, or revives the same (household, kind, address): working again, and an
        enrolment makes it the resident's own. The address is stored as given: the caller puts it in
        its kind's form (`roster.contacts.normalise_contact`). Raises ValueError for a kind the
        store's routes do not know, or an unknown source."""
        ...

    async def add_enrolled_contacts(self, rows: Iterable[tuple[int, ContactKind, str]]) -> None:
        """Many (household id, kind, address) enrolment contacts at once, addresses as given;
        existing ones are left as they are."""
        ...

    async def remove_contact(self, contact_id: int) -> bool:
        """A resident removed one of their contacts: deleted (False for an unknown one), and remembered
        so that a roster import does not add it back while the roster names the same address (an
        enrolment `add_contact` of it, or a roster cell naming another address of its kind, ends that)."""
        ...

    async def mark_contact_dead(self, contact_id: int, reason: str) -> bool:
        """The provider said the address is gone; False for an unknown contact."""
        ...

    async def households_by_contact(self, kinds: Sequence[ContactKind], address: str) -> list[Household]:
        """Current households with a contact (working or not) of one of `kinds` at exactly `address`,
        in id order (`roster.contacts.households_by_contact` takes any written form)."""
        ...

    async def mark_contacts_dead(self, kind: ContactKind, address: str, reason: str) -> int:
        """Every working contact of `kind` at `address`, whichever household's, is gone (a resident
        left a bot); returns how many changed."""
        ...

    async def mark_contacts_back(self, kind: ContactKind, address: str, reason: str) -> int:
        """Every contact of `kind` at `address` that `reason` marked dead (`mark_contacts_dead`: the
        resident left the bot) works again: the resident came back. Returns how many changed."""
        ...

    async def has_live_contacts(self, kind: ContactKind) -> bool:
        """Whether any working contact of `kind` is stored: a current household's (a removed one keeps
        none) or a staff member's. One look-up however large the roster (the kind leads an index): the
        CLI asks it before a command that would make a new web-push key for a city whose phones are
        bound to the old one."""
        ...

    async def set_enrolment_codes(self, pairs: Iterable[tuple[int, str]]) -> int:
        """Stores (household id, code hash) pairs, replacing a household's previous code; returns how many."""
        ...

    async def household_by_code_hash(self, code_hash: str) -> Household | None: ...

    async def code_targets(
        self, associations: Sequence[str] | None = None, only_without_code: bool = True
    ) -> list[CodeTarget]:
        """Current households to print enrolment letters for, in letter order (association, group,
        household). Raises UnknownScopeError for an association not in the roster."""
        ...

    async def households_without_code(self, associations: Sequence[str] | None = None) -> list[CodeTarget]: ...

    async def letter_order(self, scopes: Sequence[str], only_without_code: bool = True) -> list[int]:
        """Ids of the scopes' current households in letter order (association, group, household):
        ids only, so a city of 200,000 is a few MB. Raises UnknownScopeError for an unknown name."""
        ...

    async def letter_targets(self, ids: Sequence[int]) -> list[CodeTarget]:
        """These households (with their language) in the order of `ids`; removed ones are left out."""
        ...


class AuthRepo(Protocol):
    """Staff accounts, login sessions and API tokens (hashes only; the store never sees a secret)."""

    async def scope_exists(self, scope: str) -> bool:
        """'city', or a district or association the roster has."""
        ...

    async def add_staff(
        self, login: str, display_name: str, role: Role, scope: str, password_hash: str | None,
        contacts: Sequence[tuple[ContactKind, str]] = (), language: str = "ja",
    ) -> Staff:
        """With their contacts ((kind, address), each in its kind's form: the caller normalises;
        empty addresses are skipped). Raises StaffError for a login taken or a fourth active deputy
        of an association, StaffInputError for a login or name the domain refuses (check_login, check_staff_name)."""
        ...

    async def remove_staff(self, login: str) -> StaffRemoval | None:
        """Removes the staff member (their contacts and sessions with them); None when there is no such
        login. In the same transaction their staff alerts still queued (not claimed by a dispatcher) are
        skipped (`error` 'staff_removed'); one already claimed is the dispatcher's to drop
        (`OutboxRepo.staff_gone`). Their API tokens stay (README Decisions): `live_tokens` names those
        still usable, for whoever removes them to be told."""
        ...

    async def list_staff(self) -> list[Staff]:
        """Ordered by role, scope, login; with their contacts."""
        ...

    async def staff_by_id(self, staff_id: int) -> Staff | None:
        """With their contacts."""
        ...

    async def staff_by_login(self, login: str) -> tuple[Staff, str | None] | None:
        """The staff member (with contacts) and their password hash."""
        ...

    async def staff_for_association(self, association: str, district: str) -> list[Staff]:
        """Active heads and deputies of an association (who a need-help alert goes to), with their
        contacts."""
        ...

    async def set_password(self, login: str, password_hash: str) -> bool:
        """A new password for `login`, whose sessions end (whoever had the old one is logged out);
        False when there is no such login."""
        ...

    async def add_staff_contact(self, staff_id: int, kind: ContactKind, address: str) -> None:
        """Another contact of a staff member (in its kind's form: the caller normalises); the same
        one twice is kept once. Raises StaffError for an unknown staff member."""
        ...

    async def remove_staff_contact(self, staff_id: int, kind: ContactKind, address: str) -> bool:
        """False when the staff member has no such contact. Their alerts not yet sent to it are
        dropped with it, as `set_staff_contacts` drops them."""
        ...

    async def set_staff_contacts(self, staff_id: int, contacts: Mapping[ContactKind, str | None]) -> Staff:
        """For each kind named, the staff member's contacts of that kind become that one address (in
        its kind's form), or none for None; kinds not named stay as they are. One transaction: a
        phone changed is never a phone gone. In that transaction their staff alerts still queued (not
        claimed by a dispatcher; one waiting to retry is queued) whose address is no longer one of their
        contacts of a kind the alert's channel sends to are skipped (`error` 'staff_contact_changed'),
        as a removal skips a removed member's: a lost phone replaced gets no household's name and
        address afterwards. None is readdressed to the new one: it was composed for its channel, and
        the new address may be of another kind. Raises StaffError for an unknown staff member."""
        ...

    async def staff_contact_reach(self) -> list[StaffContactReach]:
        """For each contact of every staff member that an alert has been sent to, what the last such alert
        (by the order they were queued) came to: reached (sent, delivered) or refused (failed,
        undelivered; `rules.STAFF_REFUSED_STATES`). An alert skipped, queued or on its way is passed
        over: the one before it stands. A contact matches the alerts sent to its address (each kind has
        its own form: a number, a chat id, an email address). One read for the whole city (an index
        on the alerts' recipient and address), ordered by staff id and contact."""
        ...

    async def count_city_admins(self) -> int: ...

    async def create_session(self, token_hash: str, staff_id: int, csrf_token: str, ttl_seconds: float) -> None:
        """A new session (expired ones are dropped on the way)."""
        ...

    async def session(self, token_hash: str) -> tuple[Staff, str] | None:
        """The live session's staff member (active only) and CSRF token."""
        ...

    async def delete_session(self, token_hash: str) -> None: ...

    async def create_api_token(
        self, token_hash: str, role: Role, scope: str, label: str = "", expires_at: float | None = None,
        created_by: int | None = None,
    ) -> int:
        """Returns the token's id (for revoking). `expires_at` None: it never expires. `created_by`:
        the staff id of the admin who made it (the two-person rule sees through the token)."""
        ...

    async def api_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash if it may be used now: not revoked, not expired."""
        ...

    async def list_api_tokens(self) -> list[ApiToken]:
        """Every token ever made (revoked and expired ones too), in id order."""
        ...

    async def token_used(self, token_id: int) -> None:
        """Notes that the token was just used: its `last_used_at` is written at most once per
        `rules.LAST_USED_EVERY_SECONDS`. Never raises for a store that cannot write (the request
        itself is a read)."""
        ...

    async def revoke_api_token(self, token_id: int) -> bool:
        """False if unknown or already revoked."""
        ...


class CampaignRepo(Protocol):
    """Campaigns: lifecycle (guarded), enrolled households, ladder progress, planned steps, door knock.

    States go draft → running → closed for a drill, draft → pending_approval → running → closed for
    a real event (the two-person rule, DESIGN §9), or draft/pending_approval/running → cancelled.
    Every transition is guarded, so a late or concurrent caller gets False and nothing changes: a
    closed or cancelled campaign never reopens, a real event never runs without `approve`, and
    `approve` refuses the staff member who started it (compared by staff id, never by name).
    """

    async def create(
        self, *, kind: CampaignKind, title: str, scope: Sequence[str], messages: Mapping[str, str],
        ladder: Sequence[LadderStep], options: Mapping[str, Any] | None = None,
        source: str = "cli", created_by: str = "",
    ) -> Campaign:
        """A draft."""
        ...

    async def get(self, campaign_id: int) -> Campaign | None: ...

    async def list_campaigns(
        self, states: Iterable[CampaignState] | None = None, limit: int = 200
    ) -> list[Campaign]:
        """Newest first, of these states (None: any)."""
        ...

    async def find_by_dedupe_key(self, key: str) -> Campaign | None:
        """The first campaign created with `options["dedupe_key"] == key`."""
        ...

    async def running(self) -> list[Campaign]:
        """Running campaigns, real events first, then oldest first."""
        ...

    async def update_text(
        self, campaign_id: int, *, title: str | None = None, messages: Mapping[str, str] | None = None
    ) -> bool:
        """New title or texts (None keeps one) for a draft, pending or running campaign; False otherwise."""
        ...

    async def set_options(self, campaign_id: int, options: Mapping[str, Any]) -> bool: ...

    async def begin_running(self, campaign_id: int, at: float, started_by: str = "",
                            started_by_staff: int | None = None) -> bool:
        """draft → running for a drill: started at `at`, households counted, counters seeded, ladder
        step 0 recorded done, who started it kept (`started_by`: a login or a label such as
        `trigger`; `started_by_staff`: the staff id when a person did, themselves or through an API token they made). False (nothing changed)
        unless it was a draft, and for a real event, whatever its state (see `approve`)."""
        ...

    async def request_approval(self, campaign_id: int, at: float, started_by: str,
                               started_by_staff: int | None = None) -> bool:
        """A real event's first start (the first person, or a trigger with action = "start"): draft
        → pending_approval with who asked and when (`requested_at`); nothing is planned, counted or
        sent. False unless it is the draft of a real event."""
        ...

    async def approve(self, campaign_id: int, at: float, approved_by: str, approved_by_staff: int) -> bool:
        """The second person: pending_approval → running exactly as `begin_running` (started at
        `at`, households counted, counters seeded, ladder step 0 done) with the approver kept.
        False (nothing changed) unless it is pending approval and `approved_by_staff` differs from
        the staff id that started it (a trigger's or a token's start has none: any staff may approve)."""
        ...

    async def close(self, campaign_id: int, at: float) -> bool:
        """running → closed; its queued deliveries are skipped. False if it was not running."""
        ...

    async def cancel(self, campaign_id: int, at: float) -> bool:
        """draft, pending_approval or running → cancelled; its queued deliveries are skipped. False
        if already finished."""
        ...

    async def cancel_draft(self, campaign_id: int, at: float) -> bool:
        """draft or pending_approval → cancelled only (a proposal withdrawn before anything was sent)."""
        ...

    async def finished_before(self, before: float, limit: int = 100) -> list[int]:
        """Ids of closed or cancelled campaigns that ended before `before` and were never purged,
        oldest first (what retention erases next)."""
        ...

    async def purge(self, campaign_id: int, at: float) -> PurgeResult:
        """Retention (DESIGN §9): erases what people wrote or providers said in a finished campaign:
        answers' notes (SMS bodies and voice notes are notes), locations and people counts, the
        provider ids and error texts of deliveries a provider was asked for, attempts' provider
        answers; marks it `purged_at`.
        Statuses, answer times and channels, counters and the answer curve stay, so its report keeps
        its numbers. In short transactions (answers keep flowing meanwhile); idempotent. Nothing for
        a campaign that has not finished."""
        ...

    async def erase_removed_households(self, at: float) -> int:
        """Retention of the roster: a household removed from it (`removed_at`, kept while campaigns refer
        to it) that no campaign short of purged refers to any more loses what identifies it: its
        contacts, enrolment code and phone confirmations go, and its row, which the purged campaigns'
        statuses and counts still refer to, keeps its number and 班 alone (name, address, notes,
        要配慮 and language blanked, members 1, consent `no`). How many were erased; idempotent."""
        ...

    async def enrol_scope(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        batch_size: int = 20_000,
    ) -> int:
        """Enrols the current households of `scope` with `token_hash_of(campaign_id, household_id)`.
        Idempotent (a crashed start is redone); returns the households enrolled by this call.
        Raises UnknownScopeError."""
        ...

    async def write_step(
        self, campaign_id: int, plan: StepPlan, at: float, enrol: Sequence[Enrolment] = ()
    ) -> None:
        """At once: enrols `enrol` (idempotent), queues the plan's deliveries due at `at` (once per
        household, step and channel), and puts `plan.no_contact` on the door-knock list, unreachable."""
        ...

    async def enrol_newcomers(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        plan: Callable[[list[StepHousehold]], StepPlan], at: float, limit: int = 5000,
    ) -> list[int]:
        """Enrols into running campaign `campaign_id` the households of `scope` in the roster now that it
        does not have (imported or restored since it started; at most `limit`, in id order), in one
        transaction: their reply-token hashes, their counters (pending), the deliveries of
        `plan(households)` (pure; step 0's) due at `at`, the ones it finds no contact for unreachable
        and listed, and, when the door-knock step is behind it, every one on the list with its
        association's notice owed. Nothing for a campaign no longer running. Returns the ids enrolled.
        Raises UnknownScopeError for a scope name the roster no longer has."""
        ...

    async def write_checks(self, campaign_id: int, rows: Sequence[CheckRow]) -> None:
        """A contact check's contacts with their token hashes (once per campaign and contact)."""
        ...

    def step_households(self, campaign_id: int, batch_size: int = 5000) -> AsyncIterator[list[StepHousehold]]:
        """Enrolled households that have not answered, with their current contacts, in id order, in batches."""
        ...

    async def waiting_channels(self, campaign_id: int, first: int, last: int,
                               before_step: int | None = None) -> dict[int, frozenset[ChannelName]]:
        """Per household id in [first, last]: channels with a delivery still queued or claimed, of the
        steps before `before_step` if given (a step planned again after a handover must not take its own
        queued messages for an earlier step's and plan its fallback beside them: review)."""
        ...

    async def ladder_progress(self, campaign_id: int) -> LadderProgress:
        """Next step 0 and no pause for a campaign that never started."""
        ...

    async def advance_ladder(self, campaign_id: int, done_step: int, at: float) -> bool:
        """Records `done_step` done, only if it is the next step (two schedulers cannot both)."""
        ...

    async def set_paused(self, campaign_id: int, paused: bool, at: float) -> bool:
        """Starts a pause (False if paused already) or ends one, adding its length to `paused_seconds`."""
        ...

    async def mark_doorknock(self, campaign_id: int, at: float) -> dict[int, int]:
        """Every household not answered goes on the door-knock list (pending ones become unreachable);
        returns `doorknock_counts`."""
        ...

    async def record_doorknock(self, campaign_id: int, step: int, at: float) -> dict[int, int] | None:
        """The ladder's door-knock step, all in one: `step` recorded done (None and nothing changed unless
        it is the next step of a campaign still running), the list made as `mark_doorknock` makes it, and a notice owed to each
        association with households on it (`owed_doorknock_notices`). Returns `doorknock_counts`."""
        ...

    async def owed_doorknock_notices(self) -> dict[int, list[int]]:
        """Campaign id → the ids of its associations whose heads are not yet told of their door-knock
        list, oldest first."""
        ...

    async def doorknock_notices_told(self, campaign_id: int, association_ids: Iterable[int]) -> None:
        """Those associations' notices are in the outbox (or were dropped): owed no longer."""
        ...

    async def doorknock_counts(self, campaign_id: int) -> dict[int, int]:
        """Households on the door-knock list still not answered, per association id."""
        ...

    async def doorknock_households(self, campaign_id: int, association_id: int | None = None) -> list[int]:
        """Their household ids, in id order."""
        ...

    async def household_statuses(self, campaign_id: int) -> dict[int, Status]: ...

    async def delivery_counts(self, campaign_id: int) -> dict[tuple[int, str, str], int]:
        """(step, channel, delivery state) → deliveries."""
        ...


class OutboxRepo(Protocol):
    """The delivery outbox: claims under a lease per lane (campaign × channel), results, fall-backs.

    A claimed delivery belongs to its `owner` until its lease ends; results of many sends share a
    commit, and `record` answers after it. Household statuses and counters change with the results.
    """

    async def claim(
        self, campaign_ids: Sequence[int], channel: ChannelName, limit: int, owner: str, lease_seconds: float
    ) -> list[ClaimedDelivery]:
        """Up to `limit` queued deliveries of `channel` due now, campaigns in the order given, by
        priority (vulnerable first) then id; never a staff alert (`claim_staff`). Deliveries of
        households that have answered are marked skipped instead of returned. A claim's `address` is
        None when its contact is gone or dead."""
        ...

    async def queue_staff(self, alerts: Sequence[StaffAlert], at: float) -> int:
        """Queues staff alerts (one row each, no household, step `STAFF_STEP`, priority
        `PRIORITY_STAFF`), due at `at`; returns how many. Closing or cancelling their campaign leaves
        them queued; retention erases their address and text with the campaign's texts."""
        ...

    async def claim_staff(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float
                          ) -> list[ClaimedDelivery]:
        """Up to `limit` queued staff alerts of `channel` due now, of any campaign in any state (a
        drill's too while a real event runs: a household asking for help is never held), oldest
        first; each with its `staff` set. `claim` never
        returns them; `record` of one changes no household status and falls back to nothing."""
        ...

    async def staff_gone(self, alerts: Sequence[ClaimedDelivery]) -> dict[int, str]:
        """Of these claimed deliveries' staff alerts (others are ignored), delivery id → why it must not
        go: 'staff_removed' (its recipient was removed) or 'staff_contact_changed' (its address is no
        longer one of their contacts of a kind its channel sends to, as `AuthRepo.set_staff_contacts`
        says). The dispatcher looks just before it sends a claimed staff alert, and skips it with that
        error: a removal or a change since the claim would otherwise miss what waits in a lane, and
        what a retry brings back."""
        ...

    async def notice_recipients(self, campaign_id: int) -> list[NoticeRecipient]:
        """The contacts (still working) a campaign's household deliveries went out to, or were being
        sent to (claimed): who should hear it was cancelled. Any order."""
        ...

    async def queue_notices(self, notices: Sequence[HouseholdNotice], at: float) -> int:
        """Queues household notices (step `NOTICE_STEP`, due at `at`); one per household and channel
        however often asked; returns how many are new. In short transactions (answers keep flowing
        meanwhile): a failure may leave the first part queued. Retention erases their address and
        text with the campaign's texts."""
        ...

    async def notices_due(self, channel: ChannelName) -> int:
        """Household notices of `channel` queued and due now, of any campaign (a cancel's word still
        to go out: read by /metrics)."""
        ...

    async def claim_notices(self, channel: ChannelName, limit: int, owner: str, lease_seconds: float,
                            drills: bool = True) -> list[ClaimedDelivery]:
        """Up to `limit` queued household notices of `channel` due now, of any campaign in any state
        (without `drills`: of real events only), oldest first; each with its `notice` set. A due
        notice whose household has no delivery of that channel claimed, sent or delivered (its
        message was let go after all) is marked skipped instead. `claim` and `claim_staff` never
        return them; `record` of one changes no household status and falls back to nothing."""
        ...

    async def reclaim_expired(self, owner: str = "", keep: Sequence[int] | None = None) -> int:
        """Claims whose lease ended go back to the queue, except `owner`'s own (it still holds them):
        all of them, or with `keep` only those ids (what it holds; the rest it lost track of)."""
        ...

    async def due_count(self, campaign_ids: Sequence[int], channels: Sequence[ChannelName] | None = None) -> int:
        """Queued deliveries due now in these campaigns (and channels, if given)."""
        ...

    async def next_due_at(self, campaign_ids: Sequence[int]) -> float | None:
        """When the earliest queued delivery of these campaigns is due."""
        ...

    async def renew_leases(self, owner: str, lease_seconds: float, ids: Sequence[int]) -> int:
        """Extends the claims `ids` of `owner` to now + `lease_seconds`; returns how many. Only what the
        owner still holds: a claim it lost track of (its result never stored) runs out and comes back."""
        ...

    async def lease_ends_at(self) -> float | None:
        """When the earliest claim still held runs out."""
        ...

    async def claimed_count(self) -> int: ...

    async def record(self, outcome: DeliveryOutcome) -> ChannelName | None:
        """Stores one outcome with its attempts; returns after its commit. SENT marks the household
        notified (also a delivery whose lease ran out meanwhile); RETRY and RELEASED requeue it if
        `owner` still holds it; SKIPPED ends it; FAILED ends it and queues the household's next channel
        in that step, returned so its lane can be woken (None when none is left: a household with
        nothing else live becomes unreachable). A dead contact's other planned deliveries fail too."""
        ...

    async def record_many(self, outcomes: list[DeliveryOutcome]) -> list[ChannelName | None]:
        """`record` of several outcomes, stored in one commit (all or none): `record`'s answer for
        each, in order. The dispatcher hands over a loop turn's outcomes at once."""
        ...

    async def record_provider_status(self, provider_id: str, state: str, error_code: int | None = None) -> bool:
        """A provider's later word on a sent message (sent | delivered | undelivered | failed); out of
        order, the highest-ranked state is kept. Undelivered counts as a failed channel (the next is
        tried). False if no delivery has the id yet: the status is held (`rules.EARLY_STATUS_HOLD_SECONDS`)
        and applied when a result records the id."""
        ...

    async def held_status_count(self) -> int:
        """Status callbacks held for ids not recorded (yet)."""
        ...

    async def apply_held_statuses(self) -> int:
        """Applies the held status callbacks whose delivery has its provider id by now (as
        `record_provider_status` would have), and returns how many. A result's own commit applies the
        held callbacks it sees; with several writers (PostgreSQL, read committed) a callback can be held
        by one transaction while another writes its send's id, neither seeing the other's row: the
        dispatcher comes back for those (`broadcast.dispatcher.HELD_STATUS_SWEEP_SECONDS`)."""
        ...


class ReplyRepo(Protocol):
    """Replies (append-only, once per dedupe key), household statuses from them, and the help list.

    Answers come in bursts: `record` may share a commit with other callers and answers after it.
    Listeners hear, after each commit, the status transitions and help-list changes it made.
    """

    def add_listener(self, listener: ReplyListener) -> None: ...

    def remove_listener(self, listener: ReplyListener) -> None: ...

    async def target_by_token_hash(self, token_hash: str) -> ReplyTarget | None:
        """The household in a campaign that a reply token's hash belongs to (the hot read)."""
        ...

    async def page_state(self, token_hash: str) -> PageState | None:
        """The reply page's read: the target of a token's hash and, when its status is an answer,
        its latest replies that are not reads (`PageState.recent`), in one read where the store can."""
        ...

    async def target(self, campaign_id: int, household_id: int) -> ReplyTarget | None: ...

    async def check_by_token(self, token_hash: str) -> ContactCheck | None:
        """The contact a contact check's token belongs to, with its campaign's state."""
        ...

    async def confirm_check(self, token_hash: str, at: float) -> ContactCheck | None:
        """A tap on a check's link: that contact confirmed (the first time kept), only while its
        check runs. The check as it is after, or None for an unknown token."""
        ...

    async def running_targets_by_contact(
        self, kinds: Sequence[ContactKind], address: str, campaign_id: int | None = None,
        made_at: float | None = None,
    ) -> list[ReplyTarget]:
        """Households with a working contact of one of `kinds` at exactly `address` in a running
        campaign (`campaign_id` only, when given; begun by `made_at`, when given: `first_running`),
        each in its latest running campaign only, latest first (a phone several households share
        finds them all)."""
        ...

    async def running_targets_of(self, household_id: int) -> list[RunningTarget]:
        """The household in every running campaign it is in (contact checks too), each with when its
        campaign started (created, if it never recorded a start); in no particular order: which one an
        answer belongs to is `domain.replies.answering_campaign`'s to say. Read only for a reply link
        whose campaign no longer runs."""
        ...

    async def campaign_page(self, campaign_id: int, association_id: int) -> CampaignPage | None: ...

    async def household_ref(self, campaign_id: int, household_id: int) -> HouseholdRef | None:
        """Where a household of a campaign sits (for scope checks); None if not in the campaign."""
        ...

    async def history(self, campaign_id: int, household_id: int) -> list[HistoryEntry]:
        """Every reply of a household in a campaign, oldest first, with its id; an undone
        confirmation stays (marked `undone`) and its undo follows it."""
        ...

    async def reply_id(self, dedupe_key: str) -> int | None:
        """The id of the reply stored under `dedupe_key` (what an undo names)."""
        ...

    async def staff_text_answer(self, dedupe_key: str) -> str | None:
        """The answer given to the staff text `dedupe_key` (channel and message id), if it was acted
        on within `STAFF_TEXTS_KEPT_SECONDS`: its retry is answered the same and does nothing."""
        ...

    async def keep_staff_text(self, dedupe_key: str, answer: str, at: float) -> None:
        """Keeps the answer given to a staff text (the first kept stands: a retry that raced it changes
        nothing); the answers older than `STAFF_TEXTS_KEPT_SECONDS` go."""
        ...

    async def forget_staff_texts(self, before: float) -> int:
        """Erases the staff texts' answers kept from before `before` (retention: their keys hold a
        staff member's chat id or number); how many."""
        ...

    async def count_replies(self, campaign_id: int, statuses: Sequence[str] = (), channel: str | None = None) -> int: ...

    async def help_list(
        self, campaign_id: int, association_ids: Sequence[int] | None = None, include_handled: bool = False
    ) -> list[HelpRow]:
        """Open help requests (vulnerable first, then oldest first), then handled ones if asked."""
        ...

    async def help_row(self, campaign_id: int, household_id: int) -> HelpRow | None: ...

    async def record(self, item: ReplyItem) -> RecordOutcome:
        """Stores a reply unless its dedupe key is known, or it is a read after the household's own
        answer (`domain.late_reads`; then `duplicate`, nothing stored); a status changes as
        `domain.next_status` says; need_help opens the household's help request (again, if handled).
        A staff confirmation in person keeps the status the household had just before it (what
        `undo_confirmation` puts back)."""
        ...

    async def record_by_token(self, answer: TokenAnswer) -> TokenOutcome:
        """`record` of the reply `answer.build` makes from the target of `answer.token_hash`, read in
        the reply's own transaction (in the same batch where the store batches); the target comes
        back with the outcome. No target, or a refusal by `build`: nothing stored, outcome None."""
        ...

    async def undo_confirmation(
        self, campaign_id: int, household_id: int, reply_id: int, staff_id: int | None, actor: str | None,
        dedupe_key: str | None = None,
    ) -> UndoOutcome | None:
        """Takes back the staff confirmation in person `reply_id` of the household: an `undo` reply
        naming it and who undid it is stored (nothing is updated or deleted in the history), and the
        status it replaced comes back with the counters, the first answer's time and the answer
        curve (a resident's later 'read' counts; a household silent again after the door-knock step
        is unreachable, back on the list). Undoing twice stores nothing (`already`); a confirmation
        that did not change the status (confirmed twice) is undone without a change. None if the
        household has no such confirmation. Raises `UndoRefused` when an answer (not undone) came
        after it, or it was stored before confirmations kept their prior status.

        `dedupe_key` (a staff text's message id) is the undo's own key: an undo already stored under
        it returns `already` and takes nothing back, whichever confirmation it names this time (a
        provider's retry must not take back the confirmation made since)."""
        ...

    async def mark_handled(self, campaign_id: int, household_id: int, staff_id: int | None, login: str,
                           dedupe_key: str | None = None) -> bool | None:
        """True if it was open and is now handled; False if handled already; None if never asked.

        `dedupe_key` (a staff text's message id) is kept with the mark, also when the request is
        reopened: the same key again marks nothing (False), so a provider's retry of the text leaves a
        request reopened since (a new call for help) open."""
        ...

    async def reopen_help(self, campaign_id: int, household_id: int, marked_by: str | None = None) -> bool | None:
        """Puts a handled help request back on the open list as it was (its opening time kept, no
        new alert: the undo of a wrong "handled" tap). True if it was handled and is open again;
        False if it was open already; None if the household never asked for help. With `marked_by`
        (a login), only that person's mark is taken back: `UndoRefused` when someone else marked it
        (an old undo button must not take back a later mark of another). It may escalate again, after a
        full wait from the reopening (`claim_unhandled_help`)."""
        ...

    async def unnotified_help(self, max_age_seconds: float = 6 * 3600,
                              min_age_seconds: float = 0.0) -> list[tuple[int, int]]:
        """Open help requests younger than `max_age_seconds` (and at least `min_age_seconds` old) whose
        alert never went out, newest first."""
        ...

    async def mark_notified(self, campaign_id: int, household_id: int) -> None: ...

    async def claim_unhandled_help(self, waiting_since: float) -> list[tuple[int, int]]:
        """The open help requests of running campaigns waiting since `waiting_since` or before (opened,
        or reopened: `reopen_help` starts the wait afresh) and not escalated since, marked escalated
        now in the same step (`domain.replies.escalation_due`); (campaign, household), sorted. Each is
        returned once, to one caller, however many processes claim at once, and once more only if
        that caller never said it told them (`escalation_told`) within `ESCALATION_CLAIM_SECONDS`."""
        ...

    async def escalation_told(self, campaign_id: int, household_id: int) -> None:
        """The claimed request's alerts are queued: it is never claimed again (until reopened)."""
        ...

    async def start_phone_verification(
        self, household_id: int, phone: str, code_hash: str, ttl_seconds: float, max_pending: int = 3
    ) -> bool:
        """Stores a code sent to `phone`; False when the household already has `max_pending` live ones."""
        ...

    async def check_phone_code(self, household_id: int, code_hash: str, max_attempts: int) -> str | None:
        """The phone whose live code matches (the code is used up); else None and an attempt is spent."""
        ...

    async def forget_phone_codes(self, before: float) -> int:
        """Erases the phone codes that expired before `before` (retention: each holds the number a
        resident typed on the enrolment page; `start_phone_verification` erases them only when someone
        starts another); how many."""
        ...

    def counters(self) -> dict[str, int]:
        """How well concurrent answers share work: lookups, lookup_batches, writes, write_batches."""
        ...


class TriggerRepo(Protocol):
    """Trigger decisions (JMA, CAP), one per telegram dedupe key."""

    async def record(self, rec: TriggerRecord) -> bool:
        """Stores a decision received now; False (nothing written) when its dedupe key is known."""
        ...

    async def exists(self, dedupe_key: str) -> bool: ...

    async def since(self, received_after: float) -> list[TriggerRecord]:
        """Decisions received at or after a time, oldest first."""
        ...

    async def recent(self, limit: int = 50, acted_only: bool = False) -> list[TriggerRecord]:
        """The latest decisions, newest first (`acted_only`: not 'ignore')."""
        ...

    async def for_campaign(self, campaign_id: int) -> list[TriggerRecord]: ...


class DashboardReads(Protocol):
    """Reads behind the staff pages, bounded by a campaign and (mostly) an association. Adapters
    serve them apart from residents' hot reads where they can."""

    async def associations(self) -> list[Association]:
        """By district name, then association name."""
        ...

    async def associations_in_scope(self, scope: Scope) -> list[Association]: ...

    async def association(self, association_id: int) -> Association | None: ...

    async def association_by_name(self, name: str) -> Association | None: ...

    async def coverage(self, association_id: int) -> Coverage:
        """Current households with a working contact, and the list of those without."""
        ...

    async def campaign(self, campaign_id: int) -> CampaignInfo | None: ...

    async def campaigns_for(self, association_ids: Iterable[int] | None, limit: int = 20) -> list[CampaignInfo]:
        """Recent campaigns (not drafts) covering any of these associations (None: any), newest first."""
        ...

    async def campaign_association_ids(self, campaign_id: int) -> set[int]:
        """Associations the campaign covers (those with households in it once it started)."""
        ...

    async def covered_among(self, campaign_id: int, association_ids: Iterable[int]) -> set[int]: ...

    async def latest_campaign_for(self, association_ids: Iterable[int] | None) -> CampaignInfo | None:
        """The running campaign covering any of these associations (None: any) that a dashboard opens on:
        a real event first, then the latest started (QA: a drill started during an earthquake's event
        opened every head's dashboard on the paused drill, at 0 %, while /city showed the event); else
        the latest finished one."""
        ...

    async def previous_campaign(self, campaign: CampaignInfo) -> CampaignInfo | None:
        """The running or closed campaign of the same kind and scope that started last before this
        one (a drill is compared with the drill before it, never with a real event between)."""
        ...

    async def drafts(self, limit: int = 10) -> list[CampaignInfo]:
        """Campaigns waiting to be started (a trigger's proposal), newest first."""
        ...

    async def awaiting_approval(self, limit: int = 10) -> list[CampaignInfo]:
        """Real events started by one person and waiting for a second (`pending_approval`), newest
        first, with who started them."""
        ...

    async def real_event_scopes(self) -> frozenset[str]:
        """The scope items ('city', 'district:N', 'association:N', 'group:A/G') of every real event
        running now: inside them a head sees a `no` household's details (`domain.consent`). Read
        per page, never cached: the details must hide the moment the event closes."""
        ...

    async def households_within(self, campaign_ids: Iterable[int], association_ids: Iterable[int]) -> dict[int, int]:
        """Per campaign: its households in these associations only (what a viewer of narrower scope
        may see); campaigns with none are left out."""
        ...

    async def households(self, campaign_id: int, association_id: int) -> list[HouseholdLine]:
        """The association's households in the campaign, by group, address, household key."""
        ...

    async def households_with_status(
        self, campaign_id: int, association_ids: Iterable[int], statuses: Iterable[str],
        never_answered: bool = False, *, after: HouseholdLine | None = None, limit: int | None = None,
    ) -> list[HouseholdLine]:
        """Households of these associations in these statuses (never answered at all, if asked), in
        (association, group, address, id) order, a page of `limit` after the line `after`."""
        ...

    async def household_numbers(self, campaign_id: int, association_ids: Iterable[int],
                                statuses: Iterable[str]) -> list[tuple[int, str, int]]:
        """(household id, household number, association id) of `households_with_status`, in its order:
        what a staff member's text names a household by, without each row's name, address and phones
        (a district head's 訪問済み reads a district's unanswered households for one text)."""
        ...

    async def in_person_marks(self, campaign_id: int, association_id: int) -> list[InPersonMark]:
        """Of the association's households confirmed in person now, the confirmation that stands on
        each (its latest not undone), in reply order: what the dashboard row says of it and whether
        its 取り消す is still offered."""
        ...

    async def household_notes(self, campaign_id: int, association_ids: Iterable[int]) -> list[NotedHousehold]:
        """The households of these associations that wrote a note in the campaign (any answer, a note
        alone too), each with its latest note (never a staff confirmation's), in (association, group,
        address, id) order."""
        ...

    async def help_panel(self, campaign_id: int, association_ids: Iterable[int],
                         include_handled: bool = False) -> list[HelpItem]:
        """Open help requests, oldest first, with the latest of each detail the household gave (as the help list);
        with `include_handled`, those marked 対応済み too, in the same order, each with when and by whom (the
        login, and the display name pages show)."""
        ...

    async def open_help_counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, int]:
        """Open help requests per association (every asked association present, 0 included; None: those with any)."""
        ...

    async def escalations_told(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, float]:
        """Per association (of these; None: every one), when the latest of its help requests in the campaign was
        told to the standing-in staff as left unhandled (`ReplyStore.escalation_told`, handled since or not);
        those with none left out. A reopened request's escalation is gone (it may escalate again)."""
        ...

    async def open_help_everywhere(self, association_ids: Iterable[int] | None = None) -> list[OpenHelp]:
        """Open (not handled) help requests per campaign and association, of every campaign not purged,
        running or finished (None: every association; the ones without any left out); the newest
        campaign first, then by association id."""
        ...

    async def counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """Live counters per association and status (every status present)."""
        ...

    async def reply_cursor(self) -> int:
        """The newest reply's position (any campaign): where a live stream starts."""
        ...

    async def changes_since(
        self, campaign_id: int, after_reply_id: int, upto_reply_id: int, limit: int,
        association_ids: Iterable[int] | None = None,
    ) -> list[Change]:
        """Households of the campaign with a reply in (after, upto], with their current status and whether
        one of those replies carried a note (`Change.noted`), by their latest reply; at most `limit` + 1, so
        the caller can tell "too many"."""
        ...

    async def first_answers_by_channel(self, campaign_id: int) -> list[ChannelCount]:
        """Per association and channel: households whose first answer came over it."""
        ...

    async def check_counts(self, campaign_id: int,
                           association_ids: Iterable[int] | None = None) -> dict[ChannelName, dict[str, int]]:
        """A contact check's contacts per channel: confirmed, unconfirmed, dead (a bounce); of these
        associations' households only, if given."""
        ...

    async def check_outcomes(self, campaign_id: int) -> list[tuple[int, str, int]]:
        """A contact check's households per association and outcome (`domain.campaigns.CHECK_OUTCOMES`):
        (association id, outcome, households), none for an outcome no household had."""
        ...

    async def check_unconfirmed(
        self, campaign_id: int, association_ids: Iterable[int], *, after: HouseholdLine | None = None,
        limit: int | None = None,
    ) -> list[HouseholdLine]:
        """A contact check's households of these associations with no contact confirmed, each line's
        `status` its outcome (bounced, unconfirmed, not_asked); paged as `households_with_status`."""
        ...

    async def contact_checks(self, association_ids: Iterable[int] | None = None) -> list[CheckTally]:
        """The current contacts of the associations' households (all: None) by kind and check
        state (`domain.campaigns.CHECK_STATES`: the latest check a contact was in decides)."""
        ...


class StatsReads(Protocol):
    """Reads behind the stats document: the live counters and the answer curve, never a recount."""

    async def counts(self, campaign_id: int) -> list[CountRow]:
        """Non-zero counters."""
        ...

    async def minutes(self, campaign_id: int) -> list[MinuteRow]:
        """First answers per association and minute after the start, by minute."""
        ...

    async def associations(self) -> list[Association]:
        """Every association, in id order."""
        ...

    async def open_help_requests(self, campaign_id: int) -> dict[int, int]:
        """Open help requests per association (those with any)."""
        ...

    async def household_phones(self, household_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(landline, mobile) of these households: each its first working contact of the kind, '' without
        one (as the help cards and the door-knock list show them); an unknown id is left out."""
        ...


class DispatchHealthRepo(Protocol):
    """Whether anything is being sent: each dispatcher's heartbeat and how each of its channels
    fares, in the store so that every process on it (console, `campaign start`) can tell."""

    async def beat(self, beat: DispatcherBeat, channels: Sequence[ChannelHealth] = (), *,
                   forget: bool = False) -> None:
        """Records a heartbeat (one row per process `owner`: `host`, `pid`, `started_at` and `role` stay
        as first written) and the channels whose health changed, at once; with `forget`, drops
        processes (and their channels) not heard from for `rules.FORGET_DISPATCHER_SECONDS`."""
        ...

    async def dispatchers(self, limit: int = 20) -> list[DispatcherBeat]:
        """The dispatchers heard from most recently first (a web process's beat is none)."""
        ...

    async def channels(self, owners: Sequence[str]) -> list[ChannelHealth]:
        """The channel health rows of these dispatchers, by channel, then owner."""
        ...


class AuditRepo(Protocol):
    """The audit log (DESIGN §9): staff views of households' details, exports, in-person
    confirmations. Entries are only ever added, read, and deleted by age."""

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        """Stores the entries in one transaction (their `id` is ignored and given by the store)."""
        ...

    async def entries(self, *, since: float | None = None, until: float | None = None, after_id: int = 0,
                      limit: int = 1000) -> list[AuditEntry]:
        """Entries with an id above `after_id` and a time in [since, until), in id order, at most `limit`
        (a caller pages by passing the last id back)."""
        ...

    async def erase_before(self, at: float) -> int:
        """Deletes entries older than `at` (the audit log's own retention); returns how many."""
        ...


class CoordinationRepo(Protocol):
    """What several processes on one store agree on (DESIGN §8): which one runs the schedulers (a
    named lease) and how a provider lane's sends are spaced across every dispatcher (shared slots).
    Times are the callers' wall clock (`Clock.now()`): machines sharing a store keep NTP time."""

    async def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Takes the lease `name` for `owner` until now + `ttl_seconds`, or renews it when `owner`
        holds it; False (nothing changed) while another owner holds it unexpired."""
        ...

    async def release_lease(self, name: str, owner: str) -> None:
        """Gives the lease up at once if `owner` holds it (another process may take it now)."""
        ...

    async def lease_holder(self, name: str) -> tuple[str, float] | None:
        """(owner, expires_at) of the lease, expired or not; None if never taken."""
        ...

    async def reserve_slots(self, lane: str, count: int, interval: float) -> float:
        """Reserves `count` consecutive send slots of `lane`, `interval` seconds apart, the first at
        or after now, and returns the first one's time. No slot is ever given twice and unused time
        is not saved up (no burst after a quiet spell), so all reservers together send at most one
        message per `interval`."""
        ...

    async def hold_lane(self, lane: str, until: float) -> None:
        """No slot of `lane` before `until` (a provider asked every sender to slow down)."""
        ...

    async def record_key(self, name: str, fingerprint: str) -> str:
        """The fingerprint recorded for the city's key `name` ("secret_key", "vapid_public"): `fingerprint`
        when none was (it is recorded now, with the time), else the one recorded first, unchanged. Every
        machine of a city must sign with the same keys; a fingerprint, never the key, tells them apart."""
        ...

    async def recorded_key(self, name: str) -> str | None:
        """The fingerprint recorded for the key `name`; None if none is."""
        ...

    async def adopt_key(self, name: str, fingerprint: str) -> None:
        """`fingerprint` is the city's key `name` from now on, whatever was recorded (`safetynet keys adopt`:
        a key rotated or leaked; every machine must then sign with the new one)."""
        ...


class Store(Protocol):
    """Every repository of one store, its clock, and its health."""

    @property
    def roster(self) -> RosterRepo: ...

    @property
    def auth(self) -> AuthRepo: ...

    @property
    def campaigns(self) -> CampaignRepo: ...

    @property
    def outbox(self) -> OutboxRepo: ...

    @property
    def replies(self) -> ReplyRepo: ...

    @property
    def triggers(self) -> TriggerRepo: ...

    @property
    def dashboard(self) -> DashboardReads: ...

    @property
    def stats(self) -> StatsReads: ...

    @property
    def health(self) -> DispatchHealthRepo: ...

    @property
    def audit(self) -> AuditRepo: ...

    @property
    def coordination(self) -> CoordinationRepo: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def healthy(self) -> bool:
        """False while writes are failing (disk full, read-only file)."""
        ...

    @property
    def takes_writes(self) -> bool:
        """`healthy`, and the last write was not refused for a lock another process held past the
        busy timeout (an import, a backup): False until a write goes through."""
        ...

    async def close(self) -> None:
        """Flushes what is pending (group commits) and lets go of the engine."""
        ...
