"""Telegram through python-telegram-bot's `Bot` (no `Application`), on an aiohttp transport.

Outbound: `TelegramSender` sends a resident's alert with a two-button inline keyboard, a staff
alert (no reply token) without answer buttons. Inbound (pure):
`verify_secret`, `parse_update`, `parse_callback_data`; `acknowledge` answers a button press and
edits the message to show the recorded answer with a "change" button.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from safetynet.channels import labels
from safetynet.channels.base import (
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    send_logged,
)
from safetynet.channels.telegram_request import AiohttpRequest, NotSentError
from safetynet.clock import Clock, SystemClock
from safetynet.config import Config, Secrets, TelegramConfig
from safetynet.domain import Channel

log = structlog.get_logger("channels")

# Telegram refuses callback data over 64 bytes; "need_help:" + a 22-char token is 32.
MAX_CALLBACK_BYTES = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


# --- keyboards and callback data ---------------------------------------------------------------


def callback_data(answer: str, reply_token: str) -> str:
    data = f"{answer}:{reply_token}"
    if answer not in labels.ANSWERS or len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data must be safe|need_help and fit 64 bytes")
    return data


def parse_callback_data(data: str) -> tuple[str, str] | None:
    """(answer, reply_token) from a button's data, or None when it is not ours."""
    answer, sep, token = data.partition(":")
    if not sep or answer not in labels.ANSWERS or not token:
        return None
    return answer, token


def keyboard(reply_token: str, language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(labels.answer_label(a, language), callback_data=callback_data(a, reply_token))
                for a in labels.ANSWERS
            ]
        ]
    )


def link_keyboard(url: str, language: str) -> InlineKeyboardMarkup | None:
    """One button opening `url`, or None where Telegram would refuse it.

    Telegram rejects button URLs it cannot reach (localhost, bare IP addresses), and a refused
    button loses the whole message; the link is in the text anyway, so only a public https host
    gets a button.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or "." not in host or _is_ip(host):
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(labels.open_label(language), url=url)]])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def markup_for(msg: OutboundMessage) -> InlineKeyboardMarkup | None:
    """A resident's message gets the answer buttons; a staff alert (no reply token) at most a link button."""
    if msg.reply_token:
        return keyboard(msg.reply_token, msg.language)
    return link_keyboard(msg.reply_url, msg.language)


def change_keyboard(answer: str, reply_token: str, language: str) -> InlineKeyboardMarkup:
    other = labels.other_answer(answer)
    button = InlineKeyboardButton(labels.change_label(other, language), callback_data=callback_data(other, reply_token))
    return InlineKeyboardMarkup([[button]])


# --- webhook -----------------------------------------------------------------------------------


def webhook_secret(secret_key: str) -> str:
    """The secret_token given to setWebhook: HMAC-SHA256(secret_key, "safetynet/telegram-webhook/v1"),
    base64url without padding (43 chars of [A-Za-z0-9_-], as Telegram requires).

    Derived, so the app and the sandbox agree without storing another secret; rotating the
    app's secret key rotates it (call setWebhook again).
    """
    if not secret_key:
        raise ValueError("secret_key is empty: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    mac = hmac.new(secret_key.encode(), b"safetynet/telegram-webhook/v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def webhook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/hooks/telegram"


def verify_secret(header_value: str | None, expected: str) -> bool:
    if not header_value or not expected:
        return False
    return hmac.compare_digest(header_value.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class TelegramCallback:
    query_id: str
    chat_id: int
    message_id: int | None
    data: str
    message_text: str = ""


@dataclass(frozen=True, slots=True)
class TelegramStart:
    chat_id: int
    code: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_update(data: Any) -> TelegramCallback | TelegramStart | None:
    """A button press or a `/start CODE`; None for anything else (including malformed JSON shapes)."""
    if not isinstance(data, dict):
        return None
    cq = data.get("callback_query")
    if isinstance(cq, dict):
        msg, sender = _dict(cq.get("message")), _dict(cq.get("from"))
        chat = _dict(msg.get("chat"))
        chat_id = _int(chat.get("id")) or _int(sender.get("id"))
        qid, cdata = cq.get("id"), cq.get("data")
        if chat_id is None or not isinstance(qid, str) or not isinstance(cdata, str):
            return None
        text = msg.get("text")
        text = text if isinstance(text, str) else ""
        return TelegramCallback(qid, chat_id, _int(msg.get("message_id")), cdata, text)
    message = _dict(data.get("message"))
    body = message.get("text")
    if isinstance(body, str):
        chat_id = _int(_dict(message.get("chat")).get("id"))
        parts = body.strip().split(maxsplit=1)
        # "/start CODE", or "/start@OurBot CODE" in a group
        if chat_id is not None and len(parts) == 2 and parts[0].split("@", 1)[0] == "/start":
            return TelegramStart(chat_id, parts[1].strip())
    return None


async def acknowledge(bot: Bot, cb: TelegramCallback, answer: str, language: str) -> bool:
    """Stops the button's spinner, then shows the recorded answer and a "change" button.

    Returns False (and logs) when Telegram refused; the answer is recorded either way.
    """
    parsed = parse_callback_data(cb.data)
    recorded = labels.recorded_text(answer, language)
    try:
        await bot.answer_callback_query(cb.query_id, text=recorded)
        if cb.message_id is not None and parsed is not None:
            text = f"{cb.message_text}\n\n✅ {recorded}" if cb.message_text else f"✅ {recorded}"
            await bot.edit_message_text(
                text,
                chat_id=cb.chat_id,
                message_id=cb.message_id,
                reply_markup=change_keyboard(answer, parsed[1], language),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    except BadRequest as e:
        # Pressing the same button twice edits to the same text, which Telegram refuses; harmless.
        if "not modified" in str(e).lower():
            return True
        log.warning("telegram_ack_failed", error_class=type(e).__name__)
        return False
    except TelegramError as e:
        log.warning("telegram_ack_failed", error_class=type(e).__name__)
        return False
    return True


# --- sending -----------------------------------------------------------------------------------


def retry_after_seconds(value: int | float | timedelta) -> float:
    """PTB gives an int (deprecated) or a timedelta (PTB_TIMEDELTA=1); both mean seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(e: RetryAfter) -> float:
    # Reading the attribute warns (PTBDeprecationWarning) unless PTB_TIMEDELTA is set; the value is right either way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return retry_after_seconds(e.retry_after)


class TelegramSender:
    name = Channel.TELEGRAM

    def __init__(
        self,
        cfg: TelegramConfig,
        secrets: Secrets,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self._token = secrets.telegram_bot_token
        self._session = session
        self._redact = Redactor((self._token,))
        self._bot: Bot | None = None
        self._request: AiohttpRequest | None = None
        # RetryAfter pauses the whole channel: until then sends fail fast without calling Telegram.
        self._paused_until = 0.0

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("TelegramSender.start() was not called")
        return self._bot

    async def start(self) -> None:
        # Opt in to PTB's timedelta durations: otherwise PTB itself emits a PTBDeprecationWarning
        # while building every RetryAfter, which `-W error` turns into a crash. A deployer's explicit
        # setting wins; `retry_after_seconds` handles both forms.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        self._request = AiohttpRequest(self._session, connections=self.cfg.concurrency, timeout=self.cfg.timeout_seconds)
        await self._request.initialize()
        # Bot.initialize() would call getMe: a network call at boot we do not need to send.
        self._bot = Bot(
            self._token,
            base_url=f"{self.cfg.api_base_url.rstrip('/')}/bot",
            request=self._request,
            get_updates_request=self._request,
        )

    async def close(self) -> None:
        if self._request is not None:
            await self._request.shutdown()
            self._request = None

    async def check(self) -> str:
        """getMe: the bot's username (verifies the token)."""
        me = await self.bot.get_me()
        return me.username or ""

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=["message", "callback_query"])

    async def acknowledge(self, cb: TelegramCallback, answer: str, language: str) -> bool:
        return await acknowledge(self.bot, cb, answer, language)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock.monotonic())

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(Channel.TELEGRAM, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        remaining = self.paused_for()
        if remaining > 0:
            raise RetryableSendError(Reason.RATE_LIMITED, retry_after=remaining, error_class="ChannelPaused")
        try:
            chat_id = int(msg.address)
        except ValueError:
            raise PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class="ValueError") from None
        try:
            sent = await self.bot.send_message(
                chat_id=chat_id,
                text=msg.text,
                reply_markup=markup_for(msg),
                # A link preview would fetch the reply URL and mark the household "read".
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as e:
            raise self._classify(e) from e
        # The message id alone: with the chat id (the address, personal data) it names the message.
        return SendResult(str(sent.message_id))

    def _classify(self, e: TelegramError) -> SendError:
        name, answer = type(e).__name__, self._redact(str(e))
        if isinstance(e, RetryAfter):
            seconds = _retry_after(e)
            self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)
            return RetryableSendError(Reason.RATE_LIMITED, retry_after=seconds, error_class=name, provider_answer=answer)
        if isinstance(e, Forbidden):
            return PermanentSendError(Reason.BLOCKED, contact_dead=True, error_class=name, provider_answer=answer)
        if isinstance(e, BadRequest):
            if "chat not found" in str(e).lower():
                return PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class=name, provider_answer=answer)
            return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)
        if isinstance(e, InvalidToken | Conflict):
            return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
        if isinstance(e, ChatMigrated):
            return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)
        if isinstance(e, TimedOut):
            return RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=name)
        if isinstance(e, NotSentError):
            return RetryableSendError(Reason.NETWORK, error_class=name, provider_answer=answer)
        if isinstance(e, NetworkError):
            # A 5xx, or a connection lost after the request left: Telegram may have sent it.
            reason = Reason.NETWORK if isinstance(e.__cause__, aiohttp.ClientError) else Reason.SERVER_ERROR
            return RetryableSendError(reason, outcome_unknown=True, error_class=name, provider_answer=answer)
        return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)


def from_config(cfg: Config, public_url: str) -> TelegramSender:
    return TelegramSender(cfg.channels.telegram, cfg.secrets)
