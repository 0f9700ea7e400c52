"""What the reply, webhook and enrolment routes share: the intake, size-limited forms, plain pages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from safetynet.replies.intake import ReplyIntake
from safetynet.replies.notify import HelpNotifier
from safetynet.web import bodies
from safetynet.web.app import SECURITY_HEADERS, SERVICES, Services, wants_json
from safetynet.web.bodies import BodyError, read_form
from safetynet.web.ratelimit import KeyedRateLimit, client_ip, retry_after
from safetynet.web.reply_views import too_many_page, unreadable_page

# Answer forms are a few short fields; nothing legitimate comes near this.
MAX_FORM_BYTES = 4096
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_INTAKE_HOOKED = web.AppKey("replies_intake_hooked", bool)


def build_intake(svc: Services) -> ReplyIntake:
    """The intake with a need-help notifier queueing over the enabled channels (a dispatcher of this
    process, if any, is woken; another's finds the alerts at its next poll)."""
    notifier = HelpNotifier(svc.store, svc.cfg, svc.cfg.channels.enabled(), svc.clock,
                            on_queued=svc.dispatcher.wake if svc.dispatcher is not None else None)
    return ReplyIntake(svc.store, svc.cfg, svc.clock, notifier, metrics=svc.metrics)


def hook_intake(app: web.Application) -> None:
    """Creates the intake at startup if the server did not, and drains its alerts at cleanup."""
    if app.get(_INTAKE_HOOKED):
        return
    app[_INTAKE_HOOKED] = True

    async def startup(app: web.Application) -> None:
        svc = app[SERVICES]
        if svc.intake is None:
            svc.intake = build_intake(svc)
        await svc.intake.start()

    async def cleanup(app: web.Application) -> None:
        intake = app[SERVICES].intake
        if intake is not None:
            await intake.stop()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)


def intake_of(request: web.Request) -> ReplyIntake:
    intake: ReplyIntake | None = request.app[SERVICES].intake
    if intake is None:
        raise web.HTTPServiceUnavailable(text="replies are not being taken yet")
    return intake


def limiter(svc: Services, per_minute: float, burst: int | None = None) -> KeyedRateLimit | None:
    """A per-IP limit; None when `per_minute` is 0 (a benchmark from one address)."""
    return KeyedRateLimit(svc.clock, per_minute=per_minute, burst=burst) if per_minute > 0 else None


def limit_ip(limit: KeyedRateLimit | None, request: web.Request) -> None:
    if limit is not None:
        wait = limit.hit(client_ip(request))
        if wait > 0:
            raise too_many(wait)


def too_many(wait: float) -> web.HTTPTooManyRequests:
    """429 on a resident's page: the catalog's words, Japanese first, then English (whose page it
    is may be unknown); an API client gets JSON from the app's guard."""
    return web.HTTPTooManyRequests(text=too_many_page(), content_type="text/html",
                                   headers={"Retry-After": retry_after(wait)})


def too_large(request: web.Request, max_bytes: int = MAX_FORM_BYTES) -> bool:
    return bodies.too_large(request, max_bytes)


async def small_form(request: web.Request, max_bytes: int = MAX_FORM_BYTES) -> Mapping[str, Any]:
    """The POSTed form; 413 when the body is over `max_bytes` (checked before reading it). A form
    that cannot be read (400, 415, 408) is a page of the catalog's words to a browser: the bodies'
    own message is English and quotes Python's."""
    try:
        return await read_form(request, max_bytes)
    except (BodyError, web.HTTPUnsupportedMediaType, web.HTTPRequestTimeout) as e:
        if wants_json(request):
            raise
        raise type(e)(text=unreadable_page(e.status), content_type="text/html") from None


def parse_urlencoded(raw: bytes) -> dict[str, str]:
    """`a=1&b=x+y` → {"a": "1", "b": "x y"}; the first value of a repeated name wins (as MultiDict.get)."""
    form: dict[str, str] = {}
    for k, v in bodies.parse_urlencoded(raw):
        form.setdefault(k, v)
    return form


def client_key(value: object) -> str | None:
    """The client's idempotency key if well formed (a retried POST sends the same one)."""
    return value if isinstance(value, str) and _KEY_RE.match(value) else None


# Reply and enrolment URLs carry secrets: never indexed (nor cached: the response hook's no-store).
NO_INDEX = {"X-Robots-Tag": "noindex"}
# The security headers too: the response hook then has nothing to add (2 µs of a reply page).
HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                 **SECURITY_HEADERS}


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Reply and enrolment URLs carry secrets: never cached, never indexed.
    h = {**HTML_HEADERS, **headers} if headers else HTML_HEADERS
    return web.Response(body=body.encode(), status=status, headers=h)
