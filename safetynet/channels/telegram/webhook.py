"""`/hooks/telegram`: button presses (answers) and `/start CODE` (enrolment), behind Telegram's
secret-token header. Telegram retries any non-2xx for a day: whatever is not ours is still acknowledged."""

from __future__ import annotations

import structlog
from telegram.error import TelegramError

from safetynet.channels.base import (
    ChannelContext,
    ChannelSender,
    InboundPort,
    WebhookRefused,
    WebhookRequest,
    WebhookResponse,
    WebhookRoute,
)
from safetynet.channels.telegram.contacts import TELEGRAM
from safetynet.channels.telegram.sender import TelegramSender
from safetynet.channels.telegram.updates import (
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramCallback,
    TelegramStart,
    parse_callback_data,
    parse_update,
    verify_secret,
    webhook_secret,
)

log = structlog.get_logger("channels")

# An update with a callback query and its message text is a few KB.
MAX_UPDATE_BYTES = 64 * 1024


def routes(ctx: ChannelContext, inbound: InboundPort, sender: ChannelSender | None) -> list[WebhookRoute]:
    bot = sender if isinstance(sender, TelegramSender) else None
    expected = webhook_secret(ctx.secret_key) if ctx.secret_key else ""

    async def telegram_hook(req: WebhookRequest) -> WebhookResponse:
        # the header proves the sender before a byte of the body is read
        if not verify_secret(req.headers.get(SECRET_HEADER), expected):
            log.warning("webhook_refused", hook=req.path, reason="bad_secret")
            raise WebhookRefused(403, "bad secret token")
        update = parse_update(await req.json())
        if isinstance(update, TelegramCallback):
            await _callback(ctx, inbound, bot, update)
        elif isinstance(update, TelegramStart):
            text = await inbound.link(update.code, TELEGRAM.name, str(update.chat_id))
            await _say(bot, update.chat_id, text)
        return WebhookResponse(200, '{"ok":true}', "application/json")

    return [WebhookRoute("POST", WEBHOOK_PATH, telegram_hook, MAX_UPDATE_BYTES)]


async def _callback(ctx: ChannelContext, inbound: InboundPort, bot: TelegramSender | None,
                    cb: TelegramCallback) -> None:
    parsed = parse_callback_data(cb.data)
    if parsed is None:
        ack = await inbound.resolve("")
        if bot is not None:
            await _answer_query(bot, cb.query_id, ack.notice)
        return
    answer, token = parsed
    result = await inbound.answer(token, answer, ctx.name, f"tg:{cb.query_id}")
    if bot is None:
        return
    if not result.found:
        await _answer_query(bot, cb.query_id, result.notice)
        return
    await bot.acknowledge(cb, answer, result.language)


async def _answer_query(bot: TelegramSender, query_id: str, text: str) -> None:
    try:
        await bot.bot.answer_callback_query(query_id, text=text)
    except TelegramError as e:
        log.warning("telegram_ack_failed", error_class=type(e).__name__)


async def _say(bot: TelegramSender | None, chat_id: int, text: str) -> None:
    if bot is None or not text:
        return
    try:
        await bot.bot.send_message(chat_id=chat_id, text=text)
    except TelegramError as e:
        log.warning("telegram_send_failed", error_class=type(e).__name__)
