"""Staff pages of the event: the association dashboard, its door-knock list, the city overview,
the drill report page, `GET /api/associations` and the live stream `GET /api/campaigns/{id}/events`.

Every handler resolves what it shows through the scope checks of `dash_shell` (404 for anything
outside the viewer's scope) and reads through `DashboardReads` / `StatsReads`; live updates come
from the one shared `LiveHub` poller per campaign (see `dash_sse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import structlog
from aiohttp import web

from safetynet.auth import Viewer
from safetynet.csvout import BOM
from safetynet.domain import CampaignKind, Status
from safetynet.domain.audit import AuditAction
from safetynet.domain.campaigns import CampaignInfo
from safetynet.domain.consent import Disclosure, listed
from safetynet.domain.replies import HelpItem, InPersonMark
from safetynet.domain.roster import Association, Coverage, HouseholdLine
from safetynet.i18n import Text
from safetynet.stats.report import (
    FORMATS,
    ReportNotFound,
    open_report,
    report_cut_notice,
    stream_report,
    writer_for,
)
from safetynet.templating import Markup
from safetynet.web import city_pages, dash_sse, ids
from safetynet.web.app import ERROR_PAGE, SERVICES, require_viewer, services
from safetynet.web.audit_api import record
from safetynet.web.check_console import check_block, check_progress
from safetynet.web.dash_shell import (
    READS,
    STATS,
    asked_never_sent,
    campaign_or_404,
    disclosure_for,
    error_page,
    not_found,
    parse_id,
    reads,
    refused,
    render,
    report_shell,
    scope_reaches,
    visible_associations,
    when,
)
from safetynet.web.dash_text import lang_of, live_words, t
from safetynet.web.dash_views import (
    FILTERS,
    HouseholdFilter,
    association_context,
    association_help_elsewhere,
    counts,
    doorknock_context,
    doorknock_sections,
    handled_list,
    help_items,
    household_rows,
    notes_in,
    notes_panel,
    phone_first,
    state_labels_json,
    status_labels_json,
    status_rows,
)
from safetynet.web.staff_reach import by_contact, refused_own

log = structlog.get_logger("web")
_REPORT_TYPES = {"html": "text/html", "csv": "text/csv", "json": "application/json"}
# How long the line a one-tap confirmation leaves (with its undo) stays on the page; after it, and after
# a reload, the row offers one's own confirmation's undo while the store takes it (README Decisions).
UNDO_SECONDS = 300
# The households one live patch asks for at most (`?hh=`): one event's confirmations in person, a few
MAX_PATCHED = 100
_PRINTABLE = ("/static/base.css", "/static/dash.css", "/static/print.css")

# -- association dashboard ------------------------------------------------------------------


async def _association_context(request: web.Request, viewer: Viewer) -> tuple[Association, CampaignInfo | None, int]:
    """The association (404 outside the viewer's scope), its campaign and the reply cursor.

    The campaign is `?campaign=ID` if it covers the association (404 otherwise; a real event waiting
    for approval covers those its scope reaches), else the latest running one. The four reads go side
    by side: under a reply surge every trip to a reader waits its turn, and a page's latency is its
    number of rounds. The cursor is read before the lists
    the caller reads next, so a change after it is replayed to the page, never lost.
    """
    r = reads(request)
    aid = parse_id(request.match_info["association_id"])
    info: CampaignInfo | None
    if "campaign" in request.query:
        cid = parse_id(request.query["campaign"])
        assoc, info, covered, since = await asyncio.gather(
            r.association(aid), r.campaign(cid), r.covered_among(cid, [aid]), r.reply_cursor())
        # a real event waiting for approval enrolled nobody yet (nor if cancelled then): its scope says whose it is
        if info is None or not (covered or (assoc is not None and asked_never_sent(info)
                                            and scope_reaches(info.scope, assoc))):
            raise not_found()
    else:
        assoc, info, since = await asyncio.gather(r.association(aid), r.latest_campaign_for([aid]), r.reply_cursor())
    if assoc is None or not viewer.sees(assoc.district, assoc.name):
        raise not_found()
    return assoc, info, since


def _filter(request: web.Request) -> HouseholdFilter:
    kind = request.query.get("filter", "all")
    return HouseholdFilter(kind if kind in FILTERS else "all", request.query.get("group", "")[:100])


def _groups(request: web.Request) -> tuple[str, ...]:
    """The 班 a door-knock list is cut to (`?group=4班&group=5班`: a head splits the walk among the
    deputies); none: every 班. The dashboard's one `group` is such a list of one."""
    return tuple(dict.fromkeys(g[:100] for g in request.query.getall("group", []) if g))[:100]


def _live_attrs(lang: str, page: str, campaign: CampaignInfo, assoc: Association, since: int) -> dict[str, object]:
    """What dash.js reads from <main>: the page, the cursor, and the words it shows."""
    return {"data-page": page, "data-campaign": campaign.id, "data-association": assoc.id, "data-since": since,
            "data-labels": status_labels_json(lang), "data-states": state_labels_json(lang),
            **live_words(lang)}


def _confirm_words(lang: str) -> dict[str, object]:
    """What dash.js says around a confirm tap and its undo (the dashboard and the door-knock list)."""
    return {"data-msg-saved": t(lang, "saved"), "data-msg-failed": t(lang, "failed"),
            "data-msg-failed-for": t(lang, "failed_for"),
            "data-msg-confirmed": t(lang, "confirmed_msg"), "data-msg-undo": t(lang, "undo"),
            "data-msg-undone": t(lang, "undone_msg"), "data-msg-undo-refused": t(lang, "undo_refused"),
            "data-undo-seconds": UNDO_SECONDS}


def _help_words(lang: str) -> dict[str, object]:
    """What dash.js says around a help card's 対応済み and its undo (the dashboard and the door-knock list)."""
    return {"data-msg-handled": t(lang, "handled_msg"), "data-msg-reopened": t(lang, "reopened_msg"),
            "data-msg-reopen-already": t(lang, "reopen_already"), "data-msg-reopen-refused": t(lang, "reopen_refused")}


async def association_page(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    assoc, campaign, since = await _association_context(request, viewer)
    lang = lang_of(request)
    r = reads(request)
    record(request, viewer, AuditAction.VIEW, "dashboard", campaign_id=campaign.id if campaign else None,
           association_id=assoc.id)
    # The contact check's tallies are read with the rest, not cached: one association's is a ~1 ms
    # aggregate in the database (the city's is cached, check_console.tallies).
    if campaign is None:
        cov, disclosure, checks, unreached = await asyncio.gather(
            r.coverage(assoc.id), disclosure_for(r, viewer), r.contact_checks([assoc.id]),
            _own_unreached(request, assoc, lang))
        context = association_context(lang, assoc, None, [], [], [], _coverage(disclosure, cov, assoc),
                                      _filter(request))
        context["checks"] = check_block(lang, checks)
        context["own_unreached"] = unreached
        return render(request, assoc.name, template="association.html", context=context)
    if campaign.kind == CampaignKind.CHECK:
        return await _check_page(request, viewer, lang, assoc, campaign)
    if asked_never_sent(campaign):
        return await _waiting_page(request, viewer, lang, assoc, campaign)
    if campaign.purged_at is not None:
        return await _purged_page(request, viewer, lang, assoc, campaign)
    # independent reads side by side: under a reply surge each read waits its turn on a reader (two
    # gathers in one: asyncio.gather keeps its results' types for six awaitables at most). The help
    # requests are read once, handled ones with them: the panel's cards and the 対応済み list below it.
    (lines, asked, cov, campaigns, disclosure, checks), (elsewhere, notes, marks, unreached) = await asyncio.gather(
        asyncio.gather(r.households(campaign.id, assoc.id), r.help_panel(campaign.id, [assoc.id], include_handled=True),
                       r.coverage(assoc.id), r.campaigns_for([assoc.id]), disclosure_for(r, viewer),
                       r.contact_checks([assoc.id])),
        asyncio.gather(r.open_help_everywhere([assoc.id]), r.household_notes(campaign.id, [assoc.id]),
                       r.in_person_marks(campaign.id, assoc.id), _own_unreached(request, assoc, lang)))
    lines = disclosure.lines(lines, assoc.district, assoc.name)
    asked = disclosure.asking_in(campaign.kind, campaign.purged_at).help_items(
        asked, assoc.district, assoc.name)
    help_list = [h for h in asked if h.handled_at is None]
    context = association_context(lang, assoc, campaign, campaigns, help_list, lines,
                                  _coverage(disclosure, cov, assoc), _filter(request), marks, viewer.login or None)
    context["handled"] = handled_list(lang, asked, viewer.login or None)
    context["checks"] = check_block(lang, checks)
    context["help_elsewhere"] = association_help_elsewhere(lang, assoc.id, elsewhere, campaign)
    context["notes"] = notes_panel(lang, notes, disclosure, assoc, help_list)
    context["own_unreached"] = unreached
    attrs = {**_live_attrs(lang, "association", campaign, assoc, since), **_confirm_words(lang), **_help_words(lang)}
    return render(request, assoc.name, template="association.html", context=context,
                  scripts=("/static/live.js", "/static/dash.js", "/static/doorknock_link.js"),
                  styles=_PRINTABLE, main_attrs=attrs)


async def _own_unreached(request: web.Request, assoc: Association, lang: str) -> list[str]:
    """The association's heads' and deputies' contacts whose last alert was refused (`staff_reach`); the
    city's reach read shared with /city's (`city_pages.REACH`, a few seconds)."""
    svc = services(request)
    staff, reach = await asyncio.gather(svc.store.auth.staff_for_association(assoc.name, assoc.district),
                                        request.app[city_pages.REACH].get("all", svc.store.auth.staff_contact_reach))
    return refused_own(lang, staff, by_contact(reach), svc.cfg.channels.enabled())


async def _check_page(request: web.Request, viewer: Viewer, lang: str, assoc: Association,
                      campaign: CampaignInfo) -> web.Response:
    """An association's dashboard on a contact check: what its households' contacts came to."""
    r = reads(request)
    (totals, unconfirmed, cov, campaigns, disclosure, elsewhere), unreached = await asyncio.gather(
        asyncio.gather(r.counts(campaign.id, [assoc.id]), r.check_unconfirmed(campaign.id, [assoc.id]),
                       r.coverage(assoc.id), r.campaigns_for([assoc.id]), disclosure_for(r, viewer),
                       r.open_help_everywhere([assoc.id])),
        _own_unreached(request, assoc, lang))
    households = sum(totals.get(assoc.id, {}).values())
    context = association_context(lang, assoc, campaign, campaigns, [], [], _coverage(disclosure, cov, assoc),
                                  _filter(request))
    context["checks"] = Markup()  # this check's own figures above say it; the tallies of every check would not agree yet
    # a contact check is when a head looks at who can be reached: the staff's own contacts too
    context["own_unreached"] = unreached
    context["help_elsewhere"] = association_help_elsewhere(lang, assoc.id, elsewhere, campaign)
    # a purged check's list is erased (`listed`); its outcomes, counted from the same rows, stay
    context["check_progress"] = check_progress(lang, campaign.id, households,
                                               disclosure.lines(unconfirmed, assoc.district, assoc.name),
                                               purged=when(campaign.purged_at))
    return render(request, assoc.name, template="association.html", context=context)


async def _purged_page(request: web.Request, viewer: Viewer, lang: str, assoc: Association,
                       campaign: CampaignInfo) -> web.Response:
    """An association's dashboard on a campaign retention purged: its counts, the report's link and
    what was erased, no household (DESIGN §9; QA, privacy walk: a 90-day-old event's rows still said
    who had answered, asked for help or been visited, by name)."""
    r = reads(request)
    totals, cov, campaigns, disclosure, checks, elsewhere = await asyncio.gather(
        r.counts(campaign.id, [assoc.id]), r.coverage(assoc.id), r.campaigns_for([assoc.id]),
        disclosure_for(r, viewer), r.contact_checks([assoc.id]), r.open_help_everywhere([assoc.id]))
    context = association_context(lang, assoc, campaign, campaigns, [], [], _coverage(disclosure, cov, assoc),
                                  _filter(request))
    # the lines are not read: the tiles count from the store's counters, which retention keeps
    context["counts"] = counts(dict(totals.get(assoc.id, {})))
    context["checks"] = check_block(lang, checks)
    context["help_elsewhere"] = association_help_elsewhere(lang, assoc.id, elsewhere, campaign)
    context["purged"] = when(campaign.purged_at)
    return render(request, assoc.name, template="association.html", context=context)


async def _waiting_page(request: web.Request, viewer: Viewer, lang: str, assoc: Association,
                        campaign: CampaignInfo) -> web.Response:
    """An association's dashboard on a real event still waiting for city hall's approval (or cancelled
    while it waited): that it waits and that nothing was sent yet, in place of answers that cannot be
    there (QA: a 404). No household of it is read: none is enrolled before the approval."""
    r = reads(request)
    cov, campaigns, disclosure, checks, elsewhere = await asyncio.gather(
        r.coverage(assoc.id), r.campaigns_for([assoc.id]), disclosure_for(r, viewer), r.contact_checks([assoc.id]),
        r.open_help_everywhere([assoc.id]))
    # the picker lists campaigns that went out: this one first, so that it reads as the one shown
    context = association_context(lang, assoc, campaign, [campaign, *campaigns], [], [],
                                  _coverage(disclosure, cov, assoc), _filter(request))
    context["checks"] = check_block(lang, checks)
    # help asked for in another campaign (a closed drill's) stays in sight here too
    context["help_elsewhere"] = association_help_elsewhere(lang, assoc.id, elsewhere, campaign)
    context["unsent"] = True
    return render(request, assoc.name, template="association.html", context=context)


def _coverage(disclosure: Disclosure, cov: Coverage, assoc: Association) -> Coverage:
    return dataclasses.replace(cov, without=tuple(disclosure.lines(cov.without, assoc.district, assoc.name)))


async def help_fragment(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    assoc, campaign, _ = await _association_context(request, viewer)
    if campaign is None or campaign.purged_at is None:  # a purged campaign's fragment names nobody: no view
        record(request, viewer, AuditAction.VIEW, "help", campaign_id=campaign.id if campaign else None,
               association_id=assoc.id)
    items: list[HelpItem] = []
    if campaign is not None:
        r = reads(request)
        found, disclosure = await asyncio.gather(r.help_panel(campaign.id, [assoc.id]), disclosure_for(r, viewer))
        items = disclosure.asking_in(campaign.kind, campaign.purged_at).help_items(
            listed(campaign.purged_at, found), assoc.district, assoc.name)
    return web.Response(text=help_items(lang_of(request), items), content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Help-Count": str(len(items))})


async def notes_fragment(request: web.Request) -> web.Response:
    """The households' notes panel alone (`notes_panel`: empty when there are none), which the dashboard
    fetches when the live stream says a note came (`noted`)."""
    viewer = require_viewer(request)
    assoc, campaign, _ = await _association_context(request, viewer)
    if campaign is None or campaign.purged_at is None:  # a purged campaign's fragment names nobody: no view
        record(request, viewer, AuditAction.VIEW, "notes", campaign_id=campaign.id if campaign else None,
               association_id=assoc.id)
    panel = Markup()
    if campaign is not None:
        r = reads(request)
        notes, carded, disclosure = await asyncio.gather(
            r.household_notes(campaign.id, [assoc.id]), r.help_panel(campaign.id, [assoc.id]), disclosure_for(r, viewer))
        panel = notes_panel(lang_of(request), listed(campaign.purged_at, notes), disclosure, assoc, carded)
    return web.Response(text=panel, content_type="text/html", headers={"Cache-Control": "no-store"})


async def _lines(request: web.Request, viewer: Viewer, assoc: Association, campaign_id: int) -> list[HouseholdLine]:
    r = reads(request)
    lines, disclosure = await asyncio.gather(r.households(campaign_id, assoc.id), disclosure_for(r, viewer))
    return disclosure.lines(lines, assoc.district, assoc.name)


async def rows_fragment(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    assoc, campaign, since = await _association_context(request, viewer)
    if campaign is None or campaign.purged_at is None:  # a purged campaign's fragment names nobody: no view
        record(request, viewer, AuditAction.VIEW, "households", campaign_id=campaign.id if campaign else None,
               association_id=assoc.id)
    lines: list[HouseholdLine] = []
    marks: list[InPersonMark] = []
    if campaign is not None and campaign.purged_at is None:  # a purged campaign lists nobody (`listed`)
        lines = await _lines(request, viewer, assoc, campaign.id)
        marks = await reads(request).in_person_marks(campaign.id, assoc.id)
    rows = household_rows(lang_of(request), phone_first(lines), _filter(request), marks, viewer.login or None)
    return web.Response(text=rows, content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Since": str(since)})


def _patched(request: web.Request) -> frozenset[int] | None:
    """`?hh=ID&hh=ID`: the households a live patch asks for (at most `MAX_PATCHED`); None: every one."""
    if "hh" not in request.query:
        return None
    return frozenset(i for i in (ids.parse_id(v) for v in request.query.getall("hh")[:MAX_PATCHED]) if i is not None)


async def statuses_fragment(request: web.Request) -> web.Response:
    """The households' statuses and in-person lines (`status_rows`), which the open dashboard patches its
    rows with when the live stream says households were confirmed in person (`?hh=`: those alone), fell
    too far behind (`reset`) or has been quiet a while. No audit entry unless it shows staff's note of a
    confirmation (`notes_in`): otherwise it shows no household's name, address, phone or words (the
    page's view of them was recorded when it was loaded), and an open page must not fill the log with
    views nobody made (review: one per confirmation per page)."""
    viewer = require_viewer(request)
    assoc, campaign, since = await _association_context(request, viewer)
    wanted = _patched(request)
    lines: list[HouseholdLine] = []
    marks: list[InPersonMark] = []
    if campaign is not None and campaign.purged_at is None:  # a purged campaign lists nobody (`listed`)
        r = reads(request)
        # asked for the households just confirmed: the association's confirmed ones are read, not all of it
        found = (r.households(campaign.id, assoc.id) if wanted is None
                 else r.households_with_status(campaign.id, [assoc.id], (Status.CONFIRMED_IN_PERSON,)))
        read, disclosure, marks = await asyncio.gather(found, disclosure_for(r, viewer),
                                                       r.in_person_marks(campaign.id, assoc.id))
        lines = [h for h in disclosure.lines(read, assoc.district, assoc.name) if wanted is None or h.id in wanted]
        if notes_in(lines, marks):
            record(request, viewer, AuditAction.VIEW, "statuses", campaign_id=campaign.id, association_id=assoc.id)
    return web.Response(text=status_rows(lang_of(request), lines, marks, viewer.login or None),
                        content_type="text/html", headers={"Cache-Control": "no-store", "X-Since": str(since)})


async def doorknock_page(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    assoc, campaign, since = await _association_context(request, viewer)
    if campaign is None:
        raise not_found()
    if campaign.kind == CampaignKind.CHECK or asked_never_sent(campaign) or campaign.purged_at is not None:
        # nobody to walk to: the check's list is on the dashboard, a waiting event enrolled nobody yet,
        # a purged campaign's list was erased (its dashboard says so)
        raise web.HTTPSeeOther(f"/a/{assoc.id}?campaign={campaign.id}")
    record(request, viewer, AuditAction.VIEW, "doorknock", campaign_id=campaign.id, association_id=assoc.id)
    lang = lang_of(request)
    r = reads(request)
    lines, listed, found, disclosure, elsewhere, notes = await asyncio.gather(
        _lines(request, viewer, assoc, campaign.id), _listed(request, campaign.id, assoc.id),
        r.help_panel(campaign.id, [assoc.id]), disclosure_for(r, viewer),
        r.open_help_everywhere([assoc.id]), r.household_notes(campaign.id, [assoc.id]))
    context = doorknock_context(lang, assoc, campaign, lines, services(request).clock.now(), _groups(request), listed)
    context["help_elsewhere"] = association_help_elsewhere(lang, assoc.id, elsewhere, campaign)
    # who asked for help and is not seen to yet comes first on the walk (QA: the printed list left them out:
    # they answered, so they are not on it)
    context["help"] = disclosure.asking_in(campaign.kind, campaign.purged_at).help_items(
        found, assoc.district, assoc.name)
    # what households wrote with another answer (「隣のおばあさんが出てこない」) is a door to knock on too
    context["notes"] = notes_panel(lang, notes, disclosure, assoc, found)
    # what the page knew when read: a live event saying more households, or more on the list, reads it again
    counted = {"data-dk-households": context["households"], "data-dk-knock": len(listed)}
    return render(request, f'{context["heading"]} — {assoc.name}', template="doorknock.html", context=context,
                  scripts=("/static/live.js", "/static/dash.js"), styles=_PRINTABLE,
                  main_attrs={**_live_attrs(lang, "doorknock", campaign, assoc, since), **_confirm_words(lang),
                              **_help_words(lang), **counted})


async def _listed(request: web.Request, campaign_id: int, association_id: int) -> frozenset[int]:
    """The association's households the ladder's last step put on the door-knock list, not answered since."""
    return frozenset(await services(request).store.campaigns.doorknock_households(campaign_id, association_id))


async def doorknock_rows_fragment(request: web.Request) -> web.Response:
    """The door-knock list's tables alone (the same `?campaign=` and `?group=`), which the open list reads
    again when the live stream says a household may be back on it: a visit undone elsewhere, a household
    enrolled late, the ladder's last step (review: an undone visit stayed off the list on the walker's
    phone). It names households, as the page does: a view, audited."""
    viewer = require_viewer(request)
    assoc, campaign, since = await _association_context(request, viewer)
    if campaign is None or campaign.kind == CampaignKind.CHECK or asked_never_sent(campaign) \
            or campaign.purged_at is not None:
        raise not_found()  # the page itself redirects these: nobody to walk to
    record(request, viewer, AuditAction.VIEW, "doorknock", campaign_id=campaign.id, association_id=assoc.id)
    lang = lang_of(request)
    lines, listed = await asyncio.gather(_lines(request, viewer, assoc, campaign.id),
                                         _listed(request, campaign.id, assoc.id))
    context = doorknock_context(lang, assoc, campaign, lines, services(request).clock.now(), _groups(request), listed)
    return web.Response(text=doorknock_sections(lang, context), content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Since": str(since)})


# -- report and API ---------------------------------------------------------------------------


async def report_page(request: web.Request) -> web.StreamResponse:
    """The drill report, streamed: the summary, then the household lists a page at a time, so a
    city's report neither holds every name in memory nor keeps the event loop from other requests."""
    viewer = require_viewer(request)
    info, _ = await campaign_or_404(request, viewer, request.match_info["id"])
    fmt = request.query.get("format", "html")
    if fmt not in FORMATS:
        return refused(request, Text("dash.report_bad_format"), 400, back="/")
    try:
        report = await open_report(services(request).store, info.id, viewer)
    except ReportNotFound:
        raise not_found() from None
    record(request, viewer, AuditAction.VIEW if fmt == "html" else AuditAction.EXPORT, "report", campaign_id=info.id,
           detail=fmt)
    # Up to here a failure still answers 404/503/500; past prepare() the status line is sent.
    headers = {"Cache-Control": "no-store"}
    if fmt != "html":
        headers["Content-Disposition"] = f'attachment; filename="report-{info.id}.{fmt}"'
    resp = web.StreamResponse(headers=headers)
    resp.content_type = _REPORT_TYPES[fmt]
    resp.charset = "utf-8"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        if fmt == "csv":
            await resp.write(BOM.encode())  # Japanese Excel reads UTF-8 only after a byte order mark
        async for piece in stream_report(report, writer_for(fmt, lang_of(request), report_shell(request, info.id))):
            await resp.write(piece.encode())
    except ConnectionError:
        log.info("report_stream_client_gone", campaign_id=info.id, format=fmt)
        return resp
    except Exception:
        log.exception("report_stream_failed", campaign_id=info.id, format=fmt)
        if fmt == "html":
            # a person reads what came so far: it must say it stops here (QA: a page cut after 町会別
            # looked whole, and the browser kept loading)
            with contextlib.suppress(Exception):
                await resp.write(report_cut_notice(lang_of(request)).encode())
        # No terminating chunk: the client gets a cut-off body (a payload error), never a
        # document that looks complete. aiohttp's write_eof then fails on the closed transport.
        if request.transport is not None:
            request.transport.abort()
        return resp
    await resp.write_eof()
    return resp


async def api_associations(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    return web.json_response([{"id": a.id, "name": a.name, "district": a.district}
                              for a in await visible_associations(request, viewer)])


async def home(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    if viewer.scope.kind == "association":
        assoc = await reads(request).association_by_name(viewer.scope.name)
        if assoc is not None:
            raise web.HTTPFound(f"/a/{assoc.id}")
    raise web.HTTPFound("/city")


def setup(app: web.Application) -> None:
    store = app[SERVICES].store
    app[READS] = store.dashboard
    app[STATS] = store.stats
    app[ERROR_PAGE] = error_page
    app.router.add_get("/", home)
    app.router.add_get("/a/{association_id}", association_page)
    app.router.add_get("/a/{association_id}/help", help_fragment)
    app.router.add_get("/a/{association_id}/households", rows_fragment)
    app.router.add_get("/a/{association_id}/statuses", statuses_fragment)
    app.router.add_get("/a/{association_id}/notes", notes_fragment)
    app.router.add_get("/a/{association_id}/doorknock", doorknock_page)
    app.router.add_get("/a/{association_id}/doorknock/rows", doorknock_rows_fragment)
    app.router.add_get("/campaigns/{id}/report", report_page)
    app.router.add_get("/api/associations", api_associations)
    dash_sse.setup(app)
    city_pages.setup(app)
