"""DispatchHealthRepo: each dispatcher's heartbeat and how its channels fare, read by any process."""

from __future__ import annotations

import pytest

from safetynet.broadcast.health import read_status
from safetynet.domain.campaigns import WEB_ROLE, ChannelHealth, DispatcherBeat
from safetynet.store import StoreUnavailable
from safetynet.store.rules import FORGET_DISPATCHER_SECONDS

from .support import BreakWrites, StoreFactory, clock_of


async def test_a_heartbeat_is_one_row_per_dispatcher_newest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        assert await store.health.dispatchers() == []
        start = clock.now()
        await store.health.beat(DispatcherBeat("d-1", "host-a", 101, ("sms", "voice"), start, start))
        await clock.advance(5)
        await store.health.beat(DispatcherBeat("d-2", "host-b", 202, ("telegram",), clock.now(), clock.now()))
        await clock.advance(5)
        # a later beat moves `seen_at` (and the lanes, the stop); where and since when stay as first written
        await store.health.beat(DispatcherBeat("d-1", "elsewhere", 999, ("sms",), clock.now(), clock.now()))
        beats = await store.health.dispatchers()
        assert beats == [DispatcherBeat("d-1", "host-a", 101, ("sms",), start, clock.now()),
                         DispatcherBeat("d-2", "host-b", 202, ("telegram",), start + 5, start + 5)]
        assert [b.owner for b in await store.health.dispatchers(limit=1)] == ["d-1"]
        await store.health.beat(DispatcherBeat("d-1", "host-a", 101, ("sms",), start, clock.now(), clock.now()))
        assert (await store.health.dispatchers())[0].stopped_at == clock.now()  # a clean stop


async def test_channel_health_is_kept_per_dispatcher_and_channel(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        now = clock_of(store).now()
        ok = ChannelHealth("d-1", "sms", "ok", now, updated_at=now)
        failing = ChannelHealth("d-1", "voice", "failing", now - 30, "server_error", "503 from the provider", 4, now)
        await store.health.beat(DispatcherBeat("d-1", "h", 1, ("sms", "voice"), now, now), [ok, failing])
        await store.health.beat(DispatcherBeat("d-2", "h", 2, ("sms",), now, now),
                                [ChannelHealth("d-2", "sms", "idle", now, updated_at=now)])
        assert await store.health.channels(["d-1"]) == [ok, failing]
        assert [(h.channel, h.owner) for h in await store.health.channels(["d-1", "d-2"])] == [
            ("sms", "d-1"), ("sms", "d-2"), ("voice", "d-1")]
        assert await store.health.channels([]) == [] and await store.health.channels(["nobody"]) == []
        # only what changed is written with a later beat; the rest stays as it was
        mended = ChannelHealth("d-1", "voice", "ok", now + 5, updated_at=now + 5)
        await store.health.beat(DispatcherBeat("d-1", "h", 1, ("sms", "voice"), now, now + 5), [mended])
        assert await store.health.channels(["d-1"]) == [ok, mended]


async def test_dispatchers_gone_for_days_are_forgotten_with_their_channels(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        old = clock.now()
        await store.health.beat(DispatcherBeat("old", "h", 1, ("sms",), old, old),
                                [ChannelHealth("old", "sms", "ok", old, updated_at=old)])
        await clock.advance(FORGET_DISPATCHER_SECONDS - 1)
        now = clock.now()
        await store.health.beat(DispatcherBeat("new", "h", 2, ("sms",), now, now), forget=True)
        assert [b.owner for b in await store.health.dispatchers()] == ["new", "old"]  # not gone long enough
        await clock.advance(2)
        now = clock.now()
        await store.health.beat(DispatcherBeat("new", "h", 2, ("sms",), now - 2, now))  # no forgetting asked
        assert len(await store.health.dispatchers()) == 2
        await store.health.beat(DispatcherBeat("new", "h", 2, ("sms",), now - 2, now), forget=True)
        assert [b.owner for b in await store.health.dispatchers()] == ["new"]
        assert await store.health.channels(["old"]) == []


async def test_a_heartbeat_on_a_store_that_cannot_write_fails_loudly(store_factory: StoreFactory,
                                                                     break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        now = clock_of(store).now()
        await break_writes(store, True)
        with pytest.raises(StoreUnavailable):
            await store.health.beat(DispatcherBeat("d-1", "h", 1, ("sms",), now, now))
        await break_writes(store, False)
        assert await store.health.dispatchers() == []


async def test_a_web_process_beat_is_no_dispatcher(store_factory: StoreFactory) -> None:
    """A web process's row (kept so that an upgrade sees it) is counted by no reader of dispatchers; its beat
    forgets the rows gone for days as a dispatcher's does."""
    async with store_factory() as store:
        clock = clock_of(store)
        start = clock.now()
        await store.health.beat(DispatcherBeat("w-1", "host-w", 303, (), start, start, role=WEB_ROLE))
        await store.health.beat(DispatcherBeat("d-1", "host-a", 101, ("sms",), start, start))
        await clock.advance(5)
        await store.health.beat(DispatcherBeat("w-1", "host-w", 303, (), start, clock.now(), role=WEB_ROLE))
        assert [b.owner for b in await store.health.dispatchers()] == ["d-1"]
        status = await read_status(store.health, clock.now(), ["sms"])
        assert [b.owner for b in status.alive] == ["d-1"] and status.last_seen == start
        await clock.advance(FORGET_DISPATCHER_SECONDS + 1)
        await store.health.beat(DispatcherBeat("w-2", "host-w", 304, (), clock.now(), clock.now(), role=WEB_ROLE),
                                forget=True)
        await store.health.beat(DispatcherBeat("d-2", "host-a", 102, ("sms",), clock.now(), clock.now()))
        assert [b.owner for b in await store.health.dispatchers()] == ["d-2"]
