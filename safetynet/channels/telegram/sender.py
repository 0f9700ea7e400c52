"""Telegram through python-telegram-bot's `Bot` (no `Application`), on an aiohttp transport.

`TelegramSender` sends a resident's alert with a two-button inline keyboard, a staff alert (no
reply token) without answer buttons; `show_recorded` edits a pressed message to show the recorded
answer with a "change" button (the press itself is answered in the webhook's response, see
`webhook.py`). Updates are parsed in `updates.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import warnings
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import structlog
from telegram import Bot
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
    ChannelContext,
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    send_logged,
)
from safetynet.channels.telegram import BOT_TOKEN
from safetynet.channels.telegram.request import AiohttpRequest, NotSentError
from safetynet.channels.telegram.settings import TelegramSettings
from safetynet.channels.telegram.updates import (
    TelegramCallback,
    callback_data,
    webhook_secret,
    webhook_url,
)

log = structlog.get_logger("channels")



# --- keyboards and callback data ---------------------------------------------------------------

# An InlineKeyboardMarkup as the Bot API's JSON. Plain dicts, not PTB's InlineKeyboardMarkup: PTB turns
# its objects back into dicts on every request (TelegramObject.to_dict and building the buttons were
# a quarter of a Telegram send's CPU under py-spy in the first wave).
Markup = dict[str, list[list[dict[str, str]]]]


def _button(text: str, **action: str) -> dict[str, str]:
    return {"text": text, **action}


def keyboard(reply_token: str, language: str) -> Markup:
    return {"inline_keyboard": [[_button(labels.answer_label(a, language), callback_data=callback_data(a, reply_token))
                                 for a in labels.ANSWERS]]}


def link_keyboard(url: str, language: str) -> Markup | None:
    """One button opening `url`, or None where Telegram would refuse it.

    Telegram rejects button URLs it cannot reach (localhost, bare IP addresses), and a refused
    button loses the whole message; the link is in the text anyway, so only a public https host
    gets a button.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or "." not in host or _is_ip(host):
        return None
    return {"inline_keyboard": [[_button(labels.open_label(language), url=url)]]}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def markup_for(msg: OutboundMessage) -> Markup | None:
    """A resident's message gets the answer buttons; a staff alert (no reply token) at most a link button."""
    if msg.reply_token:
        return keyboard(msg.reply_token, msg.language)
    return link_keyboard(msg.reply_url, msg.language)


def change_keyboard(answer: str, reply_token: str, language: str) -> Markup:
    other = labels.other_answer(answer)
    return {"inline_keyboard": [[_button(labels.change_label(other, language),
                                         callback_data=callback_data(other, reply_token))]]}


_RECORDED_MARK = "\n\n✅ "


async def show_recorded(bot: _SendingBot, cb: TelegramCallback, answer: str, reply_token: str, language: str,
                        moved: str = "") -> bool:
    """Edits the pressed message (its button said `answer` for `reply_token`): the recorded answer
    under the alert (and `moved`, when the answer went to another campaign than the message's), and a
    "change" button.

    Returns False (and logs) when Telegram refused; the answer is recorded either way.
    """
    if cb.message_id is None:
        return True  # no message to edit (a button of an inline message)
    recorded = labels.recorded_message(answer, language) + (f"\n{moved}" if moved else "")
    # the alert as sent, without what an earlier press added (one answer shown, the latest)
    alert = cb.message_text.split(_RECORDED_MARK, 1)[0]
    text = f"{alert}{_RECORDED_MARK}{recorded}" if alert else f"✅ {recorded}"
    try:
        await bot.edit_text(cb.chat_id, cb.message_id, text, change_keyboard(answer, reply_token, language), _NO_PREVIEW)
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


# LinkPreviewOptions as the Bot API's JSON (never changed: one serves every message).
_NO_PREVIEW: dict[str, bool] = {"is_disabled": True}


class _SendingBot(Bot):
    """A Bot whose sendMessage returns the message id alone.

    `Bot.send_message` builds a full `Message` from Telegram's answer (`Message.de_json`: about a
    third of a send's CPU in the first wave); the sender keeps only the id. The request, its
    defaults and the errors it raises are the library's own (`_post`, as its subclasses use it).
    """

    async def send_text(self, chat_id: int, text: str, reply_markup: Markup | None,
                        link_preview_options: dict[str, bool]) -> int:
        result = await self._post("sendMessage", {"chat_id": chat_id, "text": text, "reply_markup": reply_markup,
                                                  "link_preview_options": link_preview_options})
        return int(result["message_id"])

    async def edit_text(self, chat_id: int, message_id: int, text: str, reply_markup: Markup | None,
                        link_preview_options: dict[str, bool]) -> None:
        """editMessageText, its answer (the edited `Message`) not built."""
        await self._post("editMessageText", {"chat_id": chat_id, "message_id": message_id, "text": text,
                                             "reply_markup": reply_markup, "link_preview_options": link_preview_options})


class TelegramSender:
    def __init__(self, ctx: ChannelContext, session: aiohttp.ClientSession | None = None) -> None:
        self.name = ctx.name
        self.cfg: TelegramSettings = ctx.settings
        self.clock = ctx.clock
        self._ctx = ctx
        self._token = ctx.secret(BOT_TOKEN.key)
        self._session = session
        self._redact = Redactor((self._token,))
        self._bot: _SendingBot | None = None
        self._request: AiohttpRequest | None = None
        # RetryAfter pauses the whole channel: until then sends fail fast without calling Telegram.
        self._paused_until = 0.0
        self._username: str | None = None
        self._username_lock = asyncio.Lock()

    @property
    def bot(self) -> _SendingBot:
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
        self._bot = _SendingBot(
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

    async def username(self) -> str:
        """The bot's username, asked once (getMe); "" while Telegram does not answer."""
        async with self._username_lock:
            if self._username is None:
                try:
                    self._username = await asyncio.wait_for(self.check(), timeout=5)
                except Exception as e:  # a page works without the link
                    log.warning("telegram_getme_failed", error_class=type(e).__name__)
                    return ""
            return self._username

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=["message", "callback_query"])

    async def register_webhook(self) -> None:
        """Tells Telegram where the webhook is, with its secret token (at every start)."""
        if self._ctx.secret_key:
            await self.set_webhook(webhook_url(self._ctx.public_url), webhook_secret(self._ctx.secret_key))

    async def show_recorded(self, cb: TelegramCallback, answer: str, reply_token: str, language: str,
                            moved: str = "") -> bool:
        return await show_recorded(self.bot, cb, answer, reply_token, language, moved)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock.monotonic())

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        remaining = self.paused_for()
        if remaining > 0:
            raise RetryableSendError(Reason.RATE_LIMITED, retry_after=remaining, error_class="ChannelPaused")
        try:
            chat_id = int(msg.address)
        except ValueError:
            raise PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class="ValueError") from None
        try:
            message_id = await self.bot.send_text(
                chat_id,
                msg.text,
                markup_for(msg),
                # A link preview would fetch the reply URL and mark the household "read".
                _NO_PREVIEW,
            )
        except TelegramError as e:
            raise self._classify(e) from e
        # The message id alone: with the chat id (the address, personal data) it names the message.
        return SendResult(str(message_id))

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

