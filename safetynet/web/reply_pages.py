"""`/r/{token}`: the resident's reply page, and the endpoints the service worker posts to.

GET records only `read` (link previewers fetch URLs); POST records the answer. Unknown, malformed
and expired tokens all get the same plain 404 page. Per-IP rate limit and a small body limit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from safetynet.channels import registry
from safetynet.domain import ANSWERED, CampaignKind, CampaignState, Status
from safetynet.domain.records import quick
from safetynet.domain.replies import (
    MAX_PEOPLE,
    NO_DETAILS,
    Location,
    PageState,
    ReplyChannel,
    ReplyDetails,
    ReplyTarget,
    follows_on,
    help_called_since,
)
from safetynet.replies import texts
from safetynet.replies.intake import AnswerResult, ReplyIntake, UnknownToken
from safetynet.replies.tokens import looks_like_token, token_within
from safetynet.store import StoreUnavailable
from safetynet.web import bodies, replies_api
from safetynet.web.app import (
    FAILURE_MESSAGES,
    FRONT_LANE,
    SERVICES,
    Services,
    add_routing_page,
    failure_body,
    failure_headers,
    found,
    json_wanted,
    secured,
    wants_json,
    with_query,
)
from safetynet.web.bodies import read_json_object
from safetynet.web.front import Answer, Ask, Lane
from safetynet.web.ratelimit import client_ip, forwarded_client, retry_after, trusted_networks
from safetynet.web.replies_common import (
    HTML_HEADERS,
    JSON_HEADERS,
    MAX_FORM_BYTES,
    client_key,
    hook_intake,
    html,
    intake_of,
    limiter,
    parse_urlencoded,
    small_form,
    too_large,
)
from safetynet.web.reply_views import (
    alert_text,
    cancelled_page,
    confirmation_page,
    fresh_key,
    not_found_page,
    question_page,
    too_large_answer_page,
    too_large_page,
    too_many_page,
    wrong_method_page,
)

log = structlog.get_logger("web")

_ANSWERS = ("safe", "need_help")
_LOCATIONS = {x.value: x for x in Location}


_UI_LANGUAGES = frozenset(code for code, _ in texts.LANGUAGES)
_DETAIL_FIELDS = ("people_safe", "people_injured", "location", "note")


def _lang(requested: object, target: ReplyTarget) -> str:
    if isinstance(requested, str) and requested in _UI_LANGUAGES:
        return requested
    return texts.ui_language(target.language)


def _people(value: object) -> int | None:
    """A count of people as typed: full-width digits (「２」: QA saw it dropped) and a trailing 人 or 名 read."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().removesuffix("人").removesuffix("名").strip()
    if not text.isascii() or not text.isdigit():
        return None
    n = int(text)
    return n if 0 <= n <= MAX_PEOPLE else None


def _digest(details: ReplyDetails) -> str:
    text = f"{details.people_safe}|{details.people_injured}|{details.location}|{details.note}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Of a place given in words (not home, shelter or elsewhere), what the note keeps in front of the words.
_PLACE_KEPT = 40


def parse_details(form: Any) -> ReplyDetails:
    """Optional details; anything malformed is dropped rather than losing the answer it came with.
    A location in words (「自宅1階」, from an API client or a hand-made form: the page sends only the
    three values) is kept at the head of the note rather than dropped (QA saw it vanish) or refused
    (a 400 would lose the call for help it came with)."""
    if not any(form.get(f) for f in _DETAIL_FIELDS):
        return NO_DETAILS  # the one-tap answer: nothing to read
    loc = form.get("location")
    place = loc.strip() if isinstance(loc, str) else ""
    location = _LOCATIONS.get(place.lower())
    got = form.get("note")
    note = got if isinstance(got, str) else None
    if place and location is None:
        place = place[:_PLACE_KEPT]  # the note is clipped as a whole after: the household's own words stay
        note = f"{place}\n{note}" if note else place
    return ReplyDetails(
        people_safe=_people(form.get("people_safe")),
        people_injured=_people(form.get("people_injured")),
        location=location,
        note=note,
    )


def dead_end_contact(request: web.Request) -> tuple[str, str]:
    """(the number to call, the city's name) for the pages of links and codes that lead nowhere."""
    return _contact(request.app[SERVICES])


def _contact(svc: Services) -> tuple[str, str]:
    city = svc.cfg.city
    return city.contact_phone, city.name


@quick
@dataclass(frozen=True, slots=True)
class Call:
    """What a reply route reads of its request, whichever server parsed it (aiohttp or the front)."""

    token: str
    query: Mapping[str, str]
    ip: str
    query_string: str = ""  # as sent, for a redirect to keep whole
    json_errors: bool = False  # whether a refusal goes out as JSON (`app.json_wanted`)


class ReplyRoutes:
    """The reply routes' answers, apart from the server that carries them: the aiohttp handlers
    below and the front's lane (`lane`) both call these, so each answer has one home."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        replies = svc.cfg.replies
        self.limit = limiter(svc, replies.rate_limit_per_minute, replies.rate_limit_burst or None)
        self.https = svc.cfg.server.public_url.startswith("https://")
        self._html = secured(HTML_HEADERS, self.https)
        self._after_post = {**self._html, "Cache-Control": AFTER_POST}
        self._json = secured(JSON_HEADERS, self.https)
        self._empty = secured({}, self.https)

    def limited(self, call: Call) -> Answer | None:
        """429 when the caller's address is over the per-IP limit (one limit, whichever server took
        the request): text, or `{"error": "Too Many Requests"}` to a client asking for JSON."""
        if self.limit is None:
            return None
        wait = self.limit.hit(call.ip)
        if wait <= 0:
            return None
        if call.json_errors:
            return Answer(429, {**self._json, "Retry-After": retry_after(wait)},
                          json.dumps({"error": "Too Many Requests"}).encode())
        return Answer(429, {**self._html, "Retry-After": retry_after(wait)}, too_many_page().encode())

    def failure(self, ask: Ask, status: int) -> Answer:
        """The app's failure page (503: the store failing, 500: a fault), or its JSON to a client asking for JSON."""
        if json_wanted(ask.path, ask.headers.get("accept", "")):
            return self.json_answer({"error": FAILURE_MESSAGES[status]}, status)
        return Answer(status, secured(failure_headers(status), self.https), failure_body())

    def page_answer(self, body: str | bytes, status: int = 200, after_post: bool = False) -> Answer:
        return Answer(status, self._after_post if after_post else self._html,
                      body if isinstance(body, bytes) else body.encode())

    def json_answer(self, doc: Mapping[str, Any], status: int = 200) -> Answer:
        return Answer(status, self._json, json.dumps(doc).encode())

    def not_found(self, after_post: bool = False) -> Answer:
        return self.page_answer(not_found_page(*_contact(self.svc)), 404, after_post)

    async def question(self, intake: ReplyIntake, call: Call) -> Answer:
        """GET /r/{token}: the question, with the household's answers so far; records `read`."""
        token = call.token
        # the household's latest answers come with it: one read
        state = await intake.resolve_page(token, cancelled_too=True)
        if state is not None and state.target.campaign_state == CampaignState.CANCELLED:
            # nothing to record: a cancelled campaign's page says so, in or after its grace
            return await self._cancelled(intake, call, state.target)
        if state is None:
            clean = token_within(token)
            if clean is not None:  # the link with 「。」 or 「)」 stuck to it: the page it meant
                return self._found_at(f"/r/{clean}", call.query_string)
            return self.not_found()
        target = state.target
        if follows_on(target):  # a closed campaign's link (read only then): the household's running one?
            moved = await intake.running_instead(target)
            if moved is not None:
                return self._found_at(f"/r/{intake.token_of(moved)}", MOVED_QUERY, call.query_string)
        await intake.read(target, ReplyChannel.WEB)
        info = await intake.page(target)
        if info is None:
            return self.not_found()
        lang = _lang(call.query.get("lang"), target)
        notice = texts.t(lang, "reply.moved_here") if call.query.get("moved") == "1" else ""
        body = question_page(token, lang, info.association, info.kind, info.title,
                             alert_text(info.messages, target.language, lang), target.status, state.recent,
                             notice=notice)
        return self.page_answer(body)

    def _found_at(self, path: str, *queries: str) -> Answer:
        """302 to `path` with the queries given (`app.with_query`)."""
        return Answer(302, secured({"Location": with_query(path, *queries),
                                    "Content-Type": "text/plain; charset=utf-8"}, self.https), b"302: Found")

    async def _cancelled(self, intake: ReplyIntake, call: Call, target: ReplyTarget, after_post: bool = False) -> Answer:
        info = await intake.page(target)
        if info is None:
            return self.not_found(after_post)
        lang = _lang(call.query.get("lang"), target)
        return self.page_answer(cancelled_page(lang, info.kind == CampaignKind.DRILL, info.title), 200, after_post)

    async def answer(self, intake: ReplyIntake, call: Call, form: Mapping[str, Any]) -> Answer:
        """POST /r/{token}: the answer form (and the details form) of the reply page."""
        token = call.token
        status = form.get("status")
        if status not in _ANSWERS:
            target = await intake.resolve(token)
            if target is None:
                return self.not_found(after_post=True)
            moved = await intake.running_instead(target)  # a closed campaign's link: the running one's question
            if moved is not None:
                token, target = intake.token_of(moved), moved
            lang = _lang(form.get("lang") or call.query.get("lang"), target)
            return await self._question_again(intake, token, target, lang, "reply.bad_answer", 400)
        assert isinstance(status, str)
        key = client_key(form.get("k")) or fresh_key()
        details = parse_details(form)
        # a details form kept by the browser (Back) and sent again with other words is a new
        # submission, not a retry of the first: the key alone would drop it while the page said
        # "received"; the same words twice stay one reply
        words = "" if details.empty else ":" + _digest(details)
        # the details form of an earlier "safe", from a page kept open while the household asked for
        # help elsewhere: its hidden answer would silently withdraw the request (an injury sent as
        # "safe"). The other way round the details are taken: they can only ask for more help.
        stale = form.get("details") == "1" and status == "safe"
        try:
            result = await intake.answer_token(
                token, status, _via(form.get("via"), ReplyChannel.WEB),
                lambda t: f"web:{t.campaign_id}:{t.household_id}:{key}{words}", details,
                refuse=_asked_for_help if stale else None)
        except UnknownToken:
            cancelled = await intake.cancelled(token)  # a page left open past the grace of a cancel
            if cancelled is not None:
                return await self._cancelled(intake, call, cancelled, after_post=True)
            return self.not_found(after_post=True)
        lang = _lang(form.get("lang") or call.query.get("lang"), result.target)
        token = intake.answered_by(token, result)  # the running campaign's, when the link's campaign had closed
        if result.refused:
            state = await intake.resolve_page(token)
            if state is None:
                return self.not_found(after_post=True)
            return await self._question_again(intake, token, state.target, lang, "reply.stale_details", 409,
                                              state.recent)
        if not result.recorded:
            now = await _answered_otherwise(intake, token, status)
            if now is not None:  # an old form sent again: the answer that stands, nothing changed (409)
                return await self._question_again(intake, token, now.target, lang, "reply.stale_form", 409, now.recent)
        body = confirmation_page(token, lang, status, details, with_details=form.get("details") == "1",
                                 moved=await _moved_words(intake, result, lang))
        return self.page_answer(body, after_post=True)

    async def _question_again(self, intake: ReplyIntake, token: str, target: ReplyTarget, lang: str, notice: str,
                              status: int, recent: tuple[tuple[float, str], ...] = ()) -> Answer:
        """The question once more, with a notice (catalog key `notice`) above it, for an answer not taken."""
        info = await intake.page(target)
        if info is None:
            return self.not_found(after_post=True)
        body = question_page(token, lang, info.association, info.kind, info.title,
                             alert_text(info.messages, target.language, lang), target.status, recent,
                             notice=texts.t(lang, notice))
        return self.page_answer(body, status, after_post=True)

    async def answer_json(self, intake: ReplyIntake, call: Call, doc: Mapping[str, Any]) -> Answer:
        """POST /r/{token}/answer, the push notification's action: `{"status": "safe"|"need_help", "key": "…"}`."""
        status = doc.get("status")
        if status not in _ANSWERS:
            if await intake.resolve(call.token) is None:
                return self.json_answer({"error": "not found"}, 404)
            return self.json_answer({"error": "status must be safe or need_help"}, 400)
        key = client_key(doc.get("key")) or fresh_key()
        made_at = _tapped_at(intake, doc)
        late = await _kept_too_long(intake, call.token, made_at) if status == "safe" else _ON_TIME
        try:
            result = await intake.answer_token(call.token, str(status), _via(doc.get("via")),
                                               lambda t: f"web:{t.campaign_id}:{t.household_id}:{key}",
                                               parse_details(doc), refuse=late.refuse, follow=late.follow,
                                               made_at=made_at, goes_to=late.goes_to)
        except UnknownToken:
            return self.json_answer({"error": "not found"}, 404)
        lang = _lang(doc.get("lang"), result.target)
        standing, message = result.status, ""
        if result.refused:  # the call for help stands: say so, as for an old action sent again
            standing = str(result.target.status)
            message = texts.t(lang, "reply.current", label=texts.status_label(standing, lang))
        elif not result.recorded:  # an old notification's action sent again: say the answer that stands
            now = await _answered_otherwise(intake, intake.answered_by(call.token, result), result.status)
            if now is not None:
                standing = str(now.target.status)
                message = texts.t(lang, "reply.current", label=texts.status_label(standing, lang))
        if not message:  # the notification of a closed campaign: the answer went to the running one, and says so
            message = texts.sentences(lang, [texts.recorded(result.status, lang), await _moved_words(intake, result, lang)])
        return self.json_answer({"status": standing, "recorded": result.recorded, "message": message})

    async def seen(self, intake: ReplyIntake, call: Call) -> Answer:
        """POST /r/{token}/seen: the service worker showed the notification; `read`, never an answer."""
        target = await intake.resolve(call.token)
        if target is None:
            return self.json_answer({"error": "not found"}, 404)
        await intake.read(target, _via(call.query.get("via")))
        return Answer(204, self._empty, b"")


_ROUTES = web.AppKey("reply_routes", ReplyRoutes)


def _call(request: web.Request) -> Call:
    # the query as sent (still escaped): a redirect's Location carries it back whole
    return Call(request.match_info["token"], request.query, client_ip(request), request.rel_url.raw_query_string,
                wants_json(request))


def _response(answer: Answer) -> web.Response:
    return web.Response(body=answer.body or None, status=answer.status, headers=answer.headers)


def _routes(request: web.Request) -> tuple[ReplyRoutes, ReplyIntake]:
    return request.app[_ROUTES], intake_of(request)


async def bare(request: web.Request) -> web.Response:
    routes = request.app[_ROUTES]
    call = Call("", request.query, client_ip(request), request.rel_url.raw_query_string, wants_json(request))
    return _response(routes.limited(call) or routes.not_found())


async def reply_get(request: web.Request) -> web.Response:
    routes, intake = _routes(request)
    call = _call(request)
    return _response(routes.limited(call) or await routes.question(intake, call))


# The page a POST answers may be kept by the resident's own browser, never by a shared cache: Back
# from the page after it then shows it again. Not kept (no-store), Back lands on the browser's
# "Confirm Form Resubmission" error (ERR_CACHE_MISS), which reads as a failure right after answering.
# The URL holds the token either way (the browser's history has it); GET pages stay no-store, so
# Back to the question fetches it anew, with fresh buttons.
AFTER_POST = "private, no-cache"


async def reply_post(request: web.Request) -> web.Response:
    """The answer form (and the details form) of the reply page."""
    routes, intake = _routes(request)
    call = _call(request)
    refused = routes.limited(call)
    if refused is not None:
        return _response(refused)
    if too_large(request):
        return _too_large(request)
    try:
        form = await small_form(request)
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    except (web.HTTPBadRequest, web.HTTPUnsupportedMediaType, web.HTTPRequestTimeout) as e:
        e.headers["Cache-Control"] = AFTER_POST  # as every answer to this form: the browser's Back works
        raise
    return _response(await routes.answer(intake, call, form))


def _asked_for_help(target: ReplyTarget) -> bool:
    return target.status == Status.NEED_HELP


# A tap younger than this is sent as it was made; older, the phone kept it while it had no signal.
KEPT_AFTER_SECONDS = 30.0


def _tapped_at(intake: ReplyIntake, doc: Mapping[str, Any]) -> float | None:
    """When a tap the service worker sends was made (`age_ms`: how long ago, by the phone's own clock,
    so a phone set to the wrong time does not matter), or None when it does not say."""
    age = doc.get("age_ms")
    if isinstance(age, bool) or not isinstance(age, int | float) or not 0 <= age < 1e12:
        return None
    return intake.clock.now() - age / 1000


@dataclass(frozen=True, slots=True)
class _Late:
    """What `_kept_too_long` found of a late tap, for `ReplyIntake.answer_token`: `refuse`, and where a
    closed campaign's tap goes when it read that (`goes_to`, or `follow` False: none running)."""

    refuse: Callable[[ReplyTarget], bool] | None = None
    follow: bool = True
    goes_to: ReplyTarget | None = None


_ON_TIME = _Late()


async def _kept_too_long(intake: ReplyIntake, token: str, tapped_at: float | None) -> _Late:
    """For a "safe" the service worker kept and sends late (`tapped_at`: see `_tapped_at`): a refusal
    when the household has called for help since (on the page, by SMS, to a deputy). One more read,
    only for such late taps; a call for help committed after it is refused too, as newer than any
    kept tap. The household's running campaigns, read here for a closed campaign's tap, are handed
    on: the answer does not read them again."""
    if tapped_at is None or intake.clock.now() - tapped_at < KEPT_AFTER_SECONDS:
        return _ON_TIME
    state = await intake.resolve_page(token)
    if state is None:
        return _ON_TIME  # the answer path says what is wrong with the token
    late = _ON_TIME
    if follows_on(state.target):  # a closed campaign's notification: the running one's
        moved = await intake.running_instead(state.target, tapped_at)
        late = _Late(follow=moved is not None, goes_to=moved)
        if moved is not None:
            state = await intake.resolve_page(intake.token_of(moved))
            if state is None:
                return late
    if help_called_since(state.recent, tapped_at):
        return dataclasses.replace(late, refuse=_asked_for_help)
    seen_help = state.target.status == Status.NEED_HELP  # called before the tap: the tap changes it
    return late if seen_help else dataclasses.replace(late, refuse=_asked_for_help)


# The query of the redirect from a closed campaign's link to the running campaign's page: the page says why.
MOVED_QUERY = "moved=1"


async def _moved_words(intake: ReplyIntake, result: AnswerResult, lang: str) -> str:
    """`reply.moved` when the answer went to the household's running campaign rather than the closed
    one of the link (the two titles), else nothing."""
    if result.moved_from is None:
        return ""
    old, new = await intake.page(result.moved_from), await intake.page(result.target)
    if old is None or new is None:
        return ""
    return texts.t(lang, "reply.moved", old=old.title, new=new.title)


async def _answered_otherwise(intake: ReplyIntake, token: str, status: str) -> PageState | None:
    """The household as it stands when a form already sent (its key was seen) said `status` and
    the household's answer is now another: Back and reload resend an old form, and a page saying
    "recorded" would then tell the resident something the city does not have. Read again after
    the answer's commit: the target read before it may predate a concurrent answer."""
    now = await intake.resolve_page(token)  # with the household's answers: the page shows them
    if now is None or now.target.status not in ANSWERED or str(now.target.status) == status:
        return None
    return now


def _too_large(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    response = html(too_large_answer_page(token) if looks_like_token(token) else too_large_page(), status=413)
    response.headers["Cache-Control"] = AFTER_POST
    return response


async def reply_json(request: web.Request) -> web.Response:
    """The push notification's action: `{"status": "safe"|"need_help", "key": "…"}` → 200 JSON."""
    routes, intake = _routes(request)
    call = _call(request)
    refused = routes.limited(call)
    if refused is not None:
        return _response(refused)
    doc = await read_json_object(request, MAX_FORM_BYTES)
    return _response(await routes.answer_json(intake, call, doc))


async def reply_seen(request: web.Request) -> web.Response:
    """The service worker showed the notification: `read`, never an answer."""
    routes, intake = _routes(request)
    call = _call(request)
    return _response(routes.limited(call) or await routes.seen(intake, call))


def _via(value: object, default: str | None = None) -> str:
    """The channel that carried an answer, as the notification's service worker names it (`via`: its
    payload's channel); a notification from an older worker says nothing or "push": the channel
    whose contacts are browser subscriptions."""
    if registry.is_channel(value):
        return str(value)
    if default is not None and value != "push":
        return default
    return registry.subscription_channel() or ReplyChannel.WEB


def routing_page(request: web.Request, status: int) -> web.Response | None:
    """The router's 404 and 405 under /r/ (`/r/{token}/x`, `DELETE /r/{token}`): the reply dead ends."""
    if not request.path.startswith("/r/"):
        return None
    if status == 405:
        token = request.path[3:].partition("/")[0]
        return html(wrong_method_page(f"/r/{token}" if looks_like_token(token) else ""), status=405)
    clean = token_within(request.path[3:]) if request.method in ("GET", "HEAD") else None
    if clean is not None:  # `/r/TOKEN/` or `/r/TOKEN/…`, a slash typed or glued on: the page it meant
        return found(f"/r/{clean}", request)
    return html(not_found_page(*dead_end_contact(request)), status=404)


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    add_routing_page(app, routing_page)
    app[_ROUTES] = ReplyRoutes(svc)
    app[FRONT_LANE] = lane(app)
    hook_intake(app)
    app.router.add_get("/r/{token}", reply_get)
    app.router.add_get("/r/", bare)  # a link cut before its token: the dead end, not aiohttp's plain 404
    app.router.add_post("/r/{token}", reply_post)
    app.router.add_post("/r/{token}/answer", reply_json)
    app.router.add_post("/r/{token}/seen", reply_seen)
    replies_api.setup(app)


# -- the front's lane (web.front) ----------------------------------------------------------------

# A form without a Content-Type is aiohttp's (`read_form`: 415), a JSON body without one is read (`read_json`)
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8"})
_JSON_TYPES = frozenset({"", "application/json", "application/json; charset=utf-8"})
_POST_TAILS = frozenset({b"", b"answer", b"seen"})


def lane_takes(method: bytes, path: bytes) -> bool:
    """The reply routes with a plain token: GET /r/{token}, POST /r/{token}[/answer|/seen]. A path with
    escapes (a link with 「。」 stuck to it arrives as %E3%80%82) or another method is aiohttp's."""
    if not path.startswith(b"/r/") or bodies.PERCENT in path:  # by its value: quicker (bodies)
        return False
    token, slash, tail = path[3:].partition(b"/")
    if not token:
        return False
    if method == b"GET":
        return not slash
    return method == b"POST" and (not slash or (tail != b"" and tail in _POST_TAILS))


def _query(raw: str) -> dict[str, str]:
    """As aiohttp's `request.query.get`: names and values unescaped, the first of a repeated name."""
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(k, v)
    return out


def lane(app: web.Application) -> Lane:
    """The reply routes as the front serves them: the same `ReplyRoutes` as the aiohttp handlers. A
    body the front would read otherwise than aiohttp (another content type, bytes that are not
    UTF-8, a JSON document that is not an object) is aiohttp's: `None`, before anything is counted."""
    svc = app[SERVICES]
    routes = app[_ROUTES]
    proxies = svc.cfg.server.trusted_proxies

    async def serve(ask: Ask) -> Answer | None:
        intake = svc.intake
        if intake is None:
            return None
        token, _, tail = ask.path[3:].partition("/")
        body: Mapping[str, Any] = {}
        if ask.method == "POST" and tail != "seen":
            types = _JSON_TYPES if tail else _FORM_TYPES
            if ask.headers.get("content-type", "").lower() not in types:
                return None
            try:
                body = (bodies.loads(ask.body) if ask.body.strip() else {}) if tail else parse_urlencoded(ask.body)
            except ValueError:
                return None
            if not isinstance(body, dict):
                return None
        ip = ask.peer
        if proxies:
            forwarded = ask.headers.get("x-forwarded-for")
            ip = forwarded_client(ask.peer, [forwarded] if forwarded else [], trusted_networks(proxies))
        call = Call(token, _query(ask.query) if ask.query else {}, ip, ask.query,
                    json_wanted(ask.path, ask.headers.get("accept", "")))
        refused = routes.limited(call)
        if refused is not None:
            return refused
        try:
            if ask.method == "GET":
                return await routes.question(intake, call)
            if tail == "answer":
                return await routes.answer_json(intake, call, body)
            if tail == "seen":
                return await routes.seen(intake, call)
            return await routes.answer(intake, call, body)
        except StoreUnavailable:
            log.error("request_refused_store_unavailable", path="/r/…")
            return routes.failure(ask, 503)

    return Lane(takes=lane_takes, serve=serve, failure=routes.failure,
                reads=frozenset({b"content-length", b"content-type", b"x-forwarded-for", b"accept"}))
