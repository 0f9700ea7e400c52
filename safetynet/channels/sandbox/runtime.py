"""`Sandbox`: the provider server started inside the current event loop (tests, the demo, the CLI)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from safetynet.channels.sandbox import push_service, resident
from safetynet.channels.sandbox.app import build_app
from safetynet.channels.sandbox.context import SandboxContext
from safetynet.channels.sandbox.state import Faults, Record, SandboxState
from safetynet.config import Config


class Sandbox:
    """Twilio, Telegram and a web-push service on one loopback port.

    `async with Sandbox(cfg, port=0, app_url=…) as sb:` then point the channels' `api_base_url`
    at `sb.url`. `sb.records` holds every message; `await sb.wait_for(n)` waits for them.
    """

    def __init__(
        self,
        cfg: Config,
        host: str = "127.0.0.1",
        port: int = 0,
        app_url: str | None = None,
        faults: Faults | None = None,
        **fault_settings: Any,
    ) -> None:
        f = faults or Faults()
        if fault_settings:
            f.update(fault_settings)
        self.state = SandboxState(f)
        self.ctx = SandboxContext.from_config(cfg, self.state, app_url)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.ctx), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- what a test reads ---

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def records(self) -> list[Record]:
        return self.state.records

    def messages(self, channel: str | None = None) -> list[Record]:
        return [r for r in self.state.records if r.kind == "message" and (channel is None or r.channel == channel)]

    @property
    def stats(self) -> dict[str, Any]:
        return self.state.stats_doc()

    async def wait_for(self, what: Any, timeout_seconds: float = 30.0) -> None:
        """Until `what` (an int) messages arrived, or `what(records)` is true."""
        await self.state.wait_for(what, timeout_seconds)

    def reset(self) -> None:
        self.state.reset()

    @property
    def app_url(self) -> str | None:
        return self.ctx.app_url

    @app_url.setter
    def app_url(self, value: str | None) -> None:
        self.ctx.app_url = value.rstrip("/") if value else None

    @property
    def telegram_webhook(self) -> tuple[str, str | None] | None:
        return self.ctx.telegram_webhook

    # --- acting as a browser and as a resident ---

    def subscribe(self, application_server_key: str | None = None, host: str | None = None) -> dict[str, Any]:
        """A browser's push subscription on this sandbox (`host` picks another name for it, e.g. localhost)."""
        base = f"http://{host}:{self.port}" if host else self.url
        return push_service.subscribe(self.ctx, base, application_server_key)

    async def act_sms(self, from_: str, body: str, to: str | None = None) -> resident.ActResult:
        return await resident.sms(self.ctx, from_, body, to)

    async def act_telegram(self, chat_id: int, answer: str) -> resident.ActResult:
        return await resident.telegram_press(self.ctx, chat_id, answer)

    async def act_telegram_forged(self, chat_id: int, answer: str, reply_token: str) -> resident.ActResult:
        return await resident.telegram_forged_press(self.ctx, chat_id, answer, reply_token)

    async def act_telegram_start(self, chat_id: int, code: str) -> resident.ActResult:
        return await resident.telegram_start(self.ctx, chat_id, code)

    async def act_voice(self, to: str, digits: str) -> resident.ActResult:
        return await resident.voice_press(self.ctx, to, digits)

    async def act_push(self, sub_id: str, action: str) -> resident.ActResult:
        return await resident.push_action(self.ctx, sub_id, action)
