"""`POST /api/triggers/jma` and `/api/triggers/cap`: telegrams pushed to us, for city admins only.

Real 震源・震度情報 telegrams reach ~400 KB, past the app-wide body limit, so these two routes
read their body themselves up to the parser's own limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from safetynet.domain.campaigns import Actor
from safetynet.triggers.service import TriggerService, handle_cap, handle_jma
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES
from safetynet.web.app import check_csrf, json_error, require_viewer, services
from safetynet.web.bodies import read_raw

Handle = Callable[[TriggerService, bytes, Actor], Awaitable[tuple[int, dict[str, Any]]]]


async def _body(request: web.Request) -> bytes | None:
    """The raw body, or None if it is larger than the limit (refused before reading it all)."""
    try:
        return await read_raw(request, MAX_BODY_BYTES)
    except web.HTTPRequestEntityTooLarge:
        return None


async def _ingest(request: web.Request, handle: Handle) -> web.Response:
    viewer = require_viewer(request)
    await check_csrf(request)  # from a browser session the header X-CSRF-Token is needed
    if not viewer.is_city_admin:
        return json_error(403, "only a city admin may push trigger telegrams")
    svc = services(request)
    if svc.triggers is None:
        return json_error(503, "triggers are not running")
    body = await _body(request)
    if body is None:
        return json_error(413, f"telegram larger than {MAX_BODY_BYTES} bytes")
    # the one who pushed it is the first of the two people for a real event it starts (DESIGN §9)
    status, doc = await handle(svc.triggers, body, viewer.actor)
    return web.json_response(doc, status=status)


async def jma(request: web.Request) -> web.Response:
    return await _ingest(request, handle_jma)


async def cap(request: web.Request) -> web.Response:
    return await _ingest(request, handle_cap)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/triggers/jma", jma)
    app.router.add_post("/api/triggers/cap", cap)
