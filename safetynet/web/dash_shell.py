"""What every staff page shares: the header (language, text size, logout), scope checks that
answer 404 for anything outside the viewer's scope, and the read repositories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.domain import Role
from safetynet.domain.campaigns import CampaignInfo
from safetynet.domain.consent import Disclosure
from safetynet.domain.japan_time import date_time, time_of_day
from safetynet.domain.roster import Association
from safetynet.i18n import Sayable
from safetynet.stats.report_render import PageShell
from safetynet.store.ports import DashboardReads, StatsReads
from safetynet.templating import Markup, page_context
from safetynet.templating import render as render_template
from safetynet.web import ids
from safetynet.web.app import PageNotFound, csrf_of, page_of, viewer_of
from safetynet.web.dash_text import lang_of, language_switch, large_of, remember_prefs, t

READS = web.AppKey("dashboard_reads", DashboardReads)
# Keeps what was typed into a form marked data-keep for the page it comes back to after a login (#kept)
KEEP_SCRIPT = "/static/keep.js"
STATS = web.AppKey("stats_reads", StatsReads)


def reads(request: web.Request) -> DashboardReads:
    return request.app[READS]


def stats_reads(request: web.Request) -> StatsReads:
    return request.app[STATS]


def not_found() -> web.HTTPNotFound:
    """The one answer for "does not exist" and "not yours": it reveals nothing. A page in the
    viewer's language (`error_page`), JSON for the API."""
    return PageNotFound(text="404: Not Found")


def parse_id(text: str | None) -> int:
    """The id in `text` (`web.ids`), or the 404 of a page that does not exist."""
    found = ids.parse_id(text)
    if found is None:
        raise not_found()
    return found


def hhmm(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return time_of_day(epoch)


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return date_time(epoch)


# -- scope ----------------------------------------------------------------------------------


async def visible_associations(request: web.Request, viewer: Viewer) -> list[Association]:
    return [a for a in await reads(request).associations_in_scope(viewer.scope) if viewer.sees(a.district, a.name)]


async def association_or_404(request: web.Request, viewer: Viewer, text: str | None) -> Association:
    assoc = await reads(request).association(parse_id(text))
    if assoc is None or not viewer.sees(assoc.district, assoc.name):
        raise not_found()
    return assoc


def scope_reaches(scope: Iterable[str], assoc: Association) -> bool:
    """Whether a campaign's scope ('city', 'district:N', 'association:N', 'group:A/G') reaches any
    household of this association: whose a campaign is before it enrolled anyone."""
    for item in scope:
        kind, _, name = item.partition(":")
        if (item == "city" or (kind == "district" and name == assoc.district)
                or (kind == "association" and name == assoc.name)
                or (kind == "group" and name.partition("/")[0] == assoc.name)):
            return True
    return False


def asked_never_sent(info: CampaignInfo) -> bool:
    """A real event started by one person that waits for a second, or was cancelled while it waited:
    it enrolled nobody and sent nothing, so the associations it covers are those its scope reaches
    (`scope_reaches`), not its counters'."""
    return info.state == "pending_approval" or (info.state == "cancelled" and info.started_at is None
                                                 and info.requested_at is not None)


async def campaign_or_404(
    request: web.Request, viewer: Viewer, text: str | None
) -> tuple[CampaignInfo, frozenset[int] | None]:
    """The campaign and the association ids of it the viewer may see (None: all of them).

    A scoped viewer gets 404 for a campaign that covers none of its associations. A real event waiting
    for approval (or cancelled while it waited) covers the associations its scope reaches (QA: the
    district head who started one was sent to its page and got a 404, and could not cancel it).
    """
    info = await reads(request).campaign(parse_id(text))
    if info is None:
        raise not_found()
    if viewer.scope.kind == "city":
        return info, None
    mine = await visible_associations(request, viewer)
    visible = frozenset(await reads(request).covered_among(info.id, [a.id for a in mine]))
    if not visible and asked_never_sent(info):
        visible = frozenset(a.id for a in mine if scope_reaches(info.scope, a))
    if not visible:
        raise not_found()
    return info, visible


async def disclosure_for(store_reads: DashboardReads, viewer: Viewer) -> Disclosure:
    """What this viewer may see of households now: city admins everything; heads, deputies and
    district heads (by session or API token) a `no` household's details only inside a running
    real event (domain.consent)."""
    if viewer.is_city_admin:
        return Disclosure.everything()
    return Disclosure(False, await store_reads.real_event_scopes())


def viewer_home(viewer: Viewer, association_id: int | None) -> str:
    if viewer.role in (Role.ASSOCIATION_HEAD, Role.DEPUTY) and association_id is not None:
        return f"/a/{association_id}"
    return "/city"


def error_page(request: web.Request, status: int) -> web.StreamResponse:
    """What a staff page answers for a link that leads nowhere (404): the same words whether the
    thing is missing or outside the viewer's scope, and the way back to the viewer's own page."""
    lang = lang_of(request)
    viewer = viewer_of(request)
    # "/" takes a head or deputy to their association's dashboard, anyone else to the overview (of
    # their district, for a district head)
    kind = viewer.scope.kind if viewer is not None else ""
    back = {"association": "error_back_association", "district": "error_back_district"}.get(kind, "error_back_city")
    return render(request, t(lang, "error_404_title"), template="error.html", status=status, no_store=True,
                  context={"back_href": "/", "back_label": t(lang, back)})


def refused(request: web.Request, said: Sayable | Sequence[Sayable], status: int,
            back: str = "/city", form: Markup | None = None) -> web.Response:
    """A staff page's refusal (a form it cannot take, a request it will not do), each reason in the
    page's language (a catalog Text, a CampaignError): staff never read an English text/plain body or
    the service's English str() ("campaign 12 is closed; …") on a Japanese page. `back`: the page the
    form was on; `form`, that form again with what was typed, to mend there."""
    lang = lang_of(request)
    reasons = [said] if isinstance(said, Sayable) else list(said)
    return render(request, t(lang, "error"), template="refused.html", status=status, no_store=True,
                  context={"messages": [r.text(lang) for r in reasons], "back_href": back, "form": form})


# -- page shell -------------------------------------------------------------------------------


def _with_query(request: web.Request, **changes: str) -> str:
    # a page answering a POST (a refusal, a preview) links to the page its form was on: a GET of the
    # form's action was a bare 405 (`app.page_of`)
    path, _, query = page_of(request).partition("?")
    q = {k: v for k, v in parse_qsl(query, keep_blank_values=True) if k not in changes}
    q.update(changes)
    return f"{path}?{urlencode(q)}"


def _header(request: web.Request, lang: str) -> dict[str, Any]:
    """The header's links: menu by role, language switch, text size, logout."""
    viewer: Viewer | None = viewer_of(request)
    large = large_of(request)
    links = [("/", t(lang, "app"), "brand")]
    if viewer is not None:
        if viewer.scope.kind != "association":
            links.append(("/city", t(lang, "city"), ""))
        if viewer.is_city_admin and viewer.staff_id is not None:
            links.append(("/admin", t(lang, "admin"), ""))
    # the language switch is the header's (not the base layout's) so the skip link stays the first stop of Tab
    switch = [(code, label, _with_query(request, lang=code)) for code, label in language_switch()]
    return {"large": large, "links": links, "switch": switch,
            "size_href": _with_query(request, large="0" if large else "1"),
            "logout": viewer is not None and bool(csrf_of(request))}


def report_shell(request: web.Request, campaign_id: int) -> PageShell:
    """The report page's header as the staff pages': back to the viewer's dashboard (an association's
    own, the city overview of this campaign), the text size, logout."""
    viewer = viewer_of(request)
    back = "/" if viewer is not None and viewer.scope.kind == "association" else f"/city?campaign={campaign_id}"
    header = _header(request, lang_of(request))
    return PageShell(back, header["size_href"], header["large"], (csrf_of(request) or "") if header["logout"] else "")


def render(
    request: web.Request,
    title: str,
    *,
    template: str,
    context: Mapping[str, Any] | None = None,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = ("/static/base.css", "/static/dash.css"),
    status: int = 200,
    main_attrs: Mapping[str, object] | None = None,
    no_store: bool = False,
) -> web.Response:
    """A staff page: `template` (extending staff.html) filled with `context`; every one with keep.js
    (what was typed into a form sent after the login ended comes back after the login)."""
    lang = lang_of(request)
    csrf = csrf_of(request) or ""
    html = render_template(
        template,
        **page_context(lang=lang, title=title, styles=styles, scripts=(*scripts, KEEP_SCRIPT)),
        **_header(request, lang), csrf=csrf,
        main_attrs={k: str(v) for k, v in (main_attrs or {}).items()},
        **(context or {}),
    )
    resp = web.Response(text=html, content_type="text/html", status=status)
    if no_store or csrf:
        resp.headers["Cache-Control"] = "no-store"
    remember_prefs(request, resp)
    return resp
