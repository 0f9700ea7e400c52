"""Staff API on replies: in-person confirmation and its undo, "handled" on the help list and its undo
(reopen), the help list, a household's history.

A household outside the caller's scope answers exactly like one that does not exist (404).
Browser sessions must send the CSRF token; API tokens (no ambient credential) need none.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.broadcast.service import covered
from safetynet.domain.audit import AuditAction
from safetynet.domain.consent import listed, withhold_history
from safetynet.domain.replies import InPersonMethod, UndoRefused
from safetynet.replies.intake import Erased, NoSafetyQuestion, NotFound, ReplyError
from safetynet.web.app import check_csrf, json_error, require_viewer, services
from safetynet.web.audit_api import record
from safetynet.web.bodies import read_form, read_json_object
from safetynet.web.dash_shell import disclosure_for
from safetynet.web.ids import parse_id
from safetynet.web.replies_common import MAX_FORM_BYTES, intake_of


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False)


def _ids(request: web.Request) -> tuple[int, int]:
    campaign_id, household_id = parse_id(request.match_info["campaign_id"]), parse_id(request.match_info["household_id"])
    if campaign_id is not None and household_id is not None:
        return campaign_id, household_id
    raise web.HTTPNotFound(text=json.dumps({"error": "not found"}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    """JSON or form fields, whichever the client sent (small)."""
    if request.content_type == "application/json":
        return await read_json_object(request, MAX_FORM_BYTES)
    form = await read_form(request, MAX_FORM_BYTES)
    return {k: form[k] for k in form}  # the first of a repeated name, as MultiDict.get


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
    except (NoSafetyQuestion, Erased) as e:
        return json_error(409, str(e))
    if result.recorded:
        record(request, viewer, AuditAction.CONFIRM, "household", campaign_id=campaign_id, household_id=household_id,
               detail=str(method))
    return web.json_response({"household_id": household_id, "status": result.status, "recorded": result.recorded,
                              "method": method, "by": viewer.login, "reply_id": result.reply_id})


async def undo(request: web.Request) -> web.Response:
    """`{"reply_id": N}` (from the confirmation's answer) → the confirmation is taken back and the
    household's earlier status restored; 409 when an answer came after it."""
    campaign_id, household_id = _ids(request)
    doc = await _body(request)
    viewer = await _staff(request, doc)
    raw = doc.get("reply_id")
    text = str(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    reply_id = parse_id(text)
    try:
        outcome = await intake_of(request).undo_in_person(viewer, campaign_id, household_id, reply_id)
    except NotFound:
        return json_error(404, "not found")
    except (UndoRefused, Erased) as e:
        return json_error(409, str(e))
    except ReplyError as e:
        return json_error(400, str(e))
    if not outcome.already:
        record(request, viewer, AuditAction.UNDO, "household", campaign_id=campaign_id, household_id=household_id,
               detail=f"reply {reply_id}")
    return web.json_response({"household_id": household_id, "status": str(outcome.status), "undone": reply_id,
                              "already": outcome.already, "by": viewer.login})


async def handled(request: web.Request) -> web.Response:
    """Off the open help list; `already` when someone marked it handled before."""
    return await _set_handled(request, True)


async def reopen(request: web.Request) -> web.Response:
    """The undo of "handled": the household is back on the open help list; `already` when it was open;
    409 when a person's undo meets someone else's mark."""
    return await _set_handled(request, False)


async def _set_handled(request: web.Request, handled: bool) -> web.Response:
    campaign_id, household_id = _ids(request)
    viewer = await _staff(request, await _body(request))
    intake = intake_of(request)
    change = intake.mark_handled if handled else intake.reopen_help
    try:
        changed = await change(viewer, campaign_id, household_id)
    except NotFound:
        return json_error(404, "not found")
    except (UndoRefused, Erased) as e:
        return json_error(409, str(e))
    return web.json_response({"household_id": household_id, "handled": handled, "already": not changed,
                              "by": viewer.login})


async def help_list(request: web.Request) -> web.Response:
    """`GET /api/campaigns/{id}/help[?all=1]`: who asked for help, within the caller's scope."""
    viewer = require_viewer(request)
    campaign_id = parse_id(request.match_info["campaign_id"])
    if campaign_id is None:
        return json_error(404, "not found")
    svc = services(request)
    campaign = await svc.store.campaigns.get(campaign_id)
    associations = await svc.store.roster.list_associations()
    # a campaign that reaches none of the caller's associations answers like one that does not exist
    if campaign is None or not any(viewer.sees(a.district, a.name) for a in covered(campaign.scope, associations)):
        return json_error(404, "not found")
    visible = [a.id for a in associations if viewer.sees(a.district, a.name)]
    if campaign.purged_at is None:  # a purged campaign's list names nobody: no view to record
        record(request, viewer, AuditAction.VIEW, "help", campaign_id=campaign_id)
    rows = listed(campaign.purged_at, await svc.store.replies.help_list(
        campaign_id, visible, include_handled=request.query.get("all") == "1"))
    disclosure = (await disclosure_for(svc.store.dashboard, viewer)).asking_in(campaign.kind, campaign.purged_at)
    return web.json_response({"campaign_id": campaign_id, "help": [disclosure.help_row(r).as_json() for r in rows]},
                             dumps=_dumps)


async def history(request: web.Request) -> web.Response:
    """`GET /api/campaigns/{id}/households/{hh}/replies`: every reply of the household, oldest first;
    none once retention purged the campaign (`listed`; `purged_at` says when)."""
    viewer = require_viewer(request)
    campaign_id, household_id = _ids(request)
    store = services(request).store
    ref = await store.replies.household_ref(campaign_id, household_id)
    if ref is None or not viewer.sees(ref.district, ref.association):
        return json_error(404, "not found")
    entries, household, disclosure, campaign = await asyncio.gather(
        store.replies.history(campaign_id, household_id), store.roster.get_household(household_id),
        disclosure_for(store.dashboard, viewer), store.campaigns.get(campaign_id))
    purged_at = campaign.purged_at if campaign is not None else None
    entries = listed(purged_at, entries)
    if purged_at is None:  # a purged campaign's history is empty: no view of the household to record
        record(request, viewer, AuditAction.VIEW, "history", campaign_id=campaign_id, association_id=ref.association_id,
               household_id=household_id)
    if household is not None and not disclosure.reveals(household.consent, household.district, household.association,
                                                        household.group):
        entries = withhold_history(entries)
    return web.json_response({"household_id": household_id, "purged_at": purged_at, "replies": [
        {"id": e.id, "status": e.status, "channel": e.channel, "at": e.at, "people_safe": e.people_safe,
         "people_injured": e.people_injured, "location": e.location, "note": e.note, "method": e.method,
         "by": e.actor, "undoes": e.undoes, "undone": e.undone} for e in entries]})


def setup(app: web.Application) -> None:
    base = "/api/campaigns/{campaign_id}"
    app.router.add_post(base + "/households/{household_id}/confirm", confirm)
    app.router.add_post(base + "/households/{household_id}/undo", undo)
    app.router.add_post(base + "/households/{household_id}/handled", handled)
    app.router.add_post(base + "/households/{household_id}/reopen", reopen)
    app.router.add_get(base + "/households/{household_id}/replies", history)
    app.router.add_get(base + "/help", help_list)
