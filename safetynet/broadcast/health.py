"""Is anything being sent? A dispatcher's heartbeat and each channel's health, kept in the store.

A lane notes every provider attempt in its `LaneHealth` (two attribute checks on a success: the
send path stays as fast as it was). The dispatcher writes a heartbeat every `HEARTBEAT_SECONDS`
with the channels whose health changed, and at once (at most once a second) when a channel starts
or stops failing. The console and `campaign start` read `DispatchStatus`: whether a dispatcher is
alive, and per channel sending / failing since when / why. The store, not process memory, holds it:
any web process on the same database sees the dispatcher of another. A process that serves pages without
a dispatcher beats too (`WebHeartbeat`), as a web process no reader here counts, so that an upgrade sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog

from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain.campaigns import WEB_ROLE, ChannelHealth, DispatcherBeat
from safetynet.runtime import first_of
from safetynet.store.ports import DispatchHealthRepo

log = structlog.get_logger("broadcast.health")

IDLE, OK, FAILING = "idle", "ok", "failing"
# Failures that say the channel, not one recipient, is in trouble (no connection, provider down,
# wrong credentials, a bug in our sender). A dead number or a gone subscription is the recipient's.
CHANNEL_WIDE = frozenset({"network", "timeout", "server_error", "configuration", "internal"})
# So many channel-wide failures in a row make a channel "failing" (one blip does not).
FAILING_AFTER = 3
HEARTBEAT_SECONDS = 5.0
# A live process drops the rows of processes gone for days every this many beats (~10 min)
FORGET_EVERY_BEATS = 120
# A failing channel not tried for this long (nothing left to send on it: every household fell back,
# the campaign ended) is no longer said to fail: nothing shows it still does, and nothing would ever
# clear it (QA: 5 minutes after the providers came back /readyz, /city and campaign status still said
# failing). It goes back to idle, its last reason and answer kept, `since` its last failure. While
# deliveries wait for it, a probe every few seconds keeps it failing until one goes through.
FAILING_STALE_SECONDS = 60.0
# A dispatcher not heard from for this long is not sending (three heartbeats missed, and some).
ALIVE_SECONDS = 20.0
# Health changes are written at most this often (a flapping provider must not flood the writer).
MIN_WRITE_SECONDS = 1.0
_DETAIL_CHARS = 200


class LaneHealth:
    """One lane's health as its attempts show it; `changes` counts what the heartbeat must write."""

    __slots__ = ("_streak_since", "_wake", "changes", "detail", "last_failure", "reason", "since", "state", "streak")

    def __init__(self, since: float, wake: Callable[[], None] | None = None) -> None:
        self.state = IDLE
        self.since = since
        self.reason = ""
        self.detail = ""
        self.streak = 0  # channel-wide failures in a row
        self.changes = 0
        self._streak_since = since
        self.last_failure = since
        self._wake = wake

    def sent(self, at: float) -> None:
        """The provider took a message (or answered about the recipient): the channel works."""
        if self.streak:
            self.streak = 0
        if self.state != OK:
            self._become(OK, at, "", "")

    def failing_for(self, now: float) -> float | None:
        """How long the channel has been failing as a whole (since its streak began); None: it is not."""
        return max(0.0, now - self.since) if self.state == FAILING else None

    def failed(self, at: float, reason: str, detail: str = "", ended: float | None = None) -> None:
        """The attempt begun `at` failed, `ended` (default: `at`) when it did. A channel fails since
        its first failed attempt began, and ages out counting from the last one's end: a hung send
        fails only at its deadline (3 x timeout_seconds + 5 s, past FAILING_STALE_SECONDS from 19 s
        on), and counted from its start it aged the channel out in the gap before the next probe."""
        if reason not in CHANNEL_WIDE:
            self.sent(at)
            return
        if not self.streak:
            self._streak_since = at
        self.streak += 1
        self.last_failure = at if ended is None else max(at, ended)
        detail = detail[:_DETAIL_CHARS]
        if self.state == FAILING:
            self.reason, self.detail = reason, detail
            self.changes += 1  # the count and the last reason go out with the next heartbeat
        elif self.streak >= FAILING_AFTER:
            self._become(FAILING, self._streak_since, reason, detail)

    def age_out(self, now: float) -> bool:
        """A failing channel with no failed attempt ending for FAILING_STALE_SECONDS becomes idle (True
        when it did): its reason and answer stay, `since` is its last failure."""
        if self.state != FAILING or now - self.last_failure < FAILING_STALE_SECONDS:
            return False
        self.streak = 0
        self._become(IDLE, self.last_failure, self.reason, self.detail)
        return True

    def _become(self, state: str, since: float, reason: str, detail: str) -> None:
        self.state, self.since, self.reason, self.detail = state, since, reason, detail
        self.changes += 1
        if self._wake is not None:
            self._wake()

    def row(self, owner: str, channel: str, now: float) -> ChannelHealth:
        return ChannelHealth(owner, channel, self.state, self.since, self.reason, self.detail,
                             self.streak if self.state == FAILING else 0, now)


@dataclass(frozen=True)
class DispatchStatus:
    """What the console and `campaign start` say about sending."""

    alive: tuple[DispatcherBeat, ...]
    last_seen: float | None  # the last heartbeat of any dispatcher (None: never one on this database)
    channels: dict[str, ChannelHealth | None]  # None: no live dispatcher has this channel's lane

    @property
    def sending(self) -> bool:
        return bool(self.alive)

    @property
    def failing(self) -> list[ChannelHealth]:
        return [h for h in self.channels.values() if h is not None and h.state == FAILING]


def enabled_channels(cfg: Config) -> list[str]:
    return cfg.channels.enabled()


_WORST = {FAILING: 2, OK: 1, IDLE: 0}


def dispatch_status(beats: Sequence[DispatcherBeat], rows: Iterable[ChannelHealth], now: float,
                    channels: Iterable[str]) -> DispatchStatus:
    """Folds stored heartbeats and health rows into one status (pure). A channel's health is the
    worst among the live dispatchers (any one failing means some messages are not going out)."""
    alive = tuple(b for b in beats if b.stopped_at is None and now - b.seen_at <= ALIVE_SECONDS)
    owners = {b.owner for b in alive}
    worst: dict[str, ChannelHealth] = {}
    for h in rows:
        if h.owner in owners and (h.channel not in worst or _WORST[h.state] > _WORST[worst[h.channel].state]):
            worst[h.channel] = h
    last = max((b.seen_at for b in beats), default=None)
    return DispatchStatus(alive, last, {ch: worst.get(ch) for ch in channels})


async def read_status(store: DispatchHealthRepo, now: float, channels: Iterable[str]) -> DispatchStatus:
    beats = await store.dispatchers()
    alive = [b.owner for b in beats if b.stopped_at is None and now - b.seen_at <= ALIVE_SECONDS]
    return dispatch_status(beats, await store.channels(alive), now, channels)


class WebHeartbeat:
    """The heartbeat of a process that serves pages without a dispatcher (role `web`, `--no-dispatch`): its
    row says it runs, and a clean stop says it stopped, for an upgrade's look (`admin.live_processes`;
    QA: a web process left no trace, and a newer `init` migrated the database under it). No dispatcher count
    includes it (`dispatchers` reads role `dispatcher` alone)."""

    def __init__(self, store: DispatchHealthRepo, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.owner = f"w-{secrets.token_hex(4)}"
        self.started_at = clock.now()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Beats once before returning (the process is seen within milliseconds of serving its first
        page), then every HEARTBEAT_SECONDS."""
        await self._beat(forget=True)
        self._task = asyncio.create_task(self._run(), name="web-heartbeat")

    async def stop(self, timeout_seconds: float) -> None:
        """The last beat, saying the process stopped (a stuck store: cut off, then the row goes stale)."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=timeout_seconds)

    async def _run(self) -> None:
        beats = 1
        while True:
            await first_of(self._stopping.wait(), self.clock.sleep(HEARTBEAT_SECONDS))
            if self._stopping.is_set():
                await self._beat(stopped=True)
                return
            await self._beat(forget=beats % FORGET_EVERY_BEATS == 0)  # as a dispatcher does
            beats += 1

    async def _beat(self, *, stopped: bool = False, forget: bool = False) -> None:
        now = self.clock.now()
        beat = DispatcherBeat(self.owner, socket.gethostname(), os.getpid(), (), self.started_at, now,
                              now if stopped else None, WEB_ROLE)
        try:
            await self.store.beat(beat, forget=forget)
        except Exception as e:  # the pages are served all the same; the next beat tries again
            log.warning("web_heartbeat_failed", error=str(e))
