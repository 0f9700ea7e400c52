"""`/join/{code}`: a household enrols its own channels from the code on its letter.

Each enrolling channel (its spec's `enrolment`) has `/join/{code}/{channel}`: a browser's push
subscription, or an address to confirm by a code (`…/confirm`) or a link (`GET …/confirm` shows
a button, its POST confirms). The code in the URL is the household's capability (no cookie, so no
ambient credential to forge). Every request is rate-limited per IP; failed code lookups have their
own, stricter budget; confirmation codes and links sent are limited per IP and per household.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import structlog
from aiohttp import web

from safetynet.channels import registry
from safetynet.channels.spec import (
    ENROL_CONFIRM_CODE,
    ENROL_CONFIRM_LINK,
    ENROL_SUBSCRIPTION,
    ChannelSpec,
    load,
)
from safetynet.clock import Clock
from safetynet.config import channel_context
from safetynet.domain.audit import AuditEntry
from safetynet.privacy.audit import AuditBacklog
from safetynet.replies import texts
from safetynet.replies.enrol import (
    ChannelRefused,
    Enrolment,
    EnrolmentError,
    SubscriptionGone,
    link_secret,
    removal_entry,
)
from safetynet.replies.tokens import token_part
from safetynet.replies.words import enrol_word
from safetynet.roster.codes import CodeError, normalize_code
from safetynet.web.app import SERVICES, Services, add_routing_page, found, json_error, services
from safetynet.web.audit_api import AUDIT
from safetynet.web.bodies import read_json
from safetynet.web.enrol_views import (
    allow_words,
    bad_code_page,
    confirm_link_page,
    join_page,
    no_channel_page,
    remove_confirm_page,
    type_code_page,
)
from safetynet.web.ids import parse_id
from safetynet.web.pwa import in_app_browser, is_ios
from safetynet.web.ratelimit import KeyedRateLimit, client_ip
from safetynet.web.replies_common import (
    MAX_FORM_BYTES,
    NO_INDEX,
    html,
    limit_ip,
    small_form,
    too_large,
    too_many,
)
from safetynet.web.reply_views import wrong_method_page

log = structlog.get_logger("web")

JOIN_PER_MINUTE = 30
# Failed code lookups an address may make in a window: codes have 80 bits, this stops a script.
BAD_CODES_PER_WINDOW = 10
BAD_CODE_WINDOW_SECONDS = 600.0
# Confirmation codes and links sent (SMS cost money; mail must not be a spam cannon): per IP.
CONFIRMS_PER_MINUTE = 0.5  # with a burst of 3
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
    confirms: KeyedRateLimit
    bad_codes: FailureBudget


_STATE = web.AppKey("join_state", _JoinState)


def _enrolment(svc: Services) -> Enrolment:
    return Enrolment(svc.store, svc.cfg, svc.clock, svc.senders)


def _guard(request: web.Request) -> None:
    """Per-IP request limit, and 429 once the address spent its failed-code budget."""
    state = request.app[_STATE]
    ip = client_ip(request)
    limit_ip(state.requests, request)
    wait = state.bad_codes.exhausted(ip)
    if wait > 0:
        raise too_many(wait)


def _bad_code(request: web.Request, as_json: bool = False) -> web.Response:
    request.app[_STATE].bad_codes.fail(client_ip(request))
    if as_json:
        return json_error(404, "unknown enrolment code")
    city = services(request).cfg.city
    return html(bad_code_page(city.contact_phone, city.name), status=404)


_UI_LANGUAGES = frozenset(code for code, _ in texts.LANGUAGES)


def _lang(requested: object, household_lang: str) -> str:
    if isinstance(requested, str) and requested in _UI_LANGUAGES:
        return requested
    return texts.ui_language(household_lang)


async def _sections(request: web.Request, code: str) -> list[tuple[ChannelSpec, dict[str, str]]]:
    """Each enabled enrolling channel, with what its section shows (a push key, a bot's link, the
    configured values its words name: the address email comes from)."""
    svc = services(request)
    out = []
    for spec in _enrolment(svc).enabled():
        assert spec.enrolment is not None
        shown: dict[str, str] = dict(svc.cfg.channels.get(spec.name).resident_words())
        if spec.enrolment.page is not None:
            ctx = channel_context(svc.cfg, spec.name, clock=svc.clock)
            try:
                shown.update(await load(spec.enrolment.page)(ctx, svc.senders.get(spec.name), code))
            except Exception as e:  # the page works without a channel's extras
                log.warning("enrol_page_part_failed", channel=spec.name, error_class=type(e).__name__)
        out.append((spec, shown))
    return out


async def _render(request: web.Request, code: str, lang_hint: object, notice: tuple[str, str] = ("", ""),
                  code_sent: str = "", status: int = 200) -> web.Response:
    """The page; `notice` = (channel, role) of the channel's words to show on top, or ("", text key)."""
    try:
        household, channels = await _enrolment(services(request)).channels(code)
    except EnrolmentError:
        return _bad_code(request)
    lang = _lang(lang_hint, household.language)
    sections = await _sections(request, code)
    body = join_page(code, lang, household, channels, sections,
                     notice=_notice(lang, *notice, sections=sections), code_sent=code_sent,
                     ios=is_ios(agent := request.headers.get("User-Agent", "")), in_app=in_app_browser(agent))
    return html(body, status=status)


def _notice(lang: str, channel: str, key: str,
            sections: Sequence[tuple[ChannelSpec, Mapping[str, str]]] = ()) -> str:
    if not key:
        return ""
    if not channel:
        return texts.t(lang, key)
    spec = registry.spec(channel)
    text = enrol_word(spec, lang, key)
    if key == "sent":  # what a phone taking mail only from chosen senders must allow, or the mail never comes
        shown = next((shown for s, shown in sections if s.name == channel), {})
        text = texts.sentences(lang, (text, allow_words(spec, lang, shown)))
    return text


def _is_code(text: str) -> bool:
    try:
        normalize_code(text)
    except CodeError:
        return False
    return True


async def join_get(request: web.Request) -> web.Response:
    _guard(request)
    code = request.match_info["code"]
    clean = None if _is_code(code) else token_part(code, _is_code)
    if clean is not None:  # the letter's link with 「。」 or the next words stuck to it: the page it meant
        return found(f"/join/{quote(clean, safe='')}", request, NO_INDEX)
    return await _render(request, code, request.query.get("lang"))


def _channel(request: web.Request, *methods: str) -> ChannelSpec:
    """The enrolling channel the URL names, if it is on and enrols by one of `methods`; else 404."""
    name = request.match_info["channel"]
    enrolment = _enrolment(services(request))
    spec = next((s for s in enrolment.enabled() if s.name == name), None)
    if spec is None or spec.enrolment is None or spec.enrolment.method not in methods:
        # a resident's page: the catalog's words, not English (a script asking for JSON gets JSON)
        city = services(request).cfg.city
        raise web.HTTPNotFound(text=no_channel_page(request.match_info["code"], city.contact_phone, city.name),
                               content_type="text/html", headers=NO_INDEX)
    return spec


async def join_channel(request: web.Request) -> web.Response:
    """A browser's subscription (JSON → 201), or an address to confirm (form → the page, code sent)."""
    _guard(request)
    spec = _channel(request, ENROL_SUBSCRIPTION, ENROL_CONFIRM_CODE, ENROL_CONFIRM_LINK)
    assert spec.enrolment is not None
    code = request.match_info["code"]
    if spec.enrolment.method == ENROL_SUBSCRIPTION:
        return await _subscribe(request, spec, code)
    form = await small_form(request, MAX_FORM_BYTES)
    try:
        await _enrolment(services(request)).household(code)
    except EnrolmentError:
        return _bad_code(request)
    if request.app[_STATE].confirms.hit(client_ip(request)) > 0:
        return await _render(request, code, form.get("lang"), (spec.name, "too_many"), status=429)
    try:
        await _enrolment(services(request)).start_confirm(spec.name, code, str(form.get("address", "")))
    except ChannelRefused as e:
        return await _render(request, code, form.get("lang"), (spec.name, e.role), status=400)
    return await _render(request, code, form.get("lang"), (spec.name, "sent"), code_sent=spec.name)


async def _subscribe(request: web.Request, spec: ChannelSpec, code: str) -> web.Response:
    if too_large(request, MAX_SUBSCRIPTION_BYTES):
        return json_error(413, "subscription too large")
    sub = await read_json(request, MAX_SUBSCRIPTION_BYTES)
    try:
        contact = await _enrolment(services(request)).subscribe(spec.name, code, sub)
    except EnrolmentError:
        return _bad_code(request, as_json=True)
    except SubscriptionGone:  # the page unsubscribes, subscribes anew and sends that one (enrol.js)
        return json_error(410, "this subscription is gone at its push service: subscribe anew")
    except ValueError as e:
        return json_error(400, str(e))
    return web.json_response({"ok": True, "contact_id": contact.id}, status=201)


async def join_confirm_get(request: web.Request) -> web.Response:
    """A confirmation link opened: a page with the button that confirms (never confirms by itself)."""
    _guard(request)
    spec = _channel(request, ENROL_CONFIRM_LINK)
    code = request.match_info["code"]
    try:
        household = await _enrolment(services(request)).summary(code)
    except EnrolmentError:
        return _bad_code(request)
    lang = _lang(request.query.get("lang"), household.language)
    return html(confirm_link_page(code, lang, household, spec, link_secret(request.query.get("t", ""))))


async def join_confirm(request: web.Request) -> web.Response:
    _guard(request)
    spec = _channel(request, ENROL_CONFIRM_CODE, ENROL_CONFIRM_LINK)
    assert spec.enrolment is not None
    form = await small_form(request, MAX_FORM_BYTES)
    code = request.match_info["code"]
    sent = spec.name if spec.enrolment.method == ENROL_CONFIRM_CODE else ""
    try:
        await _enrolment(services(request)).confirm(spec.name, code, str(form.get("confirm_code", "")))
    except EnrolmentError:
        return _bad_code(request)
    except ChannelRefused as e:
        return await _render(request, code, form.get("lang"), (spec.name, e.role), code_sent=sent, status=400)
    return await _render(request, code, form.get("lang"), (spec.name, "done"))


async def join_remove(request: web.Request) -> web.Response:
    """削除 first asks (naming the contact, and warning when it is the household's last one);
    the contact goes only when that answer comes back with `confirm=1`."""
    _guard(request)
    form = await small_form(request, MAX_FORM_BYTES)
    code = request.match_info["code"]
    raw = str(form.get("contact_id", ""))
    contact_id = parse_id(raw) or -1  # one rule for ids (web.ids): no contact has id 0
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
    if removed is not None:
        _audit(request, removal_entry(services(request).clock.now(), removed))
    return await _render(request, code, form.get("lang"), ("", "enrol.list.removed" if removed else ""))


def _audit(request: web.Request, entry: AuditEntry) -> None:
    """Queues the entry (written in the background, retried, spilled at shutdown). The resident's removal
    stands if the audit log is backed up: it is theirs to make; the failure is logged."""
    try:
        request.app[AUDIT].record(entry)
    except AuditBacklog as e:
        log.error("enrol_audit_unwritten", action=entry.action, household_id=entry.household_id, error=str(e))


async def join_typed(request: web.Request) -> web.Response:
    """The bad-code page's field: the code typed again, opened as `/join/{code}`."""
    _guard(request)
    code = request.query.get("code", "").strip()[:64]
    if not code:  # nothing typed yet (`/join` opened by hand): the field to type it, no error
        return html(type_code_page(services(request).cfg.city.contact_phone, services(request).cfg.city.name))
    raise web.HTTPSeeOther(f"/join/{quote(code, safe='')}")


def routing_page(request: web.Request, status: int) -> web.Response | None:
    """The router's 404 and 405 under /join (`GET /join/{code}/sms`: a form's address opened again,
    `/join/{code}/x/y`): the enrolment dead ends, with the way back to the household's page."""
    path = request.path
    if path != "/join" and not path.startswith("/join/"):
        return None
    code = path[6:].partition("/")[0]
    if status == 405:
        return html(wrong_method_page(f"/join/{quote(code, safe='')}" if code else "", "enrol.back"), status=405)
    if not code:
        return found("/join", request, NO_INDEX) if request.method == "GET" else None  # `/join/`: the field to type it
    if status == 404 and request.method == "GET" and path == f"/join/{code}/":
        return found(f"/join/{quote(code, safe='')}", request, NO_INDEX)  # the letter's link with a slash stuck to it
    city = services(request).cfg.city
    return html(no_channel_page(code, city.contact_phone, city.name), status=404)


async def push_renew(request: web.Request) -> web.Response:
    """POST /push/renew `{"old": subscription, "new": subscription}`, from the service worker when the
    browser renewed its push subscription by itself: 204, 404 when no contact holds the old one."""
    _guard(request)
    if too_large(request, 2 * MAX_SUBSCRIPTION_BYTES):
        return json_error(413, "subscription too large")
    doc = await read_json(request, 2 * MAX_SUBSCRIPTION_BYTES)
    if not isinstance(doc, dict):
        return json_error(400, "expected {old, new}")
    try:
        await _enrolment(services(request)).renew(doc.get("old"), doc.get("new"))
    except ValueError as e:
        return json_error(400, str(e))
    except LookupError:
        return json_error(404, "no such subscription")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    add_routing_page(app, routing_page)
    app[_STATE] = _JoinState(
        requests=KeyedRateLimit(svc.clock, per_minute=JOIN_PER_MINUTE),
        confirms=KeyedRateLimit(svc.clock, per_minute=CONFIRMS_PER_MINUTE, burst=3),
        bad_codes=FailureBudget(svc.clock, BAD_CODES_PER_WINDOW, BAD_CODE_WINDOW_SECONDS),
    )
    app.router.add_post("/push/renew", push_renew)
    app.router.add_get("/join", join_typed)
    app.router.add_get("/join/{code}", join_get)
    # before the channel routes: "remove" is no channel
    app.router.add_post("/join/{code}/remove", join_remove)
    app.router.add_post("/join/{code}/{channel}", join_channel)
    app.router.add_get("/join/{code}/{channel}/confirm", join_confirm_get)
    app.router.add_post("/join/{code}/{channel}/confirm", join_confirm)
