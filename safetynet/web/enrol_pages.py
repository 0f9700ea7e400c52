"""`/join/{code}`: a household enrols its own channels from the code on its letter.

The code in the URL is the household's capability (no cookie, so no ambient credential to forge).
Every request is rate-limited per IP; failed code lookups have their own, stricter budget; SMS
confirmation codes are limited per IP and per household.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from safetynet.channels import telegram, webpush
from safetynet.clock import Clock
from safetynet.domain import Channel
from safetynet.replies import texts
from safetynet.replies.enrol import ChannelRefused, Enrolment, EnrolmentError
from safetynet.web.app import SERVICES, Services, json_error, services
from safetynet.web.bodies import read_json
from safetynet.web.enrol_views import bad_code_page, join_page, remove_confirm_page
from safetynet.web.ratelimit import KeyedRateLimit, client_ip, enforce
from safetynet.web.replies_common import MAX_FORM_BYTES, html, small_form, too_large

log = structlog.get_logger("web")

JOIN_PER_MINUTE = 30
# Failed code lookups an address may make in a window: codes have 80 bits, this stops a script.
BAD_CODES_PER_WINDOW = 10
BAD_CODE_WINDOW_SECONDS = 600.0
SMS_CODES_PER_MINUTE = 0.5  # with a burst of 3
# A browser subscription is well under 1 KB.
MAX_SUBSCRIPTION_BYTES = 4096


class FailureBudget:
    """Failures per key in a fixed window; `exhausted` is checked before the lookup it guards."""

    def __init__(self, clock: Clock, limit: int, window_seconds: float) -> None:
        self.clock, self.limit, self.window = clock, limit, window_seconds
        self._seen: dict[str, tuple[int, float]] = {}

    def exhausted(self, key: str) -> float:
        n, start = self._seen.get(key, (0, 0.0))
        left = start + self.window - self.clock.monotonic()
        return left if n >= self.limit and left > 0 else 0.0

    def fail(self, key: str) -> None:
        now = self.clock.monotonic()
        n, start = self._seen.get(key, (0, now))
        if now - start > self.window:
            n, start = 0, now
        self._seen[key] = (n + 1, start)
        if len(self._seen) > 100_000:
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] <= self.window}


@dataclass
class _JoinState:
    requests: KeyedRateLimit
    sms: KeyedRateLimit
    bad_codes: FailureBudget
    server_key: str = ""
    bot_username: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_STATE = web.AppKey("join_state", _JoinState)


def _enrolment(svc: Services) -> Enrolment:
    return Enrolment(svc.store, svc.cfg, svc.clock, svc.senders)


def _guard(request: web.Request) -> None:
    """Per-IP request limit, and 429 once the address spent its failed-code budget."""
    state = request.app[_STATE]
    ip = client_ip(request)
    enforce(state.requests, ip)
    wait = state.bad_codes.exhausted(ip)
    if wait > 0:
        raise web.HTTPTooManyRequests(text="too many wrong codes; please wait",
                                      headers={"Retry-After": str(int(wait) + 1)})


def _bad_code(request: web.Request, as_json: bool = False) -> web.Response:
    request.app[_STATE].bad_codes.fail(client_ip(request))
    return json_error(404, "unknown enrolment code") if as_json else html(bad_code_page(), status=404)


_UI_LANGUAGES = frozenset(code for code, _ in texts.LANGUAGES)


def _lang(requested: object, household_lang: str) -> str:
    if isinstance(requested, str) and requested in _UI_LANGUAGES:
        return requested
    return texts.ui_language(household_lang)


async def _server_key(request: web.Request) -> str:
    state, svc = request.app[_STATE], services(request)
    if not state.server_key:
        sender = svc.senders.get(Channel.WEBPUSH)
        keys = getattr(sender, "keys", None) or webpush.load_or_create_vapid(svc.cfg.data_dir)
        state.server_key = keys.application_server_key
    return state.server_key


async def _bot_username(request: web.Request) -> str:
    """The bot's username for the t.me deep link, asked once (getMe); "" when Telegram is off or down."""
    state, svc = request.app[_STATE], services(request)
    async with state.lock:
        if state.bot_username is None:
            sender = svc.senders.get(Channel.TELEGRAM)
            name = ""
            if isinstance(sender, telegram.TelegramSender):
                try:
                    name = await asyncio.wait_for(sender.check(), timeout=5)
                except Exception as e:  # the page works without the link
                    log.warning("telegram_getme_failed", error_class=type(e).__name__)
                    return ""
            state.bot_username = name
        return state.bot_username


async def _render(request: web.Request, code: str, lang_hint: object, notice_key: str = "",
                  code_sent: bool = False, status: int = 200) -> web.Response:
    try:
        household, channels = await _enrolment(services(request)).channels(code)
    except EnrolmentError:
        return _bad_code(request)
    lang = _lang(lang_hint, household.language)
    body = join_page(code, lang, household, channels, await _server_key(request), await _bot_username(request),
                     notice=texts.t(lang, notice_key) if notice_key else "", code_sent=code_sent)
    return html(body, status=status)


async def join_get(request: web.Request) -> web.Response:
    _guard(request)
    return await _render(request, request.match_info["code"], request.query.get("lang"))


async def join_webpush(request: web.Request) -> web.Response:
    _guard(request)
    if too_large(request, MAX_SUBSCRIPTION_BYTES):
        return json_error(413, "subscription too large")
    sub = await read_json(request, MAX_SUBSCRIPTION_BYTES)
    try:
        contact = await _enrolment(services(request)).add_webpush(request.match_info["code"], sub)
    except EnrolmentError:
        return _bad_code(request, as_json=True)
    except ValueError as e:
        return json_error(400, str(e))
    return web.json_response({"ok": True, "contact_id": contact.id}, status=201)


async def join_phone(request: web.Request) -> web.Response:
    _guard(request)
    form = await small_form(request, MAX_FORM_BYTES)
    code = request.match_info["code"]
    try:
        await _enrolment(services(request)).household(code)
    except EnrolmentError:
        return _bad_code(request)
    if request.app[_STATE].sms.hit(client_ip(request)) > 0:
        return await _render(request, code, form.get("lang"), "enrol_too_many", status=429)
    try:
        await _enrolment(services(request)).start_phone(code, str(form.get("phone", "")))
    except ChannelRefused as e:
        return await _render(request, code, form.get("lang"), e.key, status=400)
    return await _render(request, code, form.get("lang"), "enrol_code_sent", code_sent=True)


async def join_phone_confirm(request: web.Request) -> web.Response:
    _guard(request)
    form = await small_form(request, MAX_FORM_BYTES)
    code = request.match_info["code"]
    try:
        await _enrolment(services(request)).confirm_phone(code, str(form.get("sms_code", "")))
    except EnrolmentError:
        return _bad_code(request)
    except ChannelRefused as e:
        return await _render(request, code, form.get("lang"), e.key, code_sent=True, status=400)
    return await _render(request, code, form.get("lang"), "enrol_phone_done")


async def join_remove(request: web.Request) -> web.Response:
    """削除 first asks (naming the contact, and warning when it is the household's last one);
    the contact goes only when that answer comes back with `confirm=1`."""
    _guard(request)
    form = await small_form(request, MAX_FORM_BYTES)
    code = request.match_info["code"]
    raw = str(form.get("contact_id", ""))
    contact_id = int(raw) if raw.isascii() and raw.isdigit() else -1
    enrolment = _enrolment(services(request))
    if form.get("confirm") != "1":
        try:
            household, channels = await enrolment.channels(code)
        except EnrolmentError:
            return _bad_code(request)
        chosen = next((c for c in channels if c.contact_id == contact_id), None)
        if chosen is None:  # not one of this household's: the page as it is
            return await _render(request, code, form.get("lang"))
        lang = _lang(form.get("lang"), household.language)
        return html(remove_confirm_page(code, lang, household, chosen, last=len(channels) == 1))
    try:
        removed = await enrolment.remove(code, contact_id)
    except EnrolmentError:
        return _bad_code(request)
    return await _render(request, code, form.get("lang"), "enrol_removed" if removed else "")


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    app[_STATE] = _JoinState(
        requests=KeyedRateLimit(svc.clock, per_minute=JOIN_PER_MINUTE),
        sms=KeyedRateLimit(svc.clock, per_minute=SMS_CODES_PER_MINUTE, burst=3),
        bad_codes=FailureBudget(svc.clock, BAD_CODES_PER_WINDOW, BAD_CODE_WINDOW_SECONDS),
    )
    app.router.add_get("/join/{code}", join_get)
    app.router.add_post("/join/{code}/webpush", join_webpush)
    app.router.add_post("/join/{code}/phone", join_phone)
    app.router.add_post("/join/{code}/phone/confirm", join_phone_confirm)
    app.router.add_post("/join/{code}/remove", join_remove)
