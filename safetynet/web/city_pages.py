"""The city overview (`/city`) and its live curve (`/city/curve`): every district and association
worst first, totals, the response curve per district, and the campaign console.

The expensive parts (thousands of counter rows, a thousand association rows, the SVG) are built
at most once a second per campaign, scope and language (`TtlCache`); the live stream keeps an
open page current between loads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.broadcast.health import enabled_channels, read_status
from safetynet.domain import ANSWERED, Role
from safetynet.domain.campaigns import TRIGGER, CampaignInfo
from safetynet.domain.roster import Association, Staff, StaffContactReach
from safetynet.replies.notify import reach_gaps
from safetynet.stats.cache import TtlCache
from safetynet.stats.curve import group_series, render_svg
from safetynet.stats.document import build_stats
from safetynet.templating import Markup
from safetynet.web import check_console, city_console
from safetynet.web.app import SERVICES, csrf_of, require_viewer, services
from safetynet.web.city_views import (
    GOOD,
    LOW,
    approval_line,
    approvals_block,
    associations_table,
    bands_json,
    campaign_actions,
    city_help_elsewhere,
    districts_table,
    health_block,
    notice_progress,
    proposals_block,
    reach_block,
    totals_block,
)
from safetynet.web.dash_shell import (
    campaign_or_404,
    not_found,
    reads,
    render,
    scope_reaches,
    stats_reads,
    visible_associations,
)
from safetynet.web.dash_text import lang_of, live_words, t
from safetynet.web.dash_views import state_labels_json
from safetynet.web.staff_reach import by_contact, refusing_associations

PARTS_TTL_SECONDS = 1.0
# past the TTL a part up to this old is served while the next is built (see TtlCache)
PARTS_STALE_SECONDS = 4.0


@dataclass(frozen=True)
class CityParts:
    totals: Markup
    curve: Markup
    districts: Markup
    associations: Markup
    # households the viewer sees that have not answered (the totals' count): said in the close form
    unanswered: int


CACHE = web.AppKey("city_parts", TtlCache[CityParts])
# Every staff member with their contacts, for the reach check: read at most once in this long, however
# often /city is polled (an admin's new contact shows within it)
STAFF_TTL_SECONDS = 5.0
STAFF = web.AppKey("city_staff", TtlCache[list[Staff]])
# What the last alert to each staff contact came to (`staff_contact_reach`), shared as the staff read is
REACH = web.AppKey("city_staff_reach", TtlCache[list[StaffContactReach]])


def _first_shown(running: Sequence[CampaignInfo]) -> CampaignInfo:
    """Of the campaigns running, the one /city opens on: a real event before a drill, a wider scope
    before a narrower (the city, a district, associations), then the latest started (README, Decisions):
    a one-association event started after a city-wide one must not hide it."""
    def width(c: CampaignInfo) -> int:
        kinds = {s.partition(":")[0] for s in c.scope}
        return 0 if "city" in kinds else 1 if "district" in kinds else 2 if "association" in kinds else 3

    return min(running, key=lambda c: (c.kind != "real", width(c), -(c.started_at or c.created_at), -c.id))


async def _city_campaign(request: web.Request, viewer: Viewer, seen: Sequence[Association] | None = None,
                         recent: Sequence[CampaignInfo] | None = None,
                         ) -> tuple[CampaignInfo | None, frozenset[int] | None]:
    """The campaign shown (`?campaign`, else of those running the one `_first_shown` picks, else the
    latest the viewer may see); `seen`: the viewer's associations and `recent` the campaigns they may
    see (`campaigns_for`), when the caller read them already."""
    if "campaign" in request.query:
        return await campaign_or_404(request, viewer, request.query["campaign"])
    if viewer.scope.kind == "city":
        ids = None
    else:
        ids = [a.id for a in (seen if seen is not None else await visible_associations(request, viewer))]
    if recent is None:
        recent = await reads(request).campaigns_for(ids)
    running = [c for c in recent if c.state == "running"]
    info = _first_shown(running) if running else await reads(request).latest_campaign_for(ids)
    if info is None:
        return None, None
    return await campaign_or_404(request, viewer, str(info.id))


async def _build_parts(request: web.Request, viewer: Viewer, info: CampaignInfo, lang: str) -> CityParts:
    st = stats_reads(request)
    # the door-knock counts beside the stats document, not in it: that document is the stats API's
    counts, minutes, assocs, help_open, doorknock = await asyncio.gather(
        st.counts(info.id), st.minutes(info.id), st.associations(), reads(request).open_help_counts(info.id),
        services(request).store.campaigns.doorknock_counts(info.id))

    def visible(a: Association) -> bool:
        return viewer.sees(a.district, a.name)

    doc = build_stats({**info.as_dict()}, counts, minutes, assocs, visible, help_open)
    now_minute = None
    if info.started_at is not None:
        end = info.closed_at or services(request).clock.now()
        now_minute = max(0, int((end - info.started_at) // 60) + 1)
    series = group_series(minutes, counts, assocs, lambda a: a.district, visible)
    svg = render_svg(series, title=t(lang, "curve"), desc=t(lang, "curve_desc"), minutes_label=t(lang, "minutes"),
                     until_minute=now_minute)
    # render_svg escapes every text it draws
    answered = sum(doc["status"].get(str(s), 0) for s in ANSWERED)
    return CityParts(totals_block(lang, doc), Markup(svg), districts_table(lang, doc, doorknock),
                     associations_table(lang, doc, doorknock), max(0, doc["households"] - answered))


async def _parts(request: web.Request, viewer: Viewer, info: CampaignInfo, lang: str) -> CityParts:
    # the state and size in the key: parts counted while a real event waited for approval (no household
    # enrolled yet) must not be shown for seconds after it starts (0 households, empty tables)
    return await request.app[CACHE].get(
        (info.id, info.state, info.households, str(viewer.scope), lang),
        lambda: _build_parts(request, viewer, info, lang))


async def _reach(request: web.Request, viewer: Viewer, seen: list[Association], lang: str) -> Markup:
    """The associations the viewer sees whose need-help alerts would reach nobody, or only standing-in
    staff (`notify.reach_gaps`, the notifier's own rule, over the channels this server sends on), or whose
    heads and deputies refused their last alerts on every contact (`staff_reach.refusing_associations`):
    for city admins and district heads, in quiet times too. One staff read and one read of the contacts'
    reach, each shared for STAFF_TTL_SECONDS."""
    if viewer.role not in (Role.CITY_ADMIN, Role.DISTRICT_HEAD):
        return Markup()
    svc = services(request)
    staff = await request.app[STAFF].get("all", svc.store.auth.list_staff)
    channels = svc.cfg.channels.enabled()
    gaps = await reach_gaps(seen, staff, channels)
    # and those whose heads and deputies can be sent to, but refused their last alerts on every contact
    reach = by_contact(await request.app[REACH].get("all", svc.store.auth.staff_contact_reach))
    refusing = refusing_associations(seen, staff, reach, channels)
    return reach_block(lang, gaps, viewer.is_city_admin, refusing)


async def _staff_names(request: web.Request) -> dict[str, str]:
    """Staff display names by login, for who started and approved a real event (`city_views.staff_name`):
    the staff read `_reach` shares, cached for STAFF_TTL_SECONDS."""
    staff = await request.app[STAFF].get("all", services(request).store.auth.list_staff)
    return {s.login: s.display_name for s in staff if s.display_name}


async def _token_maker(request: web.Request, info: CampaignInfo) -> str:
    """The login of the admin who made the API token that started a real event ('' if none made it)."""
    if info.kind != "real" or not info.started_by.startswith("token:"):
        return ""
    store = services(request).store
    token_id = info.started_by.removeprefix("token:")
    made = next((tk.created_by for tk in await store.auth.list_api_tokens() if str(tk.id) == token_id), None)
    maker = await store.auth.staff_by_id(made) if made is not None else None
    return maker.login if maker is not None else ""


async def _trigger_sources(request: web.Request, campaigns: Sequence[CampaignInfo]) -> dict[int, str]:
    """The source (jma | cap) of each campaign a trigger started, which names that trigger on the page
    (`starter_words`); the page's read of campaigns has none, and a few are read only when there are."""
    store = services(request).store
    out: dict[int, str] = {}
    for info in campaigns:
        if info.started_by == TRIGGER.label and (c := await store.campaigns.get(info.id)) is not None:
            out[info.id] = c.source
    return out


async def city_page(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    lang = lang_of(request)
    seen = await visible_associations(request, viewer)
    ids = None if viewer.scope.kind == "city" else [a.id for a in seen]
    recent = await reads(request).campaigns_for(ids)
    info, _ = await _city_campaign(request, viewer, seen, recent)
    # a head or district head sees their own part of the city here: the heading says which
    heading = t(lang, "city") if viewer.scope.kind == "city" else t(lang, "city_scoped", name=viewer.scope.name)
    csrf = csrf_of(request) or ""
    start_form = await city_console.start_form(request, viewer, lang, csrf)
    start_form += await check_console.check_form(request, viewer, lang, csrf)
    checks = check_console.check_block(lang, await check_console.tallies(request, ids))
    # a trigger's proposal waits for a city admin, a real event for a second one: shown on top
    # until started, approved or cancelled
    proposals = Markup()
    if viewer.is_city_admin:
        waiting, drafts = await asyncio.gather(reads(request).awaiting_approval(), reads(request).drafts())
        proposals = (approvals_block(lang, waiting, await _trigger_sources(request, waiting),
                                     names=await _staff_names(request)) + proposals_block(lang, drafts))
    elif viewer.may_start_campaigns:
        # a district head sees the real events waiting for approval in their district (one they started
        # among them: its page is where they may cancel it), without the approval's button
        waiting = [c for c in await reads(request).awaiting_approval()
                   if any(scope_reaches(c.scope, a) for a in seen)]
        proposals = approvals_block(lang, waiting, await _trigger_sources(request, waiting), may_approve=False,
                                    names=await _staff_names(request))
    svc = services(request)
    # read per request, not cached with the parts: "nothing is being sent" must show at once
    sending = await read_status(svc.store.health, svc.clock.now(), enabled_channels(svc.cfg))
    # help requests still open in other campaigns (a closed drill's): the overview of the one shown must not hide them
    found = await reads(request).open_help_everywhere(ids)
    elsewhere = city_help_elsewhere(lang, found, info, seen)
    context: dict[str, object] = {"heading": heading, "info": info, "recent": recent, "proposals": proposals,
               "help_elsewhere": elsewhere, "reach": await _reach(request, viewer, seen, lang),
               "start_form": start_form,
               "checks": checks, "notices": "",
               "health": health_block(lang, sending, running=info is not None and info.state == "running")}
    if info is None:
        return render(request, heading, template="city.html", context=context)
    # the picker lists campaigns that went out: one waiting (a draft, a real event before its approval) first,
    # so that it reads as the one shown (it showed the browser's first, another campaign, as if chosen)
    context["picked"] = recent if any(c.id == info.id for c in recent) else [info, *recent]
    context["approval"] = approval_line(lang, info, await _token_maker(request, info),
                                        (await _trigger_sources(request, [info])).get(info.id, ""),
                                        await _staff_names(request))
    if info.state == "cancelled" and viewer.scope.kind == "city":
        # the cancel's word to the households it reached, going out: city-wide counts, for the city's staff
        context["notices"] = notice_progress(lang, await svc.store.campaigns.delivery_counts(info.id))
    if info.kind == "check":
        # nobody answers a check: its outcomes in place of the answers, curve and rates (not live)
        context["check_progress"] = await check_console.city_check(request, viewer, info, lang)
        context["actions"] = (campaign_actions(lang, info, csrf) if await city_console.may_finish(request, viewer, info)
                              else "")
        return render(request, heading, template="city.html", context=context)
    # a draft or a real event waiting for approval has enrolled no household yet: the households it
    # would go to (the review's count) in place of 「回答 0 / 0 世帯」 and empty tables
    review, reaches = await city_console.review(request, info, lang)
    parts = None
    finish = await city_console.may_finish(request, viewer, info)
    if info.state in ("draft", "pending_approval"):
        # the count is of the whole scope: said to whoever's scope holds all of it
        context["waiting"] = reaches if viewer.scope.kind == "city" or finish else None
    else:
        context["parts"] = parts = await _parts(request, viewer, info, lang)
    running = info.state == "running"
    context["actions"] = (
        campaign_actions(lang, info, csrf, may_start=viewer.is_city_admin,
                         may_approve=viewer.is_city_admin and viewer.staff_id is not None,
                         started_it=await city_console.started_it(request, viewer, info),
                         review=review,
                         open_help=sum((await reads(request).open_help_counts(info.id)).values())
                         if running else 0,
                         unanswered=parts.unanswered if running and parts is not None else 0)
        if finish else "")
    attrs = {"data-page": "city", "data-campaign": info.id, "data-bands": bands_json(lang), "data-low": LOW,
             "data-good": GOOD, "data-states": state_labels_json(lang), **live_words(lang)}
    return render(request, heading, template="city.html", context=context, scripts=("/static/live.js", "/static/city.js"),
                  main_attrs=attrs)


async def city_curve(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    info, _ = await _city_campaign(request, viewer)
    if info is None:
        raise not_found()
    parts = await _parts(request, viewer, info, lang_of(request))
    return web.Response(text=parts.curve, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app[CACHE] = TtlCache(app[SERVICES].clock, PARTS_TTL_SECONDS, stale_seconds=PARTS_STALE_SECONDS)
    app[STAFF] = TtlCache(app[SERVICES].clock, STAFF_TTL_SECONDS)
    app[REACH] = TtlCache(app[SERVICES].clock, STAFF_TTL_SECONDS)
    app.router.add_get("/city", city_page)
    app.router.add_get("/city/curve", city_curve)
    city_console.setup(app)
