"""`/hooks/telegram`: button presses (answers), `/start CODE` (enrolment) and typed texts (keywords and
notes, as SMS and LINE texts: `InboundPort.text_message`), behind Telegram's
secret-token header. Telegram retries any non-2xx for a day: whatever is not ours is still acknowledged.

A press is answered (answerCallbackQuery) in the webhook's own response rather than by a request of
ours: in a reply storm that halves the Bot API requests an answer costs (the edit that shows the
recorded answer is the other), against Telegram's limits and the server's CPU alike."""

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
from safetynet.channels.labels import recorded_text
from safetynet.channels.telegram.contacts import TELEGRAM
from safetynet.channels.telegram.sender import TelegramSender
from safetynet.channels.telegram.updates import (
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramCallback,
    TelegramStart,
    TelegramText,
    answer_in_response,
    parse_callback_data,
    parse_update,
    verify_secret,
    webhook_secret,
)
from safetynet.i18n import t

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
            return _answered(update.query_id, await _callback(ctx, inbound, bot, update))
        if isinstance(update, TelegramStart) and not update.private:
            # a group's or a channel's chat reaches a whole group, not the household: not enrolled.
            # Nothing is said there either (no text of the catalog fits, and a group is no resident's).
            log.info("telegram_enrol_refused", reason="not_a_private_chat")
        elif isinstance(update, TelegramStart):
            text = await inbound.link(update.code, TELEGRAM.name, str(update.chat_id))
            await _say(bot, update.chat_id, text)
        elif isinstance(update, TelegramText) and not update.private:
            # a group's talk is no household's answer, and no household's contact is a group
            log.info("telegram_text_ignored", reason="not_a_private_chat")
        elif isinstance(update, TelegramText):
            text = await inbound.text_message(ctx.name, [TELEGRAM.name], str(update.chat_id), update.text, update.key,
                                              update.sent_at)
            await _say(bot, update.chat_id, text)
        return WebhookResponse(200, '{"ok":true}', "application/json")

    return [WebhookRoute("POST", WEBHOOK_PATH, telegram_hook, MAX_UPDATE_BYTES)]


def _answered(query_id: str, text: str) -> WebhookResponse:
    return WebhookResponse(200, answer_in_response(query_id, text), "application/json")


async def _callback(ctx: ChannelContext, inbound: InboundPort, bot: TelegramSender | None,
                    cb: TelegramCallback) -> str:
    """Records the press; the line its answer shows (the recorded answer, or why nothing was)."""
    parsed = parse_callback_data(cb.data)
    if parsed is None:
        return (await inbound.resolve("")).notice
    answer, token = parsed
    result = await inbound.answer(token, answer, ctx.name, f"tg:{cb.query_id}")
    if not result.found:
        return result.notice
    if bot is not None:
        # an ended campaign's button: the message says the running campaign took the answer (the
        # press's own line, at most 200 characters, stays the recorded answer)
        moved = t(result.language, "channel.moved", old=result.moved_from, new=result.moved_to) if result.moved_to else ""
        await bot.show_recorded(cb, answer, token, result.language, moved)
    return recorded_text(answer, result.language)


async def _say(bot: TelegramSender | None, chat_id: int, text: str) -> None:
    if bot is None or not text:
        return
    try:
        await bot.bot.send_message(chat_id=chat_id, text=text)
    except TelegramError as e:
        log.warning("telegram_send_failed", error_class=type(e).__name__)
