"""Provider lanes' pacing: a token bucket per lane and a pause of the whole lane (no time.sleep).

Driven by `Clock.monotonic()` and `Clock.sleep()`, so tests move time by hand. Each `acquire`
reserves the next free slot before it sleeps, so many concurrent senders get evenly spaced slots
without a lock, and a loop that lagged does not burst to catch up (burst 1 by default: providers
count per second, and a burst is what earns a 429).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
