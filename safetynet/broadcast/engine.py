"""The broadcast engine as `safetynet serve` runs it: dispatcher(s) and the ladder scheduler.

Web push encryption is CPU-bound (about 0.35 ms a message for the ECDH + AES-GCM alone), so on a
machine with two cores the web-push lane runs in a second process: one process would cap the
whole broadcast near one core. Both processes claim from the same outbox (SQLite serialises
their short write transactions; each claims only its own lanes), so nothing is shared in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterable, Mapping
from multiprocessing.connection import Connection
from typing import Any

import structlog

from safetynet.broadcast.dispatcher import Dispatcher, DispatchReport
from safetynet.broadcast.ladder import DoorKnockNotifier, LadderScheduler
from safetynet.channels.base import ChannelSender
from safetynet.clock import Clock, SystemClock
from safetynet.config import Config
from safetynet.domain import Channel

log = structlog.get_logger("broadcast.engine")

# Lanes given their own process when there is a second core.
CPU_BOUND_LANES = (Channel.WEBPUSH,)
# A lane process polls the outbox this often (it cannot be woken across processes).
CHILD_POLL_SECONDS = 0.2


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def use_lane_process(cfg: Config) -> bool:
    return (os.cpu_count() or 1) > 1 and any(getattr(cfg.channels, ch.value).enabled for ch in CPU_BOUND_LANES)


# -- the lane process ----------------------------------------------------------------------------


def _lane_process_main(cfg: Config, channels: list[str], burst: bool, conn: Connection) -> None:
    """Entry point of the child: its own store, senders and dispatcher for `channels`."""
    from safetynet.logs import configure_logging

    configure_logging(cfg.logging.level, "json")
    try:
        report = asyncio.run(_lane_process(cfg, [Channel(c) for c in channels], burst))
        conn.send({"report": report.to_dict(), "peak_rss_mb": peak_rss_mb()})
    except Exception as e:  # reported to the parent, which logs it
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


async def _lane_process(cfg: Config, channels: list[Channel], burst: bool) -> DispatchReport:
    from safetynet.channels.registry import build_senders
    from safetynet.store import store_session

    clock = SystemClock()
    async with store_session(cfg, clock) as store:
        senders = {ch: s for ch, s in build_senders(cfg).items() if ch in channels}
        for s in senders.values():
            await s.start()
        try:
            disp = Dispatcher(store.campaigns, senders, cfg, clock, contacts=store.roster,
                              poll_seconds=CHILD_POLL_SECONDS)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, disp.stop)
            return await (disp.burst() if burst else disp.run())
        finally:
            for s in senders.values():
                await s.close()


class LaneProcess:
    """A child process running the dispatcher for some lanes."""

    def __init__(self, cfg: Config, channels: Iterable[Channel], burst: bool = False) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_lane_process_main, args=(cfg, [str(c) for c in channels], burst, send),
                                   name="safetynet-lanes", daemon=True)
        self._send = send
        self.result: dict[str, Any] = {}

    def start(self) -> None:
        self.process.start()
        self._send.close()

    async def wait(self) -> dict[str, Any]:
        """Until the child ends; returns what it reported (its dispatch report and peak RSS)."""
        loop = asyncio.get_running_loop()
        self.result = await loop.run_in_executor(None, self._collect)
        if "error" in self.result:
            log.error("lane_process_failed", error=self.result["error"])
        return self.result

    def _collect(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._recv.recv()
        except EOFError:
            result = {"error": f"lane process exited with {self.process.exitcode}"}
        self.process.join()
        return result

    def stop(self) -> None:
        """Graceful: the child finishes its sends in flight and releases its claims."""
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGTERM)


# -- the engine ----------------------------------------------------------------------------------


class BroadcastEngine:
    """Dispatcher(s) and ladder for a server: `await start()`, `wake()` after changes, `await stop()`."""

    def __init__(
        self, store: Any, cfg: Config, clock: Clock, *, senders: Mapping[Channel, ChannelSender] | None = None,
        notifier: DoorKnockNotifier | None = None, lane_process: bool | None = None,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self._own_senders = senders is None
        if senders is None:
            from safetynet.channels.registry import build_senders

            senders = build_senders(cfg)
        self.split = use_lane_process(cfg) if lane_process is None else lane_process
        here = {ch: s for ch, s in senders.items() if not (self.split and ch in CPU_BOUND_LANES)}
        self.senders = here
        self.dispatcher = Dispatcher(store.campaigns, here, cfg, clock, contacts=store.roster)
        self.ladder = LadderScheduler(store.campaigns, clock, notifier=notifier, on_planned=self.wake)
        self.child: LaneProcess | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def wake(self) -> None:
        self.dispatcher.wake()

    async def start(self) -> None:
        if self._own_senders:
            for s in self.senders.values():
                await s.start()
        if self.split:
            self.child = LaneProcess(self.cfg, [ch for ch in CPU_BOUND_LANES if getattr(self.cfg.channels, ch.value).enabled])
            self.child.start()
        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                       asyncio.create_task(self.ladder.run(), name="ladder")]
        log.info("broadcast_engine_started", lane_process=self.split, lanes=sorted(str(c) for c in self.senders))

    async def stop(self) -> None:
        self.ladder.stop()
        self.dispatcher.stop()
        if self.child is not None:
            self.child.stop()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await t
        if self.child is not None:
            await self.child.wait()
        if self._own_senders:
            for s in self.senders.values():
                with contextlib.suppress(Exception):
                    await s.close()
        log.info("broadcast_engine_stopped")
