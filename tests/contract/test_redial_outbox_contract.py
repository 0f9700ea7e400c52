"""OutboxRepo: a call that rang out (busy, no answer) is queued again on its own row, a few minutes on, a
bounded number of times, and never once the household answered, the campaign ended, or the ladder step
whose own call replaces it has come."""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.broadcast.planner import plan_step
from safetynet.domain.campaigns import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryOutcome,
    LadderStep,
    OutcomeKind,
)
from safetynet.domain.replies import ReplyItem
from safetynet.domain.vocabulary import Status
from safetynet.store import Store

from .support import LADDER, ROUTES, StoreFactory, clock_of, running_campaign, seed

AFTER = ROUTES.redial["voice"].after_seconds  # the defaults: 300 s, 2 redials
UME = ["association:梅町"]  # U-1 has a landline alone (called at step 0), U-2 a mobile (texted)


async def _call(store: Store, cid: int, sid: str, tries: int = 0) -> ClaimedDelivery:
    """The one call due, claimed and placed (its attempt logged) under the provider id `sid`."""
    [d] = await store.outbox.claim([cid], "voice", 5, "w1", 60)
    assert d.attempts == tries  # each call placed is one more attempt of the same row
    now = clock_of(store).now()
    await store.outbox.record(DeliveryOutcome(d, OutcomeKind.SENT, now, provider_id=sid,
                                              attempts=(AttemptRecord(now, 5.0, "sent"),)))
    return d


async def _voice(store: Store, cid: int) -> dict[tuple[int, str], int]:
    return {(step, state): n for (step, ch, state), n in (await store.campaigns.delivery_counts(cid)).items()
            if ch == "voice"}


async def test_a_call_that_rang_out_is_placed_again_twice_then_left(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, UME)
        assert LADDER[2].channels == ("voice",) and LADDER[2].after_seconds > 2 * AFTER  # step 1 (SMS) calls no one
        first = await _call(store, cid, "CA1")
        assert first.household_id == ids["U-1"]
        assert await store.outbox.record_provider_status("CA1", "undelivered")  # no-answer
        assert await _voice(store, cid) == {(0, "queued"): 1}
        assert await store.outbox.claim([cid], "voice", 5, "w1", 60) == []  # not before the delay
        await clock.advance(AFTER)
        second = await _call(store, cid, "CA2", tries=1)
        assert second.id == first.id
        assert not await store.outbox.record_provider_status("CA1", "delivered")  # the old call's, late: held, no row has it
        assert await store.outbox.record_provider_status("CA2", "undelivered")  # busy
        await clock.advance(AFTER)
        await _call(store, cid, "CA3", tries=2)
        assert await store.outbox.record_provider_status("CA3", "undelivered")
        await clock.advance(AFTER)
        assert await store.outbox.claim([cid], "voice", 5, "w1", 60) == []  # two redials, no more
        assert await _voice(store, cid) == {(0, "undelivered"): 1}
        assert (await store.campaigns.household_statuses(cid))[ids["U-1"]] == Status.NOTIFIED


async def test_an_answered_call_is_not_placed_again(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store, UME)
        await _call(store, cid, "CA1")
        assert await store.outbox.record_provider_status("CA1", "undelivered")
        await clock.advance(AFTER)
        await _call(store, cid, "CA2", tries=1)
        assert await store.outbox.record_provider_status("CA2", "delivered")  # picked up, no key pressed or not
        await clock.advance(AFTER)
        assert await store.outbox.claim([cid], "voice", 5, "w1", 60) == []
        assert await _voice(store, cid) == {(0, "delivered"): 1}


async def test_a_household_that_answered_meanwhile_is_not_called_again(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, UME)
        await _call(store, cid, "CA1")
        assert await store.outbox.record_provider_status("CA1", "undelivered")
        target = await store.replies.target(cid, ids["U-1"])
        assert target is not None  # a neighbour's phone, the reply page: any channel
        await store.replies.record(ReplyItem(cid, ids["U-1"], target.association_id, "safe", "web", "k", clock.now()))
        await clock.advance(AFTER)
        assert await store.outbox.claim([cid], "voice", 5, "w1", 60) == []
        assert await _voice(store, cid) == {(0, "skipped"): 1}


async def test_no_redial_for_an_ended_campaign_nor_after_a_failed_call(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store, UME)
        await _call(store, cid, "CA1")
        assert await store.outbox.record_provider_status("CA1", "failed")  # a number that does not work
        assert await _voice(store, cid) == {(0, "undelivered"): 1}
        other = await running_campaign(store, UME)
        await _call(store, other, "CA2")
        assert await store.outbox.record_provider_status("CA2", "undelivered")
        await clock.advance(AFTER)
        await _call(store, other, "CA3", tries=1)
        assert await store.campaigns.close(other, clock.now())
        assert await store.outbox.record_provider_status("CA3", "undelivered")
        assert await _voice(store, other) == {(0, "undelivered"): 1}


async def test_a_redial_never_comes_at_or_after_the_step_that_calls_again(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        # the next call 1.5 delays on: one redial fits before it, a second would not
        ladder = (LadderStep(0, ("sms",), ("voice",)), LadderStep(AFTER * 1.5, ("sms",), ("voice",)))
        cid = await running_campaign(store, UME, ladder=ladder)
        await _call(store, cid, "CA1")
        assert await store.outbox.record_provider_status("CA1", "undelivered")
        await clock.advance(AFTER)
        await _call(store, cid, "CA2", tries=1)
        assert await store.outbox.record_provider_status("CA2", "undelivered")
        assert await _voice(store, cid) == {(0, "undelivered"): 1}


async def _plan(store: Store, cid: int, index: int, ladder: Sequence[LadderStep]) -> None:
    """Step `index` planned as the ladder plans it (its households' queued channels kept off), and recorded done."""
    async for batch in store.campaigns.step_households(cid):
        busy = await store.campaigns.waiting_channels(cid, batch[0].id, batch[-1].id, before_step=index)
        await store.campaigns.write_step(cid, plan_step(batch, index, ladder[index], busy), clock_of(store).now())
    assert await store.campaigns.advance_ladder(cid, index, clock_of(store).now())


async def test_the_step_that_calls_again_replaces_a_redial_still_queued(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        ladder = (LadderStep(0, ("sms",), ("voice",)), LadderStep(AFTER + 60, ("sms",), ("voice",)))
        cid = await running_campaign(store, UME, ladder=ladder)
        await _call(store, cid, "CA1")
        assert await store.outbox.record_provider_status("CA1", "undelivered")
        for sms in await store.outbox.claim([cid], "sms", 5, "w1", 60):  # U-2's text went out
            await store.outbox.record(DeliveryOutcome(sms, OutcomeKind.SENT, clock.now(), provider_id="SM1"))
        await clock.advance(AFTER + 60)  # the voice lane behind its queue: the redial is still waiting
        await _plan(store, cid, 1, ladder)
        [d] = await store.outbox.claim([cid], "voice", 5, "w1", 60)
        assert (d.step, d.household_id) == (1, ids["U-1"])
        assert (await _voice(store, cid))[(0, "skipped")] == 1

