"""Shared set-up of the broadcast tests: a store (in memory, or real SQLite in tmp_path), a small roster,
a scripted sender.

`ScriptedSender` implements our own `ChannelSender` protocol (no client library is involved): it
lets the dispatcher tests choose, per address, which classified error each attempt meets. The
tests against the real client libraries use the sandbox instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pg_helpers import store_env
from roster_helpers import SECRET_KEY, household
from sqlite_template import migrated_store_for

from safetynet.channels import registry
from safetynet.channels.base import OutboundMessage, SendError, SendResult
from safetynet.clock import Clock
from safetynet.config import Config, load_config
from safetynet.domain import ChannelName
from safetynet.store import Store, open_store
from safetynet.store.memory import MemoryStore

SECRET = SECRET_KEY
T = TypeVar("T")


def make_cfg(tmp_path: Path, **env: str) -> Config:
    base = {
        "SAFETYNET_SECRET_KEY": SECRET,
        "SAFETYNET_STORE_PATH": str(tmp_path / "var" / "safetynet.db"),
        "SAFETYNET_SERVER_PUBLIC_URL": "https://safety.example.jp",
        "SAFETYNET_BROADCAST_MAX_INLINE_RETRY_SECONDS": "5",
        "SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "0",
        "SAFETYNET_CHANNELS_VOICE_MAX_PER_SECOND": "0",
        "SAFETYNET_CHANNELS_TELEGRAM_MAX_PER_SECOND": "0",
    }
    base.update(store_env())
    base.update(env)
    return load_config(None, env=base)


@contextlib.asynccontextmanager
async def opened(cfg: Config, clock: Clock) -> AsyncIterator[Store]:
    """The SQLite store the config names (for what only a real database shows: locks, restarts)."""
    migrated_store_for(cfg)
    store = await open_store(cfg, clock)
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def in_memory(clock: Clock) -> AsyncIterator[MemoryStore]:
    """The in-memory store: the unit tests of the dispatcher, the ladder and the campaign service."""
    store = MemoryStore(registry.routes(), clock)
    try:
        yield store
    finally:
        await store.close()


@dataclass(frozen=True)
class H:
    """A household for a test roster: contacts as letters w(ebpush) t(elegram) m(obile) l(andline)."""

    key: str
    contacts: str
    vulnerable: bool = False
    language: str = "ja"
    association: str = "桜町一丁目町会"
    district: str = "北地区"


def mobile(i: int) -> str:
    return f"090{i:08d}"


def e164_mobile(i: int) -> str:
    return f"+8190{i:08d}"


def subscription(i: int, host: str = "http://127.0.0.1:9") -> str:
    return json.dumps({"endpoint": f"{host}/push/{i}", "keys": {"p256dh": "k", "auth": "a"}})


async def seed(store: Store, households: Sequence[H], sub_host: str = "http://127.0.0.1:9") -> dict[str, int]:
    """Imports the households; returns household key → id."""
    records = [
        household(district=h.district, association=h.association, group="1班", household_key=h.key,
                        name=f"世帯{i}", vulnerable=h.vulnerable, language=h.language,
                        phone=e164_mobile(i) if "m" in h.contacts else "",
                        landline=f"+813{i:08d}" if "l" in h.contacts else "",
                        telegram=str(700000 + i) if "t" in h.contacts else "")
        for i, h in enumerate(households, start=1)
    ]
    await store.roster.import_households(records)
    ids = {t.household_key: t.household_id for t in await store.roster.code_targets(only_without_code=False)}
    for i, h in enumerate(households, start=1):
        if "w" in h.contacts:
            await store.roster.add_contact(ids[h.key], "webpush", subscription(i, sub_host))
    return ids


class ScriptedSender:
    """Our ChannelSender protocol over a script: address → errors to raise, attempt by attempt."""

    def __init__(self, channel: ChannelName, script: dict[str, list[SendError]] | None = None) -> None:
        self.name = channel
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.sent: list[OutboundMessage] = []
        self.attempts: list[tuple[str, float]] = []
        self.clock: Clock | None = None
        self._changed: asyncio.Event | None = None

    async def wait_sent(self, n: int) -> None:
        """Until `n` messages went out (event-driven)."""
        while len(self.sent) < n:
            self._changed = self._changed or asyncio.Event()
            self._changed.clear()
            await self._changed.wait()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.attempts.append((msg.address, self.clock.monotonic() if self.clock else 0.0))
        errors = self.script.get(msg.address)
        if errors:
            raise errors.pop(0)
        self.sent.append(msg)
        if self._changed is not None:
            self._changed.set()
        return SendResult(provider_id=f"{self.name}-{msg.delivery_id}")

    def households(self) -> list[int]:
        return [m.household_id for m in self.sent]


def senders(clock: Clock | None = None, **scripts: dict[str, list[SendError]]) -> dict[ChannelName, ScriptedSender]:
    out = {ch: ScriptedSender(ch, scripts.get(ch)) for ch in registry.names()}
    for s in out.values():
        s.clock = clock
    return out


async def answer(store: Store, campaign_id: int, household_id: int, status: str = "safe", at: float = 0.0) -> None:
    """A household answers (what the reply intake records, through the store's port)."""
    import secrets

    from safetynet.domain.replies import ReplyItem

    target = await store.replies.target(campaign_id, household_id)
    assert target is not None, f"household {household_id} is not in campaign {campaign_id}"
    await store.replies.record(ReplyItem(campaign_id, household_id, target.association_id, status, "web",
                                         f"test-{secrets.token_hex(8)}", at or store.clock.now()))


async def run_with_clock(clock: object, coro: Awaitable[T], step: float = 0.25) -> T:
    """Runs `coro` while moving a FakeClock forward in small steps until it finishes."""
    import asyncio

    from safetynet.clock import FakeClock

    assert isinstance(clock, FakeClock)
    task = asyncio.ensure_future(coro)
    while not task.done():
        await clock.advance(step)
        await asyncio.sleep(0)
    return await task


class BatchScriptedSender(ScriptedSender):
    """A `BatchSender` over a script (like LINE's multicast): many recipients a request, answered per
    recipient. `request_errors` fail whole requests (5xx, 429) in turn; `script` fails recipients."""

    def __init__(self, channel: ChannelName, max_batch: int, script: dict[str, list[SendError]] | None = None,
                 request_errors: list[SendError] | None = None) -> None:
        super().__init__(channel, script)
        self.max_batch = max_batch
        self.request_errors = list(request_errors or [])
        self.requests: list[list[OutboundMessage]] = []

    async def send(self, msg: OutboundMessage) -> SendResult:
        raise AssertionError("a batch sender's lane must hand it batches")

    async def send_batch(self, msgs: Sequence[OutboundMessage]) -> list[SendResult | SendError]:
        assert 0 < len(msgs) <= self.max_batch
        self.requests.append(list(msgs))
        if self.request_errors:
            raise self.request_errors.pop(0)
        out: list[SendResult | SendError] = []
        for m in msgs:
            errors = self.script.get(m.address)
            if errors:
                out.append(errors.pop(0))
                continue
            self.sent.append(m)
            out.append(SendResult(provider_id=f"{self.name}-{m.delivery_id}"))
        if self._changed is not None:
            self._changed.set()
        return out
