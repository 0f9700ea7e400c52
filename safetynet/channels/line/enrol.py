"""What the enrolment page shows for LINE: a link that opens the official account's chat with the
household's code already typed (`line.me/R/oaMessage/{basic id}/?{code}`)."""

from __future__ import annotations

from urllib.parse import quote

from safetynet.channels.base import ChannelContext, ChannelSender


def line_link(basic_id: str, code: str) -> str:
    return f"https://line.me/R/oaMessage/{quote(basic_id, safe='@')}/?{quote(code, safe='')}"


async def page(ctx: ChannelContext, sender: ChannelSender | None, code: str) -> dict[str, str]:
    """{"link": …} once the account's basic id is known (GET /v2/bot/info, asked once); {} without it."""
    from safetynet.channels.line.sender import LineSender

    if not isinstance(sender, LineSender):
        return {}
    basic_id = await sender.basic_id()
    return {"link": line_link(basic_id, code)} if basic_id else {}
