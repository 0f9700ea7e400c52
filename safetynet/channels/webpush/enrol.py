"""What the enrolment page needs for web push: the server's public key for `PushManager.subscribe`."""

from __future__ import annotations

from safetynet.channels.base import ChannelContext, ChannelSender
from safetynet.channels.webpush.vapid import load_or_create_vapid


async def page(ctx: ChannelContext, sender: ChannelSender | None, code: str) -> dict[str, str]:
    keys = getattr(sender, "keys", None) or load_or_create_vapid(ctx.data_dir)
    return {"key": keys.application_server_key}
