"""What every staff page shares: the header (language, text size, logout), scope checks that
answer 404 for anything outside the viewer's scope, and the read repositories.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from aiohttp import web

from safetynet import i18n
from safetynet.auth import Viewer
from safetynet.domain import Role
from safetynet.domain.campaigns import CampaignInfo
from safetynet.domain.roster import Association
from safetynet.store.ports import DashboardReads, StatsReads
from safetynet.web.app import csrf_of, viewer_of
from safetynet.web.dash_text import lang_of, language_switch, large_of, remember_prefs, t
from safetynet.web.layout import esc, page

READS = web.AppKey("dashboard_reads", DashboardReads)
STATS = web.AppKey("stats_reads", StatsReads)
JST = timezone(timedelta(hours=9))


def reads(request: web.Request) -> DashboardReads:
    return request.app[READS]


def stats_reads(request: web.Request) -> StatsReads:
    return request.app[STATS]


def not_found() -> web.HTTPNotFound:
    """The one answer for "does not exist" and "not yours": it reveals nothing."""
    return web.HTTPNotFound(text="404: Not Found")


def parse_id(text: str | None) -> int:
    if text is None or not text.isdigit() or len(text) > 12:
        raise not_found()
    return int(text)


def hhmm(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, JST).strftime("%H:%M")


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, JST).strftime("%Y-%m-%d %H:%M")


# -- scope ----------------------------------------------------------------------------------


async def visible_associations(request: web.Request, viewer: Viewer) -> list[Association]:
    return [a for a in await reads(request).associations_in_scope(viewer.scope) if viewer.sees(a.district, a.name)]


async def association_or_404(request: web.Request, viewer: Viewer, text: str | None) -> Association:
    assoc = await reads(request).association(parse_id(text))
    if assoc is None or not viewer.sees(assoc.district, assoc.name):
        raise not_found()
    return assoc


async def campaign_or_404(
    request: web.Request, viewer: Viewer, text: str | None
) -> tuple[CampaignInfo, frozenset[int] | None]:
    """The campaign and the association ids of it the viewer may see (None: all of them).

    A scoped viewer gets 404 for a campaign that covers none of its associations.
    """
    info = await reads(request).campaign(parse_id(text))
    if info is None:
        raise not_found()
    if viewer.scope.kind == "city":
        return info, None
    mine = {a.id for a in await visible_associations(request, viewer)}
    visible = frozenset(await reads(request).covered_among(info.id, mine))
    if not visible:
        raise not_found()
    return info, visible


def viewer_home(viewer: Viewer, association_id: int | None) -> str:
    if viewer.role in (Role.ASSOCIATION_HEAD, Role.DEPUTY) and association_id is not None:
        return f"/a/{association_id}"
    return "/city"


# -- page shell -------------------------------------------------------------------------------


def _with_query(request: web.Request, **changes: str) -> str:
    q = {k: v for k, v in request.query.items() if k not in changes}
    q.update(changes)
    return f"{request.path}?{urlencode(q)}"


def header(request: web.Request, lang: str) -> str:
    viewer: Viewer | None = viewer_of(request)
    large = large_of(request)
    size = _with_query(request, large="0" if large else "1")
    links = [f'<a class="brand" href="/">{esc(t(lang, "app"))}</a>']
    if viewer is not None:
        if viewer.scope.kind != "association":
            links.append(f'<a href="/city">{esc(t(lang, "city"))}</a>')
        if viewer.is_city_admin and viewer.staff_id is not None:
            links.append(f'<a href="/admin">{esc(t(lang, "admin"))}</a>')
    tools = [f'<a href="{esc(size)}">{esc(t(lang, "smaller" if large else "larger"))}</a>']
    csrf = csrf_of(request)
    if viewer is not None and csrf:
        tools.append(
            f'<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<button type="submit" class="small">{esc(t(lang, "logout"))}</button></form>'
        )
    # the language switch is ours (not layout.page's) so the skip link stays the first stop of Tab
    current = ' aria-current="true"'
    langs = " ".join(
        f'<a href="{esc(_with_query(request, lang=code))}" hreflang="{code}"{current if code == lang else ""}>{esc(label)}</a>'
        for code, label in language_switch()
    )
    return (
        f'<a class="skip" href="#main">{esc(t(lang, "skip"))}</a>'
        f'<header class="top"><nav aria-label="menu">{" ".join(links)}</nav>'
        f'<div class="tools"><nav class="lang" aria-label="{esc(i18n.t(lang, "page.language_switch"))}">{langs}</nav>{" ".join(tools)}</div></header>'
    )


def render(
    request: web.Request,
    title: str,
    body: str,
    *,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = ("/static/base.css", "/static/dash.css"),
    status: int = 200,
    main_attrs: str = "",
    no_store: bool = False,
) -> web.Response:
    lang = lang_of(request)
    csrf = csrf_of(request) or ""
    wrap_class = "wrap large-text" if large_of(request) else "wrap"
    html = page(
        title,
        f'<div class="{wrap_class}">{header(request, lang)}<main id="main" tabindex="-1"{main_attrs}>{body}</main></div>',
        lang=lang,
        scripts=scripts,
        styles=styles,
        extra_head=f'<meta name="csrf-token" content="{esc(csrf)}">',
    )
    resp = web.Response(text=html, content_type="text/html", status=status)
    if no_store or csrf:
        resp.headers["Cache-Control"] = "no-store"
    remember_prefs(request, resp)
    return resp

