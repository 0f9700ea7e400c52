"""Starting, closing and cancelling campaigns from the city overview.

Start is two deliberate steps: the form posts to a preview (households per channel per step,
the time the provider limits imply, the cost), and only the preview's own form starts the
campaign; a real event also needs an explicit "this is real" box ticked on the preview.
A draft (a trigger's proposal) is started by a city admin with its own 開始する button and box.
A real event, once started, waits for a second, different city admin's 承認する (DESIGN §9).
Above 開始する and 承認する the page shows what would be sent (`review`): the scope in words, the
households it covers now (the preview's count, as on the start form's preview), the ladder's channels,
and each message as a resident reads it, so the second person checks before approving.
Either start, when the same campaign already runs, shows what runs and asks once more (a second
identical alert to every household is rarely meant).
The work is the broadcast service's (`Services.campaigns`); this module only asks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from safetynet.auth import Viewer
from safetynet.broadcast.messages import compose
from safetynet.broadcast.preview import Preview
from safetynet.broadcast.scenario import MAX_MESSAGE_CHARS, MAX_TITLE_CHARS
from safetynet.broadcast.service import (
    ApprovalRefused,
    CampaignError,
    CampaignService,
    CampaignSpec,
    DuplicateCampaign,
    text_problems,
)
from safetynet.channels.spec import MESSAGE_FULL
from safetynet.domain import CampaignKind, CampaignState
from safetynet.domain.campaigns import Campaign, CampaignInfo
from safetynet.i18n import LANGUAGES, Sayable, Text
from safetynet.i18n.scopes import scope_label
from safetynet.stats.cache import TtlCache
from safetynet.templating import Markup, call_macro
from safetynet.web.app import SERVICES, add_form_page, check_csrf, csrf_of, require_viewer, services
from safetynet.web.bodies import read_form
from safetynet.web.dash_shell import (
    campaign_or_404,
    not_found,
    reads,
    refused,
    render,
    visible_associations,
    when,
)
from safetynet.web.dash_text import channel_label, lang_of, t

log = structlog.get_logger("web")

_MAX_TEXT = MAX_MESSAGE_CHARS


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


async def start_form(request: web.Request, viewer: Viewer, lang: str, csrf: str,
                     typed: Mapping[str, str] | None = None) -> Markup:
    if not viewer.may_start_campaigns:
        return Markup()
    choices = await scope_choices(request, viewer)
    return call_macro("console_parts.html", "start_form", lang, csrf, choices, _MAX_TEXT, MAX_TITLE_CHARS,
                      dict(typed or {}))


async def _refused_form(request: web.Request, viewer: Viewer, form: MultiDictProxy[Any],
                        said: Sayable | list[Sayable]) -> web.Response:
    """What the start form could not take, above the form again with what was typed (a long message
    is not typed twice); 400."""
    typed = {k: str(form.get(k, "")) for k in _KEEP}
    again = await start_form(request, viewer, lang_of(request), csrf_of(request) or "", typed)
    return refused(request, said, 400, form=again)


def _page(request: web.Request, title: str, page: str, status: int = 200, **context: Any) -> web.Response:
    return render(request, title, template="console.html", status=status, no_store=True,
                  context={"page": page, "max_text": _MAX_TEXT, "hidden": (), **context})


def _service(request: web.Request) -> CampaignService:
    """The running broadcast service, or one over the same store (as the campaign API does)."""
    svc = services(request)
    if svc.campaigns is None:
        svc.campaigns = CampaignService(svc.store, svc.cfg, svc.clock)
    campaigns: CampaignService = svc.campaigns
    return campaigns


class _FormRefused(Exception):
    """The start form asks for what no campaign may be: its reasons go back on a refusal page (400)."""

    def __init__(self, reasons: list[Sayable]) -> None:
        super().__init__("; ".join(str(r) for r in reasons))
        self.reasons = reasons


def _starter(request: web.Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.may_start_campaigns:
        raise not_found()
    return viewer


async def _request(request: web.Request, viewer: Viewer, form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The campaign asked for by the form, validated against the viewer's scope."""
    kind = str(form.get("kind", "drill"))
    scope = str(form.get("scope", ""))
    title = str(form.get("title", "")).strip()
    ja = str(form.get("message_ja", "")).strip()
    en = str(form.get("message_en", "")).strip()
    if kind not in ("drill", "real") or not title or not ja:
        raise _FormRefused([Text("dash.form_incomplete")])
    messages = {"ja": ja, **({"en": en} if en else {})}
    # the rules the start applies, all said at the preview already (the form's maxlength is the browser's)
    problems = text_problems(title, messages)
    if problems:
        raise _FormRefused(list(problems))
    if scope not in {v for v, _ in await scope_choices(request, viewer)}:
        raise not_found()
    return {"kind": CampaignKind(kind), "title": title, "scope": [scope], "messages": messages}


_KEEP = ("kind", "title", "message_ja", "message_en", "scope")


def _hidden(form: MultiDictProxy[Any], *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """The form's fields carried to the next step (the CSRF token is added by the template)."""
    return [(k, str(form.get(k, ""))) for k in _KEEP] + list(extra)


def _steps(lang: str, pv: Preview) -> list[tuple[int, str, str | None, int, str]]:
    """Per step: (number, when, channel's name or None for door-knocking, households, time it takes)."""
    rows: list[tuple[int, str, str | None, int, str]] = []
    for s in pv.steps:
        at = t(lang, "at_once") if s.after_seconds == 0 else f"+{s.after_seconds / 60:.0f} {t(lang, 'minutes')}"
        if s.door_knock:
            rows.append((s.index, at, None, 0, ""))
            continue
        for ch, n in s.households.items():
            secs = s.seconds.get(ch)
            took = t(lang, "no_limit") if secs is None else f"{max(1, round(secs / 60))} {t(lang, 'minutes')}"
            rows.append((s.index, at, channel_label(lang, ch), n, took))
    return rows


async def preview(request: web.Request) -> web.Response:
    viewer = _starter(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    try:
        req = await _request(request, viewer, form)
        pv = await _service(request).preview(scope=req["scope"], kind=req["kind"], messages=req["messages"])
    except _FormRefused as e:
        return await _refused_form(request, viewer, form, e.reasons)
    except CampaignError as e:
        return await _refused_form(request, viewer, form, e)
    cost = pv.cost_jpy
    priced = ", ".join(f"{channel_label(lang, ch)} ¥{cost.get(ch, 0):,.0f} ({n:,})" for ch, n in pv.units.items())
    return _page(request, t(lang, "preview"), "preview", req=req, pv=pv, priced=priced, steps=_steps(lang, pv),
                 redial_notes=pv.redial_notes(lang),
                 scope=scope_label(lang, req["scope"][0]), real=req["kind"] == CampaignKind.REAL,
                 hidden=_hidden(form))


def _ask_again(request: web.Request, e: DuplicateCampaign, action: str,
               hidden: list[tuple[str, str]]) -> web.Response:
    """The same campaign runs: say which, and offer the start once more behind its own box."""
    lang = lang_of(request)
    r = e.running
    waiting = r.state == CampaignState.PENDING_APPROVAL
    title = t(lang, "duplicate_waiting_title" if waiting else "duplicate_title")
    text = t(lang, "duplicate_waiting_text" if waiting else "duplicate_text", title=r.title, scope=", ".join(scope_label(lang, x) for x in r.scope),
             time=when(r.requested_at if waiting else r.started_at or r.created_at))
    return _page(request, title, "again", 409, heading=title, message=text, running=r, waiting=waiting, action=action,
                 hidden=hidden)


async def start(request: web.Request) -> web.Response:
    viewer = _starter(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    try:
        req = await _request(request, viewer, form)
    except _FormRefused as e:
        return await _refused_form(request, viewer, form, e.reasons)
    real = req["kind"] == CampaignKind.REAL
    if real and form.get("really_real") != "1":
        return _page(request, t(lang, "preview"), "notice", 400, message=t(lang, "real_confirm_needed"))
    spec = CampaignSpec(req["title"], req["kind"], tuple(req["scope"]), req["messages"])
    try:
        campaign = await _service(request).launch(spec, source="console", created_by=viewer.login, by=viewer.actor,
                                                  force=form.get("force") == "1")
    except DuplicateCampaign as e:
        keep = _hidden(form, *([("really_real", "1")] if real else []))
        return _ask_again(request, e, "/city/campaigns/start", keep)
    except CampaignError as e:
        return refused(request, e, 409)
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
        return refused(request, Text("dash.confirm_needed"), 400)
    try:
        await _service(request).start(info.id, by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:
        return _ask_again(request, e, f"/city/campaigns/{info.id}/start", [])
    except CampaignError as e:
        return refused(request, e, 409)
    log.info("campaign_started_from_console", campaign_id=info.id, kind=info.kind, proposal=True)
    raise web.HTTPSeeOther(f"/city?campaign={info.id}")


async def approve(request: web.Request) -> web.Response:
    """A second city admin's approval of a real event waiting for it, behind its box. Anyone else
    gets the 404 of a page that is not theirs, and their attempt is in the audit log (QA, privacy
    walk: a district head's left none) when it is theirs: a campaign they see, their session's
    CSRF token (a forged post from another site names nobody)."""
    viewer = require_viewer(request)
    info, _ = await campaign_or_404(request, viewer, request.match_info["id"])
    form = await read_form(request)
    if not viewer.is_city_admin:
        try:
            await check_csrf(request, form)
        except web.HTTPForbidden:
            raise not_found() from None
        await _service(request).refused_at_the_door(info.id, viewer.actor)
        raise not_found()
    await check_csrf(request, form)
    if form.get("really") != "1":
        return refused(request, Text("dash.confirm_needed"), 400)
    try:
        await _service(request).approve(info.id, by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:
        return _ask_again(request, e, f"/city/campaigns/{info.id}/approve", [])
    except ApprovalRefused as e:
        return refused(request, e, 403)
    except CampaignError as e:
        return refused(request, e, 409)
    log.info("campaign_approved_from_console", campaign_id=info.id)
    raise web.HTTPSeeOther(f"/city?campaign={info.id}")


def _resident_texts(lang: str, c: Campaign) -> list[tuple[str, str, str]]:
    """(language code, its name, the message as a resident reads it in the app or an email) per
    language of the campaign, Japanese first; the household's own link stands in words."""
    names = dict(LANGUAGES)
    rank = {code: i for i, (code, _) in enumerate(LANGUAGES)}  # Japanese first
    order = sorted(c.messages, key=lambda code: (rank.get(code, len(rank)), code))
    link = t(lang, "review_link")
    return [(code, names.get(code, code),
             compose(messages=c.messages, title=c.title, language=code, drill=c.is_drill, reply_url=link,
                     channel="", layout=MESSAGE_FULL)[1])
            for code in order if c.messages[code].strip()]


async def review(request: web.Request, info: CampaignInfo, lang: str) -> tuple[Markup, int | None]:
    """What a draft or a real event waiting for approval would send, for whoever starts or approves
    it: the scope, the households in it now and the ladder's channels (the same count as the start
    form's preview: `CampaignService.preview`), and the messages; with that count of households (None
    when it could not be made). Nothing for any other state."""
    if info.state not in ("draft", "pending_approval"):
        return Markup(), None
    c = await services(request).store.campaigns.get(info.id)
    if c is None:
        return Markup(), None
    pv: Preview | None = None
    failed = ""
    try:
        pv = await _service(request).preview(scope=c.scope, ladder=c.ladder, messages=c.messages, kind=c.kind)
    except CampaignError as e:  # a scope gone since (an association renamed by a roster import)
        failed = e.text(lang)
    scope = ", ".join(scope_label(lang, s) for s in c.scope)
    return (call_macro("city_parts.html", "campaign_review", lang, scope, pv, _steps(lang, pv) if pv else [],
                       _resident_texts(lang, c), failed), pv.households if pv else None)


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
        return refused(request, Text("dash.confirm_needed"), 400)
    # the households its message reached are told of a cancel unless the box was unticked
    # (a form without the box, made before the campaign went out, tells them: the hidden "0" says unticked)
    told = form.getall("tell_households", [])
    options = {"tell_households": not told or "1" in told} if action == "cancel" else {}
    try:
        await getattr(_service(request), action)(info.id, by=viewer.actor, **options)
    except CampaignError as e:
        return refused(request, e, 409)
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
    for action, handler in (("start", start_draft), ("approve", approve), ("close", close), ("cancel", cancel)):
        path = f"/city/campaigns/{{id}}/{action}"
        app.router.add_post(path, handler)
        # their forms are on the campaign's overview: an expired login or a language link comes back there
        add_form_page(app, path, _campaign_page)


def _campaign_page(match: Mapping[str, str]) -> str:
    return f"/city?{urlencode({'campaign': match['id']})}"
