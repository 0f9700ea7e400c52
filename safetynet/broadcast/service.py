"""Campaigns as the rest of the product uses them: create, start, approve, close, cancel, preview, stats.

Starting a campaign resolves its scope to households, enrols them (one reply token each) and
writes step 0 of its ladder into the outbox, in batches, while it is still a draft; only then does
it flip to running, in one transaction with its counters. So the dispatcher sees the whole first
wave at once (vulnerable households first across the whole city), and a crash half-way leaves a
draft that can simply be started again (every write is idempotent).

A real event needs two people (DESIGN §9): its first start only records who asked
(`pending_approval`, nothing planned or sent); a second, different city admin's `approve` plans
and runs it as above. A trigger with action = "start" or an API token can be the first, never the
second: only a signed-in person approves, and the store compares staff ids, not names.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from safetynet.broadcast import triggered
from safetynet.broadcast.messages import check_texts, compose_notice, layout_of
from safetynet.broadcast.planner import plan_check, plan_step
from safetynet.broadcast.preview import Preview, PreviewCounter
from safetynet.broadcast.scenario import (
    Scenario,
    ScenarioError,
    message_problem,
    parse_ladder,
    parse_messages,
    parse_scope,
    parse_title,
    plain_breaks,
    title_problem,
)
from safetynet.broadcast.scenario import reason as scenario_reason
from safetynet.channels import registry
from safetynet.channels.spec import MESSAGE_SPOKEN
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import CampaignKind, CampaignState, Role
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.campaigns import (
    NOTICE_DELAY_SECONDS,
    TRIGGER,
    Actor,
    Campaign,
    CheckRow,
    HouseholdNotice,
    LadderStep,
    StaffAlert,
    StepHousehold,
    StepPlan,
    notice_plan,
)
from safetynet.domain.japan_time import date_time_jst
from safetynet.domain.roster import Association, UnknownScopeError
from safetynet.i18n import SaidError, Term, Text, t
from safetynet.i18n.terms import language_word, scope_words, state_word
from safetynet.replies.notify import short_title, staff_messages, standing_in
from safetynet.replies.tokens import check_token, reply_token, token_hash
from safetynet.stats.document import build_stats
from safetynet.store import Store, StoreError
from safetynet.triggers.port import CampaignRequest, starter_words

log = structlog.get_logger("broadcast.service")

# Households a transaction: big enough to amortise, small enough to keep other writers waiting little.
_BATCH = 5000


class CampaignError(SaidError):
    """A campaign request that cannot be done: a catalog text (`campaign.error.*`) and its values,
    said in the console page's language or the terminal's."""


class CampaignNotFound(CampaignError):
    pass


class CampaignStateError(CampaignError):
    """The campaign is not in a state that allows this (a closed campaign never reopens)."""


class ApprovalRefused(CampaignError):
    """Who asked may not approve this real event: not a city admin, not a person (a token, a
    trigger), or the very person who started it (`same_person`)."""

    def __init__(self, key: str, /, *, same_person: bool = False, **values: object) -> None:
        super().__init__(key, **values)
        self.same_person = same_person


class DuplicateCampaign(CampaignError):
    """A campaign of the same kind, scenario and scope is already running: a second one would send
    every household the same alert twice. Starting it anyway needs `force` (a confirmation)."""

    def __init__(self, running: Campaign) -> None:
        waiting = running.state == CampaignState.PENDING_APPROVAL
        since = (running.requested_at or running.created_at) if waiting else (running.started_at or running.created_at)
        super().__init__("campaign.error.duplicate_waiting" if waiting else "campaign.error.duplicate",
                         id=running.id, title=running.title, scope=scope_words(running.scope),
                         time=date_time_jst(since))
        self.running = running


def _unknown_scope(e: UnknownScopeError) -> CampaignError:
    """A scope the roster does not have, named in the reader's words (QA: "unknown association: …" under ja)."""
    if e.kind:
        return CampaignError("campaign.error.unknown_scope", name=e.name,
                             kind=Term(e.kind, lambda lang: t(lang, f"dash.{e.kind}")))
    return CampaignError("campaign.error.bad_scope", detail=str(e))


def same_campaign_key(kind: CampaignKind | str, scope: Sequence[str], title: str,
                      options: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """What makes two campaigns "the same drill": kind, scope, and the scenario (the title when
    the campaign was written by hand)."""
    return str(kind), tuple(sorted(scope)), str(options.get("scenario") or title)


@dataclass(frozen=True)
class CampaignSpec:
    title: str
    kind: CampaignKind
    scope: tuple[str, ...]
    messages: dict[str, str]
    # the free channels, then each priced one, then the door knock (`registry.default_ladder`)
    ladder: tuple[LadderStep, ...] = field(default_factory=registry.default_ladder)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, s: Scenario, scope: Sequence[str] | None = None,
                      kind: CampaignKind | None = None) -> CampaignSpec:
        """The campaign of scenario `s`; `scope` overrides its own. A scenario without a scope of
        its own (a monthly association drill) is refused without one, never sent city-wide."""
        if not scope and not s.scope:
            raise ScenarioError("scenario.error.no_scope", name=s.name)
        return cls(s.title, kind or s.kind, tuple(scope) if scope else s.scope, dict(s.messages), s.ladder,
                   {**s.options, "scenario": s.name})

    @classmethod
    def for_check(cls, scope: Sequence[str], title: str = "", language: str = "ja") -> CampaignSpec:
        """A contact check (連絡先確認) of `scope`: the catalogs' texts, an empty ladder (each contact
        is sent once; nothing escalates, no door knock)."""
        return cls(title.strip() or t(language, "message.check.title"), CampaignKind.CHECK, tuple(scope),
                   check_texts(), ())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CampaignSpec:
        """From an API body: title, kind, scope, messages, optional ladder (as in a scenario file)."""
        def fail(key: str, why: Text) -> ScenarioError:
            return ScenarioError("scenario.error.key", key=key, reason=why)

        title = data.get("title")
        if data.get("kind") == CampaignKind.CHECK and title is None:
            title = ""
        else:
            title = parse_title(title, fail)
        try:
            kind = CampaignKind(data.get("kind", "drill"))
        except ValueError:
            raise fail("kind", scenario_reason("api_kind")) from None
        if kind == CampaignKind.CHECK:
            return cls.for_check(parse_scope(data.get("scope", ["city"]), fail), title)
        ladder = parse_ladder(data.get("ladder"), fail)
        return cls(title.strip(), kind, parse_scope(data.get("scope", ["city"]), fail),
                   parse_messages(data.get("messages"), fail), ladder)


def covered(scope: Sequence[str], associations: Sequence[Association]) -> list[Association]:
    """The associations a campaign scope reaches (a group reaches its association's dashboard)."""
    out = []
    for a in associations:
        for item in scope:
            kind, _, name = str(item).partition(":")
            if (item == "city" or (kind == "district" and name == a.district)
                    or (kind == "association" and name == a.name)
                    or (kind == "group" and name.partition("/")[0] == a.name)):
                out.append(a)
                break
    return out


def _merge(spec: CampaignSpec | None, **kw: Any) -> CampaignSpec:
    given = {k: v for k, v in kw.items() if v is not None}
    if spec is None:
        missing = {"kind", "title", "scope", "messages"} - set(given)
        if missing:
            raise CampaignError("campaign.error.missing", fields=", ".join(sorted(missing)))
        return CampaignSpec(str(given["title"]), CampaignKind(given["kind"]), tuple(given["scope"]),
                            dict(given["messages"]), tuple(given.get("ladder", registry.default_ladder())))
    return CampaignSpec(
        str(given.get("title", spec.title)), CampaignKind(given.get("kind", spec.kind)),
        tuple(given.get("scope", spec.scope)), dict(given.get("messages", spec.messages)),
        tuple(given.get("ladder", spec.ladder)), spec.options,
    )


def text_problems(title: str, messages: Mapping[str, str]) -> list[Text]:
    """What the rules on what residents read refuse in a campaign's title and messages, each said in
    its reader's language (the console's form lists them all at the preview)."""
    problems = [Text("campaign.error.title", problem=p) for p in [title_problem(title)] if p]
    problems += [Text("campaign.error.message", lang=language_word(lang), problem=p)
                 for lang, text in messages.items() if (p := message_problem(text))]
    return problems


def _check_texts(spec: CampaignSpec) -> None:
    """Every way in (API, console form, scenario, trigger) meets the same rules on what residents read:
    a form that builds its spec itself cannot store a title of 60,000 characters or a hidden override."""
    problems = text_problems(spec.title, spec.messages)
    if problems:
        raise CampaignError(problems[0].key, **problems[0].values)


def _token_hasher(secret: str) -> Callable[[int, int], str]:
    """(campaign id, household id) → the hash of that household's reply token, as the store keeps it."""
    def token_hash_of(campaign_id: int, household_id: int) -> str:
        return token_hash(reply_token(secret, campaign_id, household_id))
    return token_hash_of


def _first_step_plan(first: LadderStep, households: list[StepHousehold]) -> StepPlan:
    """What step 0 sends these households (nothing when the ladder's first step is the door knock)."""
    return plan_step(households, 0, first) if not first.door_knock else StepPlan((), (), ())


class CampaignService:
    def __init__(self, store: Store, cfg: Config, clock: Clock,
                 on_change: Callable[[], None] | None = None) -> None:
        self.store = store
        self.campaigns = store.campaigns
        self.cfg = cfg
        self.clock = clock
        # Called when a campaign starts, closes or changes (an in-process dispatcher wakes up).
        self.on_change = on_change

    # -- lifecycle -----------------------------------------------------------------------------

    async def create(
        self, spec: CampaignSpec | None = None, *, kind: CampaignKind | str | None = None, title: str | None = None,
        scope: Sequence[str] | None = None, messages: Mapping[str, str] | None = None,
        ladder: Sequence[LadderStep] | None = None, options: Mapping[str, Any] | None = None,
        source: str = "cli", created_by: str = "",
    ) -> Campaign:
        """A draft, from a spec or from keywords (keywords override the spec); the scope is checked
        against the roster now."""
        spec = _merge(spec, kind=kind, title=title, scope=scope, messages=messages, ladder=ladder)
        spec = dataclasses.replace(spec, messages={k: plain_breaks(v) for k, v in spec.messages.items()})
        _check_texts(spec)
        try:
            await self.store.roster.count_in_scope(spec.scope)
        except UnknownScopeError as e:
            raise _unknown_scope(e) from e
        c = await self.campaigns.create(kind=spec.kind, title=spec.title, scope=spec.scope,
                                        messages=spec.messages, ladder=spec.ladder,
                                        options={**spec.options, **(options or {})}, source=source,
                                        created_by=created_by)
        log.info("campaign_created", campaign_id=c.id, kind=str(c.kind), source=source)
        return c

    async def get(self, campaign_id: int) -> Campaign:
        c = await self.campaigns.get(campaign_id)
        if c is None:
            raise CampaignNotFound("campaign.error.not_found", id=campaign_id)
        return c

    async def start(self, campaign_id: int, *, by: Actor | str = "", force: bool = False) -> Campaign:
        """Plans step 0 for every household in scope, then draft → running; a real event only goes
        to pending_approval (nothing planned or sent) and runs on `approve` by someone else.

        The one way a campaign starts (CLI, console, API, triggers, a proposal confirmed): `by` is
        who started it. Refuses with DuplicateCampaign while the same campaign runs or waits for
        approval, unless `force`."""
        actor = by if isinstance(by, Actor) else Actor(by)
        c = await self.get(campaign_id)
        if c.state != CampaignState.DRAFT:
            raise CampaignStateError("campaign.error.not_draft", id=c.id, state=state_word(c.state))
        if not force:
            await self.refuse_duplicate(c.kind, c.scope, c.title, c.options, other_than=c.id)
        if c.kind == CampaignKind.REAL:
            try:
                await self.store.roster.count_in_scope(c.scope)
            except UnknownScopeError as e:
                raise _unknown_scope(e) from e
            if not await self.campaigns.request_approval(c.id, self.clock.now(), actor.label, actor.person_id):
                raise CampaignStateError("campaign.error.changed_while_starting", id=c.id)
            log.info("campaign_awaiting_approval", campaign_id=c.id, source=c.source, person=actor.is_person)
            self._changed()
            await self._audit("start", c, actor)
            await self._ask_for_approval(c, actor)
            return await self.get(c.id)
        await self._plan(c)
        if not await self.campaigns.begin_running(c.id, self.clock.now(), actor.label, actor.person_id):
            raise CampaignStateError("campaign.error.changed_while_starting", id=c.id)
        log.info("campaign_started", campaign_id=c.id, kind=str(c.kind), source=c.source, forced=force)
        self._changed()
        await self._audit("start", c, actor)
        await self._tell_started(c, actor)
        return await self.get(c.id)

    async def approve(self, campaign_id: int, *, by: Actor, force: bool = False) -> Campaign:
        """The second person's approval of a real event: plans step 0 and runs it. `by` must be an
        active city admin (a person: a staff id) other than the one who started it."""
        c = await self.get(campaign_id)
        if c.state != CampaignState.PENDING_APPROVAL:
            raise CampaignStateError("campaign.error.not_waiting", id=c.id, state=state_word(c.state))
        refused = await self._approval_refused(c, by)
        if refused is not None or by.staff_id is None:  # the second never holds: it tells the type checker
            raise await self._refuse(c, by, refused or ApprovalRefused("campaign.error.approve_needs_person"))
        if not force:
            await self.refuse_duplicate(c.kind, c.scope, c.title, c.options, other_than=c.id, waiting_too=False)
        await self._plan(c)
        if not await self.campaigns.approve(c.id, self.clock.now(), by.label, by.staff_id):
            now = await self.get(c.id)
            if now.state == CampaignState.PENDING_APPROVAL:  # the store's own check of the same rule
                raise await self._refuse(c, by, ApprovalRefused(
                    "campaign.error.approve_same_person", same_person=True, who=by.label, id=c.id))
            raise CampaignStateError("campaign.error.changed_while_approving", id=c.id, state=state_word(now.state))
        log.info("campaign_approved", campaign_id=c.id, source=c.source, forced=force)
        self._changed()
        await self._audit("approve", c, by)
        await self._tell_started(c, by)
        return await self.get(c.id)

    async def _approval_refused(self, c: Campaign, by: Actor) -> ApprovalRefused | None:
        """Why `by` may not approve `c` under the two-person rule, None when they may."""
        if by.staff_id is None:
            return ApprovalRefused("campaign.error.approve_needs_person")
        staff = await self.store.auth.staff_by_id(by.staff_id)
        if staff is None or not staff.active or staff.role != Role.CITY_ADMIN:
            return ApprovalRefused("campaign.error.approve_not_city_admin", who=by.label)
        if c.started_by_staff == by.staff_id:
            if c.started_by == TRIGGER.label:  # a telegram they pushed over the API started it
                return ApprovalRefused("campaign.error.approve_same_person_pushed", same_person=True, who=by.label,
                                       id=c.id)
            if c.started_by != by.label:  # through a token they made
                return ApprovalRefused("campaign.error.approve_same_person_through", same_person=True, who=by.label,
                                       id=c.id, via=c.started_by)
            return ApprovalRefused("campaign.error.approve_same_person", same_person=True, who=by.label, id=c.id)
        return None

    async def _refuse(self, c: Campaign, by: Actor, refused: ApprovalRefused) -> ApprovalRefused:
        """A refused approval goes in the audit log before it is raised, whichever door it came by (CLI,
        console, API): a city's auditors must see attempts at the two-person rule, not only approvals.
        `detail`: why (`same_person`, `same_person_through`, `same_person_pushed`, `not_city_admin`, `needs_person`)."""
        log.warning("campaign_approve_refused", campaign_id=c.id, reason=refused.said.key)
        await self._audit("approve_refused", c, by, refused.said.key.removeprefix("campaign.error.approve_"))
        return refused

    async def refused_at_the_door(self, campaign_id: int, by: Actor, detail: str = "not_city_admin") -> None:
        """A refused approval that a door turned away before asking `approve` (the console, the API and
        the command line's `--as` each refuse whoever is not a city admin, with their own answer), in the
        audit log as `approve`'s own refusals are (QA, privacy walk: a district head's, a token's and a
        `--as` of no city admin left no entry). `detail`: why, as `_refuse` says it. Never raises: the
        door answers as it did."""
        log.warning("campaign_approve_refused", campaign_id=campaign_id, reason="campaign.error.approve_not_city_admin")
        await self._write_audit(AuditEntry(self.clock.now(), by.label or "unknown", str(AuditAction.CAMPAIGN),
                                           "approve_refused", role=by.role, staff_id=by.person_id,
                                           campaign_id=campaign_id, detail=detail))

    async def _ask_for_approval(self, c: Campaign, actor: Actor) -> None:
        """Every other city admin with a contact hears that a real event waits for them (QA: at 3 a.m.
        it waited until someone happened to open /city; a trigger's start waits the same way). A telegram
        a person pushed names them (review: it read as the JMA feed's, and the approver could take a
        hand-made telegram for the agency's)."""
        pusher = None
        if actor.label == TRIGGER.label and actor.person_id is not None:
            pusher = await self.store.auth.staff_by_id(actor.person_id)

        def by(lang: str) -> str:
            said = starter_words(lang, actor.label, c.source)
            if pusher is not None:
                said = t(lang, "trigger.started_by.pushed", source=said, who=pusher.display_name or pusher.login)
            return said

        await self._alert_city_admins(
            c, lambda lang: t(lang, "staff.approval_wanted", title=short_title(c.title), by=by(lang)),
            "approval_asked", but=actor.person_id)

    async def tell_withdrawn(self, c: Campaign, *, waiting: bool) -> None:
        """Every city admin hears that the report a trigger's campaign rested on was cancelled (JMA 取消,
        CAP Cancel): a campaign already sending is not stopped by itself, so someone must close it if
        nothing happened; one still `waiting` for approval was cancelled, and the 【承認待ち】 they
        were sent must not stand unanswered."""
        key = "staff.withdrawn_waiting" if waiting else "staff.withdrawn_running"
        head = {"jma": "staff.withdrawn.jma", "cap": "staff.withdrawn.cap"}.get(c.source, "staff.withdrawn.jma")
        await self._alert_city_admins(
            c, lambda lang: t(lang, key, head=t(lang, head), title=short_title(c.title)), "withdrawal_told")

    async def _alert_city_admins(self, c: Campaign, text: Callable[[str], str], event: str, *,
                                 but: int | None = None) -> None:
        """A staff alert about `c` (`text` in each admin's language, then the link to it) to every active
        city admin with a contact, `but` the one who acted. What it is about already happened: a
        failure to tell is logged, never that step's."""
        link = f"{self.cfg.server.public_url.rstrip('/')}/city?campaign={c.id}"
        try:
            admins = [s for s in await self.store.auth.list_staff()
                      if s.active and s.role == Role.CITY_ADMIN and s.id != but]
            alerts = [StaffAlert(c.id, m.staff_id, m.channel, m.address, f"{text(m.language)}\n{link}", link)
                      for m in staff_messages(admins, self.cfg.channels.enabled())]
            if alerts:
                await self.store.outbox.queue_staff(alerts, self.clock.now())
        except StoreError as e:
            log.error(f"{event}_failed", campaign_id=c.id, error=str(e))
            return
        log.info(event, campaign_id=c.id, admins=len({a.staff_id for a in alerts}))

    async def _audit(self, what: str, c: Campaign, actor: Actor, detail: str = "") -> None:
        """The step in the audit log with who took it (the person behind a token too): a city must be
        able to say who started, approved, closed or cancelled an event (QA: close and cancel named
        nobody). Written after the step; a failure to write is logged, the step stands."""
        await self._write_audit(AuditEntry(self.clock.now(), actor.label or "unknown", str(AuditAction.CAMPAIGN), what,
                                           role=actor.role, staff_id=actor.person_id, campaign_id=c.id,
                                           detail=detail or str(c.kind)))

    async def _write_audit(self, entry: AuditEntry) -> None:
        try:
            await self.store.audit.append([entry])
        except StoreError as e:
            log.error("campaign_audit_unwritten", campaign_id=entry.campaign_id, what=entry.what, error=str(e))

    async def _plan(self, c: Campaign) -> int:
        secret = self.cfg.secrets.secret_key
        if not secret:
            raise CampaignError("campaign.error.no_secret_key")
        try:
            households = await self._plan_first_step(c, secret)
        except UnknownScopeError as e:  # renamed or removed from the roster since the draft was made
            raise _unknown_scope(e) from e
        log.info("campaign_planned", campaign_id=c.id, households=households)
        return households

    async def _plan_first_step(self, c: Campaign, secret: str) -> int:
        """Enrols the households in scope (set-based, tokens hashed by SQLite), then writes step 0 into
        the outbox batch by batch; the next batch is planned while the last one is written (SQLite
        works without the GIL)."""
        households = await self.campaigns.enrol_scope(c.id, c.scope, _token_hasher(secret))
        if c.kind == CampaignKind.CHECK:
            await self._plan_check(c, secret)
            return households
        now, first = self.clock.now(), c.ladder[0]
        writing: asyncio.Task[None] | None = None
        try:
            async for batch in self.campaigns.step_households(c.id, batch_size=_BATCH):
                plan = _first_step_plan(first, batch)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self.campaigns.write_step(c.id, plan, now))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        return households

    async def enrol_newcomers(self, c: Campaign) -> int:
        """Households of a running campaign's scope that came into the roster after it started (a
        corrected roster imported during the event, a household restored), enrolled and sent step 0
        as the others were at the start (`CampaignRepo.enrol_newcomers`): no one left behind (review:
        a roster imported during a city-wide event added households on no list, not even counted
        unaccounted). A contact check keeps the contacts it started with. Returns how many."""
        secret = self.cfg.secrets.secret_key
        if c.kind == CampaignKind.CHECK or c.state != CampaignState.RUNNING or not secret or not c.ladder:
            return 0

        token_hash_of, first = _token_hasher(secret), c.ladder[0]

        def plan(households: list[StepHousehold]) -> StepPlan:
            return _first_step_plan(first, households)

        total, scope = 0, list(c.scope)
        while scope:
            try:
                enrolled = await self.campaigns.enrol_newcomers(c.id, scope, token_hash_of, plan, self.clock.now(),
                                                               limit=_BATCH)
            except UnknownScopeError as e:
                # a name the roster no longer has (a district emptied by a move): the rest of the scope
                # still takes its newcomers (review: one gone name held back every other's)
                left = [s for s in scope if s.strip() != f"{e.kind}:{e.name}"]
                if len(left) == len(scope):  # not one of its names as written: nothing to leave out
                    raise
                scope = left
                log.warning("newcomers_scope_gone", campaign_id=c.id, scope=f"{e.kind}:{e.name}")
                continue
            total += len(enrolled)
            if len(enrolled) < _BATCH:
                break
        if total:
            log.info("households_enrolled_late", campaign_id=c.id, households=total)
            if self.on_change is not None:
                self.on_change()
        return total

    async def _plan_check(self, c: Campaign, secret: str) -> None:
        """Every working contact of every enrolled household, each with its own confirm token."""
        now = self.clock.now()
        async for batch in self.campaigns.step_households(c.id, batch_size=_BATCH):
            plan = plan_check(batch)
            rows = [CheckRow(d.contact_id, d.household_id, d.channel,
                             token_hash(check_token(secret, c.id, d.contact_id))) for d in plan.deliveries]
            await self.campaigns.write_checks(c.id, rows)
            await self.campaigns.write_step(c.id, plan, now)

    async def launch(self, spec: CampaignSpec, *, source: str = "cli", created_by: str = "",
                     by: Actor | None = None, force: bool = False) -> Campaign:
        """Create and start (a real event: started, waiting for approval). A duplicate is refused
        before anything is written (no stray draft)."""
        if not force:
            await self.refuse_duplicate(spec.kind, spec.scope, spec.title, spec.options)
        c = await self.create(spec, source=source, created_by=created_by)
        return await self.start(c.id, by=by or Actor(created_by), force=True)

    async def refuse_duplicate(self, kind: CampaignKind | str, scope: Sequence[str], title: str,
                               options: Mapping[str, Any], other_than: int | None = None,
                               waiting_too: bool = True) -> None:
        """Raises DuplicateCampaign if the same campaign (`same_campaign_key`) runs, or (`waiting_too`)
        waits for approval."""
        key = same_campaign_key(kind, scope, title, options)
        states = [CampaignState.RUNNING] + ([CampaignState.PENDING_APPROVAL] if waiting_too else [])
        live = await self.campaigns.list_campaigns(states)
        for other in sorted(live, key=lambda c: (c.state != CampaignState.RUNNING, c.id)):
            if other.id != other_than and same_campaign_key(other.kind, other.scope, other.title, other.options) == key:
                raise DuplicateCampaign(other)

    async def close(self, campaign_id: int, *, by: Actor | str = "") -> Campaign:
        c = await self.get(campaign_id)
        if not await self.campaigns.close(campaign_id, self.clock.now()):
            raise CampaignStateError("campaign.error.not_running", id=campaign_id, state=state_word(c.state))
        log.info("campaign_closed", campaign_id=campaign_id)
        self._changed()
        await self._audit("close", c, by if isinstance(by, Actor) else Actor(by))
        return await self.get(campaign_id)

    async def cancel(self, campaign_id: int, *, by: Actor | str = "", tell_households: bool = True) -> Campaign:
        """draft, pending_approval or running → cancelled. A campaign that went out is taken back
        where it was read: its heads and deputies are told, and with `tell_households` every contact
        its message reached (`_tell_households`)."""
        c = await self.get(campaign_id)
        if not await self.campaigns.cancel(campaign_id, self.clock.now()):
            raise CampaignStateError("campaign.error.not_cancellable", id=campaign_id, state=state_word(c.state))
        log.info("campaign_cancelled", campaign_id=campaign_id)
        self._changed()
        actor = by if isinstance(by, Actor) else Actor(by)
        await self._audit("cancel", c, actor)
        if c.state == CampaignState.RUNNING:
            await self._tell_cancelled(c, actor)
            if c.kind != CampaignKind.CHECK:
                # whether the households were told, and by whose choice, is on record (a city may be asked)
                told = await self._tell_households(c) if tell_households else None
                await self._audit("notice", c, actor, "not told" if told is None else f"{told} contacts")
        return await self.get(campaign_id)

    async def _tell_households(self, c: Campaign) -> int:
        """Every contact the campaign's message reached (or was on its way to) hears it was cancelled
        (`notice_plan`): a mistaken alert is taken back where it was read. The notices are queued
        after the cancel and sent after any running campaign's deliveries. A failure is logged,
        never the cancel's."""
        city = self.cfg.city
        enabled = set(self.cfg.channels.enabled())
        try:
            reached = [r for r in await self.store.outbox.notice_recipients(c.id) if r.channel in enabled]
            calls = {r.channel for r in reached if layout_of(r.channel) == MESSAGE_SPOKEN}
            notices = [HouseholdNotice(c.id, r.household_id, r.channel, r.address,
                                       compose_notice(title=c.title, language=r.language, drill=c.is_drill,
                                                      channel=r.channel, city=city.name, city_latin=city.name_latin))
                       for r in notice_plan(reached, calls)]  # the reply link is made when sent: no token stored
            queued = await self.store.outbox.queue_notices(notices, self.clock.now() + NOTICE_DELAY_SECONDS)
        except Exception:  # the cancel stands whatever happens here
            log.exception("cancel_notices_failed", campaign_id=c.id)
            return 0
        self._changed()  # a dispatcher of this process wakes for them
        log.info("cancel_notices_queued", campaign_id=c.id, notices=queued,
                 households=len({n.household_id for n in notices}))
        return queued

    async def _tell_cancelled(self, c: Campaign, actor: Actor) -> None:
        """The heads and deputies of a campaign that went out hear it is cancelled: some may be on
        their way to a door."""
        title = short_title(c.title)
        await self._tell_heads(c, lambda lang: t(lang, "staff.campaign_cancelled", title=title,
                                                 by=self._who_for_staff(actor, lang)), "cancel_told_to_staff")

    async def _tell_started(self, c: Campaign, actor: Actor) -> None:
        """The heads and deputies of a campaign that starts sending hear it, with their dashboard's link
        (QA, heads' walk: after a real event was approved no head heard a word until a help alert or the
        door-knock notice, half an hour on). Drills too: the night is practised as it will be."""
        if c.kind == CampaignKind.CHECK:  # a contact check asks the residents, not an event to watch
            return
        title = short_title(c.title)

        def text(lang: str) -> str:
            mark = t(lang, "message.drill_prefix").strip() if c.is_drill else ""
            return mark + t(lang, "staff.campaign_started", title=title, by=self._who_for_staff(actor, lang))

        await self._tell_heads(c, text, "start_told_to_staff")

    async def _tell_heads(self, c: Campaign, text_for: Callable[[str], str], event: str) -> None:
        """`text_for(language)` and the association's dashboard link to the heads and deputies of every
        association in `c`'s scope. For an association none of them can be reached in, whoever stands
        in for its alerts (`standing_in`) hears it, once however many associations they stand in for.
        What it is about already happened: a failure to tell is logged, never that step's."""
        base = self.cfg.server.public_url.rstrip("/")
        channels = self.cfg.channels.enabled()
        alerts: list[StaffAlert] = []
        try:
            everyone = await self.store.auth.list_staff()
            told: set[int] = set()
            for a in await self.coverage(c.scope):
                own = [s for s in everyone if s.active and s.role in (Role.ASSOCIATION_HEAD, Role.DEPUTY)
                       and s.scope == f"association:{a.name}"]
                link = f"{base}/a/{a.id}?campaign={c.id}"
                if not staff_messages(own, channels):
                    own, link = standing_in(everyone, a.district, channels), f"{base}/city?campaign={c.id}"
                for m in staff_messages([s for s in own if s.id not in told], channels):
                    alerts.append(StaffAlert(c.id, m.staff_id, m.channel, m.address, f"{text_for(m.language)}\n{link}",
                                             link))
                told.update(s.id for s in own)
            if alerts:
                await self.store.outbox.queue_staff(alerts, self.clock.now())
        except Exception:  # the step stands whatever happens here
            log.exception(f"{event}_failed", campaign_id=c.id)
            return
        log.info(event, campaign_id=c.id, staff=len({a.staff_id for a in alerts}))

    def _who_for_staff(self, actor: Actor, lang: str) -> str:
        """Who did it, in words a head reads: a staff member by login; the command line (`cli:USER`, an
        account on the server), an API token or a trigger as the city's staff (QA: 「…は取り消されました
        （cli:root）」 reached association heads). The audit log keeps the exact actor."""
        if actor.is_person:
            return actor.label
        city = self.cfg.city
        return t(lang, "staff.by_city", city=city.name if lang.startswith("ja") else city.name_latin or city.name)

    async def update_text(self, campaign_id: int, *, title: str | None = None,
                          messages: Mapping[str, str] | None = None) -> Campaign:
        c = await self.get(campaign_id)
        if not await self.campaigns.update_text(campaign_id, title=title, messages=messages):
            raise CampaignStateError("campaign.error.text_fixed", id=campaign_id, state=state_word(c.state))
        self._changed()
        return await self.get(campaign_id)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    notify_changed = _changed

    # -- triggers.port.CampaignPort ------------------------------------------------------------

    async def create_campaign(self, request: CampaignRequest) -> int:
        """A campaign for a trigger (draft to propose, or started); idempotent by `dedupe_key`."""
        return await triggered.create_campaign(self, request)

    async def update_campaign(self, campaign_id: int, title: str, messages: Mapping[str, str], reason: str) -> None:
        await triggered.update_campaign(self, campaign_id, title, reason)

    async def cancel_proposed(self, campaign_id: int, reason: str) -> bool:
        return await triggered.cancel_proposed(self, campaign_id)

    async def campaign_state(self, campaign_id: int) -> str | None:
        return await triggered.campaign_state(self, campaign_id)

    # -- reads ---------------------------------------------------------------------------------

    async def preview(self, scope: Sequence[str], ladder: Sequence[LadderStep] | None = None,
                      messages: Mapping[str, str] | None = None,
                      kind: CampaignKind | str = CampaignKind.DRILL) -> Preview:
        """What a campaign over `scope` would send (households per channel per step, time, cost)."""
        drill = CampaignKind(kind) == CampaignKind.DRILL
        counter = PreviewCounter(self.cfg, ladder or registry.default_ladder(), messages, drill)
        try:
            async for batch in self.store.roster.households_in_scope(scope, batch_size=_BATCH):
                counter.add(batch)
        except UnknownScopeError as e:
            raise _unknown_scope(e) from e
        return counter.result()

    async def coverage(self, scope: Sequence[str]) -> list[Association]:
        return covered(scope, await self.store.roster.list_associations())

    async def stats(self, campaign_id: int,
                    visible: Callable[[Association], bool] = lambda a: True) -> dict[str, Any]:
        """The stats document of DESIGN.md §6, restricted to the associations `visible` accepts."""
        c = await self.get(campaign_id)
        reads = self.store.stats
        # paused as every page says it (`CampaignInfo.paused`: a running drill or contact check while a real
        # event runs), not as the ladder last recorded it (review: a drill closed while paused stayed
        # "paused" in the API and the CLI for good, and a contact check under a real event was never)
        shown = await self.store.dashboard.campaign(c.id)
        paused = shown is not None and shown.paused
        info = {"id": c.id, "kind": str(c.kind), "state": str(c.state), "title": c.title,
                "started_at": c.started_at, "closed_at": c.closed_at, "paused": paused}
        return build_stats(info, await reads.counts(c.id), await reads.minutes(c.id), await reads.associations(),
                           visible=visible, help_open=await reads.open_help_requests(c.id))
