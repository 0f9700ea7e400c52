"""The broadcast engine as a server runs it: the dispatcher and the ladder scheduler.

Web push encryption is CPU-bound (about 0.35 ms a message for the ECDH + AES-GCM alone), so on a
machine with a second core the web-push sender runs in a child process (`ProcessSender`): one
process would cap the whole broadcast near one core. The child only sends; the database keeps one
writer (two writing processes wait on each other's locks, and lose under load).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from typing import Any

import structlog

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.ladder import DoorKnockNotifier, LadderScheduler
from safetynet.broadcast.sendworker import ProcessSender
from safetynet.channels import registry
from safetynet.channels.base import ChannelSender
from safetynet.clock import Clock
from safetynet.config import Config, channel_contexts
from safetynet.domain import ChannelName
from safetynet.store import Store

log = structlog.get_logger("broadcast.engine")

def cpu_bound_lanes() -> tuple[ChannelName, ...]:
    """Senders worth a process of their own when there is a second core (their specs say so)."""
    return tuple(s.name for s in registry.SPECS if s.cpu_bound)


def use_send_workers(cfg: Config) -> bool:
    return (os.cpu_count() or 1) > 1 and any(cfg.channels.get(ch).enabled for ch in cpu_bound_lanes())


def build_senders(cfg: Config, public_url: str | None = None) -> dict[ChannelName, ChannelSender]:
    """One sender per enabled channel, in this process (not started)."""
    return registry.build_senders(channel_contexts(cfg, public_url=public_url))


def build_dispatch_senders(cfg: Config, public_url: str | None = None,
                           send_workers: bool | None = None) -> dict[ChannelName, ChannelSender]:
    """The senders of every enabled channel, CPU-bound ones in their own process on a multi-core
    machine (not started: call `start()` inside the running loop)."""
    senders = build_senders(cfg, public_url)
    if use_send_workers(cfg) if send_workers is None else send_workers:
        for ch in cpu_bound_lanes():
            if ch in senders:
                senders[ch] = ProcessSender(cfg, ch, public_url)
    return senders


# -- the engine ----------------------------------------------------------------------------------


class BroadcastEngine:
    """Dispatcher(s) and ladder for a server: `await start()`, `wake()` after changes, `await stop()`."""

    def __init__(
        self, store: Store, cfg: Config, clock: Clock, *, senders: Mapping[ChannelName, ChannelSender] | None = None,
        notifier: DoorKnockNotifier | None = None, send_workers: bool | None = None,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self._own_senders = senders is None
        self.senders = dict(senders) if senders is not None else build_dispatch_senders(cfg, send_workers=send_workers)
        self.dispatcher = Dispatcher(store, self.senders, cfg, clock, contacts=store.roster)
        self.ladder = LadderScheduler(store.campaigns, clock, notifier=notifier, on_planned=self.wake)
        self._tasks: list[asyncio.Task[Any]] = []

    def wake(self) -> None:
        self.dispatcher.wake()

    async def start(self) -> None:
        if self._own_senders:
            for s in self.senders.values():
                await s.start()
        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                       asyncio.create_task(self.ladder.run(), name="ladder")]
        workers = sorted(str(c) for c, s in self.senders.items() if isinstance(s, ProcessSender))
        log.info("broadcast_engine_started", lanes=sorted(str(c) for c in self.senders), send_workers=workers)

    async def stop(self) -> None:
        self.ladder.stop()
        self.dispatcher.stop()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await t
        if self._own_senders:
            for s in self.senders.values():
                with contextlib.suppress(Exception):
                    await s.close()
        log.info("broadcast_engine_stopped")
