"""Voice calls through twilio: a keypad safety check (1 safe, 2 need help) read in the household's language.

Flow: the call carries inline TwiML with `<Gather numDigits=1 actionOnEmptyResult>` whose action is
`{public_url}/hooks/twilio/voice?t={token}`. The webhook answers with `answer_twiml` (1 or 2),
`retry_twiml` (no or another key, first time; its action adds `&retry=1`) or `no_input_twiml`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import Gather, VoiceResponse

from safetynet.channels.base import OutboundMessage, SendResult, send_logged
from safetynet.channels.sms import StatusCallback, error_code
from safetynet.channels.twilio_http import TwilioAccount, classify
from safetynet.config import Config, Secrets, VoiceConfig
from safetynet.domain import Channel
from safetynet.i18n import t

# Text-to-speech languages the catalogs have voice prompts in; other household languages hear Japanese.
SAY_LANGUAGE = {"ja": "ja-JP", "en": "en-US"}
_RECORDED = {"safe": "voice.safe_recorded", "need_help": "voice.need_help_recorded"}
DIGIT_STATUS = {"1": "safe", "2": "need_help"}
# Seconds the keypad waits after the prompt; elderly callers need more than Twilio's default 5.
GATHER_TIMEOUT_SECONDS = 8
# Seconds the phone rings before Twilio gives up (no-answer).
RING_SECONDS = 40
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def _lang(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ja"


def gather_url(public_url: str, reply_token: str, retry: bool = False) -> str:
    url = f"{public_url.rstrip('/')}/hooks/twilio/voice?t={quote(reply_token, safe='')}"
    return url + "&retry=1" if retry else url


# Stands for the action URL in the cached documents; replaced by the escaped URL per call.
_ACTION = "https://action.invalid/gather"


@functools.lru_cache(maxsize=32)
def _gather_template(lang: str, drill: bool, retry: bool) -> str:
    say = SAY_LANGUAGE[lang]
    vr = VoiceResponse()
    g = Gather(
        num_digits=1,
        input="dtmf",
        timeout=GATHER_TIMEOUT_SECONDS,
        action=_ACTION,
        method="POST",
        action_on_empty_result=True,
    )
    if drill:
        g.say(t(lang, "voice.drill"), language=say)
    if retry:
        g.say(t(lang, "voice.retry"), language=say)
    g.say(t(lang, "voice.prompt"), language=say)
    g.pause(length=1)
    g.say(t(lang, "voice.prompt"), language=say)
    vr.append(g)
    return str(vr)


def gather_twiml(public_url: str, reply_token: str, language: str, drill: bool = False, retry: bool = False) -> str:
    """The keypad question, read twice, inside one `<Gather>` that posts to the reply token's action URL."""
    template = _gather_template(_lang(language), drill, retry)
    return template.replace(_ACTION, xml_escape(gather_url(public_url, reply_token, retry), {'"': "&quot;"}))


def retry_twiml(public_url: str, reply_token: str, language: str) -> str:
    return gather_twiml(public_url, reply_token, language, retry=True)


def answer_twiml(status: str, language: str) -> str:
    lang = _lang(language)
    vr = VoiceResponse()
    vr.say(t(lang, _RECORDED[status]), language=SAY_LANGUAGE[lang])
    vr.hangup()
    return str(vr)


def no_input_twiml(language: str) -> str:
    lang = _lang(language)
    vr = VoiceResponse()
    vr.say(t(lang, "voice.no_input"), language=SAY_LANGUAGE[lang])
    vr.hangup()
    return str(vr)


def parse_gather(params: Mapping[str, str]) -> str:
    """The digits pressed; "" when the caller pressed nothing."""
    return (params.get("Digits") or "").strip()


def digit_status(digits: str) -> str | None:
    """"safe", "need_help", or None for no or another key."""
    return DIGIT_STATUS.get(digits)


def gather_reply(digits: str, retry: bool, public_url: str, reply_token: str, language: str) -> tuple[str | None, str]:
    """The recorded status (None: no answer) and the TwiML to answer a Gather callback with."""
    status = digit_status(digits)
    if status is not None:
        return status, answer_twiml(status, language)
    if not retry:
        return None, retry_twiml(public_url, reply_token, language)
    return None, no_input_twiml(language)


# Twilio call statuses to our closed set: answered means delivered; busy/no-answer are worth another try.
CALL_STATES: dict[str, str] = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "delivered",
    "answered": "delivered",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "canceled": "failed",
    "failed": "failed",
}


def parse_call_status(params: Mapping[str, str]) -> StatusCallback | None:
    """A call status callback (it carries CallSid/CallStatus, where a message's carries MessageSid)."""
    sid = params.get("CallSid") or ""
    state = CALL_STATES.get((params.get("CallStatus") or "").lower())
    if not sid or state is None:
        return None
    return StatusCallback(sid, state, error_code(params))


class VoiceSender:
    name = Channel.VOICE

    def __init__(self, cfg: VoiceConfig, secrets: Secrets, public_url: str) -> None:
        self.cfg = cfg
        self.public_url = public_url.rstrip("/")
        self._account = TwilioAccount(secrets, cfg.api_base_url, cfg.timeout_seconds, cfg.concurrency)
        self._calls: Any = None

    async def start(self) -> None:
        self._calls = (await self._account.open()).calls

    async def close(self) -> None:
        await self._account.close()
        self._calls = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(Channel.VOICE, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        if self._calls is None:
            raise RuntimeError("VoiceSender.start() was not called")
        twiml = gather_twiml(self.public_url, msg.reply_token, msg.language, drill=msg.drill)
        try:
            call = await self._calls.create_async(
                to=msg.address,
                from_=self.cfg.from_number,
                twiml=twiml,
                status_callback=f"{self.public_url}/hooks/twilio/status",
                status_callback_event=CALL_EVENTS,
                timeout=RING_SECONDS,
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise classify(e, self._account.redact) from e
        return SendResult(call.sid, None, self.cfg.price_per_call_jpy)


def from_config(cfg: Config, public_url: str) -> VoiceSender:
    return VoiceSender(cfg.channels.voice, cfg.secrets, public_url)
