"""Provider webhooks: Twilio (inbound SMS, status callbacks, voice keypad) and Telegram.

Each one proves it comes from its provider first: X-Twilio-Signature over the public URL Twilio
called (`server.public_url + path_qs`, not the URL behind a proxy) and every received param, or
Telegram's secret-token header. A forged request gets 403 and changes nothing. Provider retries are
deduplicated by the provider's own id (MessageSid, CallSid, callback query id).

A channel that is off has no webhooks (404), and the sandbox's public Twilio credential verifies
nothing for a channel that talks to a real provider (`config.twilio_webhook_token`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from telegram.error import TelegramError
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from safetynet.channels import sms, telegram, voice
from safetynet.config import SmsConfig, VoiceConfig, twilio_webhook_token
from safetynet.domain import Channel, Status
from safetynet.domain_phones import PhoneError, to_e164
from safetynet.replies import texts
from safetynet.replies.enrol import Enrolment, EnrolmentError
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.keywords import has_words_beyond_keyword, parse_keyword
from safetynet.replies.model import ReplyChannel, ReplyDetails, ReplyTarget
from safetynet.replies.tokens import reply_token, reply_url
from safetynet.web.app import SERVICES, Services, services
from safetynet.web.bodies import read_form, read_json
from safetynet.web.ratelimit import KeyedRateLimit
from safetynet.web.replies_common import hook_intake, intake_of

log = structlog.get_logger("web")

# An inbound SMS body is at most 1,600 characters; url-encoded UTF-8 with Twilio's params fits this.
MAX_TWILIO_BYTES = 32 * 1024
# /start attempts a chat may make a minute (codes are unguessable; this stops a script trying).
START_PER_MINUTE = 10


@dataclass(frozen=True)
class _HookState:
    starts: KeyedRateLimit


_STATE = web.AppKey("hooks_state", _HookState)


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/xml", charset="utf-8")


def _twilio_channels(svc: Services, *names: str) -> tuple[SmsConfig | VoiceConfig, ...]:
    """The enabled ones of the named Twilio channels; 404 when none is (a channel that is off has no webhooks)."""
    live = tuple(ch for ch in (getattr(svc.cfg.channels, n) for n in names) if ch.enabled)
    if not live:
        raise web.HTTPNotFound(text="not found")
    return live


async def _signed_params(request: web.Request, *channels: SmsConfig | VoiceConfig) -> Mapping[str, Any]:
    """The form Twilio posted, or 403 when X-Twilio-Signature does not sign it (every param, repeats too)."""
    svc = services(request)
    params = await read_form(request, MAX_TWILIO_BYTES)
    url = svc.cfg.server.public_url.rstrip("/") + request.path_qs
    signature = request.headers.get("X-Twilio-Signature")
    if not sms.verify_signature(twilio_webhook_token(svc.cfg, *channels), url, params, signature):
        log.warning("webhook_refused", hook=request.path, reason="bad_signature")
        raise web.HTTPForbidden(text="bad signature")
    return params


# -- SMS ---------------------------------------------------------------------------------------


async def sms_hook(request: web.Request) -> web.Response:
    params = await _signed_params(request, *_twilio_channels(services(request), "sms"))
    try:
        inbound = sms.parse_inbound({k: str(v) for k, v in params.items()})
    except ValueError:
        raise web.HTTPBadRequest(text="not an inbound SMS") from None
    svc = services(request)
    targets = await svc.store.replies.running_targets_by_phone(_e164(inbound.from_))
    reply = await answer_sms(svc, intake_of(request), inbound, targets)
    mr = MessagingResponse()
    mr.message(reply)
    return _twiml(str(mr))


def _e164(number: str) -> str:
    try:
        return to_e164(number)
    except PhoneError:
        return number.strip()


async def answer_sms(svc: Services, intake: ReplyIntake, inbound: sms.InboundSms, targets: list[ReplyTarget]) -> str:
    """Records what an SMS says for the households of its phone; returns the text to answer with."""
    if not targets:
        log.info("sms_without_campaign")
        return texts.t(svc.cfg.city.default_language, "sms_none")
    lang = targets[0].language
    status = parse_keyword(inbound.body)
    note = inbound.body if has_words_beyond_keyword(inbound.body) else None
    if status is None:
        for t in targets:
            await intake.note(t, inbound.body, ReplyChannel.SMS, f"sms:{inbound.message_sid}:{t.household_id}")
        return texts.t(lang, "sms_help")
    if len(targets) > 1 and status == Status.SAFE:
        # "Safe" from a phone several households share could mark the wrong one safe: ask per household.
        for t in targets:
            await intake.note(t, inbound.body, ReplyChannel.SMS, f"sms:{inbound.message_sid}:{t.household_id}")
        links = [reply_url(svc.cfg.server.public_url, reply_token(svc.cfg.secrets.secret_key, t.campaign_id,
                                                                   t.household_id)) for t in targets]
        return "\n".join([texts.t(lang, "sms_many"), *links])
    for t in targets:  # need help is taken for every household of the phone: a false alarm is cheaper
        await intake.answer(t, status, ReplyChannel.SMS, f"sms:{inbound.message_sid}:{t.household_id}",
                            ReplyDetails(note=note))
    return texts.sms_confirmation(str(status), lang)


async def status_hook(request: web.Request) -> web.Response:
    """Message and call status callbacks: delivery state for the outbox row of that provider id."""
    params = await _signed_params(request, *_twilio_channels(services(request), "sms", "voice"))
    flat = {k: str(v) for k, v in params.items()}
    cb = sms.parse_status(flat) if "MessageSid" in flat or "SmsSid" in flat else voice.parse_call_status(flat)
    if cb is not None:
        # The outbox owns delivery rows; it keeps the highest-ranked state (callbacks arrive out of order).
        known = await services(request).store.campaigns.outbox.record_provider_status(
            cb.provider_id, cb.state, cb.error_code
        )
        if not known:
            # Not recorded yet (the callback beat the send's commit), or not ours: the outbox holds it
            # for a while and applies it if the id is recorded; Twilio gets its 204 either way.
            log.info("status_callback_held", state=cb.state)
    return web.Response(status=204)


# -- voice -------------------------------------------------------------------------------------


async def voice_hook(request: web.Request) -> web.Response:
    """The keypad answer: 1 safe, 2 need help; no input asks once more, then ends as no answer."""
    params = await _signed_params(request, *_twilio_channels(services(request), "voice"))
    svc = services(request)
    intake = intake_of(request)
    token = request.query.get("t", "")
    target = await intake.resolve(token)
    if target is None:
        vr = VoiceResponse()
        vr.say(texts.t("ja", "not_found"), language="ja-JP")
        vr.hangup()
        return _twiml(str(vr))
    retry = request.query.get("retry") == "1"
    call_sid = str(params.get("CallSid", ""))
    status, twiml = voice.gather_reply(voice.parse_gather(params), retry, svc.cfg.server.public_url, token,
                                       target.language)
    stage = "retry" if retry else "first"
    if status is not None:
        await intake.answer(target, status, ReplyChannel.VOICE, f"voice:{call_sid}:{stage}")
    elif retry:
        await intake.note(target, "voice: no answer", ReplyChannel.VOICE, f"voice:{call_sid}:no_answer")
    return _twiml(twiml)


# -- Telegram ----------------------------------------------------------------------------------


def _telegram_sender(svc: Services) -> telegram.TelegramSender | None:
    sender = svc.senders.get(Channel.TELEGRAM)
    return sender if isinstance(sender, telegram.TelegramSender) else None


async def telegram_hook(request: web.Request) -> web.Response:
    svc = services(request)
    if not svc.cfg.channels.telegram.enabled:
        raise web.HTTPNotFound(text="not found")
    expected = telegram.webhook_secret(svc.cfg.secrets.secret_key) if svc.cfg.secrets.secret_key else ""
    if not telegram.verify_secret(request.headers.get(telegram.SECRET_HEADER), expected):
        log.warning("webhook_refused", hook=request.path, reason="bad_secret")
        raise web.HTTPForbidden(text="bad secret token")
    update = telegram.parse_update(await read_json(request))
    if isinstance(update, telegram.TelegramCallback):
        await _telegram_callback(svc, intake_of(request), update)
    elif isinstance(update, telegram.TelegramStart):
        await _telegram_start(request, svc, update)
    # Telegram retries any non-2xx: whatever we could not use is still acknowledged.
    return web.json_response({"ok": True})


async def _telegram_callback(svc: Services, intake: ReplyIntake, cb: telegram.TelegramCallback) -> None:
    sender = _telegram_sender(svc)
    parsed = telegram.parse_callback_data(cb.data)
    target = await intake.resolve(parsed[1]) if parsed else None
    if parsed is None or target is None:
        if sender is not None:
            await _answer_query(sender, cb.query_id, texts.t("ja", "not_found"))
        return
    answer = parsed[0]
    await intake.answer(target, answer, ReplyChannel.TELEGRAM, f"tg:{cb.query_id}")
    if sender is not None:
        await sender.acknowledge(cb, answer, texts.ui_language(target.language))


async def _answer_query(sender: telegram.TelegramSender, query_id: str, text: str) -> None:
    try:
        await sender.bot.answer_callback_query(query_id, text=text)
    except TelegramError as e:
        log.warning("telegram_ack_failed", error_class=type(e).__name__)


async def _telegram_start(request: web.Request, svc: Services, start: telegram.TelegramStart) -> None:
    """`/start CODE`: this chat becomes the household's Telegram contact."""
    if request.app[_STATE].starts.hit(f"tg:{start.chat_id}") > 0:
        text = texts.t("ja", "enrol_slow_down")
    else:
        try:
            found = await Enrolment(svc.store, svc.cfg, svc.clock).link_telegram(start.code, start.chat_id)
            text = texts.t(found.language, "enrol_telegram_done", association=found.association)
        except EnrolmentError:
            text = texts.t("ja", "enrol_bad_code")
    sender = _telegram_sender(svc)
    if sender is None:
        return
    try:
        await sender.bot.send_message(chat_id=start.chat_id, text=text)
    except TelegramError as e:
        log.warning("telegram_send_failed", error_class=type(e).__name__)


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    app[_STATE] = _HookState(KeyedRateLimit(svc.clock, per_minute=START_PER_MINUTE))
    hook_intake(app)
    app.router.add_post("/hooks/twilio/sms", sms_hook)
    app.router.add_post("/hooks/twilio/status", status_hook)
    app.router.add_post("/hooks/twilio/voice", voice_hook)
    app.router.add_post("/hooks/telegram", telegram_hook)
