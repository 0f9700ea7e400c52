"""A short-lived cache with single flight: however many ask at once, a value is computed once.

The city overview of a 200,000-household campaign reads thousands of counter rows and renders
a thousand associations; the live stream keeps open pages current, so a page loaded within the
same second may share the work of the previous one.

With `stale_seconds`, a value past its TTL but within the stale window is still served at once
while one refresh runs in the background: under a reply surge a recount waits its turn on the
readers, and no dashboard request should wait for it when a second-old answer will do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

from safetynet.clock import Clock

V = TypeVar("V")

log = structlog.get_logger("stats")


class TtlCache(Generic[V]):
    def __init__(self, clock: Clock, ttl_seconds: float, max_entries: int = 256, stale_seconds: float = 0.0) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.stale_seconds = stale_seconds
        self.max_entries = max_entries
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._flights: dict[Hashable, asyncio.Future[V]] = {}
        self._refreshes: set[asyncio.Task[V]] = set()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        while True:
            hit = self._values.get(key)
            if hit is not None:
                age = self.clock.monotonic() - hit[0]
                if age < self.ttl_seconds:
                    return hit[1]
                if age < self.ttl_seconds + self.stale_seconds:
                    if key not in self._flights:
                        self._refresh(key, compute)
                    return hit[1]
            flight = self._flights.get(key)
            if flight is None:
                return await self._compute(key, compute)
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if flight.cancelled():  # the computing request went away: compute it ourselves
                    continue
                raise

    async def idle(self) -> None:
        """Returns when no background refresh is running (tests await this)."""
        while self._refreshes:
            await asyncio.gather(*list(self._refreshes), return_exceptions=True)

    def _refresh(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> None:
        fut = self._fly(key)  # registered now: the next reader sees the flight and does not start another
        task = asyncio.get_running_loop().create_task(self._land(key, fut, compute))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[V]) -> None:
        self._refreshes.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            # the stale value stays until its window ends; the next request past it recomputes
            log.warning("cache_refresh_failed", error=type(e).__name__)

    def _fly(self, key: Hashable) -> asyncio.Future[V]:
        fut: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = fut
        return fut

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        return await self._land(key, self._fly(key), compute)

    async def _land(self, key: Hashable, fut: asyncio.Future[V], compute: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await compute()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: a failure nobody else waited for is not "never retrieved"
            raise
        finally:
            del self._flights[key]
        if len(self._values) >= self.max_entries:
            self._values.clear()
        self._values[key] = (self.clock.monotonic(), value)
        fut.set_result(value)
        return value
