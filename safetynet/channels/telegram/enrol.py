"""What the enrolment page shows for Telegram: the bot's deep link (`t.me/BOT?start=CODE`)."""

from __future__ import annotations

from urllib.parse import quote

from safetynet.channels.base import ChannelContext, ChannelSender


def telegram_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{quote(bot_username, safe='')}?start={quote(code, safe='')}"


async def page(ctx: ChannelContext, sender: ChannelSender | None, code: str) -> dict[str, str]:
    """{"link": the deep link} once the bot's username is known (getMe, asked once); {} without it."""
    from safetynet.channels.telegram.sender import TelegramSender

    if not isinstance(sender, TelegramSender):
        return {}
    name = await sender.username()
    return {"link": telegram_link(name, code)} if name else {}
