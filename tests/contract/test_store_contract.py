"""Store: its clock, its health, and what a caller gets from a store that cannot write."""

from __future__ import annotations

import asyncio

import pytest

from safetynet.clock import FakeClock
from safetynet.domain import Role
from safetynet.domain.campaigns import DeliveryOutcome, OutcomeKind
from safetynet.domain.replies import ReplyItem
from safetynet.store import StoreUnavailable

from .support import BreakWrites, StoreFactory, clock_of, running_campaign, seed


async def test_the_store_keeps_the_clock_it_was_given(store_factory: StoreFactory) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    async with store_factory(clock) as store:
        assert store.clock is clock and store.healthy
        s = await store.auth.add_staff("a", "A", Role.CITY_ADMIN, "city", None)
        await store.auth.create_session("sess", s.id, "csrf", ttl_seconds=10)
        await clock.advance(11)
        assert await store.auth.session("sess") is None


async def test_a_store_that_cannot_write_refuses_loudly_and_mends(store_factory: StoreFactory,
                                                                  break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        target = await store.replies.target(cid, ids["U-2"])
        assert target is not None
        answer = ReplyItem(cid, ids["U-2"], target.association_id, "safe", "web", "k1", clock.now())
        await break_writes(store, True)
        # nothing is acknowledged that is not stored: every caller of a shared commit hears the failure
        results = await asyncio.gather(store.replies.record(answer), store.outbox.record(
            DeliveryOutcome(d, OutcomeKind.SENT, clock.now(), provider_id="SM1")), return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        with pytest.raises(StoreUnavailable):
            await store.campaigns.close(cid, clock.now())
        assert not store.healthy
        assert await store.replies.count_replies(cid) == 0  # reads still work
        await break_writes(store, False)
        assert not (await store.replies.record(answer)).duplicate
        assert store.healthy
        assert await store.replies.count_replies(cid) == 1
