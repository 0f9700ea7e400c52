"""Provider lanes' pacing: a token bucket per lane and a pause of the whole lane (no time.sleep).

Driven by `Clock.monotonic()` and `Clock.sleep()`, so tests move time by hand. Each `acquire`
reserves the next free slot before it sleeps, so many concurrent senders get evenly spaced slots
without a lock, and a loop that lagged does not burst to catch up (burst 1 by default: providers
count per second, and a burst is what earns a 429).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import structlog

from safetynet.clock import Clock

log = structlog.get_logger("broadcast.ratelimit")

# A slot this far in the past is still used (a busy event loop's lag); an older one is dropped.
CATCH_UP_SECONDS = 0.05


class LaneGate:
    """`max_per_second` (0 = no limit) and a lane-wide pause, e.g. after a 429 with Retry-After."""

    def __init__(self, max_per_second: float, clock: Clock, burst: float = 1.0) -> None:
        if max_per_second < 0:
            raise ValueError("max_per_second must be >= 0")
        self.rate = max_per_second
        self.clock = clock
        self.burst = max(1.0, burst)
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._next: float | None = None  # no credit before the first send: a lane never opens with a burst
        self._paused_until = 0.0
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Stops the whole lane for `seconds` from now (extends a running pause, never shortens it)."""
        until = self.clock.monotonic() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
        # Slots reserved before the pause are void; the lane restarts at its end, evenly paced.
        self._next = self._paused_until

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock.monotonic())

    def _reserve(self, now: float) -> float:
        slot = now if self._next is None else max(self._next, now - self._interval * (self.burst - 1))
        self._next = slot + self._interval
        return slot - now

    async def acquire(self, max_wait: float | None = None,
                      sleep: Callable[[float], Awaitable[None]] | None = None) -> bool:
        """Waits for this lane's next slot; False (nothing reserved) if the lane is paused for longer
        than `max_wait` seconds, so the caller can give its work back instead of holding it.
        `sleep` replaces the Clock's (a lane's, which a stop interrupts)."""
        sleep = sleep or self.clock.sleep
        while True:
            now = self.clock.monotonic()
            if self._paused_until > now:
                wait = self._paused_until - now
                if max_wait is not None and wait > max_wait:
                    return False
                await sleep(wait)
                continue
            if not self._interval:
                return True
            wait = self._reserve(now)
            if wait > 0:
                await sleep(wait)
                if self._paused_until > self.clock.monotonic():
                    continue  # paused while waiting: the reserved slot is void
            return True

    def capacity(self, seconds: float) -> float:
        """How many sends this lane allows in `seconds` (infinite when unlimited)."""
        return float("inf") if not self._interval else seconds / self._interval


class KeyedGate:
    """Pacing per key (a recipient's domain, say) on top of a lane's own rate: each listed key gets
    its own evenly spaced slots; keys not listed pass at once. Reservations as in `LaneGate`: many
    concurrent senders get distinct slots without a lock. A slot further away than the caller may
    wait is not reserved, so the caller can give its work back instead of holding a worker."""

    def __init__(self, per_second: Mapping[str, float], clock: Clock) -> None:
        if any(rate < 0 for rate in per_second.values()):
            raise ValueError("rates must be >= 0")
        self.clock = clock
        self._interval = {key: 1.0 / rate for key, rate in per_second.items() if rate > 0}
        self._next: dict[str, float] = {}
        self.deferred = 0

    def paced(self, key: str) -> bool:
        return key in self._interval

    def free_in(self, key: str) -> float:
        """Seconds until `key`'s next free slot (0 when free now or not paced)."""
        return max(0.0, self._next.get(key, 0.0) - self.clock.monotonic())

    def reserve(self, key: str, max_wait: float | None = None) -> float | None:
        """Reserves `key`'s next slot: the seconds to wait for it; None (nothing reserved) when that
        is more than `max_wait`."""
        interval = self._interval.get(key)
        if interval is None:
            return 0.0
        now = self.clock.monotonic()
        slot = max(self._next.get(key, now), now)
        wait = slot - now
        if max_wait is not None and wait > max_wait:
            self.deferred += 1
            return None
        self._next[key] = slot + interval
        return wait

    async def acquire(self, key: str, max_wait: float | None = None,
                      sleep: Callable[[float], Awaitable[None]] | None = None) -> bool:
        """Waits for `key`'s slot; False (nothing reserved) when it is more than `max_wait` away."""
        wait = self.reserve(key, max_wait)
        if wait is None:
            return False
        if wait > 0:
            await (sleep or self.clock.sleep)(wait)
        return True


class SlotStore(Protocol):
    """The store's shared lane slots (`store.ports.CoordinationRepo`)."""

    async def reserve_slots(self, lane: str, count: int, interval: float) -> float: ...

    async def hold_lane(self, lane: str, until: float) -> None: ...


# A dispatcher reserves this much of a lane's time at once: a store write every 0.2 s per busy lane,
# and at worst 0.2 s of slots left unused when its lane runs dry.
BLOCK_SECONDS = 0.2


class SharedLaneGate(LaneGate):
    """`max_per_second` for every dispatcher on the store together (DESIGN §8).

    The store hands out a lane's send slots in order, a block at a time, never the same slot twice
    (`reserve_slots`); each dispatcher sends at the slots it got. So whatever the number of
    dispatchers, the lane's sends are at least 1/rate apart, give or take a dispatcher's lag (slots
    later than `CATCH_UP_SECONDS` are dropped, not sent in a burst). A provider's slow-down (429,
    Retry-After) holds the lane for everyone. Should the store not answer, the lane falls back to
    this process's own pacing: nothing can be claimed or recorded then anyway.
    """

    def __init__(self, lane: str, slots: SlotStore, max_per_second: float, clock: Clock) -> None:
        super().__init__(max_per_second, clock)
        self.lane = lane
        self.slots = slots
        self.block = max(1, math.ceil(max_per_second * BLOCK_SECONDS))
        self._mine: deque[float] = deque()  # reserved slots, on this process's monotonic clock
        self._reserving = asyncio.Lock()
        self._holds: set[asyncio.Task[None]] = set()
        self.reservations = 0

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self._mine.clear()  # slots reserved before the provider said "slow down" are void
        task = asyncio.get_running_loop().create_task(self._hold(self.clock.now() + max(0.0, seconds)))
        self._holds.add(task)
        task.add_done_callback(self._holds.discard)

    @property
    def paused_for(self) -> float:
        # another dispatcher's hold shows as this process's next slot lying far ahead
        ahead = self._mine[0] - self.clock.monotonic() if self._mine else 0.0
        return max(super().paused_for, ahead)

    async def _hold(self, until: float) -> None:
        try:
            await self.slots.hold_lane(self.lane, until)
        except Exception as e:  # this process still pauses; the others hear the provider themselves
            log.warning("lane_hold_not_shared", lane=self.lane, error=str(e))

    async def _next_slot(self) -> float | None:
        """This process's next slot (monotonic), reserving a block when it has none left."""
        while True:
            late = self.clock.monotonic() - CATCH_UP_SECONDS
            while self._mine and self._mine[0] < late:
                self._mine.popleft()  # too late to use without crowding the next dispatcher's slots
            if self._mine:
                return self._mine.popleft()
            async with self._reserving:
                if self._mine:
                    continue
                try:
                    start = await self.slots.reserve_slots(self.lane, self.block, self._interval)
                except Exception as e:
                    log.warning("lane_slots_unavailable", lane=self.lane, error=str(e))
                    return None
                self.reservations += 1
                offset = self.clock.monotonic() - self.clock.now()
                self._mine.extend(start + offset + i * self._interval for i in range(self.block))

    async def acquire(self, max_wait: float | None = None,
                      sleep: Callable[[float], Awaitable[None]] | None = None) -> bool:
        if not self._interval:
            return await super().acquire(max_wait, sleep)
        sleep = sleep or self.clock.sleep
        while True:
            now = self.clock.monotonic()
            if self._paused_until > now:
                wait = self._paused_until - now
                if max_wait is not None and wait > max_wait:
                    return False
                await sleep(wait)
                continue
            slot = await self._next_slot()
            if slot is None:
                return await super().acquire(max_wait, sleep)
            if self._paused_until > self.clock.monotonic():
                continue  # a 429 came back while the store handed out the slot: the slot is void
            wait = slot - self.clock.monotonic()
            if max_wait is not None and wait > max_wait:
                # a long hold by another dispatcher (a provider's slow-down): hand the work back
                self._mine.appendleft(slot)
                return False
            if wait > 0:
                await sleep(wait)
                if self._paused_until > self.clock.monotonic():
                    continue  # paused while waiting: the slot is void
            return True
