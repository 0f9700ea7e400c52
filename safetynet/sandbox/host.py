"""What the sandbox gives each provider fake (`channels.fakes.FakeHost`): its state, the secrets it
accepts, and its own HTTP client that talks back to the app (residents' acts, delivery callbacks).

Requests back to the app are signed the way the real providers sign them; each fake signs its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from safetynet.channels import registry
from safetynet.channels.fakes import ActResult, ChannelFake
from safetynet.config import Config
from safetynet.sandbox.state import SandboxState

log = structlog.get_logger("sandbox")

CALLBACK_WORKERS = 8


@dataclass
class SandboxHost:
    state: SandboxState
    cfg: Config
    secret_key: str
    app_url: str | None = None
    sandbox_url: str = ""
    listen_host: str = "127.0.0.1"
    # The port the sandbox was asked for (0: any free one); a fake with its own server follows suit.
    listen_port: int = 0
    fakes: dict[str, ChannelFake] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    # the clock a resident's message is dated by (LINE's timestamp, Telegram's date): the app's, where a
    # test controls it, so the app and its providers agree on when a message was written
    now: Callable[[], float] = time.time
    _queue: asyncio.Queue[tuple[str, dict[str, str], dict[str, str]]] | None = None
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Config, state: SandboxState, app_url: str | None) -> SandboxHost:
        return cls(state=state, cfg=cfg, secret_key=cfg.secrets.secret_key,
                   app_url=app_url.rstrip("/") if app_url else None)

    def secret(self, key: str) -> str:
        """The configured secret, else the sandbox's public test value of it."""
        configured = self.cfg.secrets.get(key)
        if configured:
            return configured
        return next((sec.sandbox for sec, _ in registry.secrets() if sec.key == key), "")

    def settings(self, channel: str) -> Any:
        return self.cfg.channels.get(channel)

    def fake(self, name: str) -> ChannelFake:
        return self.fakes[name]

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._queue = asyncio.Queue()
        self._workers = [asyncio.create_task(self._callback_worker()) for _ in range(CALLBACK_WORKERS)]
        try:
            for fake in self.fakes.values():
                await fake.open()
        except BaseException:
            # aiohttp runs no on_cleanup after a failed start-up: what was opened is closed here
            await self.stop()
            raise

    async def stop(self) -> None:
        for fake in self.fakes.values():
            with contextlib.suppress(Exception):  # one fake's trouble must not keep the others running
                await fake.close()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.session is not None:
            await self.session.close()

    async def post(self, url: str, *, data: Mapping[str, str] | None = None, body: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> ActResult:
        assert self.session is not None
        async with self.session.post(url, data=dict(data) if data is not None else body,
                                     headers=dict(headers or {})) as resp:
            return ActResult(resp.status, await resp.text())

    def queue_post(self, url: str, data: Mapping[str, str], headers: Mapping[str, str]) -> None:
        if self._queue is not None and self.state.faults.callbacks:
            self._queue.put_nowait((url, dict(data), dict(headers)))

    async def _callback_worker(self) -> None:
        assert self._queue is not None
        while True:
            url, data, headers = await self._queue.get()
            try:
                result = await self.post(url, data=data, headers=headers)
                self.state.count("callbacks", "ok" if result.status < 300 else f"http_{result.status}")
            except (aiohttp.ClientError, TimeoutError) as e:
                self.state.count("callbacks", "failed")
                log.debug("sandbox_callback_failed", error_class=type(e).__name__)
            self.state.notify()

    def need_app_url(self) -> str:
        if not self.app_url:
            raise ValueError("the sandbox has no app_url: start it with --app-url or Sandbox(app_url=…)")
        return self.app_url


HOST = web.AppKey("sandbox", SandboxHost)


def host_of(request: web.Request) -> SandboxHost:
    return request.app[HOST]
