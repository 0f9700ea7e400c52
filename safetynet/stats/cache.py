"""A short-lived cache with single flight: however many ask at once, a value is computed once.

The city overview of a 200,000-household campaign reads thousands of counter rows and renders
a thousand associations; the live stream keeps open pages current, so a page loaded within the
same second may share the work of the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from safetynet.clock import Clock

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, clock: Clock, ttl_seconds: float, max_entries: int = 256) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._flights: dict[Hashable, asyncio.Future[V]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        while True:
            hit = self._values.get(key)
            if hit is not None and self.clock.monotonic() - hit[0] < self.ttl_seconds:
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

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        fut: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = fut
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
