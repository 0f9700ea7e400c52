"""The bare loops of `bench channels`: each client library used directly, as its docs show, tuned fairly.

Same connection limits and concurrency as our senders; web push gets a VAPID header signed once
(the cheapest correct use), Telegram the library's default HTTPX transport with a pool as large
as the concurrency.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from safetynet.channels.bench import TEXT, TOKEN, Send, address, message
from safetynet.config import Config
from safetynet.domain import Channel

Close = Callable[[], Awaitable[None]]
Factory = Callable[[Config, str, list[dict[str, Any]]], Awaitable[tuple[Send, Close]]]


async def bare_webpush(cfg: Config, url: str, subs: list[dict[str, Any]]) -> tuple[Send, Close]:
    from py_vapid import Vapid02
    from pywebpush import webpush_async

    from safetynet.channels.webpush import build_payload, origin

    vapid = Vapid02()
    vapid.generate_keys()
    auth = vapid.sign({"sub": "mailto:bench@example.jp", "aud": origin(subs[0]["endpoint"])})["Authorization"]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cfg.channels.webpush.concurrency))
    payload = build_payload(message(Channel.WEBPUSH, 0, subs))
    headers = {"Urgency": "high", "Topic": "safetynet-c1", "Authorization": auth}

    async def send(i: int) -> None:
        await webpush_async(subs[i % len(subs)], payload, headers=headers, ttl=86400, timeout=10, aiohttp_session=session)

    return send, session.close


async def _twilio(url: str) -> tuple[Any, Any]:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    from safetynet.config import SANDBOX_SECRETS as S

    http = AsyncTwilioHttpClient()
    client = Client(S.twilio_account_sid, S.twilio_auth_token, http_client=http)
    client.api.base_url = url  # libraries.md §1: reaches a local server for messages and calls
    return client, http


async def bare_sms(cfg: Config, url: str, subs: list[dict[str, Any]]) -> tuple[Send, Close]:
    client, http = await _twilio(url)
    status_url = "http://127.0.0.1:8080/hooks/twilio/status"
    from_ = cfg.channels.sms.from_number

    async def send(i: int) -> None:
        await client.messages.create_async(to=address(Channel.SMS, i, subs), from_=from_, body=TEXT, status_callback=status_url)

    return send, http.close


async def bare_voice(cfg: Config, url: str, subs: list[dict[str, Any]]) -> tuple[Send, Close]:
    from twilio.twiml.voice_response import Gather, VoiceResponse

    client, http = await _twilio(url)
    from_ = cfg.channels.voice.from_number

    async def send(i: int) -> None:
        vr = VoiceResponse()
        g = Gather(num_digits=1, action=f"http://127.0.0.1:8080/hooks/twilio/voice?t={TOKEN}")
        g.say("安否確認です。無事なら1を、助けが必要なら2を押してください。", language="ja-JP")
        vr.append(g)
        await client.calls.create_async(to=address(Channel.VOICE, i, subs), from_=from_, twiml=str(vr),
                                        status_callback="http://127.0.0.1:8080/hooks/twilio/status")

    return send, http.close


async def bare_telegram(cfg: Config, url: str, subs: list[dict[str, Any]]) -> tuple[Send, Close]:
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.request import HTTPXRequest

    from safetynet.config import SANDBOX_SECRETS as S

    conc = cfg.channels.telegram.concurrency
    bot = Bot(S.telegram_bot_token, base_url=f"{url}/bot", request=HTTPXRequest(connection_pool_size=conc))
    await bot.initialize()

    async def send(i: int) -> None:
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("無事です", callback_data=f"safe:{TOKEN}"),
                                    InlineKeyboardButton("助けが必要", callback_data=f"need_help:{TOKEN}")]])
        await bot.send_message(chat_id=int(address(Channel.TELEGRAM, i, subs)), text=TEXT, reply_markup=kb)

    return send, bot.shutdown


BARE: dict[Channel, Factory] = {
    Channel.WEBPUSH: bare_webpush,
    Channel.TELEGRAM: bare_telegram,
    Channel.SMS: bare_sms,
    Channel.VOICE: bare_voice,
}

__all__ = ["BARE"]
