"""Campaign API: start, approve, close, cancel, list, stats, preview (JSON; staff session or API token).

Only city admins, and district heads within their district, may start, close or cancel; a draft
(a trigger's proposal) is started by a city admin only. A real event's start leaves it
`pending_approval`; `POST /api/campaigns/{id}/approve` by a second, different city admin signed in
as a person (a session, not an API token) runs it (DESIGN §9). A campaign that reaches none of the
caller's associations answers exactly like one that does not exist (404). Browser sessions must send
the CSRF token; API tokens need none.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.broadcast.scenario import ScenarioError, load_scenario
from safetynet.broadcast.service import (
    ApprovalRefused,
    CampaignError,
    CampaignNotFound,
    CampaignService,
    CampaignSpec,
    CampaignStateError,
    DuplicateCampaign,
    covered,
)
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import Campaign
from safetynet.stats.cache import TtlCache
from safetynet.web.app import SERVICES, check_csrf, json_error, require_viewer, services
from safetynet.web.bodies import read_json_object
from safetynet.web.ids import parse_id

# Dashboards and scripts poll the stats; during a reply surge one recount a second per campaign and
# scope is plenty, and a value up to a few seconds old is served while the next one is computed.
STATS_TTL_SECONDS = 1.0
STATS_STALE_SECONDS = 4.0
STATS_CACHE = web.AppKey("stats_documents", TtlCache[bytes])

_SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _service(request: web.Request) -> CampaignService:
    svc = services(request)
    if svc.campaigns is None:
        svc.campaigns = CampaignService(svc.store, svc.cfg, svc.clock)
    campaigns: CampaignService = svc.campaigns
    return campaigns


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": "not found"}), content_type="application/json")


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    return await read_json_object(request)


def _spec(request: web.Request, doc: dict[str, Any]) -> CampaignSpec:
    """A scenario by name (`"scenario": "citywide-earthquake"`, scope/kind overridable) or inline."""
    try:
        if "scenario" in doc:
            name = doc["scenario"]
            if not isinstance(name, str) or not _SCENARIO_NAME.match(name):
                raise _bad("scenario: a scenario name such as citywide-earthquake")
            path = services(request).cfg.resolve("drills") / f"{name}.toml"
            if not path.exists():
                raise _bad(f"scenario: no scenario named {name!r}")
            s = load_scenario(path)
            if not s.scope and "scope" not in doc:
                raise _bad(f'scope: the scenario {name} has no scope of its own: send "scope": ["association:NAME"]')
            inline = CampaignSpec.from_json({"title": s.title, "kind": doc.get("kind", str(s.kind)),
                                             "scope": doc.get("scope", list(s.scope)), "messages": s.messages})
            if inline.kind == CampaignKind.CHECK:  # a check's texts and (empty) ladder are its own
                return inline
            return CampaignSpec(inline.title, inline.kind, inline.scope, inline.messages, s.ladder,
                                {**s.options, "scenario": s.name})
        return CampaignSpec.from_json(doc)
    except ScenarioError as e:
        raise _bad(str(e)) from None


async def _may_manage(request: web.Request, viewer: Viewer, scope: tuple[str, ...]) -> bool:
    """City admins anywhere; district heads for campaigns wholly inside their district."""
    if not viewer.may_start_campaigns:
        return False
    if viewer.is_city_admin:
        return True  # an unknown name is then reported by the service (400)
    reached = await _service(request).coverage(scope)
    return bool(reached) and all(viewer.sees(a.district, a.name) for a in reached)


async def _visible_campaign(request: web.Request, viewer: Viewer) -> Campaign:
    campaign_id = parse_id(request.match_info["id"])
    if campaign_id is None:
        raise _not_found()
    try:
        c = await _service(request).get(campaign_id)
    except CampaignNotFound:
        raise _not_found() from None
    reached = await _service(request).coverage(c.scope)
    if not any(viewer.sees(a.district, a.name) for a in reached):
        raise _not_found()
    return c


async def create(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    await check_csrf(request)
    doc = await _json_body(request)
    spec = _spec(request, doc)
    start = doc.get("start", True)
    if not isinstance(start, bool):  # "no", 0 or null must not start a campaign that sends at once
        return json_error(400, '"start": true or false')
    if spec.kind == CampaignKind.REAL and (doc.get("kind") != "real" or doc.get("confirm") is not True):
        return json_error(400, 'a real event needs "kind": "real" and "confirm": true')
    try:
        if not await _may_manage(request, viewer, spec.scope):
            return json_error(403, "you may not start a campaign for this scope")
        svc = _service(request)
        if start:
            c = await svc.launch(spec, source="api", created_by=viewer.login, by=viewer.actor,
                                 force=doc.get("force") is True)
        else:
            c = await svc.create(spec, source="api", created_by=viewer.login)
    except DuplicateCampaign as e:
        return _duplicate(e)
    except CampaignError as e:
        return json_error(400, str(e))
    return web.json_response({"id": c.id, "state": str(c.state), "households": c.households, **c.approval()},
                             status=201)


def _duplicate(e: DuplicateCampaign) -> web.Response:
    return web.json_response({"error": f'{e}; send "force": true to start it anyway', "running": e.running.id},
                             status=409, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def start(request: web.Request) -> web.Response:
    """Starts a draft (a trigger's proposal, or one created with "start": false); city admins only."""
    viewer = require_viewer(request)
    await check_csrf(request)
    c = await _visible_campaign(request, viewer)
    if not viewer.is_city_admin:
        return json_error(403, "only a city admin may start a proposed campaign")
    doc = await _json_body(request)
    try:
        started = await _service(request).start(c.id, by=viewer.actor, force=doc.get("force") is True)
    except DuplicateCampaign as e:
        return _duplicate(e)
    except CampaignStateError as e:
        return json_error(409, str(e))
    except CampaignError as e:
        return json_error(400, str(e))
    return web.json_response({"id": started.id, "state": str(started.state), "households": started.households,
                              **started.approval()})


async def approve(request: web.Request) -> web.Response:
    """The second person's approval of a real event (pending_approval → running): a city admin
    signed in, other than the one who started it. `{"force": true}` starts it even though the same
    campaign already runs."""
    viewer = require_viewer(request)
    await check_csrf(request)
    c = await _visible_campaign(request, viewer)
    if not viewer.is_city_admin:  # in the audit log as the service's own refusals are; the answer the same
        await _service(request).refused_at_the_door(c.id, viewer.actor)
        return json_error(403, "only a city admin may approve a real event")
    doc = await _json_body(request)
    try:
        done = await _service(request).approve(c.id, by=viewer.actor, force=doc.get("force") is True)
    except ApprovalRefused as e:
        return json_error(403, str(e))
    except DuplicateCampaign as e:
        return _duplicate(e)
    except CampaignStateError as e:
        return json_error(409, str(e))
    except CampaignError as e:
        return json_error(400, str(e))
    return web.json_response({"id": done.id, "state": str(done.state), "households": done.households,
                              **done.approval()})


async def _finish(request: web.Request, action: str, **options: bool) -> web.Response:
    viewer = require_viewer(request)
    await check_csrf(request)
    c = await _visible_campaign(request, viewer)
    if not await _may_manage(request, viewer, c.scope):
        return json_error(403, f"you may not {action} this campaign")
    try:
        done = await getattr(_service(request), action)(c.id, by=viewer.actor, **options)
    except CampaignStateError as e:
        return json_error(409, str(e))
    return web.json_response({"id": done.id, "state": str(done.state)})


async def close(request: web.Request) -> web.Response:
    return await _finish(request, "close")


async def cancel(request: web.Request) -> web.Response:
    """Body optional: `{"tell_households": false}` cancels without telling the households its message
    reached (default: they are told, as its heads and deputies always are)."""
    require_viewer(request)  # 401, then 403 without the session's CSRF token, before the body is read
    await check_csrf(request)
    doc = await read_json_object(request)
    tell = doc.get("tell_households", True)
    if not isinstance(tell, bool):
        return json_error(400, "tell_households must be true or false")
    return await _finish(request, "cancel", tell_households=tell)


async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns that reach the caller's scope; `households` counts only those within it."""
    viewer = require_viewer(request)
    svc = _service(request)
    campaigns = await svc.campaigns.list_campaigns(limit=500)
    if viewer.is_city_admin:
        return web.json_response([c.summary() for c in campaigns])
    associations = await svc.store.roster.list_associations()
    mine = [c for c in campaigns if any(viewer.sees(a.district, a.name) for a in covered(c.scope, associations))]
    visible = [a.id for a in associations if viewer.sees(a.district, a.name)]
    within = await svc.store.dashboard.households_within([c.id for c in mine], visible)
    return web.json_response([{**c.summary(), "households": within.get(c.id, 0)} for c in mine])


async def stats(request: web.Request) -> web.Response:
    viewer = require_viewer(request)

    async def document() -> bytes:
        c = await _visible_campaign(request, viewer)
        doc = await _service(request).stats(c.id, visible=lambda a: viewer.sees(a.district, a.name))
        return json.dumps(doc, ensure_ascii=False).encode()

    # keyed by scope: a cached document was built after that scope passed the 404 check; and by the
    # campaign's state and size (a point read): counts cached while a real event waited for approval
    # must not answer for seconds after it starts
    campaign_id = parse_id(request.match_info["id"])
    if campaign_id is None:
        raise _not_found()
    try:
        c = await _service(request).get(campaign_id)
    except CampaignNotFound:
        raise _not_found() from None
    key = (c.id, str(c.state), c.households, str(viewer.scope))
    body = await request.app[STATS_CACHE].get(key, document)
    return web.Response(body=body, content_type="application/json")


async def checks(request: web.Request) -> web.Response:
    """A contact check's contacts per channel: confirmed, unconfirmed, dead. Counted over the whole
    campaign, so only for a viewer who sees every association it reaches. Another kind of campaign
    asked no contact to confirm: no channels."""
    viewer = require_viewer(request)
    c = await _visible_campaign(request, viewer)
    if c.kind != CampaignKind.CHECK:
        return web.json_response({"id": c.id, "state": str(c.state), "channels": {}})
    reached = await _service(request).coverage(c.scope)
    if not all(viewer.sees(a.district, a.name) for a in reached):
        return json_error(403, "this check reaches associations outside your scope")
    counts = await services(request).store.dashboard.check_counts(c.id)
    return web.json_response({"id": c.id, "state": str(c.state), "channels": counts})


async def preview(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    await check_csrf(request)
    spec = _spec(request, await _json_body(request))
    try:
        if not await _may_manage(request, viewer, spec.scope):
            return json_error(403, "you may not start a campaign for this scope")
        pv = await _service(request).preview(spec.scope, spec.ladder, spec.messages, spec.kind)
    except CampaignError as e:
        return json_error(400, str(e))
    return web.json_response({**pv.to_dict(), "lines": pv.lines()},
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def setup(app: web.Application) -> None:
    app[STATS_CACHE] = TtlCache(app[SERVICES].clock, STATS_TTL_SECONDS, stale_seconds=STATS_STALE_SECONDS)
    app.router.add_post("/api/campaigns", create)
    app.router.add_get("/api/campaigns", list_campaigns)
    app.router.add_post("/api/campaigns/preview", preview)
    app.router.add_post("/api/campaigns/{id}/start", start)
    app.router.add_post("/api/campaigns/{id}/approve", approve)
    app.router.add_post("/api/campaigns/{id}/close", close)
    app.router.add_post("/api/campaigns/{id}/cancel", cancel)
    app.router.add_get("/api/campaigns/{id}/stats", stats)
    app.router.add_get("/api/campaigns/{id}/checks", checks)
