"""SMS through twilio's async client: sending, segment counting, and the inbound webhooks.

Outbound: `SmsSender`. Inbound (pure, no store access): `verify_signature`, `parse_inbound`,
`parse_status` and `merge_status` for status callbacks that arrive out of order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.request_validator import RequestValidator

from safetynet.channels.base import OutboundMessage, SendResult, send_logged
from safetynet.channels.twilio_http import TwilioAccount, classify
from safetynet.config import Config, Secrets, SmsConfig
from safetynet.domain import Channel

# --- segments ----------------------------------------------------------------------------------

# GSM 03.38 default alphabet (without the escape 0x1B) and its extension table (2 septets each).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")
_GSM7_ALL = _GSM7 | _GSM7_EXT
# One SMS holds 140 bytes; concatenated parts spend 6 of them on the UDH.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# Cost control: 4 UCS-2 parts are 268 characters, ample for an alert and its reply link.
MAX_SEGMENTS = 4
# Twilio refuses bodies over 1,600 characters outright.
MAX_BODY_CHARS = 1600


def segment_count(text: str) -> int:
    """How many SMS parts Twilio bills for `text` (GSM-7 when possible, otherwise UCS-2)."""
    if _GSM7_ALL.issuperset(text):
        units = len(text) + sum(1 for c in text if c in _GSM7_EXT)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        # UCS-2 counts UTF-16 code units: characters beyond the BMP (emoji) take two.
        units = len(text.encode("utf-16-le")) // 2
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else math.ceil(units / part)


def fit_sms(text: str, reply_url: str, max_segments: int = MAX_SEGMENTS) -> tuple[str, int]:
    """(`text`, its segments) if it fits `max_segments`, else its start cut with "…" and the reply URL kept whole."""
    segments = segment_count(text)
    if segments <= max_segments and len(text) <= MAX_BODY_CHARS:
        return text, segments
    body = text.replace(reply_url, "").rstrip() if reply_url else text
    tail = f"…\n{reply_url}" if reply_url else "…"
    lo, hi = 0, len(body)
    # Largest prefix that still fits; segment_count grows monotonically with the prefix.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segment_count(body[:mid].rstrip() + tail) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    fitted = body[:lo].rstrip() + tail
    return fitted, segment_count(fitted)


# --- sending -----------------------------------------------------------------------------------


class SmsSender:
    name = Channel.SMS

    def __init__(self, cfg: SmsConfig, secrets: Secrets, public_url: str) -> None:
        self.cfg = cfg
        self._status_url = f"{public_url.rstrip('/')}/hooks/twilio/status"
        self._account = TwilioAccount(secrets, cfg.api_base_url, cfg.timeout_seconds, cfg.concurrency)
        self._messages: Any = None

    async def start(self) -> None:
        self._messages = (await self._account.open()).messages

    async def close(self) -> None:
        await self._account.close()
        self._messages = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(Channel.SMS, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        if self._messages is None:
            raise RuntimeError("SmsSender.start() was not called")
        body, segments = fit_sms(msg.text, msg.reply_url)
        try:
            created = await self._messages.create_async(
                to=msg.address, from_=self.cfg.from_number, body=body, status_callback=self._status_url
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise classify(e, self._account.redact) from e
        return SendResult(created.sid, segments, segments * self.cfg.price_per_segment_jpy)


def from_config(cfg: Config, public_url: str) -> SmsSender:
    return SmsSender(cfg.channels.sms, cfg.secrets, public_url)


# --- inbound -----------------------------------------------------------------------------------


def verify_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True when `signature` (X-Twilio-Signature) signs `url` and every received param.

    `url` must be the public URL Twilio called (`public_url + request.path_qs`), not the URL the
    request reached behind a proxy.
    """
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


@dataclass(frozen=True, slots=True)
class InboundSms:
    message_sid: str
    from_: str
    to: str
    body: str


def parse_inbound(params: Mapping[str, str]) -> InboundSms:
    """An inbound SMS webhook; ValueError when it lacks what identifies it."""
    sid, from_ = params.get("MessageSid", ""), params.get("From", "")
    if not sid or not from_:
        raise ValueError("inbound SMS without MessageSid or From")
    return InboundSms(sid, from_, params.get("To", ""), params.get("Body", ""))


@dataclass(frozen=True, slots=True)
class StatusCallback:
    provider_id: str
    state: str  # sent | delivered | undelivered | failed
    error_code: int | None


# Twilio message statuses to our closed set. Inbound-only statuses (receiving, received) are absent.
MESSAGE_STATES: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    # Some parts did not arrive; the reply link may be in the lost part, so the ladder goes on.
    "partially_delivered": "undelivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# Out-of-order callbacks keep the highest rank; equal ranks keep what was recorded first.
STATE_RANK: dict[str, int] = {"sent": 1, "undelivered": 2, "failed": 2, "delivered": 3}


def error_code(params: Mapping[str, str]) -> int | None:
    raw = params.get("ErrorCode") or ""
    return int(raw) if raw.isdigit() else None


def parse_status(params: Mapping[str, str]) -> StatusCallback | None:
    """A message status callback; None when the status says nothing about delivery."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    state = MESSAGE_STATES.get((params.get("MessageStatus") or params.get("SmsStatus") or "").lower())
    if not sid or state is None:
        return None
    return StatusCallback(sid, state, error_code(params))


def merge_status(old: str | None, new: str) -> str:
    """The state to keep when `new` arrives after `old` (callbacks are not ordered)."""
    if old is None or STATE_RANK.get(new, 0) > STATE_RANK.get(old, 0):
        return new
    return old
