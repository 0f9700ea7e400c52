"""What every channel shares: the message, the result, the error family, the Protocol, the delivery log.

A channel *does* (builds the provider request, classifies the provider's answer); the dispatcher
*decides* (retry, fall back, mark a contact dead). The classification is carried by `SendError`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import structlog

from safetynet.domain import Channel
from safetynet.logs import mask_text

log = structlog.get_logger("channels")


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    channel: Channel
    delivery_id: int
    campaign_id: int
    household_id: int
    # E.164 for sms/voice, numeric chat id for telegram, subscription JSON string for webpush.
    address: str
    # Already localised; carries the 【訓練】 prefix for drills and the reply URL.
    text: str
    reply_url: str
    reply_token: str
    language: str
    drill: bool
    title: str


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str | None
    segments: int | None = None
    cost_jpy: float | None = None


class Reason(StrEnum):
    """The closed set of reasons a send fails; `SendError.reason` is one of these."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK = "network"
    INVALID_NUMBER = "invalid_number"
    NOT_MOBILE = "not_mobile"
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"
    CHAT_NOT_FOUND = "chat_not_found"
    SUBSCRIPTION_GONE = "subscription_gone"
    BAD_REQUEST = "bad_request"
    CONFIGURATION = "configuration"


class SendError(Exception):
    """A classified failure. The dispatcher reads the attributes; it never inspects library errors."""

    retryable: bool = False

    def __init__(
        self,
        reason: Reason,
        message: str = "",
        *,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
        contact_dead: bool = False,
        error_class: str = "",
        provider_answer: str = "",
    ) -> None:
        super().__init__(message or str(reason))
        self.reason: str = str(reason)
        self.retry_after = retry_after
        # True when the provider may have accepted the message (5xx or timeout after the POST left).
        self.outcome_unknown = outcome_unknown
        # True when this contact will never work (invalid number, blocked bot, gone subscription).
        self.contact_dead = contact_dead
        self.error_class = error_class
        # The provider's answer, already redacted: safe to log and to store.
        self.provider_answer = provider_answer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, retry_after={self.retry_after})"


class RetryableSendError(SendError):
    retryable = True


class PermanentSendError(SendError):
    retryable = False


class ChannelSender(Protocol):
    name: Channel

    async def start(self) -> None: ...

    async def send(self, msg: OutboundMessage) -> SendResult: ...

    async def close(self) -> None: ...


# --- redaction ---------------------------------------------------------------------------------

# Capability URLs (push endpoints, reply links, bot URLs) are secrets past their origin.
_URL_PATH_RE = re.compile(r"(https?://[^/\s\"'<>]+)/[^\s\"'<>]*")
MAX_ANSWER_CHARS = 300


class Redactor:
    """Removes known secrets, URL paths, phone numbers and tokens from provider answers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short strings would over-match ordinary words; real credentials are long.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "<secret>")
        text = _URL_PATH_RE.sub(r"\1/…", text)
        text = mask_text(text)
        return text[:MAX_ANSWER_CHARS]


# --- delivery log ------------------------------------------------------------------------------


async def send_logged(
    channel: Channel, msg: OutboundMessage, attempt: Callable[[OutboundMessage], Awaitable[SendResult]]
) -> SendResult:
    """Runs one provider attempt and writes the `delivery_attempt` log line, whatever happens.

    Only ids, the outcome and already-redacted provider answers are logged: never the address,
    the text or the reply token.
    """
    started = time.perf_counter()

    def ids() -> dict[str, Any]:
        ms = round((time.perf_counter() - started) * 1000, 1)
        return {"channel": channel.value, "delivery_id": msg.delivery_id, "campaign_id": msg.campaign_id, "duration_ms": ms}

    try:
        result = await attempt(msg)
    except SendError as e:
        log.info(
            "delivery_attempt", **ids(), outcome="retryable" if e.retryable else "permanent",
            error_class=e.error_class or type(e).__name__, reason=e.reason, retry_after=e.retry_after,
            outcome_unknown=e.outcome_unknown, contact_dead=e.contact_dead, provider_answer=e.provider_answer,
        )
        raise
    except asyncio.CancelledError:
        # The dispatcher is stopping; the request may have left, which the dispatcher accounts for.
        log.info("delivery_attempt", **ids(), outcome="cancelled")
        raise
    except Exception as e:
        # A bug, not a provider answer: logged with its class only.
        log.warning("delivery_attempt", **ids(), outcome="error", error_class=type(e).__name__)
        raise
    log.info(
        "delivery_attempt", **ids(), outcome="sent",
        provider_id=_loggable_id(result.provider_id), segments=result.segments,
    )
    return result


def _loggable_id(provider_id: str | None) -> str | None:
    # A push service answers with the message's URL, a capability; its origin is enough in a log.
    if provider_id and "://" in provider_id:
        return _URL_PATH_RE.sub(r"\1/…", provider_id)
    return provider_id


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))
