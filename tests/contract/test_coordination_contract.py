"""CoordinationRepo: the schedulers' leader lease and the shared send slots of a provider lane."""

from __future__ import annotations

import asyncio

import pytest

from safetynet.store import StoreUnavailable

from .support import BreakWrites, StoreFactory, clock_of


async def test_one_owner_holds_a_lease_until_it_expires_or_is_released(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        c, clock = store.coordination, clock_of(store)
        assert await c.lease_holder("scheduler") is None
        assert await c.acquire_lease("scheduler", "a", 30)
        assert not await c.acquire_lease("scheduler", "b", 30)
        assert await c.acquire_lease("other", "b", 30)  # leases are independent by name
        await clock.advance(20)
        assert await c.acquire_lease("scheduler", "a", 30)  # renewed: now + 30
        await clock.advance(20)
        assert not await c.acquire_lease("scheduler", "b", 30)  # the renewal holds it past the first term
        assert await c.lease_holder("scheduler") == ("a", clock.now() + 10)
        await clock.advance(10)
        assert await c.acquire_lease("scheduler", "b", 30)  # expired: anyone may take it
        assert not await c.acquire_lease("scheduler", "a", 30)
        await c.release_lease("scheduler", "a")  # not the holder: nothing changes
        assert (await c.lease_holder("scheduler") or ("",))[0] == "b"
        await c.release_lease("scheduler", "b")
        assert await c.lease_holder("scheduler") is None
        assert await c.acquire_lease("scheduler", "a", 30)


async def test_concurrent_claims_of_a_free_lease_give_it_to_one(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        won = await asyncio.gather(*(store.coordination.acquire_lease("scheduler", f"o{i}", 30) for i in range(8)))
        assert sum(won) == 1


async def test_lane_slots_are_never_given_twice_and_do_not_save_up(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        c, clock = store.coordination, clock_of(store)
        now = clock.now()
        assert await c.reserve_slots("sms", 5, 0.1) == pytest.approx(now)
        assert await c.reserve_slots("sms", 2, 0.1) == pytest.approx(now + 0.5)
        assert await c.reserve_slots("voice", 1, 1.0) == pytest.approx(now)  # lanes are apart
        starts = await asyncio.gather(*(c.reserve_slots("sms", 3, 0.1) for _ in range(6)))
        assert sorted(round(s - now, 6) for s in starts) == [0.7, 1.0, 1.3, 1.6, 1.9, 2.2]
        await clock.advance(60)  # a quiet minute earns no burst: the next slot is now
        assert await c.reserve_slots("sms", 1, 0.1) == pytest.approx(clock.now())


async def test_a_held_lane_gives_no_slot_before_the_hold_ends(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        c, clock = store.coordination, clock_of(store)
        now = clock.now()
        await c.hold_lane("sms", now + 30)
        assert await c.reserve_slots("sms", 2, 0.5) == pytest.approx(now + 30)
        await c.hold_lane("sms", now + 5)  # an earlier hold never shortens a later one
        assert await c.reserve_slots("sms", 1, 0.5) == pytest.approx(now + 31)


async def test_a_failing_store_raises_store_unavailable(store_factory: StoreFactory, break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        await break_writes(store, True)
        with pytest.raises(StoreUnavailable):
            await store.coordination.acquire_lease("scheduler", "a", 30)
        with pytest.raises(StoreUnavailable):
            await store.coordination.reserve_slots("sms", 1, 0.1)
        await break_writes(store, False)
        assert await store.coordination.acquire_lease("scheduler", "a", 30)


async def test_the_first_fingerprint_recorded_for_a_key_stays(store_factory: StoreFactory) -> None:
    """Every machine of a city compares its keys with the first recorded (`admin.refuse_other_keys`)."""
    async with store_factory() as store:
        c = store.coordination
        assert await c.recorded_key("secret_key") is None
        assert await c.record_key("secret_key", "aaa") == "aaa"
        assert await c.record_key("secret_key", "bbb") == "aaa"  # another machine's: told the city's, unchanged
        assert await c.recorded_key("secret_key") == "aaa"
        assert await c.record_key("vapid_public", "ccc") == "ccc"  # each key by its name
        won = await asyncio.gather(*(c.record_key("other", f"k{i}") for i in range(6)))
        assert len(set(won)) == 1


async def test_an_adopted_fingerprint_replaces_the_recorded_one(store_factory: StoreFactory) -> None:
    """`safetynet keys adopt`: a rotated key becomes the city's; the other keys stay as they were."""
    async with store_factory() as store:
        c = store.coordination
        await c.adopt_key("secret_key", "new")  # none recorded yet: recorded now
        assert await c.recorded_key("secret_key") == "new"
        await c.record_key("vapid_public", "ccc")
        await c.adopt_key("secret_key", "newer")
        assert await c.recorded_key("secret_key") == "newer"
        assert await c.record_key("secret_key", "other") == "newer"  # and it is the one compared with
        assert await c.recorded_key("vapid_public") == "ccc"
