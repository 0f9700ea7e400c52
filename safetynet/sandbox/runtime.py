"""`Sandbox`: the provider server started inside the current event loop (tests, the demo, the CLI)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from safetynet.channels import registry
from safetynet.channels.fakes import ActResult, ChannelFake, Record
from safetynet.config import Config
from safetynet.sandbox.app import acts, build_app
from safetynet.sandbox.host import SandboxHost
from safetynet.sandbox.state import Faults, SandboxState


class Sandbox:
    """Every registered channel's provider fake (Twilio, Telegram, a web-push service…) on one
    loopback port.

    `async with Sandbox(cfg, port=0, app_url=…) as sb:` then point the channels' `api_base_url`
    at `sb.url`. `sb.records` holds every message; `await sb.wait_for(n)` waits for them;
    `sb.fake("telegram")` is a channel's fake (its residents' acts, what it holds);
    `await sb.act("sms", {"from": …, "body": "1"})` is `POST /_sandbox/act/sms`.
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
        self.ctx = SandboxHost.from_config(cfg, SandboxState(f), app_url)
        self.ctx.listen_host = host
        self.ctx.listen_port = port
        for _spec, fake_class in registry.sandbox_fakes():
            fake: ChannelFake = fake_class(self.ctx)
            self.ctx.fakes[fake.name] = fake
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    def build(self) -> web.Application:
        """The sandbox's web app; a test's subclass adds its middleware here."""
        return build_app(self.ctx)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await self.stop()  # the app's cleanup closes its client session (QA: "Unclosed client session")
            raise
        self.port = int(self._runner.addresses[0][1])
        self.ctx.sandbox_url = self.url

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
    def state(self) -> SandboxState:
        return self.ctx.state

    @state.setter
    def state(self, value: SandboxState) -> None:
        self.ctx.state = value

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

    # --- acting as a browser and as a resident ---

    def app_env(self) -> dict[str, str]:
        """Environment overrides pointing the app at fakes with servers of their own (an SMTP
        server's host and port), beyond the `api_base_url` every HTTP provider takes."""
        env: dict[str, str] = {}
        for name, fake in self.ctx.fakes.items():
            for key, value in fake.app_settings().items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                env[f"SAFETYNET_CHANNELS_{name.upper()}_{key.upper()}"] = text
        return env

    def fake(self, name: str) -> Any:
        """The provider fake of channel `name` (KeyError if it has none)."""
        return self.ctx.fakes[name]

    async def act(self, what: str, body: dict[str, Any]) -> ActResult:
        """What `POST /_sandbox/act/{what}` does: a resident's act on a fake (`sms`, `telegram`, `voice`, `push`)."""
        return await acts(self.ctx)[what](body)
