"""OutboxRepo and household notices: a cancelled campaign's word to the contacts it reached, claimed
apart (after the running campaigns'), once per household and channel, and nobody's status."""

from __future__ import annotations

from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import (
    NOTICE_STEP,
    AttemptRecord,
    DeliveryOutcome,
    HouseholdNotice,
    NoticeRecipient,
    OutcomeKind,
)
from safetynet.store import Store

from .support import SHARED_MOBILE, StoreFactory, clock_of, running_campaign, seed


async def _send_all(store: Store, cid: int, channel: str) -> list[int]:
    """Sends every due delivery of `channel` (as a dispatcher would): their household ids."""
    now = store.clock.now()
    claimed = await store.outbox.claim([cid], channel, 1000, "w0", 60)
    await store.outbox.record_many([DeliveryOutcome(d, OutcomeKind.SENT, now, (AttemptRecord(now, 1.0, "sent"),),
                                                    provider_id=f"P{d.id}") for d in claimed])
    return [d.household_id for d in claimed]


async def _sent_then_cancelled(store: Store, kind: CampaignKind = CampaignKind.DRILL
                               ) -> tuple[int, list[NoticeRecipient]]:
    """A campaign whose SMS all went out, then cancelled: its id and the SMS contacts it reached."""
    cid = await running_campaign(store, kind=kind)
    await _send_all(store, cid, "sms")
    reached = [r for r in await store.outbox.notice_recipients(cid) if r.channel == "sms"]
    assert reached and await store.campaigns.cancel(cid, store.clock.now())
    return cid, reached


def _notice(cid: int, r: NoticeRecipient) -> HouseholdNotice:
    return HouseholdNotice(cid, r.household_id, r.channel, r.address, f"取り消し {r.household_id}")


async def test_the_contacts_a_campaign_reached_are_its_notice_recipients(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        assert await store.outbox.notice_recipients(cid) == []  # nothing went out yet
        sent = await _send_all(store, cid, "sms")
        held = await store.outbox.claim([cid], "telegram", 1, "w1", 60)  # on its way when the cancel comes
        assert sent and len(held) == 1
        reached = await store.outbox.notice_recipients(cid)
        assert {(r.household_id, r.channel) for r in reached} == {(h, "sms") for h in sent} | {
            (held[0].household_id, "telegram")}
        shared = [r for r in reached if r.address == SHARED_MOBILE]
        assert len(shared) == 2 and all(r.language for r in reached)  # two households, one phone: both listed
        assert {r.household_id for r in shared} <= set(ids.values())


async def test_notices_are_queued_once_claimed_apart_and_change_no_household(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid, reached = await _sent_then_cancelled(store)
        before = await store.campaigns.household_statuses(cid)
        notices = [_notice(cid, r) for r in reached]
        assert await store.outbox.queue_notices([], clock.now()) == 0
        assert await store.outbox.queue_notices(notices, clock.now()) == len(notices)
        assert await store.outbox.queue_notices(notices, clock.now()) == 0  # a cancel told twice: still once
        assert await store.outbox.notices_due("sms") == len(notices) and await store.outbox.notices_due("voice") == 0
        # the household claim never returns them (nor the staff alerts' claim)
        other = await running_campaign(store)
        assert all(d.notice is None and d.step >= 0 for d in await store.outbox.claim([cid, other], "sms", 1000, "w1", 60))
        assert await store.outbox.claim_staff("sms", 1000, "w1", 60) == []
        assert await store.outbox.claim_notices("sms", 0, "w1", 60) == []
        assert await store.outbox.claim_notices("telegram", 10, "w1", 60) == []
        first = await store.outbox.claim_notices("sms", 1, "w1", 60)
        rest = await store.outbox.claim_notices("sms", 1000, "w2", 60)
        claimed = first + rest
        assert len(claimed) == len(notices) and len({d.id for d in claimed}) == len(notices)
        d = first[0]
        assert (d.campaign_id, d.step, d.channel, d.contact_id, d.lease_owner) == (cid, NOTICE_STEP, "sms", None, "w1")
        assert d.notice == HouseholdNotice(cid, d.household_id, "sms", d.address or "", f"取り消し {d.household_id}",
                                           drill=True)
        assert d.composed and d.address == next(r.address for r in reached if r.household_id == d.household_id)
        assert await store.outbox.claim_notices("sms", 10, "w3", 60) == []  # held
        assert await store.outbox.notices_due("sms") == 0
        # a dashboard's "still being sent" never shows them
        assert (await store.campaigns.waiting_channels(cid, 0, 10**9)) == {}
        now = clock.now()
        sent, failed = claimed[0], claimed[1:]
        assert await store.outbox.record(DeliveryOutcome(sent, OutcomeKind.SENT, now, (AttemptRecord(now, 2.0, "sent"),),
                                                         provider_id="N1")) is None
        for f in failed:  # a dead number: no fall-back to another channel, nobody unreachable
            assert await store.outbox.record(DeliveryOutcome(f, OutcomeKind.FAILED, now, error="invalid_number",
                                                             contact_dead=True)) is None
        assert await store.outbox.record_provider_status("N1", "undelivered") is True
        assert await store.campaigns.household_statuses(cid) == before  # nobody notified, read or unreachable by it
        counts = await store.campaigns.delivery_counts(cid)
        assert counts.get((NOTICE_STEP, "sms", "undelivered"), 0) + counts.get((NOTICE_STEP, "sms", "sent"), 0) == 1
        assert counts.get((NOTICE_STEP, "sms", "failed"), 0) == len(failed)
        assert await store.outbox.claim([cid], "voice", 1000, "w1", 60) == []  # no fall-back queued


async def test_retention_erases_a_notices_address_and_text(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid, reached = await _sent_then_cancelled(store)
        assert await store.outbox.queue_notices([_notice(cid, r) for r in reached], clock.now()) == len(reached)
        await clock.advance(400 * 86400)
        purged = await store.campaigns.purge(cid, clock.now())
        assert purged.deliveries >= len(reached)
        # nothing of the notices' addresses or words is left to send
        claimed = await store.outbox.claim_notices("sms", 1000, "w1", 60)
        assert len(claimed) == len(reached)
        assert all(not d.address and d.notice is not None and not d.notice.text for d in claimed)


async def test_a_notice_whose_households_message_was_let_go_is_dropped(store_factory: StoreFactory) -> None:
    """Claimed at the cancel, then let go (skipped) by the dispatcher: that household got nothing, so
    it is told nothing."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        held = await store.outbox.claim([cid], "sms", 1000, "w0", 60)
        sent, let_go = held[:1], held[1:]
        assert let_go
        now = clock.now()
        reached = [r for r in await store.outbox.notice_recipients(cid) if r.channel == "sms"]
        assert {r.household_id for r in reached} == {d.household_id for d in held}
        assert await store.campaigns.cancel(cid, now)
        assert await store.outbox.queue_notices([_notice(cid, r) for r in reached], now + 10) == len(reached)
        await store.outbox.record_many([DeliveryOutcome(sent[0], OutcomeKind.SENT, now, provider_id="P1")]
                                       + [DeliveryOutcome(d, OutcomeKind.SKIPPED, now, error="campaign_ended")
                                          for d in let_go])
        assert await store.outbox.claim_notices("sms", 1000, "w1", 60) == []  # not due yet
        await clock.advance(10)
        claimed = await store.outbox.claim_notices("sms", 1000, "w1", 60)
        assert {d.household_id for d in claimed} == {sent[0].household_id}
        counts = await store.campaigns.delivery_counts(cid)
        assert counts.get((NOTICE_STEP, "sms", "skipped"), 0) == len(reached) - 1


async def test_a_drills_notices_wait_out_a_real_event(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        drill, reached = await _sent_then_cancelled(store)
        assert await store.outbox.queue_notices([_notice(drill, r) for r in reached], clock.now()) == len(reached)
        real, real_reached = await _sent_then_cancelled(store, CampaignKind.REAL)
        assert await store.outbox.queue_notices([_notice(real, r) for r in real_reached], clock.now())
        # while a real event runs: its notices go, the drill's wait
        assert {d.campaign_id for d in await store.outbox.claim_notices("sms", 1000, "w1", 60, drills=False)} == {real}
        assert {d.campaign_id for d in await store.outbox.claim_notices("sms", 1000, "w1", 60)} == {drill}
