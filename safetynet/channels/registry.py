"""The list of channels. Adding a channel is its module, its test, and one line in `FACTORIES`."""

from __future__ import annotations

from collections.abc import Callable

from safetynet.channels import sms, telegram, voice, webpush
from safetynet.channels.base import ChannelSender
from safetynet.config import Config
from safetynet.domain import Channel

Factory = Callable[[Config, str], ChannelSender]

FACTORIES: dict[Channel, Factory] = {
    Channel.WEBPUSH: webpush.from_config,
    Channel.TELEGRAM: telegram.from_config,
    Channel.SMS: sms.from_config,
    Channel.VOICE: voice.from_config,
}


def build_senders(cfg: Config, public_url: str | None = None) -> dict[Channel, ChannelSender]:
    """One sender per enabled channel (not started: call `start()` inside the running loop)."""
    url = public_url or cfg.server.public_url
    return {
        channel: factory(cfg, url)
        for channel, factory in FACTORIES.items()
        if getattr(cfg.channels, channel.value).enabled
    }
