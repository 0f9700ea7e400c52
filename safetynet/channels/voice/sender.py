"""Voice calls through twilio: the call carries the keypad question inline (`twiml.py`)."""

from __future__ import annotations

from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException

from safetynet.channels.base import ChannelContext, OutboundMessage, SendResult, send_logged
from safetynet.channels.twilio import STATUS_PATH
from safetynet.channels.twilio.http import TwilioAccount, classify
from safetynet.channels.voice.settings import VoiceSettings
from safetynet.channels.voice.twiml import (
    CALL_EVENTS,
    RING_SECONDS,
    gather_twiml,
    notice_twiml,
    spoken_message,
)


class VoiceSender:
    def __init__(self, ctx: ChannelContext) -> None:
        self.name = ctx.name
        self.cfg: VoiceSettings = ctx.settings
        self.public_url = ctx.public_url.rstrip("/")
        self.city = ctx.city
        self._account = TwilioAccount(ctx)
        self._calls: Any = None

    async def start(self) -> None:
        self._calls = (await self._account.open()).calls

    async def close(self) -> None:
        await self._account.close()
        self._calls = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        if self._calls is None:
            raise RuntimeError("VoiceSender.start() was not called")
        if msg.reply_token:
            twiml = gather_twiml(self.public_url, msg.reply_token, msg.language, drill=msg.drill, city=self.city,
                                 message=spoken_message(msg))
        else:  # a notice: it tells, it asks nothing
            twiml = notice_twiml(msg.language, msg.drill, self.city, spoken_message(msg))
        try:
            call = await self._calls.create_async(
                to=msg.address,
                from_=self.cfg.from_number,
                twiml=twiml,
                status_callback=f"{self.public_url}{STATUS_PATH}",
                status_callback_event=CALL_EVENTS,
                timeout=RING_SECONDS,
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise classify(e, self._account.redact) from e
        return SendResult(call.sid, None, self.cfg.price_per_call_jpy)

