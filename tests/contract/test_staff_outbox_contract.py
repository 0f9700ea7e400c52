"""OutboxRepo and staff alerts: rows of no household, claimed apart and first, nobody's status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from safetynet.domain import CampaignKind, Role
from safetynet.domain.campaigns import (
    PRIORITY_STAFF,
    STAFF_STEP,
    AttemptRecord,
    DeliveryOutcome,
    OutcomeKind,
    StaffAlert,
)
from safetynet.store import Store
from safetynet.store.memory import MemoryStore

from .support import StoreFactory, clock_of, running_campaign, seed

if TYPE_CHECKING:
    from safetynet.domain.roster import StaffContactReach

LINK = "https://bousai.example.jp/a/1"
OLD, NEW = "+819088880001", "+819088880009"  # a head's lost phone, and the one that replaced it


async def _head(store: Store, login: str = "head", language: str = "ja", mobile: str | None = None) -> int:
    """A head of 桜町 on Telegram (`tg-{login}`), and on `mobile` too when given."""
    contacts = [("telegram", f"tg-{login}")] + ([("mobile", mobile)] if mobile else [])
    s = await store.auth.add_staff(login, login.title(), Role.ASSOCIATION_HEAD, "association:桜町", None,
                                   contacts=contacts, language=language)
    return s.id


def _alert(cid: int, staff_id: int, channel: str = "telegram", address: str = "tg-head", text: str = "alert") -> StaffAlert:
    return StaffAlert(cid, staff_id, channel, address, text, LINK)


async def test_staff_alerts_are_claimed_apart_from_households_oldest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head, deputy = await _head(store), await _head(store, "deputy", "en")
        households_due = await store.outbox.due_count([cid])
        assert await store.outbox.queue_staff([], clock.now()) == 0
        assert await store.outbox.queue_staff([_alert(cid, head, text="first\nsecond line")], clock.now()) == 1
        await clock.advance(1)
        assert await store.outbox.queue_staff(
            [_alert(cid, deputy, address="tg-deputy"), _alert(cid, head, "sms", "+819088880001")],
            clock.now() + 5) == 2
        assert await store.outbox.due_count([cid]) == households_due + 1  # one of them is due later
        # the household claim never returns them, whatever their priority
        claimed = await store.outbox.claim([cid], "telegram", 100, "w1", 60)
        assert all(d.staff is None and d.household_id for d in claimed)
        assert await store.outbox.claim_staff("telegram", 0, "w1", 60) == []
        (d,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        assert (d.campaign_id, d.household_id, d.step, d.channel, d.contact_id, d.address, d.language, d.priority,
                d.lease_owner, d.attempts) == (cid, 0, STAFF_STEP, "telegram", None, "tg-head", "ja", PRIORITY_STAFF,
                                               "w1", 0)
        assert d.staff == StaffAlert(cid, head, "telegram", "tg-head", "first\nsecond line", LINK, drill=True)
        assert await store.outbox.claim_staff("telegram", 5, "w2", 60) == []  # held by w1; the next is not due
        await clock.advance(5)
        assert await store.outbox.claim_staff("sms", 5, "w2", 60) != []
        (later,) = await store.outbox.claim_staff("telegram", 5, "w2", 60)
        assert later.staff is not None and later.staff.staff_id == deputy and later.language == "en"
        assert await store.outbox.claimed_count() == len(claimed) + 3


async def test_a_sent_or_failed_staff_alert_changes_no_household(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head = await _head(store)
        before = await store.campaigns.household_statuses(cid)
        counts = await store.campaigns.delivery_counts(cid)
        await store.outbox.queue_staff([_alert(cid, head), _alert(cid, head, "sms", "+819088880001")], clock.now())
        (tg,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        (sms,) = await store.outbox.claim_staff("sms", 5, "w1", 60)
        now = clock.now()
        assert await store.outbox.record(DeliveryOutcome(tg, OutcomeKind.SENT, now, (AttemptRecord(now, 3.0, "sent"),),
                                                         provider_id="TG1")) is None
        assert await store.outbox.record(DeliveryOutcome(sms, OutcomeKind.FAILED, now, error="invalid_number",
                                                         contact_dead=True)) is None
        assert await store.campaigns.household_statuses(cid) == before
        after = await store.campaigns.delivery_counts(cid)
        assert after.pop((STAFF_STEP, "telegram", "sent")) == 1 and after.pop((STAFF_STEP, "sms", "failed")) == 1
        assert after == counts  # no household's next channel was queued
        # a provider's "undelivered" on a staff alert falls back to nothing either
        assert await store.outbox.record_provider_status("TG1", "undelivered")
        after = await store.campaigns.delivery_counts(cid)
        assert after.pop((STAFF_STEP, "telegram", "undelivered")) == 1 and after.pop((STAFF_STEP, "sms", "failed")) == 1
        assert after == counts and await store.campaigns.household_statuses(cid) == before


async def test_a_staff_alert_retried_comes_back_when_due(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        await store.outbox.queue_staff([_alert(cid, await _head(store))], clock.now())
        (d,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        now = clock.now()
        await store.outbox.record(DeliveryOutcome(d, OutcomeKind.RETRY, now,
                                                  (AttemptRecord(now, 2.0, "retry", "RetryAfter", "rate_limited"),),
                                                  error="rate_limited", next_attempt_at=now + 30))
        assert await store.outbox.claim_staff("telegram", 5, "w1", 60) == []
        await clock.advance(30)
        (again,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        assert again.id == d.id and again.attempts == 1


async def test_staff_alerts_outlive_their_campaign_and_a_drills_go_during_a_real_event(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        drill = await running_campaign(store, ["association:梅町"])
        real = await running_campaign(store, ["association:梅町"], kind=CampaignKind.REAL)
        head = await _head(store)
        await store.outbox.queue_staff([_alert(drill, head), _alert(real, head)], clock.now())
        assert await store.campaigns.close(real, clock.now())
        # a household asking for help is never held: the drill's while a real event runs, the real
        # event's after it closed
        got = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        assert [(d.campaign_id, d.staff.drill if d.staff else None) for d in got] == [(drill, True), (real, False)]


async def test_retention_erases_a_staff_alerts_text(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        await store.outbox.queue_staff([_alert(cid, await _head(store), text="山田 太郎 桜町1-1-1")], clock.now())
        assert await store.campaigns.close(cid, clock.now())
        result = await store.campaigns.purge(cid, clock.now())
        assert result.deliveries >= 1
        (d,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        assert d.staff is not None and d.staff.text == "" and not d.address


async def test_removing_a_head_drops_their_queued_alerts_and_says_a_claimed_ones_recipient_is_gone(
        store_factory: StoreFactory) -> None:
    """QA (privacy walk): a head removed two seconds after a household asked for help still got its name
    and address by email and SMS half a minute later."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head, deputy = await _head(store), await _head(store, "deputy")
        await store.outbox.queue_staff([_alert(cid, head), _alert(cid, head, "sms", "+819088880001"),
                                        _alert(cid, deputy, address="tg-deputy")], clock.now())
        (in_lane,) = await store.outbox.claim_staff("sms", 5, "w1", 60)  # claimed: in a dispatcher's lane
        await clock.advance(2)
        removal = await store.auth.remove_staff("head")
        assert removal is not None and (removal.staff_id, removal.role, removal.alerts_dropped) == (
            head, Role.ASSOCIATION_HEAD, 1)
        # the head's queued alert is no dispatcher's to claim any more; the deputy's goes as ever
        (left,) = await store.outbox.claim_staff("telegram", 5, "w1", 60)
        assert left.staff is not None and left.staff.staff_id == deputy
        counts = await store.campaigns.delivery_counts(cid)
        assert counts[(STAFF_STEP, "telegram", "skipped")] == 1 and counts[(STAFF_STEP, "sms", "claimed")] == 1
        # the claimed one is the dispatcher's to drop: it asks just before sending
        assert await store.outbox.staff_gone([in_lane, left]) == {in_lane.id: "staff_removed"}
        assert await store.outbox.staff_gone([]) == {}
        assert await store.auth.remove_staff("head") is None


async def _unsent(store: Store, staff_id: int) -> list[tuple[str, str, str | None, str | None]]:
    """(channel, address, state, error) of a staff member's alerts: the port reads no error, so each
    adapter's own table."""
    if isinstance(store, MemoryStore):
        rows = [(d.id, d.channel, d.address, d.state, d.error) for d in store.tables.deliveries.values()
                if d.staff_id == staff_id]
    else:
        rows = [tuple(r) for r in await cast(Any, store).db.fetchall(
            "SELECT id, channel, address, state, error FROM deliveries WHERE staff_id = ?", (staff_id,))]
    return [(r[1], r[2], r[3], r[4]) for r in sorted(rows)]


async def test_a_staff_members_number_replaced_drops_their_alerts_still_queued_for_the_old_one(
        store_factory: StoreFactory) -> None:
    """Review: a deputy lost her phone and the admin replaced its number on /admin; the alerts still
    queued, or waiting to retry, went to the lost phone with a household's name, address and phones."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head = await _head(store, mobile=OLD)
        deputy = (await store.auth.add_staff("deputy", "Deputy", Role.DEPUTY, "association:桜町", None,
                                             contacts=[("mobile", "+819088880002")])).id
        await store.outbox.queue_staff([_alert(cid, head, "sms", OLD, "retried")], clock.now())
        (retried,) = await store.outbox.claim_staff("sms", 5, "w1", 60)
        now = clock.now()
        await store.outbox.record(DeliveryOutcome(retried, OutcomeKind.RETRY, now, error="rate_limited",
                                                  next_attempt_at=now + 30))
        await store.outbox.queue_staff([_alert(cid, head, "sms", OLD, "in a lane")], now)
        (in_lane,) = await store.outbox.claim_staff("sms", 5, "w1", 60)
        await store.outbox.queue_staff([_alert(cid, head, "sms", OLD, "later"), _alert(cid, head),
                                        _alert(cid, deputy, "sms", "+819088880002")], now + 5)

        changed = await store.auth.set_staff_contacts(head, {"mobile": NEW})
        assert set(changed.contacts) == {("telegram", "tg-head"), ("mobile", NEW)}
        # the old number's queued and waiting alerts are dropped; the claimed one is the dispatcher's;
        # the telegram one (its address still theirs) and the deputy's stand
        assert await _unsent(store, head) == [
            ("sms", OLD, "skipped", "staff_contact_changed"), ("sms", OLD, "claimed", None),
            ("sms", OLD, "skipped", "staff_contact_changed"), ("telegram", "tg-head", "queued", None)]
        await clock.advance(30)
        (left,) = await store.outbox.claim_staff("sms", 5, "w1", 60)
        assert left.staff is not None and left.staff.staff_id == deputy and left.id != in_lane.id
        # the claimed one is the dispatcher's to drop: it asks just before sending
        assert await store.outbox.staff_gone([in_lane, left]) == {in_lane.id: "staff_contact_changed"}
        assert [d.address for d in await store.outbox.claim_staff("telegram", 5, "w1", 60)] == ["tg-head"]
        counts = await store.campaigns.delivery_counts(cid)
        assert counts[(STAFF_STEP, "sms", "skipped")] == 2 and counts[(STAFF_STEP, "sms", "claimed")] == 2

        # an alert to the new number stays through a change that keeps it; clearing the kind drops it
        await store.outbox.queue_staff([_alert(cid, head, "sms", NEW, "new")], clock.now())
        await store.auth.set_staff_contacts(head, {"mobile": NEW, "telegram": "tg-head"})
        assert (await _unsent(store, head))[-1] == ("sms", NEW, "queued", None)
        await store.auth.set_staff_contacts(head, {"mobile": None})
        assert (await _unsent(store, head))[-1] == ("sms", NEW, "skipped", "staff_contact_changed")
        assert await store.outbox.claim_staff("sms", 5, "w1", 60) == []


async def test_a_staff_contact_removed_drops_the_alerts_queued_for_it_alone(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head = await _head(store, mobile=OLD)
        await store.outbox.queue_staff([_alert(cid, head), _alert(cid, head, "sms", OLD)], clock.now())
        assert not await store.auth.remove_staff_contact(head, "telegram", "tg-other")
        assert [s for _, _, s, _ in await _unsent(store, head)] == ["queued", "queued"]
        assert await store.auth.remove_staff_contact(head, "telegram", "tg-head")
        assert await _unsent(store, head) == [("telegram", "tg-head", "skipped", "staff_contact_changed"),
                                              ("sms", OLD, "queued", None)]
        assert [d.address for d in await store.outbox.claim_staff("sms", 5, "w1", 60)] == [OLD]


async def test_a_staff_contacts_reach_is_what_its_last_alert_came_to(store_factory: StoreFactory) -> None:
    """/admin's 届いていません and /city's warning read it: per contact, the last alert's outcome (sent or
    delivered: it works; failed or undelivered: refused, with why); a skipped or unsent alert says nothing."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        head = await _head(store, mobile=OLD)
        deputy = await _head(store, "deputy")
        assert await store.auth.staff_contact_reach() == []  # nothing sent yet: unknown, not listed

        async def outcome(channel: str, address: str, kind: OutcomeKind, error: str | None = None,
                          provider_id: str | None = None, staff_id: int = head) -> None:
            await store.outbox.queue_staff([_alert(cid, staff_id, channel, address)], clock.now())
            (d,) = await store.outbox.claim_staff(channel, 5, "w1", 60)
            assert await store.outbox.record(DeliveryOutcome(d, kind, clock.now(), error=error,
                                                             provider_id=provider_id)) is None
            await clock.advance(10)

        def reach(found: list[StaffContactReach]) -> list[tuple[int, str, str, bool, float, str | None]]:
            return [(r.staff_id, r.kind, r.address, r.reaches, r.at, r.error) for r in found]

        t0 = clock.now()
        await outcome("telegram", "tg-head", OutcomeKind.SENT, provider_id="TG1")
        await outcome("sms", OLD, OutcomeKind.FAILED, "invalid_number")
        await outcome("telegram", "tg-deputy", OutcomeKind.SENT, provider_id="TG2", staff_id=deputy)
        assert reach(await store.auth.staff_contact_reach()) == [
            (head, "telegram", "tg-head", True, t0, None), (head, "mobile", OLD, False, t0 + 10, "invalid_number"),
            (deputy, "telegram", "tg-deputy", True, t0 + 20, None)]

        # the head blocks the bot: their next alert is refused, and that is what their chat is now
        await outcome("telegram", "tg-head", OutcomeKind.FAILED, "blocked")
        # one dropped unsent, and one still queued, say nothing of it: the refusal stands
        await outcome("telegram", "tg-head", OutcomeKind.SKIPPED, "campaign_ended")
        await store.outbox.queue_staff([_alert(cid, head)], clock.now())
        # the phone works again: an SMS the carrier took
        await outcome("sms", OLD, OutcomeKind.SENT, provider_id="SM1")
        assert reach(await store.auth.staff_contact_reach())[:2] == [
            (head, "telegram", "tg-head", False, t0 + 30, "blocked"), (head, "mobile", OLD, True, t0 + 50, None)]
        # the carrier's later word: not delivered after all (its code kept as the reason, dated by that word)
        await clock.advance(5)
        assert await store.outbox.record_provider_status("SM1", "undelivered", 30003)
        assert reach(await store.auth.staff_contact_reach())[1] == (head, "mobile", OLD, False, t0 + 65,
                                                                   "provider_undelivered:30003")

        # a number replaced is unknown again (the old one's outcomes are not the new one's); a member
        # removed is gone with their contacts
        await store.auth.set_staff_contacts(head, {"mobile": NEW})
        assert await store.auth.remove_staff("deputy") is not None
        assert reach(await store.auth.staff_contact_reach()) == [(head, "telegram", "tg-head", False, t0 + 30, "blocked")]
