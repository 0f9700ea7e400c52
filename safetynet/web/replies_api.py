"""Staff API on replies: in-person confirmation, "handled" on the help list, the help list, a household's history.

A household outside the caller's scope answers exactly like one that does not exist (404).
Browser sessions must send the CSRF token; API tokens (no ambient credential) need none.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.domain.replies import InPersonMethod
from safetynet.replies.intake import NotFound
from safetynet.web.app import check_csrf, json_error, require_viewer, services
from safetynet.web.replies_common import MAX_FORM_BYTES, intake_of, too_large


def _ids(request: web.Request) -> tuple[int, int]:
    try:
        return int(request.match_info["campaign_id"]), int(request.match_info["household_id"])
    except ValueError:
        raise web.HTTPNotFound(text=json.dumps({"error": "not found"}), content_type="application/json") from None


async def _body(request: web.Request) -> dict[str, Any]:
    """JSON or form fields, whichever the client sent (small)."""
    if too_large(request, MAX_FORM_BYTES):
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length or 0)
    if request.content_type == "application/json":
        raw = await request.read()
        doc = json.loads(raw or b"{}")
        if not isinstance(doc, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return doc
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _staff(request: web.Request, doc: dict[str, Any]) -> Viewer:
    viewer = require_viewer(request)
    await check_csrf(request, doc)
    return viewer


async def confirm(request: web.Request) -> web.Response:
    """`{"method": "visit"|"phone"|"paper", "note": "…"}` → the household is confirmed in person."""
    campaign_id, household_id = _ids(request)
    doc = await _body(request)
    viewer = await _staff(request, doc)
    method = doc.get("method")
    if not isinstance(method, str) or method not in {m.value for m in InPersonMethod}:
        return json_error(400, "method must be visit, phone or paper")
    note = doc.get("note")
    key = doc.get("key") or request.headers.get("Idempotency-Key")
    try:
        result = await intake_of(request).confirm_in_person(
            viewer, campaign_id, household_id, str(method), note if isinstance(note, str) else None,
            dedupe_key=str(key)[:64] if key else None,
        )
    except NotFound:
        return json_error(404, "not found")
    return web.json_response({"household_id": household_id, "status": result.status, "recorded": result.recorded,
                              "method": method, "by": viewer.login})


async def handled(request: web.Request) -> web.Response:
    campaign_id, household_id = _ids(request)
    doc = await _body(request)
    viewer = await _staff(request, doc)
    try:
        changed = await intake_of(request).mark_handled(viewer, campaign_id, household_id)
    except NotFound:
        return json_error(404, "not found")
    return web.json_response({"household_id": household_id, "handled": True, "already": not changed,
                              "by": viewer.login})


async def help_list(request: web.Request) -> web.Response:
    """`GET /api/campaigns/{id}/help[?all=1]`: who asked for help, within the caller's scope."""
    viewer = require_viewer(request)
    try:
        campaign_id = int(request.match_info["campaign_id"])
    except ValueError:
        return json_error(404, "not found")
    svc = services(request)
    visible = [a.id for a in await svc.store.roster.list_associations() if viewer.sees(a.district, a.name)]
    rows = await svc.store.replies.help_list(campaign_id, visible, include_handled=request.query.get("all") == "1")
    return web.json_response({"campaign_id": campaign_id, "help": [r.as_json() for r in rows]})


async def history(request: web.Request) -> web.Response:
    """`GET /api/campaigns/{id}/households/{hh}/replies`: every reply of the household, oldest first."""
    viewer = require_viewer(request)
    campaign_id, household_id = _ids(request)
    store = services(request).store
    ref = await store.replies.household_ref(campaign_id, household_id)
    if ref is None or not viewer.sees(ref.district, ref.association):
        return json_error(404, "not found")
    entries = await store.replies.history(campaign_id, household_id)
    return web.json_response({"household_id": household_id, "replies": [
        {"status": e.status, "channel": e.channel, "at": e.at, "people_safe": e.people_safe,
         "people_injured": e.people_injured, "location": e.location, "note": e.note, "method": e.method,
         "by": e.actor} for e in entries]})


def setup(app: web.Application) -> None:
    base = "/api/campaigns/{campaign_id}"
    app.router.add_post(base + "/households/{household_id}/confirm", confirm)
    app.router.add_post(base + "/households/{household_id}/handled", handled)
    app.router.add_get(base + "/households/{household_id}/replies", history)
    app.router.add_get(base + "/help", help_list)
