"""What the sandbox's handlers share: state, the credentials it accepts, and its own HTTP client.

The sandbox talks back to the app (Twilio status callbacks, a resident's SMS, a Telegram button
press, a voice keypad answer). Those requests are signed the way the real providers sign them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from twilio.request_validator import RequestValidator

from safetynet.channels.sandbox.state import SandboxState
from safetynet.config import SANDBOX_SECRETS, Config

log = structlog.get_logger("sandbox")

CALLBACK_WORKERS = 8


@dataclass
class PushKeys:
    private_key: Any  # cryptography EllipticCurvePrivateKey: the "browser's" key
    auth: bytes
    application_server_key: str | None


@dataclass
class SandboxContext:
    state: SandboxState
    account_sid: str
    auth_token: str
    bot_token: str
    secret_key: str
    sms_from: str
    app_url: str | None = None
    telegram_webhook: tuple[str, str | None] | None = None
    subscriptions: dict[str, PushKeys] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    _queue: asyncio.Queue[tuple[str, dict[str, str]]] | None = None
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Config, state: SandboxState, app_url: str | None) -> SandboxContext:
        s, sb = cfg.secrets, SANDBOX_SECRETS
        return cls(
            state=state,
            account_sid=s.twilio_account_sid or sb.twilio_account_sid,
            auth_token=s.twilio_auth_token or sb.twilio_auth_token,
            bot_token=s.telegram_bot_token or sb.telegram_bot_token,
            secret_key=s.secret_key,
            sms_from=cfg.channels.sms.from_number,
            app_url=app_url.rstrip("/") if app_url else None,
        )

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._queue = asyncio.Queue()
        self._workers = [asyncio.create_task(self._callback_worker()) for _ in range(CALLBACK_WORKERS)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.session is not None:
            await self.session.close()

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    async def post_signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """A form POST signed with X-Twilio-Signature, as Twilio sends webhooks."""
        assert self.session is not None
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        async with self.session.post(url, data=params, headers=headers) as resp:
            return resp.status, await resp.text()

    def queue_callback(self, url: str, params: dict[str, str]) -> None:
        if self._queue is not None and self.state.faults.callbacks:
            self._queue.put_nowait((url, params))

    async def _callback_worker(self) -> None:
        assert self._queue is not None
        while True:
            url, params = await self._queue.get()
            try:
                status, _ = await self.post_signed(url, params)
                self.state.count("callbacks", "ok" if status < 300 else f"http_{status}")
            except (aiohttp.ClientError, TimeoutError) as e:
                self.state.count("callbacks", "failed")
                log.debug("sandbox_callback_failed", error_class=type(e).__name__)
            self.state.notify()

    def need_app_url(self) -> str:
        if not self.app_url:
            raise ValueError("the sandbox has no app_url: start it with --app-url or Sandbox(app_url=…)")
        return self.app_url


CTX = web.AppKey("sandbox", SandboxContext)


def ctx_of(request: web.Request) -> SandboxContext:
    return request.app[CTX]
