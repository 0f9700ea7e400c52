"""The channels' webhooks, mounted from the registry: each enabled channel's routes, nothing else.

A channel that is off has no webhook (404). Each route reads its body here (size- and
time-limited, `web/bodies.py`) when its handler asks, after what the headers prove; the handler
(the channel's own `webhook.py`) checks the provider's signature or secret and hands what it
parsed to the `InboundPort` (`replies/inbound.py`). A refusal is a 4xx and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from safetynet.channels import registry
from safetynet.channels.base import WebhookRefused, WebhookRequest, WebhookRoute
from safetynet.config import channel_contexts
from safetynet.replies.enrol import Enrolment
from safetynet.replies.inbound import Inbound
from safetynet.replies.intake import ReplyIntake
from safetynet.web.app import SERVICES, Services, services
from safetynet.web.bodies import BodyError, loads, parse_urlencoded, read_form, read_json, read_raw, refuse
from safetynet.web.replies_common import hook_intake

log = structlog.get_logger("web")

_REFUSALS: dict[int, type[web.HTTPClientError]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType, 429: web.HTTPTooManyRequests,
}


def _handler(route: WebhookRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        public_url = services(request).cfg.server.public_url.rstrip("/") + request.path_qs

        raw: list[bytes] = []  # the body once read: a handler may check a signature over it, then parse it

        async def read() -> bytes:
            if not raw:
                raw.append(await read_raw(request, route.max_bytes))
            return raw[0]

        async def form() -> list[tuple[str, str]]:
            if not raw:
                return list((await read_form(request, route.max_bytes)).items())
            try:
                return parse_urlencoded(raw[0])
            except ValueError as e:
                raise refuse(request, BodyError, f"the form could not be read: {e}"[:200]) from None

        async def json() -> Any:
            if not raw:
                return await read_json(request, route.max_bytes)
            try:
                return loads(raw[0]) if raw[0].strip() else None
            except ValueError as e:
                raise refuse(request, BodyError, f"request body is not valid JSON: {e}"[:200]) from None

        req = WebhookRequest(request.method, request.path, request.query, request.headers, public_url, read,
                             form, json)
        try:
            answer = await route.handle(req)
        except WebhookRefused as e:
            raise _REFUSALS.get(e.status, web.HTTPBadRequest)(text=e.reason) from None
        if answer.status == 204 or not answer.body:
            return web.Response(status=answer.status)
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type,
                            charset="utf-8")

    return handle


def _intake(svc: Services) -> ReplyIntake:
    intake: ReplyIntake | None = svc.intake
    if intake is None:
        raise web.HTTPServiceUnavailable(text="replies are not being taken yet")
    return intake


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    hook_intake(app)
    inbound = Inbound(lambda: _intake(svc), svc.store, svc.cfg, svc.clock,
                      Enrolment(svc.store, svc.cfg, svc.clock, svc.senders))
    contexts = channel_contexts(svc.cfg, clock=svc.clock)
    for route in registry.webhook_routes(contexts, inbound, svc.senders):
        app.router.add_route(route.method, route.path, _handler(route))
