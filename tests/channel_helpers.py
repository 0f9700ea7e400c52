"""Shared test fixtures for anything that talks to providers: a running sandbox and configs that use it.

    async with running_sandbox(tmp_path) as (sb, cfg):          # cfg's providers point at sb
        async with started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
            await sender.send(outbound("sms", "+819012345678"))
        await sb.wait_for(1)

`WebhookRecorder` stands in for the app's webhook side (signature checks with the channel
modules' own functions) for tests that need the provider to call back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pg_helpers import store_env
from roster_helpers import SECRET_KEY

from safetynet.channels import labels
from safetynet.channels.base import OutboundMessage
from safetynet.channels.telegram import sender as tg_sender
from safetynet.channels.telegram import updates as tg_updates
from safetynet.channels.twilio import webhook as twilio_webhook
from safetynet.channels.voice import twiml as voice_twiml
from safetynet.config import Config, load_config
from safetynet.domain import ChannelName
from safetynet.sandbox import Sandbox

REPLY_TOKEN = "AbCdEfGhIjKlMnOpQrStUv"  # 22 base64url characters, like the real ones
PUBLIC_URL = "http://127.0.0.1:8080"

T = TypeVar("T")


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\npath = "var/safetynet.db"\n{extra}', encoding="utf-8")
    return path


def sandbox_env(sandbox: Sandbox, public_url: str = PUBLIC_URL, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment overrides that point every provider at `sandbox` (and the store at this test's
    PostgreSQL schema when the tests run there)."""
    env = {f"SAFETYNET_CHANNELS_{c}_API_BASE_URL": sandbox.url for c in ("SMS", "VOICE", "TELEGRAM", "LINE")}
    env["SAFETYNET_SANDBOX_HOST"] = sandbox.host
    env["SAFETYNET_SANDBOX_PORT"] = str(sandbox.port)
    env["SAFETYNET_SECRET_KEY"] = SECRET_KEY
    env["SAFETYNET_SERVER_PUBLIC_URL"] = public_url
    env.update(sandbox.app_env())  # a fake with its own server (SMTP): its host and port
    env.update(store_env())
    env.update(extra or {})
    return env


@contextlib.asynccontextmanager
async def running_sandbox(
    tmp_path: Path, app_url: str | None = None, env: Mapping[str, str] | None = None, **faults: Any
) -> AsyncIterator[tuple[Sandbox, Config]]:
    """An in-process sandbox on a free port, and a Config whose providers point at it.

    `app_url` is where the sandbox sends webhooks (and becomes `server.public_url`); `env` adds
    overrides such as `SAFETYNET_CHANNELS_SMS_TIMEOUT_SECONDS`; `faults` are `Faults` fields.
    """
    path = write_config(tmp_path)
    base = load_config(path, env={"SAFETYNET_SECRET_KEY": SECRET_KEY})
    async with Sandbox(base, app_url=app_url, **faults) as sb:
        yield sb, load_config(path, env=sandbox_env(sb, app_url or PUBLIC_URL, env))


@contextlib.asynccontextmanager
async def started(sender: T) -> AsyncIterator[T]:
    await sender.start()  # type: ignore[attr-defined]
    try:
        yield sender
    finally:
        await sender.close()  # type: ignore[attr-defined]


def outbound(
    channel: ChannelName,
    address: str,
    *,
    delivery_id: int = 1,
    campaign_id: int = 7,
    household_id: int = 3,
    token: str = REPLY_TOKEN,
    language: str = "ja",
    drill: bool = True,
    text: str | None = None,
    public_url: str = PUBLIC_URL,
) -> OutboundMessage:
    url = f"{public_url}/r/{token}"
    body = text if text is not None else f"【訓練】震度5強の地震がありました。無事ですか？ {url}"
    return OutboundMessage(channel, delivery_id, campaign_id, household_id, address, body, url, token, language, drill, "安否確認")


@dataclass
class Hit:
    path: str
    params: dict[str, str]
    valid: bool
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class WebhookRecorder:
    """The app's webhook side in miniature: verifies like the app must, records, answers like the app would."""

    def __init__(self, cfg_secret_key: str = SECRET_KEY, auth_token: str = "", language: str = "ja") -> None:
        self.auth_token = auth_token
        self.telegram_secret = tg_updates.webhook_secret(cfg_secret_key)
        self.language = language
        self.hits: list[Hit] = []
        self.telegram_sender: tg_sender.TelegramSender | None = None
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> WebhookRecorder:
        app = web.Application()
        app.router.add_post("/hooks/twilio/sms", self._twilio)
        app.router.add_post("/hooks/twilio/status", self._twilio)
        app.router.add_post("/hooks/twilio/voice", self._voice)
        app.router.add_post("/hooks/telegram", self._telegram)
        app.router.add_post("/r/{token}", self._reply)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _record(self, hit: Hit) -> None:
        self.hits.append(hit)
        self._changed.set()

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout_seconds: float = 10.0) -> list[Hit]:
        async with asyncio.timeout(timeout_seconds):
            while len(self.at(path)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.at(path)

    async def _signed(self, request: web.Request) -> tuple[dict[str, str], bool]:
        form = await request.post()
        url = self.url + request.path_qs
        valid = twilio_webhook.verify_signature(self.auth_token, url, form, request.headers.get("X-Twilio-Signature"))  # type: ignore[arg-type]
        return {k: str(v) for k, v in form.items()}, valid

    async def _twilio(self, request: web.Request) -> web.Response:
        params, valid = await self._signed(request)
        self._record(Hit(request.path, params, valid))
        if not valid:
            return web.Response(status=403)
        return web.Response(text="<Response />", content_type="text/xml")

    async def _voice(self, request: web.Request) -> web.Response:
        params, valid = await self._signed(request)
        token, retry = request.query.get("t", ""), request.query.get("retry") == "1"
        status, twiml = voice_twiml.gather_reply(voice_twiml.parse_gather(params), retry, self.url, token, self.language)
        params["_status"] = status or ""
        self._record(Hit(request.path, params, valid))
        if not valid:
            return web.Response(status=403)
        return web.Response(text=twiml, content_type="text/xml")

    async def _telegram(self, request: web.Request) -> web.Response:
        valid = tg_updates.verify_secret(request.headers.get(tg_updates.SECRET_HEADER), self.telegram_secret)
        body = await request.json()
        self._record(Hit(request.path, {}, valid, json=body))
        if not valid:
            return web.Response(status=403)
        update = tg_updates.parse_update(body)
        if isinstance(update, tg_updates.TelegramCallback) and self.telegram_sender is not None:
            parsed = tg_updates.parse_callback_data(update.data)
            if parsed is not None:
                # as the app's webhook does: the edit by a request, the press answered in the response
                await self.telegram_sender.show_recorded(update, *parsed, self.language)
                text = labels.recorded_text(parsed[0], self.language)
                return web.Response(text=tg_updates.answer_in_response(update.query_id, text),
                                    content_type="application/json")
        return web.Response()

    async def _reply(self, request: web.Request) -> web.Response:
        form = await request.post()
        self._record(Hit(request.path, {k: str(v) for k, v in form.items()}, True))
        return web.Response(text="ok")


def sender_of(cfg: Config, channel: str, public_url: str | None = None, clock: Any = None, **kw: Any) -> Any:
    """The channel's real sender, built as the composition root builds it (not started)."""
    from safetynet.channels import registry
    from safetynet.channels.spec import load
    from safetynet.config import channel_context

    ctx = channel_context(cfg, channel, public_url=public_url or None, clock=clock)
    return load(registry.spec(channel).sender)(ctx, **kw)
