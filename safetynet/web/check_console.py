"""The contact check (連絡先確認) on staff pages: its button on the city console, and its figures
beside the coverage of the association dashboard and the city overview.

A check is not an event: one person starts it (no approval), nothing escalates, no door knock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aiohttp import web

from safetynet.auth import Viewer
from safetynet.broadcast.service import CampaignError, CampaignSpec, DuplicateCampaign
from safetynet.domain.campaigns import CHECK_OUTCOMES, CampaignInfo, CheckTally
from safetynet.domain.roster import HouseholdLine
from safetynet.i18n import Text, t
from safetynet.stats.cache import TtlCache
from safetynet.stats.report import summarize_check
from safetynet.templating import Markup, call_macro
from safetynet.web.app import SERVICES, check_csrf, require_viewer
from safetynet.web.bodies import read_form
from safetynet.web.city_console import _ask_again, _service, scope_choices
from safetynet.web.dash_shell import not_found, reads, refused, visible_associations
from safetynet.web.dash_text import channel_label

log = structlog.get_logger("web.check")


def _kind_label(lang: str, kind: str) -> str:
    text = t(lang, f"contact.kind.{kind}")
    return kind if text == f"contact.kind.{kind}" else text


@dataclass(frozen=True, slots=True)
class _Row:
    kind: str
    label: str
    confirmed: int
    unconfirmed: int
    dead: int
    unchecked: int
    reachable: int

    @property
    def asked(self) -> int:
        return self.confirmed + self.unconfirmed


# The city overview's tally counts every contact of the city in the database (an aggregate: ~65 ms of
# the database's CPU at 40,000 households, none on the event loop; an association's is ~1 ms and the
# dashboard reads it fresh). A check's results move over hours, not seconds: the overview reads it at
# most every 5 s per set of associations and serves the last one while it is read again.
TALLY_TTL_SECONDS = 5.0
TALLY_STALE_SECONDS = 25.0
TALLIES = web.AppKey("check_tallies", TtlCache[list[CheckTally]])


async def tallies(request: web.Request, association_ids: Sequence[int] | None) -> list[CheckTally]:
    """The contact check's tallies of these associations (None: the city), from the overview's cache."""
    key = None if association_ids is None else tuple(sorted(association_ids))
    return await request.app[TALLIES].get(key, lambda: reads(request).contact_checks(association_ids))


def check_block(lang: str, tallies: Sequence[CheckTally]) -> Markup:
    """Contacts per kind: confirmed, unconfirmed, dead, not checked, and households still reachable."""
    rows = [_Row(x.kind, _kind_label(lang, x.kind), x.confirmed, x.unconfirmed, x.dead, x.unchecked,
                 x.reachable_households) for x in tallies]
    return call_macro("check_parts.html", "check_block", lang, rows)


def check_progress(lang: str, campaign_id: int, households: int, unconfirmed: Sequence[HouseholdLine],
                   purged: str = "") -> Markup:
    """One check on an association's dashboard: households by outcome, and those with no contact
    confirmed (each with its outcome), to ask for a corrected or new contact. No answers, no door knock.
    `purged` (when retention purged it): the outcomes alone, and that the list was erased (review: an
    emptied list counted every household confirmed)."""
    outcomes = {o: 0 for o in CHECK_OUTCOMES}
    for h in unconfirmed:
        outcomes[h.status] = outcomes.get(h.status, 0) + 1
    outcomes["confirmed"] = max(households - len(unconfirmed), 0)
    rows = [] if purged else list(unconfirmed)
    return call_macro("check_parts.html", "check_progress", lang, campaign_id, households, outcomes, rows,
                      sum(h.withheld for h in rows), purged)


async def city_check(request: web.Request, viewer: Viewer, info: CampaignInfo, lang: str) -> Markup:
    """/city on a contact check: households by outcome per district and association (the viewer's),
    contacts per channel; in place of the answers, curve and rates an event shows."""
    r = reads(request)
    visible, outcomes = await asyncio.gather(visible_associations(request, viewer), r.check_outcomes(info.id))
    covered = {aid for aid, _, _ in outcomes}
    mine = [a for a in visible if a.id in covered]
    channels = await r.check_counts(info.id, None if viewer.scope.kind == "city" else [a.id for a in mine])
    return call_macro("check_parts.html", "check_city", lang, info.id, summarize_check(mine, outcomes, channels),
                      {ch: channel_label(lang, ch) for ch in channels})


async def check_form(request: web.Request, viewer: Viewer, lang: str, csrf: str) -> Markup:
    """The console's "send a contact check" button: city admins only."""
    if not viewer.is_city_admin:
        return Markup()
    return call_macro("check_parts.html", "check_form", lang, csrf, await scope_choices(request, viewer))


async def start_check(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    if not viewer.is_city_admin:
        raise not_found()
    form = await read_form(request)
    await check_csrf(request, form)
    if form.get("really") != "1":  # it goes out at once to every contact in scope (QA: one click sent it city-wide)
        return refused(request, Text("console.check_really"), 400)
    scope = str(form.get("scope", ""))
    if scope not in {v for v, _ in await scope_choices(request, viewer)}:
        return refused(request, Text("dash.scope_not_offered"), 400)
    spec = CampaignSpec.for_check((scope,))
    try:
        campaign = await _service(request).launch(spec, source="console", created_by=viewer.login,
                                                  by=viewer.actor, force=form.get("force") == "1")
    except DuplicateCampaign as e:  # what runs, and the start once more behind its own box, as for a drill
        return _ask_again(request, e, "/city/campaigns/check", [("scope", scope)])
    except CampaignError as e:
        return refused(request, e, 409)
    log.info("contact_check_started_from_console", campaign_id=campaign.id)
    raise web.HTTPSeeOther(f"/city?campaign={campaign.id}")


def setup(app: web.Application) -> None:
    app[TALLIES] = TtlCache(app[SERVICES].clock, TALLY_TTL_SECONDS, stale_seconds=TALLY_STALE_SECONDS)
    app.router.add_post("/city/campaigns/check", start_check)
