"""The contact check (連絡先確認) on staff pages: its button on the city console, and its figures
beside the coverage of the association dashboard and the city overview.

A check is not an event: one person starts it (no approval), nothing escalates, no door knock.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiohttp import web

from safetynet.auth import Viewer
from safetynet.broadcast.service import CampaignError, CampaignSpec, DuplicateCampaign
from safetynet.domain.campaigns import CheckTally
from safetynet.i18n import t
from safetynet.web.app import check_csrf, require_viewer
from safetynet.web.bodies import read_form
from safetynet.web.city_console import _refused, _service, scope_choices
from safetynet.web.layout import esc

log = structlog.get_logger("web.check")


def _kind_label(lang: str, kind: str) -> str:
    text = t(lang, f"contact.kind.{kind}")
    return kind if text == f"contact.kind.{kind}" else text


def check_block(lang: str, tallies: Sequence[CheckTally]) -> str:
    """Contacts per kind: confirmed, unconfirmed, dead, not checked, and households still reachable."""
    title = f'<h3>{esc(t(lang, "dash.check_title"))}</h3>'
    if not tallies or all(x.confirmed + x.unconfirmed == 0 for x in tallies):
        none = f'<p>{esc(t(lang, "dash.check_none"))}</p>'
    else:
        none = ""
    cols = ("check_confirmed", "check_unconfirmed", "check_dead", "check_unchecked", "check_reachable")
    head = "".join(f"<th>{esc(t(lang, 'dash.' + c))}</th>" for c in ("check_head_kind", *cols))
    rows = "".join(
        f'<tr data-kind="{esc(x.kind)}"><th scope="row">{esc(_kind_label(lang, x.kind))}</th>'
        f'<td data-k="confirmed">{x.confirmed:,}</td><td data-k="unconfirmed">{x.unconfirmed:,}</td>'
        f'<td data-k="dead">{x.dead:,}</td><td data-k="unchecked">{x.unchecked:,}</td>'
        f'<td data-k="reachable">{x.reachable_households:,}</td></tr>'
        for x in tallies)
    return (f'<div class="contact-check">{title}{none}<table class="check"><thead><tr>{head}</tr></thead>'
            f'<tbody>{rows}</tbody></table></div>')


async def check_form(request: web.Request, viewer: Viewer, lang: str, csrf: str) -> str:
    """The console's "send a contact check" button: city admins only."""
    if not viewer.is_city_admin:
        return ""
    options = "".join(f'<option value="{esc(v)}">{esc(label)}</option>'
                      for v, label in await scope_choices(request, viewer))
    return (f'<section class="check-start"><h2>{esc(t(lang, "console.check_start"))}</h2>'
            f'<p>{esc(t(lang, "console.check_hint"))}</p>'
            f'<form method="post" action="/city/campaigns/check" class="stack">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<select name="scope">{options}</select>'
            f'<button type="submit">{esc(t(lang, "console.check_start"))}</button></form></section>')


async def start_check(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    if not viewer.is_city_admin:
        raise web.HTTPNotFound()
    form = await read_form(request)
    await check_csrf(request, form)
    scope = str(form.get("scope", ""))
    if scope not in {v for v, _ in await scope_choices(request, viewer)}:
        raise web.HTTPBadRequest(text="scope: not one of the scopes offered")
    spec = CampaignSpec.for_check((scope,))
    try:
        campaign = await _service(request).launch(spec, source="console", created_by=viewer.login,
                                                  by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:
        return _refused(request, str(e))
    except CampaignError as e:
        return _refused(request, str(e))
    log.info("contact_check_started_from_console", campaign_id=campaign.id)
    raise web.HTTPSeeOther(f"/city?campaign={campaign.id}")


def setup(app: web.Application) -> None:
    app.router.add_post("/city/campaigns/check", start_check)
