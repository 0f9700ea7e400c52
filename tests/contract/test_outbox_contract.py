"""OutboxRepo: claims under a lease, reclaim and renewal, results, fall-back, provider status callbacks."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from safetynet.domain import CampaignKind, Status
from safetynet.domain.campaigns import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryOutcome,
    LadderStep,
    OutcomeKind,
    PlannedDelivery,
    StepPlan,
)
from safetynet.domain.replies import ReplyItem
from safetynet.store import Store, StoreUnavailable
from safetynet.store.rules import EARLY_STATUS_HOLD_SECONDS

from .support import SAKURA, BreakWrites, StoreFactory, clock_of, running_campaign, seed


def outcome(d: ClaimedDelivery, kind: OutcomeKind, at: float, **kw: object) -> DeliveryOutcome:
    return DeliveryOutcome(d, kind, at, **kw)  # type: ignore[arg-type]


async def _statuses(store: Store, cid: int) -> dict[int, Status]:
    return await store.campaigns.household_statuses(cid)


async def test_claims_go_by_priority_and_only_due_work_of_the_lane(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        assert await store.outbox.claim([cid], "sms", 0, "w1", 60) == []
        assert await store.outbox.claim([], "sms", 5, "w1", 60) == []
        first = await store.outbox.claim([cid], "sms", 2, "w1", 60)
        assert [d.household_id for d in first] == [ids["S-1"], ids["S-2"]]  # vulnerable first, then by id
        d = first[0]
        assert (d.campaign_id, d.step, d.channel, d.attempts, d.address, d.language, d.priority, d.lease_owner) == (
            cid, 0, "sms", 0, "+819011110001", "ja", 0, "w1")
        assert await store.outbox.claimed_count() == 2
        assert await store.outbox.lease_ends_at() == clock.now() + 60
        assert await store.outbox.due_count([cid]) == 4
        assert await store.outbox.due_count([cid], ["sms"]) == 2
        assert await store.outbox.due_count([cid], []) == 0 and await store.outbox.due_count([]) == 0
        assert [d.household_id for d in await store.outbox.claim([cid], "sms", 5, "w2", 60)] == [
            ids["U-2"], ids["M-1"]]
        assert await store.outbox.claim([cid], "sms", 5, "w2", 60) == []


async def test_campaigns_are_claimed_in_the_order_given(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        drill = await running_campaign(store, ["association:梅町"])
        real = await running_campaign(store, ["association:梅町"], kind=CampaignKind.REAL)
        got = await store.outbox.claim([real, drill], "sms", 1, "w1", 60)
        assert [d.campaign_id for d in got] == [real]
        got = await store.outbox.claim([real, drill], "sms", 5, "w1", 60)
        assert [d.campaign_id for d in got] == [drill]
        assert await store.outbox.next_due_at([real, drill]) is not None  # the voice calls wait
        assert await store.outbox.next_due_at([]) is None


async def test_a_household_that_answered_is_skipped_not_claimed(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        target = await store.replies.target(cid, ids["U-2"])
        assert target is not None
        await store.replies.record(ReplyItem(cid, ids["U-2"], target.association_id, "safe", "web", "k", 0.0))
        assert await store.outbox.claim([cid], "sms", 5, "w1", 60) == []
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "skipped")] == 1
        assert await store.outbox.claimed_count() == 0


async def test_a_dead_or_removed_contact_leaves_the_claim_without_an_address(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store, [f"association:{SAKURA}"])
        s1 = await store.roster.get_household(ids["S-1"])
        s3 = await store.roster.get_household(ids["S-3"])
        assert s1 is not None and s3 is not None
        await store.roster.mark_contact_dead(s1.contacts[0].id, "gone")
        await store.roster.remove_contact(s3.contacts[0].id)
        sms = {d.household_id: d for d in await store.outbox.claim([cid], "sms", 5, "w1", 60)}
        [tg] = await store.outbox.claim([cid], "telegram", 5, "w1", 60)
        assert (sms[ids["S-1"]].address, tg.address, tg.language) == (None, None, "en")
        assert sms[ids["S-2"]].address == "+819011110002"


async def test_expired_claims_come_back_but_never_to_their_own_holder(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        await store.outbox.claim([cid], "sms", 1, "dead", 30)
        await store.outbox.claim([cid], "sms", 1, "live", 30)
        [held] = await store.outbox.claim([cid], "sms", 1, "renewed", 30)
        await clock.advance(20)
        assert await store.outbox.renew_leases("renewed", 30, [held.id]) == 1
        assert await store.outbox.renew_leases("nobody", 30, [held.id]) == 0  # not its claim
        assert await store.outbox.renew_leases("renewed", 30, []) == 0
        assert await store.outbox.reclaim_expired() == 0  # nothing ran out yet
        await clock.advance(15)
        assert await store.outbox.reclaim_expired("live") == 1  # "dead" comes back; "live" still holds its own
        assert await store.outbox.claimed_count() == 2
        assert await store.outbox.due_count([cid], ["sms"]) == 2  # "dead"'s and the one never claimed
        assert await store.outbox.lease_ends_at() == clock.now() - 5  # "live"'s, run out but not taken back
        assert await store.outbox.reclaim_expired() == 1
        assert await store.outbox.claimed_count() == 1


async def test_only_the_claims_named_are_renewed(store_factory: StoreFactory) -> None:
    """A dispatcher renews what it holds; a claim it lost track of runs out and comes back."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        kept, lost = await store.outbox.claim([cid], "sms", 2, "w1", 30)
        await clock.advance(20)
        assert await store.outbox.renew_leases("w1", 30, [kept.id]) == 1
        await clock.advance(15)
        assert await store.outbox.reclaim_expired() == 1  # the lost one, not the renewed one
        assert await store.outbox.claimed_count() == 1
        again = await store.outbox.claim([cid], "sms", 5, "w2", 30)
        assert lost.id in {d.id for d in again} and kept.id not in {d.id for d in again}


async def test_an_owner_keeps_only_the_run_out_claims_it_still_holds(store_factory: StoreFactory) -> None:
    """`keep`: of its own run-out claims a dispatcher keeps those it holds (a renewal landed late) and
    gets back those it lost track of; another owner's run-out claims come back as always."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        held, lost = await store.outbox.claim([cid], "sms", 2, "w1", 30)
        [other] = await store.outbox.claim([cid], "sms", 1, "w2", 30)
        await clock.advance(31)
        assert await store.outbox.reclaim_expired("w1", keep=[held.id]) == 2  # "lost" and "w2"'s
        again = await store.outbox.claim([cid], "sms", 5, "w3", 30)
        assert {lost.id, other.id} <= {d.id for d in again} and held.id not in {d.id for d in again}
        assert await store.outbox.reclaim_expired("w1", keep=[held.id]) == 0


async def test_a_sent_result_notifies_the_household_and_counts_attempts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        tries = (AttemptRecord(clock.now(), 12.0, "retry", "RetryableSendError", "server_error"),
                 AttemptRecord(clock.now(), 9.0, "sent"))
        assert await store.outbox.record(outcome(d, OutcomeKind.SENT, clock.now(), attempts=tries,
                                                 provider_id="SM1", segments=2)) is None
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.NOTIFIED
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "sent")] == 1
        assert await store.outbox.claimed_count() == 0
        assert await store.outbox.record_provider_status("SM1", "delivered")  # its provider id was stored


async def test_retries_requeue_with_their_attempts_only_for_the_holder(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        stranger = dataclasses.replace(d, lease_owner="w2")
        await store.outbox.record(outcome(stranger, OutcomeKind.RETRY, clock.now(), next_attempt_at=clock.now()))
        assert await store.outbox.claimed_count() == 1  # not its claim: nothing changes
        tries = (AttemptRecord(clock.now(), 5.0, "retry", "RetryableSendError"),)
        await store.outbox.record(outcome(d, OutcomeKind.RETRY, clock.now(), attempts=tries, error="timeout",
                                          next_attempt_at=clock.now() + 120))
        assert await store.outbox.due_count([cid], ["sms"]) == 0
        assert await store.outbox.next_due_at([cid]) == pytest.approx(clock.now())  # the voice call
        await clock.advance(120)
        [again] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        assert (again.id, again.attempts) == (d.id, 1)
        await store.outbox.record(outcome(again, OutcomeKind.RELEASED, clock.now()))  # stopping: back as it was
        [third] = await store.outbox.claim([cid], "sms", 5, "w3", 60)
        assert (third.id, third.attempts, third.lease_owner) == (d.id, 1, "w3")


async def test_a_send_whose_lease_ran_out_is_not_sent_twice(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "slow", 10)
        await clock.advance(11)
        assert await store.outbox.reclaim_expired("other") == 1
        await store.outbox.record(outcome(d, OutcomeKind.SENT, clock.now(), provider_id="SM9"))
        assert await store.outbox.claim([cid], "sms", 5, "other", 10) == []
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "sent")] == 1


async def test_a_skipped_result_ends_the_delivery(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        assert await store.outbox.record(outcome(d, OutcomeKind.SKIPPED, clock.now(), error="campaign_closed")) is None
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "skipped")] == 1
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.PENDING


async def test_a_failure_falls_back_to_the_households_next_channel(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, [f"association:{SAKURA}"])
        # S-2's landline was stored before its mobile: still an SMS first (the scenario's order), and
        # the call only when it fails, to the first of its numbers that takes calls (the landline)
        assert await store.outbox.claim([cid], "voice", 5, "w1", 60) == []
        [sms] = [d for d in await store.outbox.claim([cid], "sms", 5, "w1", 60) if d.household_id == ids["S-2"]]
        assert sms.address == "+819011110002"
        assert await store.outbox.record(outcome(sms, OutcomeKind.FAILED, clock.now(), error="bad")) == "voice"
        [call] = await store.outbox.claim([cid], "voice", 5, "w1", 60)
        assert (call.household_id, call.address) == (ids["S-2"], "+81311110002")
        # nothing left: the household was never reached, so it goes on as unreachable
        assert await store.outbox.record(outcome(call, OutcomeKind.FAILED, clock.now(), error="busy")) is None
        assert (await _statuses(store, cid))[ids["S-2"]] == Status.UNREACHABLE
        counts = await store.campaigns.delivery_counts(cid)
        assert counts[(0, "voice", "failed")] == 1 and counts[(0, "sms", "failed")] == 1


async def test_many_results_are_stored_together_each_answered_as_record_would(
        store_factory: StoreFactory, break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, [f"association:{SAKURA}"])
        claimed = {d.household_id: d for d in await store.outbox.claim([cid], "sms", 5, "w1", 60)}
        s1, s2 = claimed[ids["S-1"]], claimed[ids["S-2"]]
        sent = outcome(s1, OutcomeKind.SENT, clock.now(), provider_id="SM1")
        failed = outcome(s2, OutcomeKind.FAILED, clock.now(), error="bad")
        # all or none: a refused commit stores neither
        await break_writes(store, True)
        with pytest.raises(StoreUnavailable):
            await store.outbox.record_many([sent, failed])
        await break_writes(store, False)
        assert await store.outbox.claimed_count() == 2
        assert await store.outbox.record_many([]) == []
        assert await store.outbox.record_many([sent, failed]) == [None, "voice"]  # in order, as `record` answers
        statuses = await _statuses(store, cid)
        assert statuses[ids["S-1"]] == Status.NOTIFIED and statuses[ids["S-2"]] == Status.PENDING
        assert await store.outbox.claimed_count() == 0
        [call] = await store.outbox.claim([cid], "voice", 5, "w1", 60)
        assert call.household_id == ids["S-2"]


async def test_a_dead_contact_is_not_tried_on_its_other_channel(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町", "association:松町"])
        sms = {d.household_id: d for d in await store.outbox.claim([cid], "sms", 5, "w1", 60)}
        # a number that is not in service: the call to the same number would fail too
        dead = outcome(sms[ids["U-2"]], OutcomeKind.FAILED, clock.now(), error="invalid", contact_dead=True)
        assert await store.outbox.record(dead) is None
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.UNREACHABLE
        # a phone that refused the SMS (a landline number marked mobile): called instead
        refused = outcome(sms[ids["M-1"]], OutcomeKind.FAILED, clock.now(), error="not_mobile")
        assert await store.outbox.record(refused) == "voice"
        calls = await store.outbox.claim([cid], "voice", 5, "w1", 60)
        assert sorted(d.household_id for d in calls) == [ids["U-1"], ids["M-1"]]
        assert (await _statuses(store, cid))[ids["M-1"]] == Status.PENDING


async def test_a_failure_with_another_send_live_does_not_make_the_household_unreachable(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        ladder = (LadderStep(0, ("sms",)), LadderStep(600, ("voice",)))
        cid = await running_campaign(store, ["association:梅町"], ladder=ladder)
        [sms] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        later = PlannedDelivery(ids["U-2"], 1, "voice", sms.contact_id or 0, 10, 0)
        await store.campaigns.write_step(cid, StepPlan((later,), (), ()), clock.now())  # step 1 already queued
        assert await store.outbox.record(outcome(sms, OutcomeKind.FAILED, clock.now(), error="x")) is None
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.PENDING


async def test_concurrent_results_are_each_stored_before_their_caller_hears_back(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        claimed = [d for ch in ("sms", "voice", "telegram")
                   for d in await store.outbox.claim([cid], ch, 10, "w1", 60)]
        assert len(claimed) == 6

        async def send(d: ClaimedDelivery) -> int:
            await store.outbox.record(outcome(d, OutcomeKind.SENT, clock.now(), provider_id=f"p{d.id}"))
            return await store.outbox.claimed_count()  # what this caller sees once it hears back

        seen = await asyncio.gather(*(send(d) for d in claimed))
        assert all(n <= 5 for n in seen)  # its own result was stored by then
        statuses = await _statuses(store, cid)
        assert sum(1 for s in statuses.values() if s == Status.NOTIFIED) == 6


async def _sms_sent(store: Store) -> tuple[dict[str, int], int]:
    """The city seeded, a campaign over two associations running, and its SMS sent (provider id `SM<household>`)."""
    clock = clock_of(store)
    ids = await seed(store)
    cid = await running_campaign(store, ["association:梅町", "association:松町"])
    for d in await store.outbox.claim([cid], "sms", 5, "w1", 60):
        await store.outbox.record(outcome(d, OutcomeKind.SENT, clock.now(), provider_id=f"SM{d.household_id}"))
    return ids, cid


async def test_provider_callbacks_keep_the_highest_state_and_undelivered_falls_back(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids, cid = await _sms_sent(store)
        m1, u2 = f"SM{ids['M-1']}", f"SM{ids['U-2']}"
        assert await store.outbox.record_provider_status(m1, "delivered")
        assert await store.outbox.record_provider_status(m1, "sent")  # late and out of order: ignored
        assert await store.outbox.record_provider_status(m1, "undelivered", 30003)  # ranks below delivered
        assert await store.outbox.record_provider_status(u2, "undelivered", 30003)
        assert await store.outbox.record_provider_status(u2, "failed", 30008)  # the same rank: the first stays
        counts = await store.campaigns.delivery_counts(cid)
        assert counts[(0, "sms", "delivered")] == 1 and counts[(0, "sms", "undelivered")] == 1
        # the phone that could not get the SMS is called instead; the household stays notified
        calls = await store.outbox.claim([cid], "voice", 5, "w1", 60)
        assert sorted(d.household_id for d in calls) == [ids["U-1"], ids["U-2"]]
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.NOTIFIED


async def test_an_early_callback_is_held_until_the_send_is_recorded(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [d] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        assert not await store.outbox.record_provider_status("SM-early", "sent")
        assert not await store.outbox.record_provider_status("SM-early", "undelivered", 30005)
        assert not await store.outbox.record_provider_status("SM-early", "sent")  # lower: the held one stays
        assert not await store.outbox.record_provider_status("SM-never", "delivered")
        assert await store.outbox.held_status_count() == 2
        await store.outbox.record(outcome(d, OutcomeKind.SENT, clock.now(), provider_id="SM-early"))
        assert await store.outbox.held_status_count() == 1
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "undelivered")] == 1
        # held no longer than EARLY_STATUS_HOLD_SECONDS
        await clock.advance(EARLY_STATUS_HOLD_SECONDS + 1)
        assert not await store.outbox.record_provider_status("SM-other", "sent")
        assert await store.outbox.held_status_count() == 1
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.NOTIFIED


async def _held_as_a_race_leaves_it(store: Store, provider_id: str, state: str, error_code: int | None) -> None:
    """What a callback racing its send's commit leaves on PostgreSQL (read committed: each transaction
    missed the other's row): the callback held, though its delivery has the id. Written by the store's
    own hold, inside a transaction of its own."""
    now = clock_of(store).now()
    outbox: Any = store.outbox
    db = getattr(store, "db", None)
    if db is None:  # the memory store
        outbox._hold_early_status(provider_id, state, error_code, now)
        return
    async with db.transaction() as conn:
        await outbox._hold_early_status(conn, provider_id, state, error_code, now)


async def test_a_callback_its_sends_commit_did_not_see_is_applied_later(store_factory: StoreFactory) -> None:
    """QA on PostgreSQL with a web process and a dispatcher: SMS that did not arrive never fell back to the
    call, their callbacks held for ever. The dispatcher's sweep (`apply_held_statuses`) applies them."""
    async with store_factory() as store:
        ids, cid = await _sms_sent(store)
        assert await store.outbox.apply_held_statuses() == 0  # nothing held: nothing done
        await _held_as_a_race_leaves_it(store, f"SM{ids['U-2']}", "undelivered", 30003)
        assert not await store.outbox.record_provider_status("SM-not-yet", "delivered")  # no such send yet: held
        assert await store.outbox.held_status_count() == 2
        assert (await store.campaigns.delivery_counts(cid)).get((0, "sms", "undelivered"), 0) == 0
        # two dispatchers sweeping at the same moment (each its own connection on PostgreSQL): one applies it
        assert sorted(await asyncio.gather(store.outbox.apply_held_statuses(), store.outbox.apply_held_statuses())) == [0, 1]
        assert await store.outbox.held_status_count() == 1  # the one whose send is still to come stays held
        assert (await store.campaigns.delivery_counts(cid))[(0, "sms", "undelivered")] == 1
        # the phone that could not get the SMS is called instead, once
        assert [d.household_id for d in await store.outbox.claim([cid], "voice", 5, "w1", 60)].count(ids["U-2"]) == 1
        assert await store.outbox.apply_held_statuses() == 0


async def test_the_fall_back_reads_the_households_contacts_as_they_are_now(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        [sms] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        web = await store.roster.add_contact(ids["U-2"], "webpush", '{"endpoint":"https://p/u2"}')
        assert await store.outbox.record(outcome(sms, OutcomeKind.FAILED, clock.now())) == "webpush"
        [push] = await store.outbox.claim([cid], "webpush", 5, "w1", 60)
        assert (push.household_id, push.contact_id, push.address) == (ids["U-2"], web.id, web.address)


async def test_a_step_without_a_fallback_ends_at_its_last_channel(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"], ladder=(LadderStep(0, ("sms",)),))
        [sms] = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        assert await store.outbox.record(outcome(sms, OutcomeKind.FAILED, clock.now())) is None
        assert (await _statuses(store, cid))[ids["U-2"]] == Status.UNREACHABLE
