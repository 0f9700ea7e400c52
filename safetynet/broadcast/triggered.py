"""Campaigns asked for by triggers (JMA, CAP): the broadcast side of `triggers.port.CampaignPort`.

A request names a scenario (its scope, ladder and wording); the trigger gives the title. Asking
twice with the same idempotency key returns the same campaign, so a crash between creating the
campaign and storing the trigger's decision never makes a second one.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import structlog

from safetynet.broadcast.scenario import ScenarioError, fit_message, fit_title, load_scenario
from safetynet.domain import CampaignKind, CampaignState
from safetynet.domain.campaigns import TRIGGER, Actor, Campaign
from safetynet.domain.roster import UnknownScopeError
from safetynet.domain.triggers import WITHDRAWN
from safetynet.i18n import t
from safetynet.triggers.port import CampaignRequest

if TYPE_CHECKING:
    from safetynet.broadcast.service import CampaignService
    from safetynet.config import Config

log = structlog.get_logger("broadcast.triggered")

# Used when the configured scenario cannot be read: a campaign must still go out.
FALLBACK_MESSAGES = {lang: t(lang, "campaign.fallback_body") for lang in ("ja", "ja-easy", "en")}


def scenario_problem(cfg: Config) -> ScenarioError | Exception | None:
    """Why the triggers' scenario could not be used if an alert came now (the fallback would go out: the
    whole city, generic words, the default ladder), or None: it can, or no trigger source is set. Said
    when `serve` starts (review: a scenario made before every ladder had to end with the door knock
    was refused only at the moment of the earthquake)."""
    jma = cfg.triggers.jma
    if not (jma.feed_url or jma.watch_dir or cfg.triggers.cap.codes):
        return None
    try:
        s = load_scenario(cfg.resolve(jma.scenario), fitted=True)
        from safetynet.broadcast.service import CampaignSpec

        CampaignSpec.from_scenario(s, kind=CampaignKind.REAL)  # as `create_campaign` takes it
    except Exception as e:  # whatever it is, the alert would meet it too; `serve` starts all the same
        return e
    return None


def _starter(request: CampaignRequest, draft: Campaign | None = None) -> Actor:
    """The trigger; on behalf of the person who pushed its telegram over the API, if a person did (a
    session, or a token they made), who then cannot be the second person of a real event it starts. For
    a `draft` made by an earlier telegram and left unstarted, whoever pushed that one (review: the same
    telegram from the feed then started it as the trigger alone, and its pusher could approve it)."""
    pushed = request.pushed_by
    if pushed is not None and pushed.person_id is not None:
        return Actor(TRIGGER.label, on_behalf_of=pushed.person_id, role=pushed.role)
    earlier = draft.options.get("trigger", {}).get("pushed_by_staff") if draft is not None else None
    if isinstance(earlier, int) and not isinstance(earlier, bool):
        return Actor(TRIGGER.label, on_behalf_of=earlier)
    return TRIGGER


async def create_campaign(svc: CampaignService, request: CampaignRequest) -> int:
    from safetynet.broadcast.service import CampaignError, CampaignSpec

    existing = await svc.campaigns.find_by_dedupe_key(request.dedupe_key)
    if existing is not None:
        if request.start and existing.state == CampaignState.DRAFT:
            # Created but never started: the process stopped in between (a crash, a restart) and the
            # telegram came again. Returning the draft would leave a real event unannounced.
            existing = await svc.start(existing.id, by=_starter(request, existing), force=True)
            log.info("trigger_campaign_resumed", campaign_id=existing.id, source=request.source)
        return existing.id
    # the source's words as they came (a CAP headline may run to 200 characters over several lines):
    # fitted, never refused, since a real event must go out
    title = fit_title(request.title) or fit_title(request.event_id) or request.source
    try:
        s = load_scenario(svc.cfg.resolve(request.scenario), fitted=True)
        spec = CampaignSpec.from_scenario(s, kind=CampaignKind(request.kind))
    except ScenarioError as e:
        log.error("trigger_scenario_unreadable", scenario=request.scenario, error=str(e))
        # a text of nothing but control characters fits to nothing: the fallback's words go out instead
        messages = {**FALLBACK_MESSAGES, **{k: m for k, v in request.messages.items() if (m := fit_message(v))}}
        spec = CampaignSpec(title, CampaignKind(request.kind), ("city",), messages)
    options: dict[str, Any] = {
        "dedupe_key": request.dedupe_key, "proposed": not request.start,
        "trigger": {"source": request.source, "hazard": request.hazard, "reason": request.reason,
                    "event_id": request.event_id},
    }
    pusher = _starter(request).person_id
    if pusher is not None:
        options["trigger"]["pushed_by_staff"] = pusher
    try:
        c = await svc.create(spec, title=title, source=request.source, created_by="trigger", options=options)
    except CampaignError as e:
        if not isinstance(e.__cause__, UnknownScopeError):
            raise
        # a district the scenario names merged or renamed by a roster import since: the whole city, as for
        # a scenario that will not read. Refused, the telegram failed at every poll and held back every
        # later one, its 取消 included, for the twelve hours it stays new (review). The scope is checked
        # by `create` itself (a count of its households), not counted twice
        log.error("trigger_scenario_scope_unknown", scenario=request.scenario, kind=e.__cause__.kind,
                  name=e.__cause__.name)
        spec = dataclasses.replace(spec, scope=("city",))
        c = await svc.create(spec, title=title, source=request.source, created_by="trigger", options=options)
    if request.start:
        # The trigger rules already decided (aftershock window, higher intensity): no duplicate check.
        # A real event then waits for a city admin's approval: the trigger is the first person.
        c = await svc.start(c.id, by=_starter(request), force=True)
    log.info("trigger_campaign", campaign_id=c.id, kind=str(c.kind), started=request.start, source=request.source)
    return c.id


async def update_campaign(svc: CampaignService, campaign_id: int, title: str, reason: str) -> None:
    """A later report of the same event: a new title; a finished campaign is left as it was."""
    c = await svc.campaigns.get(campaign_id)
    if c is None or c.state not in (CampaignState.DRAFT, CampaignState.PENDING_APPROVAL, CampaignState.RUNNING):
        return
    await svc.campaigns.update_text(campaign_id, title=fit_title(title) or c.title)
    trigger = dict(c.options.get("trigger", {}))
    trigger["updates"] = [*trigger.get("updates", []), reason][-20:]
    await svc.campaigns.set_options(campaign_id, {**c.options, "trigger": trigger})
    svc.notify_changed()


async def campaign_state(svc: CampaignService, campaign_id: int) -> str | None:
    """How a trigger's campaign stands: the trigger rules take one a person cancelled or closed as ended."""
    c = await svc.campaigns.get(campaign_id)
    if c is None:
        return None
    return WITHDRAWN if _withdrawn(c) else str(c.state)


def _withdrawn(c: Campaign) -> bool:
    """Cancelled by its trigger (`cancel_proposed`), not by a person."""
    return c.state == CampaignState.CANCELLED and bool(c.options.get("trigger", {}).get("withdrawn"))


async def cancel_proposed(svc: CampaignService, campaign_id: int) -> bool:
    """Cancels a trigger's campaign that sent nothing yet; the city admins hear of every withdrawal they
    would otherwise miss: a real event they were asked to approve (now cancelled), and a campaign
    already sending (left running: a person closes it). A draft proposal goes quietly, as it came."""
    before = await svc.campaigns.get(campaign_id)
    if before is not None and _withdrawn(before):
        return True  # a retry of this withdrawal (its decision's record failed): done already
    if before is not None and before.state in (CampaignState.DRAFT, CampaignState.PENDING_APPROVAL):
        # said first, so a cancel by the trigger is never taken for a person's (`campaign_state`)
        trigger = {**before.options.get("trigger", {}), "withdrawn": True}
        await svc.campaigns.set_options(campaign_id, {**before.options, "trigger": trigger})
    try:
        done = await svc.campaigns.cancel_draft(campaign_id, svc.clock.now())
    finally:
        if before is not None and before.state in (CampaignState.DRAFT, CampaignState.PENDING_APPROVAL):
            after = await svc.campaigns.get(campaign_id)
            if after is not None and after.state != CampaignState.CANCELLED:
                # approved meanwhile (or the cancel failed): the mark would make a later person's cancel the
                # trigger's (the last hour's review)
                trigger = {k: v for k, v in after.options.get("trigger", {}).items() if k != "withdrawn"}
                await svc.campaigns.set_options(campaign_id, {**after.options, "trigger": trigger})
    if done:
        svc.notify_changed()
        if before is not None:
            # the audit log names who cancelled every campaign, as a person's cancel is (CampaignService.cancel):
            # here the trigger, on the report's 取消 or Cancel
            await svc._audit("cancel", before, TRIGGER)  # the service's own entry: one format for every cancel
        if before is not None and before.state != CampaignState.DRAFT:
            await svc.tell_withdrawn(before, waiting=True)
        return True
    now = await svc.campaigns.get(campaign_id)  # approved in between: it runs now
    if now is not None and now.state == CampaignState.RUNNING:
        await svc.tell_withdrawn(now, waiting=False)
    return False
