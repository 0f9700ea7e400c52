"""`/city/letters`: a city admin prints the enrolment letters of a district or an association.

Making letters issues codes (the store keeps only their hashes), so it is a POST behind the session's
CSRF token, one at a time per server, and the new codes are committed only once the whole file is
made. The page makes at most LETTERS_PER_REQUEST letters (about 20 seconds of work, rendered in a worker
thread); a whole city is `safetynet roster letters` on the server.
"""

from __future__ import annotations

import asyncio
import io

import structlog
from aiohttp import web

from safetynet import i18n
from safetynet.auth import Viewer
from safetynet.domain import Scope
from safetynet.domain.audit import AuditAction
from safetynet.domain.japan_time import in_japan
from safetynet.domain.roster import UnknownScopeError
from safetynet.i18n import Text
from safetynet.roster.codes import MissingSecretKey
from safetynet.roster.letters import FORMATS, TooManyLetters, sample_reasons, write_letters
from safetynet.web.app import check_csrf, require_viewer, services
from safetynet.web.audit_api import record
from safetynet.web.bodies import read_form
from safetynet.web.dash_shell import not_found, reads, refused, render
from safetynet.web.dash_text import lang_of

log = structlog.get_logger("web")

LETTERS_PER_REQUEST = 2000
MAX_FORM_BYTES = 4096
_LOCK = web.AppKey("letters_lock", asyncio.Lock)
_TYPES = {"pdf": "application/pdf", "html": "text/html"}


def _admin(request: web.Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.is_city_admin or viewer.staff_id is None:
        raise not_found()
    return viewer


async def _page(request: web.Request, notice: str = "", status: int = 200) -> web.Response:
    lang = lang_of(request)
    assocs = await reads(request).associations()
    scopes = [("city", i18n.t(lang, "letters.page_scope_city"))]
    scopes += [(f"district:{d}", d) for d in sorted({a.district for a in assocs})]
    scopes += [(f"association:{a.name}", f"{a.district} / {a.name}") for a in assocs]
    return render(request, i18n.t(lang, "letters.page_title"), template="letters_form.html", status=status,
                  no_store=True, context={"notice": notice, "scopes": scopes, "max_letters": LETTERS_PER_REQUEST,
                                          "sample": sample_reasons(services(request).cfg, lang)})


async def letters_form(request: web.Request) -> web.Response:
    _admin(request)
    return await _page(request)


async def make_letters(request: web.Request) -> web.StreamResponse:
    viewer = _admin(request)
    form = await read_form(request, MAX_FORM_BYTES)
    await check_csrf(request, form)
    lang = lang_of(request)
    fmt = str(form.get("format", "pdf"))
    try:
        scope = str(Scope.parse(str(form.get("scope", ""))))
    except ValueError:
        return await _page(request, i18n.t(lang, "letters.page_bad_scope"), status=400)
    if fmt not in FORMATS:
        return await _page(request, i18n.t(lang, "letters.page_bad_scope"), status=400)
    rotate = form.get("which") == "rotate"
    svc = services(request)
    buf = io.BytesIO()
    async with request.app[_LOCK]:
        try:
            hashes = await write_letters(svc.store.roster, svc.cfg, buf, fmt, scopes=[scope], rotate=rotate,
                                         limit=LETTERS_PER_REQUEST)
        except TooManyLetters as e:
            notice = i18n.t(lang, "letters.page_too_many", count=e.count, max=e.limit)
            return await _page(request, notice, status=400)
        except UnknownScopeError:
            return await _page(request, i18n.t(lang, "letters.page_bad_scope"), status=400)
        except MissingSecretKey:
            return refused(request, Text("letters.page_no_secret_key"), 503, back="/city/letters")
        if not hashes:
            return await _page(request, i18n.t(lang, "letters.page_none"))
        await svc.store.roster.set_enrolment_codes(hashes)
    log.info("enrolment_letters_issued", letters=len(hashes), scope=scope, rotate=rotate, format=fmt,
             by=viewer.login)
    record(request, viewer, AuditAction.EXPORT, "letters", detail=f"{fmt}, {len(hashes)} households, {scope}")
    stamp = in_japan(svc.clock.now()).strftime("%Y%m%d-%H%M")
    return web.Response(
        body=buf.getvalue(), content_type=_TYPES[fmt], charset="utf-8" if fmt == "html" else None,
        headers={"Content-Disposition": f'attachment; filename="letters-{stamp}.{fmt}"', "Cache-Control": "no-store"},
    )


def setup(app: web.Application) -> None:
    app[_LOCK] = asyncio.Lock()
    app.router.add_get("/city/letters", letters_form)
    app.router.add_post("/city/letters", make_letters)
