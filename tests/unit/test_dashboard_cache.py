"""The short-lived single-flight cache behind the city overview."""

from __future__ import annotations

import asyncio

import pytest

from safetynet.clock import FakeClock
from safetynet.stats.cache import TtlCache


async def test_one_computation_for_many_callers_until_it_expires() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, ttl_seconds=1.0)
    calls = 0
    gate = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiting = [asyncio.ensure_future(cache.get("k", compute)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50 and calls == 1
    assert await cache.get("k", compute) == 1  # still fresh
    await clock.advance(1.0)
    assert await cache.get("k", compute) == 2 and calls == 2
    assert await cache.get("other", compute) == 3  # keys are apart


async def test_a_failure_is_not_kept() -> None:
    cache: TtlCache[str] = TtlCache(FakeClock(), ttl_seconds=60)

    async def boom() -> str:
        raise ValueError("store failing")

    async def fine() -> str:
        return "ok"

    with pytest.raises(ValueError):
        await cache.get("k", boom)
    assert await cache.get("k", fine) == "ok"


async def test_waiters_survive_the_computing_request_going_away() -> None:
    cache: TtlCache[str] = TtlCache(FakeClock(), ttl_seconds=60)
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    async def fine() -> str:
        return "ok"

    first = asyncio.ensure_future(cache.get("k", slow))
    await started.wait()
    second = asyncio.ensure_future(cache.get("k", fine))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "ok"


async def test_a_stale_value_is_served_at_once_while_one_refresh_runs() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, ttl_seconds=1.0, stale_seconds=4.0)
    calls = 0
    gate = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await gate.wait()
        return calls

    assert await cache.get("k", compute) == 1
    await clock.advance(2.0)  # past the TTL, inside the stale window
    # many readers, none waits for the recount, and only one recount starts
    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(20))) == [1] * 20
    await asyncio.sleep(0)
    assert calls == 2
    gate.set()
    await cache.idle()
    assert await cache.get("k", compute) == 2  # the refreshed value, fresh again
    assert calls == 2


async def test_past_the_stale_window_the_caller_waits_for_a_fresh_value() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, ttl_seconds=1.0, stale_seconds=4.0)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await cache.get("k", compute) == 1
    await clock.advance(5.0)
    assert await cache.get("k", compute) == 2


async def test_a_failed_refresh_keeps_the_stale_value_until_its_window_ends() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(clock, ttl_seconds=1.0, stale_seconds=4.0)
    fail = False

    async def compute() -> int:
        if fail:
            raise ValueError("store failing")
        return 7

    assert await cache.get("k", compute) == 7
    fail = True
    await clock.advance(2.0)
    assert await cache.get("k", compute) == 7
    await cache.idle()
    assert await cache.get("k", compute) == 7  # still within the window
    await clock.advance(3.0)
    with pytest.raises(ValueError):
        await cache.get("k", compute)
