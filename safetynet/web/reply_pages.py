"""`/r/{token}`: the resident's reply page, and the endpoints the service worker posts to.

GET records only `read` (link previewers fetch URLs); POST records the answer. Unknown, malformed
and expired tokens all get the same plain 404 page. Per-IP rate limit and a small body limit.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from safetynet.channels import registry
from safetynet.domain import ANSWERED, Status
from safetynet.domain.replies import (
    MAX_PEOPLE,
    NO_DETAILS,
    Location,
    PageState,
    ReplyChannel,
    ReplyDetails,
    ReplyTarget,
)
from safetynet.replies import texts
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.tokens import looks_like_token, token_within
from safetynet.web import replies_api
from safetynet.web.app import SERVICES, json_error
from safetynet.web.bodies import read_json_object
from safetynet.web.ratelimit import KeyedRateLimit
from safetynet.web.replies_common import (
    MAX_FORM_BYTES,
    client_key,
    hook_intake,
    html,
    intake_of,
    limit_ip,
    limiter,
    small_form,
    too_large,
)
from safetynet.web.reply_views import (
    alert_text,
    confirmation_page,
    fresh_key,
    not_found_page,
    question_page,
    too_large_answer_page,
    too_large_page,
)

_ANSWERS = ("safe", "need_help")
_LOCATIONS = {x.value: x for x in Location}


@dataclass(frozen=True)
class _Limits:
    reply: KeyedRateLimit | None


_LIMITS = web.AppKey("reply_limits", _Limits)


def _limit(request: web.Request) -> None:
    limit_ip(request.app[_LIMITS].reply, request)


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


def parse_details(form: Any) -> ReplyDetails:
    """Optional details; anything malformed is dropped rather than losing the answer it came with."""
    if not any(form.get(f) for f in _DETAIL_FIELDS):
        return NO_DETAILS  # the one-tap answer: nothing to read
    loc = form.get("location")
    note = form.get("note")
    return ReplyDetails(
        people_safe=_people(form.get("people_safe")),
        people_injured=_people(form.get("people_injured")),
        location=_LOCATIONS.get(loc) if isinstance(loc, str) else None,
        note=note if isinstance(note, str) else None,
    )


def dead_end_contact(request: web.Request) -> tuple[str, str]:
    """(the number to call, the city's name) for the pages of links and codes that lead nowhere."""
    city = request.app[SERVICES].cfg.city
    return city.contact_phone, city.name


def _not_found(request: web.Request) -> web.Response:
    return html(not_found_page(*dead_end_contact(request)), status=404)


async def bare(request: web.Request) -> web.Response:
    _limit(request)
    return _not_found(request)


async def reply_get(request: web.Request) -> web.Response:
    _limit(request)
    intake = intake_of(request)
    token = request.match_info["token"]
    state = await intake.resolve_page(token)  # the household's latest answers come with it: one read
    if state is None:
        clean = token_within(token)
        if clean is not None:  # the link with 「。」 or 「)」 stuck to it: the page it meant
            raise web.HTTPFound(request.rel_url.with_path(f"/r/{clean}").with_query(request.rel_url.query))
        return _not_found(request)
    target = state.target
    await intake.read(target, ReplyChannel.WEB)
    info = await intake.page(target)
    if info is None:
        return _not_found(request)
    lang = _lang(request.query.get("lang"), target)
    body = question_page(token, lang, info.association, info.kind, info.title,
                         alert_text(info.messages, target.language, lang), target.status, state.recent)
    return html(body)


# The page a POST answers may be kept by the resident's own browser, never by a shared cache: Back
# from the page after it then shows it again. Not kept (no-store), Back lands on the browser's
# "Confirm Form Resubmission" error (ERR_CACHE_MISS), which reads as a failure right after answering.
# The URL holds the token either way (the browser's history has it); GET pages stay no-store, so
# Back to the question fetches it anew, with fresh buttons.
AFTER_POST = "private, no-cache"


async def reply_post(request: web.Request) -> web.Response:
    """The answer form (and the details form) of the reply page."""
    response = await _reply_post(request)
    response.headers["Cache-Control"] = AFTER_POST
    return response


async def _reply_post(request: web.Request) -> web.Response:
    _limit(request)
    if too_large(request):
        return _too_large(request)
    try:
        form = await small_form(request)
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    intake = intake_of(request)
    token = request.match_info["token"]
    target = await intake.resolve(token)
    if target is None:
        return _not_found(request)
    lang = _lang(form.get("lang") or request.query.get("lang"), target)
    status = form.get("status")
    if status not in _ANSWERS:
        return await _bad_answer(request, token, target, lang)
    assert isinstance(status, str)
    key = client_key(form.get("k")) or fresh_key()
    channel = _via(form.get("via"), ReplyChannel.WEB)
    details = parse_details(form)
    if form.get("details") == "1" and status == "safe" and target.status == Status.NEED_HELP:
        # the details form of an earlier "safe", from a page kept open while the household asked for
        # help elsewhere: its hidden answer would silently withdraw the request (an injury sent as
        # "safe"). The other way round the details are taken: they can only ask for more help.
        state = await intake.resolve_page(token)
        if state is not None:
            return await _question_again(request, token, state.target, lang, "reply.stale_details", 409,
                                         state.recent)
    dedupe = f"web:{target.campaign_id}:{target.household_id}:{key}"
    if not details.empty:
        # a details form kept by the browser (Back) and sent again with other words is a new
        # submission, not a retry of the first: the key alone would drop it while the page said
        # "received"; the same words twice stay one reply
        dedupe += ":" + _digest(details)
    result = await intake.answer(target, status, channel, dedupe, details)
    if not result.recorded:
        now = await _answered_otherwise(intake, token, status)
        if now is not None:
            return await _stale_form(request, token, now, lang)
    return html(confirmation_page(token, lang, status, details, with_details=form.get("details") == "1"))


async def _answered_otherwise(intake: ReplyIntake, token: str, status: str) -> PageState | None:
    """The household as it stands when a form already sent (its key was seen) said `status` and
    the household's answer is now another: Back and reload resend an old form, and a page saying
    "recorded" would then tell the resident something the city does not have. Read again after
    the answer's commit: the target read before it may predate a concurrent answer."""
    now = await intake.resolve_page(token)  # with the household's answers: the page shows them
    if now is None or now.target.status not in ANSWERED or str(now.target.status) == status:
        return None
    return now


async def _stale_form(request: web.Request, token: str, state: PageState, lang: str) -> web.Response:
    """The question with the answer that stands, its history, and a notice that nothing changed (409)."""
    return await _question_again(request, token, state.target, lang, "reply.stale_form", 409, state.recent)


def _too_large(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    return html(too_large_answer_page(token) if looks_like_token(token) else too_large_page(), status=413)


async def _bad_answer(request: web.Request, token: str, target: ReplyTarget, lang: str) -> web.Response:
    return await _question_again(request, token, target, lang, "reply.bad_answer", 400)


async def _question_again(request: web.Request, token: str, target: ReplyTarget, lang: str, notice: str,
                          status: int, recent: tuple[tuple[float, str], ...] = ()) -> web.Response:
    """The question once more, with a notice (catalog key `notice`) above it, for an answer not taken."""
    info = await intake_of(request).page(target)
    if info is None:
        return _not_found(request)
    body = question_page(token, lang, info.association, info.kind, info.title,
                         alert_text(info.messages, target.language, lang), target.status, recent,
                         notice=texts.t(lang, notice))
    return html(body, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    return await read_json_object(request, MAX_FORM_BYTES)


async def reply_json(request: web.Request) -> web.Response:
    """The push notification's action: `{"status": "safe"|"need_help", "key": "…"}` → 200 JSON."""
    _limit(request)
    doc = await _json_body(request)
    intake = intake_of(request)
    target = await intake.resolve(request.match_info["token"])
    if target is None:
        return json_error(404, "not found")
    status = doc.get("status")
    if status not in _ANSWERS:
        return json_error(400, "status must be safe or need_help")
    key = client_key(doc.get("key")) or fresh_key()
    details = parse_details(doc)
    result = await intake.answer(target, str(status), _via(doc.get("via")),
                                 f"web:{target.campaign_id}:{target.household_id}:{key}", details)
    lang = _lang(doc.get("lang"), target)
    standing, message = result.status, texts.recorded(result.status, lang)
    if not result.recorded:  # an old notification's action sent again: say the answer that stands
        now = await _answered_otherwise(intake, request.match_info["token"], result.status)
        if now is not None:
            standing = str(now.target.status)
            message = texts.t(lang, "reply.current", label=texts.status_label(standing, lang))
    return web.json_response({"status": standing, "recorded": result.recorded, "message": message},
                             headers={"Cache-Control": "no-store"})


async def reply_seen(request: web.Request) -> web.Response:
    """The service worker showed the notification: `read`, never an answer."""
    _limit(request)
    intake = intake_of(request)
    target = await intake.resolve(request.match_info["token"])
    if target is None:
        return json_error(404, "not found")
    await intake.read(target, _via(request.query.get("via")))
    return web.Response(status=204)


def _via(value: object, default: str | None = None) -> str:
    """The channel that carried an answer, as the notification's service worker names it (`via`: its
    payload's channel); a notification from an older worker says nothing or "push": the channel
    whose contacts are browser subscriptions."""
    if registry.is_channel(value):
        return str(value)
    if default is not None and value != "push":
        return default
    return registry.subscription_channel() or ReplyChannel.WEB


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    replies = svc.cfg.replies
    app[_LIMITS] = _Limits(limiter(svc, replies.rate_limit_per_minute, replies.rate_limit_burst or None))
    hook_intake(app)
    app.router.add_get("/r/{token}", reply_get)
    app.router.add_get("/r/", bare)  # a link cut before its token: the dead end, not aiohttp's plain 404
    app.router.add_post("/r/{token}", reply_post)
    app.router.add_post("/r/{token}/answer", reply_json)
    app.router.add_post("/r/{token}/seen", reply_seen)
    replies_api.setup(app)

