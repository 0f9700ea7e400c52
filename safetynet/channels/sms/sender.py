"""SMS through twilio's async client (on the shared Twilio transport, `channels/twilio/http.py`)."""

from __future__ import annotations

from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException

from safetynet.channels.base import ChannelContext, OutboundMessage, SendResult, send_logged
from safetynet.channels.sms.segments import fit_sms
from safetynet.channels.sms.settings import SmsSettings
from safetynet.channels.twilio import STATUS_PATH
from safetynet.channels.twilio.http import TwilioAccount, classify


class SmsSender:
    def __init__(self, ctx: ChannelContext) -> None:
        self.name = ctx.name
        self.cfg: SmsSettings = ctx.settings
        self._status_url = f"{ctx.public_url.rstrip('/')}{STATUS_PATH}"
        self._account = TwilioAccount(ctx)
        self._messages: Any = None

    async def start(self) -> None:
        self._messages = (await self._account.open()).messages

    async def close(self) -> None:
        await self._account.close()
        self._messages = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

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
