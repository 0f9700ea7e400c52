"""The bare loops of `bench channels`: each client library used directly, as its docs show, tuned fairly.

Same messages, connection limits and concurrency as our senders. Web push gets its VAPID header
signed once (the cheapest correct use) and subscriptions already parsed; Telegram the library's
default HTTPX transport with a pool as large as the concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from safetynet.channels.base import OutboundMessage
from safetynet.config import SANDBOX_SECRETS, Config

Send = Callable[[OutboundMessage], Awaitable[Any]]
Close = Callable[[], Awaitable[None]]
PUBLIC_URL = "http://127.0.0.1:8080"

Factory = Callable[[Config, str, list[OutboundMessage]], Awaitable[tuple[Send, Close]]]
STATUS_URL = f"{PUBLIC_URL}/hooks/twilio/status"


async def bare_webpush(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Send, Close]:
    from py_vapid import Vapid02
    from pywebpush import webpush_async

    subs = {m.address: json.loads(m.address) for m in msgs}
    vapid = Vapid02()
    vapid.generate_keys()
    aud = next(iter(subs.values()))["endpoint"].split("/wpush/")[0]
    auth = vapid.sign({"sub": "mailto:bench@example.jp", "aud": aud})["Authorization"]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cfg.channels.webpush.concurrency))

    async def send(m: OutboundMessage) -> None:
        payload = json.dumps({
            "title": m.title, "body": m.text, "url": m.reply_url, "token": m.reply_token,
            "actions": [{"action": "safe", "title": "無事です"}, {"action": "need_help", "title": "助けが必要"}],
            "campaign": m.campaign_id,
        }, ensure_ascii=False)
        headers = {"Urgency": "high", "Topic": f"c{m.campaign_id}", "Authorization": auth}
        await webpush_async(subs[m.address], payload, headers=headers, ttl=86400, timeout=10, aiohttp_session=session)

    return send, session.close


async def _twilio(url: str) -> tuple[Any, Any]:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    http = AsyncTwilioHttpClient()
    client = Client(SANDBOX_SECRETS.twilio_account_sid, SANDBOX_SECRETS.twilio_auth_token, http_client=http)
    client.api.base_url = url  # libraries.md §1: reaches a local server for messages and calls
    return client, http


async def bare_sms(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Send, Close]:
    client, http = await _twilio(url)
    from_ = cfg.channels.sms.from_number

    async def send(m: OutboundMessage) -> None:
        await client.messages.create_async(to=m.address, from_=from_, body=m.text, status_callback=STATUS_URL)

    return send, http.close


async def bare_voice(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Send, Close]:
    from twilio.twiml.voice_response import Gather, VoiceResponse

    client, http = await _twilio(url)
    from_ = cfg.channels.voice.from_number

    async def send(m: OutboundMessage) -> None:
        vr = VoiceResponse()
        g = Gather(num_digits=1, action=f"{PUBLIC_URL}/hooks/twilio/voice?t={m.reply_token}")
        g.say("安否確認です。無事なら1を、助けが必要なら2を押してください。", language="ja-JP")
        vr.append(g)
        await client.calls.create_async(to=m.address, from_=from_, twiml=str(vr), status_callback=STATUS_URL)

    return send, http.close


async def bare_telegram(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Send, Close]:
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.request import HTTPXRequest

    conc = cfg.channels.telegram.concurrency
    bot = Bot(SANDBOX_SECRETS.telegram_bot_token, base_url=f"{url}/bot", request=HTTPXRequest(connection_pool_size=conc))
    await bot.initialize()

    async def send(m: OutboundMessage) -> None:
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("無事です", callback_data=f"safe:{m.reply_token}"),
                                    InlineKeyboardButton("助けが必要", callback_data=f"need_help:{m.reply_token}")]])
        await bot.send_message(chat_id=int(m.address), text=m.text, reply_markup=kb)

    return send, bot.shutdown


async def bare_email(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Send, Close]:
    """aiosmtplib as its docs show: connected clients reused, `send_message` of an EmailMessage
    (SMTP policy, UTF-8 subject and body) per mail."""
    import asyncio
    from email import policy
    from email.message import EmailMessage

    import aiosmtplib

    s: Any = cfg.channels.get("email")
    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    clients = [aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=s.timeout_seconds, start_tls=False)
               for _ in range(s.concurrency)]
    for c in clients:
        await c.connect()
        idle.put_nowait(c)

    async def send(m: OutboundMessage) -> None:
        mail = EmailMessage(policy=policy.SMTP)
        mail["From"], mail["To"], mail["Subject"] = s.from_address, m.address, m.title
        mail.set_content(m.text)
        c = await idle.get()
        try:
            await c.send_message(mail)
        finally:
            idle.put_nowait(c)

    async def close() -> None:
        for c in clients:
            await c.quit()

    return send, close


# A benchmark of the libraries themselves: one bare loop per channel it knows.
BARE: dict[str, Factory] = {
    "webpush": bare_webpush,
    "telegram": bare_telegram,
    "sms": bare_sms,
    "voice": bare_voice,
    "email": bare_email,
}


async def bare_line(cfg: Config, url: str, msgs: list[OutboundMessage]) -> tuple[Callable[[list[OutboundMessage]], Awaitable[None]], Close]:
    """The SDK's multicast as its docs show it: the request model built per call, a fresh retry key."""
    import uuid

    from linebot.v3.messaging import (
        AsyncApiClient,
        AsyncMessagingApi,
        Configuration,
        ConfirmTemplate,
        MulticastRequest,
        PostbackAction,
        TemplateMessage,
        TextMessage,
    )

    conf = Configuration(access_token=SANDBOX_SECRETS.values["line_channel_access_token"], host=url)
    conf.connection_pool_maxsize = max(10, cfg.channels.get("line").concurrency * 2)
    client = AsyncApiClient(conf)
    api = AsyncMessagingApi(client)

    async def send(batch: list[OutboundMessage]) -> None:
        m = batch[0]
        buttons = TemplateMessage(alt_text="安否確認", template=ConfirmTemplate(text="ご無事ですか？", actions=[
            PostbackAction(label="無事です", data=f"c{m.campaign_id}:safe", display_text="無事です"),
            PostbackAction(label="助けが必要", data=f"c{m.campaign_id}:need_help", display_text="助けが必要")]))
        req = MulticastRequest(to=[x.address for x in batch], messages=[TextMessage(text=m.text), buttons])
        await api.multicast(req, x_line_retry_key=str(uuid.uuid4()), _request_timeout=10)

    return send, client.close


# Channels whose library sends many recipients a request: the bare loop takes a batch.
BARE_BATCH: dict[str, Callable[[Config, str, list[OutboundMessage]], Awaitable[tuple[Any, Close]]]] = {
    "line": bare_line,
}
