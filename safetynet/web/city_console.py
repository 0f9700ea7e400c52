"""Starting, closing and cancelling campaigns from the city overview.

Start is two deliberate steps: the form posts to a preview (households per channel per step,
the time the provider limits imply, the cost), and only the preview's own form starts the
campaign; a real event also needs an explicit "this is real" box ticked on the preview.
A draft (a trigger's proposal) is started by a city admin with its own 開始する button and box.
A real event, once started, waits for a second, different city admin's 承認する (DESIGN §9).
Either start, when the same campaign already runs, shows what runs and asks once more (a second
identical alert to every household is rarely meant).
The work is the broadcast service's (`Services.campaigns`); this module only asks it.
"""

from __future__ import annotations

import functools
from typing import Any

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from safetynet.auth import Viewer
from safetynet.broadcast.preview import Preview
from safetynet.broadcast.service import (
    ApprovalRefused,
    CampaignError,
    CampaignService,
    CampaignSpec,
    DuplicateCampaign,
)
from safetynet.domain import CampaignKind, CampaignState
from safetynet.domain.campaigns import CampaignInfo
from safetynet.stats.cache import TtlCache
from safetynet.web.app import SERVICES, check_csrf, csrf_of, require_viewer, services
from safetynet.web.bodies import read_form
from safetynet.web.dash_shell import campaign_or_404, not_found, reads, render, visible_associations, when
from safetynet.web.dash_text import channel_label, lang_of, t
from safetynet.web.layout import esc

log = structlog.get_logger("web")

_MAX_TEXT = 1000


# A city has a thousand associations; their list changes with a roster import, not per request.
SCOPES = web.AppKey("scope_choices", TtlCache[list[tuple[str, str]]])
SCOPES_TTL_SECONDS = 5.0


async def scope_choices(request: web.Request, viewer: Viewer) -> list[tuple[str, str]]:
    """(value, label) of the scopes this viewer may start a campaign for."""
    lang = lang_of(request)
    return await request.app[SCOPES].get((str(viewer.scope), lang), lambda: _scope_choices(request, viewer, lang))


async def _scope_choices(request: web.Request, viewer: Viewer, lang: str) -> list[tuple[str, str]]:
    assocs = await visible_associations(request, viewer)
    out: list[tuple[str, str]] = []
    if viewer.scope.kind == "city":
        out.append(("city", t(lang, "whole_city")))
    for d in sorted({a.district for a in assocs}):
        out.append((f"district:{d}", f'{t(lang, "district")}: {d}'))
    out += [(f"association:{a.name}", f'{t(lang, "association")}: {a.name}') for a in assocs]
    return out


@functools.lru_cache(maxsize=16)
def _fields(lang: str, choices: tuple[tuple[str, str], ...]) -> str:
    scopes = "".join(f'<option value="{esc(v)}">{esc(label)}</option>' for v, label in choices)
    kinds = "".join(
        f'<label class="chip"><input type="radio" name="kind" value="{k}"{" checked" if k == "drill" else ""}>'
        f' {esc(t(lang, k))}</label>' for k in ("drill", "real")
    )
    return (
        f'<fieldset><legend>{esc(t(lang, "kind"))}</legend>{kinds}</fieldset>'
        f'<label>{esc(t(lang, "title"))}<input name="title" required maxlength="200"></label>'
        f'<label>{esc(t(lang, "message_ja"))}<textarea name="message_ja" required maxlength="{_MAX_TEXT}" rows="3">'
        f"</textarea></label>"
        f'<label>{esc(t(lang, "message_en"))}<textarea name="message_en" maxlength="{_MAX_TEXT}" rows="2"></textarea></label>'
        f'<label>{esc(t(lang, "scope"))} <select name="scope" required>{scopes}</select></label>'
    )


async def start_form(request: web.Request, viewer: Viewer, lang: str, csrf: str) -> str:
    if not viewer.may_start_campaigns:
        return ""
    choices = await scope_choices(request, viewer)
    return (
        f'<section aria-labelledby="start-h" class="start"><h2 id="start-h">{esc(t(lang, "start_campaign"))}</h2>'
        f'<form method="post" action="/city/campaigns/preview" class="stack">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">{_fields(lang, tuple(choices))}'
        f'<button type="submit">{esc(t(lang, "preview_btn"))}</button></form></section>'
    )


def _service(request: web.Request) -> CampaignService:
    """The running broadcast service, or one over the same store (as the campaign API does)."""
    svc = services(request)
    if svc.campaigns is None:
        svc.campaigns = CampaignService(svc.store, svc.cfg, svc.clock)
    campaigns: CampaignService = svc.campaigns
    return campaigns


def _refused(request: web.Request, message: str, status: int = 409) -> web.Response:
    lang = lang_of(request)
    body = (f'<h1>{esc(t(lang, "error"))}</h1><p role="alert" class="error">{esc(message)}</p>'
            f'<p><a href="/city">{esc(t(lang, "back"))}</a></p>')
    return render(request, t(lang, "error"), body, status=status)


def _starter(request: web.Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.may_start_campaigns:
        raise not_found()
    return viewer


async def _request(request: web.Request, viewer: Viewer, form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The campaign asked for by the form, validated against the viewer's scope."""
    kind = str(form.get("kind", "drill"))
    scope = str(form.get("scope", ""))
    title = str(form.get("title", "")).strip()[:200]
    ja = str(form.get("message_ja", "")).strip()[:_MAX_TEXT]
    en = str(form.get("message_en", "")).strip()[:_MAX_TEXT]
    if kind not in ("drill", "real") or not title or not ja:
        raise web.HTTPBadRequest(text="kind, title and a Japanese message are required")
    if scope not in {v for v, _ in await scope_choices(request, viewer)}:
        raise not_found()
    messages = {"ja": ja, **({"en": en} if en else {})}
    return {"kind": CampaignKind(kind), "title": title, "scope": [scope], "messages": messages}


def _hidden(form: MultiDictProxy[Any], csrf: str) -> str:
    keep = ("kind", "title", "message_ja", "message_en", "scope")
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">' + "".join(
        f'<input type="hidden" name="{k}" value="{esc(form.get(k, ""))}">' for k in keep)


def _preview_table(lang: str, pv: Preview) -> str:
    """Households, vulnerable first, no-contact ones, then per step: channel, households, time."""
    rows = []
    for s in pv.steps:
        when = t(lang, "at_once") if s.after_seconds == 0 else f"+{s.after_seconds / 60:.0f} {t(lang, 'minutes')}"
        if s.door_knock:
            rows.append(f"<tr><th>{s.index}</th><td>{esc(when)}</td><td colspan='3'>{esc(t(lang, 'doorknock'))}</td></tr>")
            continue
        for ch, n in s.households.items():
            secs = s.seconds.get(ch)
            took = t(lang, "no_limit") if secs is None else f"{max(1, round(secs / 60))} {t(lang, 'minutes')}"
            rows.append(f"<tr><th>{s.index}</th><td>{esc(when)}</td><td>{esc(ch)}</td>"
                        f"<td class='num'>{n:,}</td><td>{esc(took)}</td></tr>")
    head = "".join(f"<th>{esc(t(lang, k))}</th>" for k in ("step", "when", "channel", "household_count", "takes"))
    cost = pv.cost_jpy
    priced = ", ".join(f"{esc(channel_label(lang, ch))} ¥{cost.get(ch, 0):,.0f} ({n:,})" for ch, n in pv.units.items())
    return (
        f'<ul class="preview"><li>{esc(t(lang, "household_count"))}: <b data-preview-households>{pv.households:,}</b>'
        f' ({esc(t(lang, "vulnerable"))} {pv.vulnerable:,})</li>'
        f'<li>{esc(t(lang, "coverage_none"))}: {pv.no_contact:,}</li>'
        f'<li>{esc(t(lang, "cost"))}: {priced}, {esc(t(lang, "total"))} '
        f'<b>¥{cost.get("total", 0):,.0f}</b></li></ul>'
        f'<table class="preview"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


async def preview(request: web.Request) -> web.Response:
    viewer = _starter(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    req = await _request(request, viewer, form)
    try:
        pv = await _service(request).preview(scope=req["scope"], kind=req["kind"], messages=req["messages"])
    except CampaignError as e:
        return _refused(request, str(e), 400)
    real = req["kind"] == CampaignKind.REAL
    confirm = (f'<p><label class="real-confirm"><input type="checkbox" name="really_real" value="1" required> '
               f'{esc(t(lang, "real_confirm"))}</label></p>') if real else ""
    badge = f'<span class="badge k-{req["kind"]}">{esc(t(lang, str(req["kind"])))}</span>'
    body = (
        f'<h1>{esc(t(lang, "preview"))}: {esc(req["title"])} {badge}</h1>'
        f'<p>{esc(t(lang, "scope"))}: {esc(req["scope"][0])}</p>{_preview_table(lang, pv)}'
        f'<form method="post" action="/city/campaigns/start" class="stack">{_hidden(form, csrf_of(request) or "")}'
        f'{confirm}<button type="submit">{esc(t(lang, "start_btn"))}</button></form>'
        f'<p><a href="/city">{esc(t(lang, "back"))}</a></p>'
    )
    return render(request, t(lang, "preview"), body, no_store=True)


def _ask_again(request: web.Request, e: DuplicateCampaign, action: str, hidden: str) -> web.Response:
    """The same campaign runs: say which, and offer the start once more behind its own box."""
    lang = lang_of(request)
    r = e.running
    waiting = r.state == CampaignState.PENDING_APPROVAL
    title = t(lang, "duplicate_waiting_title" if waiting else "duplicate_title")
    text = t(lang, "duplicate_waiting_text" if waiting else "duplicate_text", title=r.title, scope=", ".join(r.scope),
             time=when(r.requested_at if waiting else r.started_at or r.created_at))
    body = (
        f'<h1>{esc(title)}</h1><p role="alert" class="error">{esc(text)}</p>'
        f'<p><a href="/city?campaign={r.id}">{esc(t(lang, "open_waiting" if waiting else "open_running"))}</a></p>'
        f'<form method="post" action="{esc(action)}" class="stack">{hidden}'
        f'<input type="hidden" name="really" value="1">'
        f'<p><label><input type="checkbox" name="force" value="1" required> {esc(t(lang, "duplicate_force"))}'
        f'</label></p><button type="submit">{esc(t(lang, "start_anyway"))}</button></form>'
        f'<p><a href="/city">{esc(t(lang, "back"))}</a></p>'
    )
    return render(request, title, body, status=409, no_store=True)


async def start(request: web.Request) -> web.Response:
    viewer = _starter(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    req = await _request(request, viewer, form)
    real = req["kind"] == CampaignKind.REAL
    if real and form.get("really_real") != "1":
        return render(request, t(lang, "preview"), f'<p role="alert">{esc(t(lang, "real_confirm_needed"))}</p>',
                      status=400)
    spec = CampaignSpec(req["title"], req["kind"], tuple(req["scope"]), req["messages"])
    try:
        campaign = await _service(request).launch(spec, source="console", created_by=viewer.login, by=viewer.actor,
                                                  force=form.get("force") == "1")
    except DuplicateCampaign as e:
        keep = _hidden(form, csrf_of(request) or "")
        keep += '<input type="hidden" name="really_real" value="1">' if real else ""
        return _ask_again(request, e, "/city/campaigns/start", keep)
    except CampaignError as e:
        return _refused(request, str(e))
    log.info("campaign_started_from_console", campaign_id=campaign.id, kind=str(req["kind"]))
    raise web.HTTPSeeOther(f"/city?campaign={campaign.id}")


async def start_draft(request: web.Request) -> web.Response:
    """A draft (a trigger's proposal) started with one click and its box; city admins only."""
    viewer = _starter(request)
    if not viewer.is_city_admin:
        raise not_found()
    info, _ = await campaign_or_404(request, viewer, request.match_info["id"])
    form = await read_form(request)
    await check_csrf(request, form)
    if form.get("really") != "1":
        raise web.HTTPBadRequest(text="tick the confirmation box")
    try:
        await _service(request).start(info.id, by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:
        hidden = f'<input type="hidden" name="csrf" value="{esc(csrf_of(request) or "")}">'
        return _ask_again(request, e, f"/city/campaigns/{info.id}/start", hidden)
    except CampaignError as e:
        return _refused(request, str(e))
    log.info("campaign_started_from_console", campaign_id=info.id, kind=info.kind, proposal=True)
    raise web.HTTPSeeOther(f"/city?campaign={info.id}")


async def approve(request: web.Request) -> web.Response:
    """A second city admin's approval of a real event waiting for it, behind its box."""
    viewer = _starter(request)
    if not viewer.is_city_admin:
        raise not_found()
    info, _ = await campaign_or_404(request, viewer, request.match_info["id"])
    form = await read_form(request)
    await check_csrf(request, form)
    if form.get("really") != "1":
        raise web.HTTPBadRequest(text="tick the confirmation box")
    try:
        await _service(request).approve(info.id, by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:
        hidden = f'<input type="hidden" name="csrf" value="{esc(csrf_of(request) or "")}">'
        return _ask_again(request, e, f"/city/campaigns/{info.id}/approve", hidden)
    except ApprovalRefused as e:
        return _refused(request, str(e), 403)
    except CampaignError as e:
        return _refused(request, str(e))
    log.info("campaign_approved_from_console", campaign_id=info.id)
    raise web.HTTPSeeOther(f"/city?campaign={info.id}")


async def started_it(request: web.Request, viewer: Viewer, info: CampaignInfo) -> bool:
    """Whether this viewer is the staff member who started a real event waiting for approval."""
    if info.state != "pending_approval" or viewer.staff_id is None:
        return False
    c = await services(request).store.campaigns.get(info.id)
    return c is not None and c.started_by_staff == viewer.staff_id


async def may_finish(request: web.Request, viewer: Viewer, info: CampaignInfo) -> bool:
    """Close and cancel belong to whoever's scope holds the whole campaign (a district head may
    close a district drill, not a city-wide event)."""
    if not viewer.may_start_campaigns:
        return False
    if viewer.scope.kind == "city":
        return True
    mine = await visible_associations(request, viewer)
    covered = await reads(request).campaign_association_ids(info.id)
    if covered:
        return covered <= {a.id for a in mine}
    names = {a.name for a in mine}
    return all(s == f"district:{viewer.scope.name}" or (s.startswith("association:") and s[12:] in names)
               for s in info.scope)


async def _finish(request: web.Request, action: str) -> web.Response:
    viewer = _starter(request)
    info, _ = await campaign_or_404(request, viewer, request.match_info["id"])
    if not await may_finish(request, viewer, info):
        raise not_found()
    form = await read_form(request)
    await check_csrf(request, form)
    if form.get("really") != "1":
        raise web.HTTPBadRequest(text="tick the confirmation box")
    try:
        await getattr(_service(request), action)(info.id)
    except CampaignError as e:
        return _refused(request, str(e))
    log.info("campaign_finished_from_console", campaign_id=info.id, action=action)
    raise web.HTTPSeeOther(f"/city?campaign={info.id}")


async def close(request: web.Request) -> web.Response:
    return await _finish(request, "close")


async def cancel(request: web.Request) -> web.Response:
    return await _finish(request, "cancel")


def setup(app: web.Application) -> None:
    app[SCOPES] = TtlCache(app[SERVICES].clock, SCOPES_TTL_SECONDS)
    app.router.add_post("/city/campaigns/preview", preview)
    app.router.add_post("/city/campaigns/start", start)
    app.router.add_post("/city/campaigns/{id}/start", start_draft)
    app.router.add_post("/city/campaigns/{id}/approve", approve)
    app.router.add_post("/city/campaigns/{id}/close", close)
    app.router.add_post("/city/campaigns/{id}/cancel", cancel)
