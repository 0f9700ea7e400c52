"""Provider lanes' pacing: a token bucket per lane and a pause of the whole lane (no time.sleep).

Driven by `Clock.monotonic()` and `Clock.sleep()`, so tests move time by hand. Each `acquire`
reserves the next free slot before it sleeps, so many concurrent senders get evenly spaced slots
without a lock, and a loop that lagged does not burst to catch up (burst 1 by default: providers
count per second, and a burst is what earns a 429).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from safetynet.clock import Clock


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
