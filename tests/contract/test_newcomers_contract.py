"""Households that come into a running campaign's scope after it started (a roster imported during the
event, a household restored): `CampaignRepo.enrol_newcomers`, on every store.

Review: a corrected roster imported during a city-wide event added households that no campaign asked,
counted or listed: they ended the event neither answered nor on a door-knock list.
"""

from __future__ import annotations

import pytest

from safetynet.broadcast.planner import plan_step
from safetynet.domain import CampaignKind, Status
from safetynet.domain.campaigns import StepHousehold, StepPlan
from safetynet.domain.roster import UnknownScopeError

from .support import (
    LADDER,
    SAKURA,
    UME,
    StoreFactory,
    _hh,
    association_ids,
    city,
    clock_of,
    running_campaign,
    seed,
    token_of,
)

NEW = _hh("北地区", UME, "", "U-3", "新井 花", "梅町3", 2, False, "ja", phone="+819022220003")
NO_CONTACT = _hh("北地区", UME, "", "U-4", "森 一", "梅町4", 1, True, "ja")
DOOR = next(i for i, s in enumerate(LADDER) if s.door_knock)


def _first_step(households: list[StepHousehold]) -> StepPlan:
    return plan_step(households, 0, LADDER[0])


async def test_a_household_imported_during_a_campaign_is_enrolled_counted_and_sent_step_0(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await running_campaign(store)
        before = (await store.dashboard.campaign(cid)).households  # type: ignore[union-attr]
        ids = await seed(store, [*city(), NEW, NO_CONTACT])
        at = store.clock.now()
        enrolled = await store.campaigns.enrol_newcomers(cid, ["city"], token_of, _first_step, at)
        assert enrolled == [ids["U-3"], ids["U-4"]]
        statuses = await store.campaigns.household_statuses(cid)
        assert statuses[ids["U-3"]] == Status.PENDING
        assert statuses[ids["U-4"]] == Status.UNREACHABLE  # no contact: on the list at once, as at the start
        assert ids["U-4"] in await store.campaigns.doorknock_households(cid)
        target = await store.replies.target_by_token_hash(token_of(cid, ids["U-3"]))
        assert target is not None and (target.campaign_id, target.household_id) == (cid, ids["U-3"])
        queued = [d for d in await store.outbox.claim([cid], "sms", 100, "w1", 60) if d.household_id == ids["U-3"]]
        assert [(d.step, d.channel) for d in queued] == [(0, "sms")]
        info = await store.dashboard.campaign(cid)
        assert info is not None and info.households == before + 2
        a = await association_ids(store)
        counts = await store.dashboard.counts(cid, list(a.values()))
        assert sum(sum(c.values()) for c in counts.values()) == before + 2  # the counters add up
        assert counts[a[UME]]["unreachable"] == 1
        # nothing new: nothing written, however often it looks
        assert await store.campaigns.enrol_newcomers(cid, ["city"], token_of, _first_step, at) == []
        assert (await store.dashboard.campaign(cid)).households == before + 2  # type: ignore[union-attr]


async def test_a_newcomer_after_the_door_knock_step_is_listed_and_its_heads_told(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await running_campaign(store, [f"association:{UME}"])
        clock = clock_of(store)
        for step in range(1, DOOR):
            assert await store.campaigns.advance_ladder(cid, step, clock.now())
        assert await store.campaigns.record_doorknock(cid, DOOR, clock.now()) is not None
        a = await association_ids(store)
        await store.campaigns.doorknock_notices_told(cid, [a[UME]])
        ids = await seed(store, [*city(), NEW])
        await clock.advance(60)
        assert await store.campaigns.enrol_newcomers(cid, [f"association:{UME}"], token_of, _first_step,
                                                     clock.now()) == [ids["U-3"]]
        assert ids["U-3"] in await store.campaigns.doorknock_households(cid)
        assert (await store.campaigns.household_statuses(cid))[ids["U-3"]] == Status.PENDING  # its SMS is queued
        assert await store.campaigns.owed_doorknock_notices() == {cid: [a[UME]]}


async def test_only_a_running_campaign_takes_newcomers_and_only_of_its_scope(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        sakura = await running_campaign(store, [f"association:{SAKURA}"])
        closed = await running_campaign(store)
        assert await store.campaigns.close(closed, store.clock.now())
        ids = await seed(store, [*city(), NEW])
        at = store.clock.now()
        assert await store.campaigns.enrol_newcomers(sakura, [f"association:{SAKURA}"], token_of, _first_step, at) == []
        assert await store.campaigns.enrol_newcomers(closed, ["city"], token_of, _first_step, at) == []
        assert ids["U-3"] not in await store.campaigns.household_statuses(closed)
        with pytest.raises(UnknownScopeError):
            await store.campaigns.enrol_newcomers(sakura, ["association:無い町会"], token_of, _first_step, at)


async def test_a_household_restored_to_the_roster_is_a_newcomer_too(store_factory: StoreFactory) -> None:
    """Removed by `roster import --replace` while an earlier campaign referred to it (its row kept), then
    listed again: the import counts it updated, not added, and it was in no running campaign."""
    async with store_factory() as store:
        ids = await seed(store)
        earlier = await running_campaign(store, [f"association:{UME}"])
        assert await store.campaigns.close(earlier, store.clock.now())
        await store.roster.import_households([r for r in city() if r.household_key != "U-2"], replace=True)
        cid = await running_campaign(store, [f"association:{UME}"], kind=CampaignKind.REAL)
        assert ids["U-2"] not in await store.campaigns.household_statuses(cid)
        assert (await seed(store))["U-2"] == ids["U-2"]  # the same row, restored
        assert await store.campaigns.enrol_newcomers(cid, [f"association:{UME}"], token_of, _first_step,
                                                     store.clock.now()) == [ids["U-2"]]
