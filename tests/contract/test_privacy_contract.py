"""Retention and the audit log in every store adapter (DESIGN §9): a finished campaign's free texts
and provider answers are erased after retention while its numbers stay; audit entries are added,
read in order, paged, and deleted by age."""

from __future__ import annotations

import dataclasses

import pytest

from safetynet.domain.audit import AuditEntry, PurgeResult
from safetynet.domain.campaigns import AttemptRecord, DeliveryOutcome, OutcomeKind
from safetynet.domain.replies import NOTE, Location, ReplyDetails, ReplyItem
from safetynet.store import Store, StoreUnavailable

from .support import (
    SAKURA,
    BreakWrites,
    StoreFactory,
    association_ids,
    city,
    clock_of,
    running_campaign,
    seed,
)

# -- retention --------------------------------------------------------------------------------


async def _answered_campaign(store: Store) -> tuple[int, dict[str, int]]:
    """A drill with answers that carry free text, an SMS body kept as a note, a sent and a failed SMS."""
    ids = await seed(store)
    a = await association_ids(store)
    cid = await running_campaign(store, [f"association:{SAKURA}"])
    now = store.clock.now()
    items = [
        ReplyItem(cid, ids["S-1"], a[SAKURA], "need_help", "web", "r1", now,
                  ReplyDetails(people_safe=2, people_injured=1, location=Location.SHELTER, note="足を骨折しました")),
        ReplyItem(cid, ids["S-2"], a[SAKURA], NOTE, "sms", "r2", now, ReplyDetails(note="娘の家にいます 090-9999-0000")),
        ReplyItem(cid, ids["S-2"], a[SAKURA], "safe", "sms", "r3", now + 60),
    ]
    sent, failed = await store.outbox.claim([cid], "sms", 2, "w1", 60)
    await store.outbox.record(DeliveryOutcome(sent, OutcomeKind.SENT, now, (AttemptRecord(now, 5.0, "sent"),),
                                              provider_id="SM0001"))
    await store.outbox.record(DeliveryOutcome(failed, OutcomeKind.FAILED, now,
                                              (AttemptRecord(now, 5.0, "failed", "InvalidNumber", "+819011110002"),),
                                              error="21211 not a mobile: +819011110002"))
    for item in items:
        assert not (await store.replies.record(item)).duplicate
    return cid, ids


async def test_purge_erases_free_text_and_keeps_the_numbers(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        cid, ids = await _answered_campaign(store)
        counts, minutes = await store.stats.counts(cid), await store.stats.minutes(cid)
        channels = await store.dashboard.first_answers_by_channel(cid)
        statuses = await store.campaigns.household_statuses(cid)
        help_before = [(h.household_id, h.status) for h in await store.replies.help_list(cid, include_handled=True)]
        clock = clock_of(store)
        assert await store.campaigns.finished_before(clock.now() + 1) == []  # running: nothing to purge
        assert await store.campaigns.purge(cid, clock.now()) == PurgeResult(cid, 0, 0, 0)
        assert await store.campaigns.close(cid, clock.now())
        closed_at = clock.now()
        await clock.advance(90 * 86400)
        assert await store.campaigns.finished_before(closed_at) == []  # not yet older than that
        assert await store.campaigns.finished_before(clock.now()) == [cid]

        result = await store.campaigns.purge(cid, clock.now())
        assert (result.campaign_id, result.replies, result.deliveries) == (cid, 2, 2)

        for key in ("S-1", "S-2"):
            for e in await store.replies.history(cid, ids[key]):
                assert (e.note, e.location, e.people_safe, e.people_injured) == (None, None, None, None), e
        assert [e.status for e in await store.replies.history(cid, ids["S-2"])] == ["note", "safe"]
        assert await store.stats.counts(cid) == counts and await store.stats.minutes(cid) == minutes
        assert await store.dashboard.first_answers_by_channel(cid) == channels
        assert await store.campaigns.household_statuses(cid) == statuses
        assert [(h.household_id, h.status) for h in await store.replies.help_list(cid, include_handled=True)] == \
            help_before
        (item,) = await store.dashboard.help_panel(cid, [(await association_ids(store))[SAKURA]])
        assert (item.note, item.location, item.people_injured, item.people_safe) == ("", "", None, None)
        assert not await store.outbox.record_provider_status("SM0001", "delivered")  # the provider id is gone

        got = await store.campaigns.get(cid)
        info = await store.dashboard.campaign(cid)
        assert got is not None and info is not None and got.purged_at == info.purged_at == clock.now()
        assert await store.campaigns.finished_before(clock.now() + 1) == []  # once
        assert await store.campaigns.purge(cid, clock.now()) == PurgeResult(cid, 0, 0, 0)  # and idempotent


async def test_cancelled_campaigns_are_purged_too_oldest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        clock = clock_of(store)
        first = await running_campaign(store)
        assert await store.campaigns.cancel(first, clock.now())
        await clock.advance(10)
        second = await running_campaign(store)
        assert await store.campaigns.close(second, clock.now())
        assert await store.campaigns.finished_before(clock.now() + 1) == [first, second]
        assert await store.campaigns.finished_before(clock.now() + 1, limit=1) == [first]


async def test_households_removed_from_the_roster_are_erased_once_every_campaign_of_theirs_is_purged(
        store_factory: StoreFactory) -> None:
    """QA (privacy walk): a household that moved away kept its name, address, notes and consent for ever."""
    async with store_factory() as store:
        ids = await seed(store, [dataclasses.replace(r, notes="要介護2") if r.household_key == "S-2" else r
                                 for r in city()])
        clock = clock_of(store)
        first = await running_campaign(store, [f"association:{SAKURA}"])
        second = await running_campaign(store, [f"association:{SAKURA}"])
        await store.roster.import_households([r for r in city() if r.household_key not in ("S-2", "S-4")],
                                             replace=True)
        counts = {cid: await store.stats.counts(cid) for cid in (first, second)}
        assert await store.campaigns.erase_removed_households(clock.now()) == 0  # both campaigns still kept
        for cid in (first, second):
            assert await store.campaigns.close(cid, clock.now())
        assert (await store.campaigns.purge(first, clock.now())).campaign_id == first
        assert await store.campaigns.erase_removed_households(clock.now()) == 0  # `second` still refers to them
        kept = await store.roster.get_household(ids["S-2"])
        assert kept is not None and (kept.name, kept.address, kept.notes) == ("佐藤 花子", "桜町1-2", "要介護2")

        await store.campaigns.purge(second, clock.now())
        assert await store.campaigns.erase_removed_households(clock.now()) == 2
        for key in ("S-2", "S-4"):
            h = await store.roster.get_household(ids[key])
            assert h is not None and h.removed_at is not None
            assert (h.household_key, h.group) == (key, "1班" if key == "S-2" else "2班")  # number and 班 alone
            assert (h.name, h.address, h.notes, h.members, h.vulnerable, h.contacts, h.consent) == (
                "", "", "", 1, False, (), "no")
        s1 = await store.roster.get_household(ids["S-1"])
        assert s1 is not None and s1.name == "山田 太郎" and s1.contacts  # on the roster: untouched
        for cid in (first, second):
            assert await store.stats.counts(cid) == counts[cid]  # the purged campaigns' numbers stay
            assert len(await store.dashboard.households(cid, (await association_ids(store))[SAKURA])) == 4
        assert await store.campaigns.erase_removed_households(clock.now()) == 0  # once


# -- the audit log ------------------------------------------------------------------------------


def entry(at: float, **kw: object) -> AuditEntry:
    base: dict[str, object] = {"at": at, "actor": "head_a", "action": "view", "what": "dashboard"}
    return AuditEntry(**{**base, **kw})  # type: ignore[arg-type]


async def test_audit_entries_are_kept_in_order_and_paged(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        t = store.clock.now()
        await store.audit.append([])
        await store.audit.append([entry(t, role="association_head", staff_id=3, campaign_id=7, association_id=2),
                                  entry(t + 1, actor="token:4", action="export", what="report", detail="csv")])
        await store.audit.append([entry(t + 2, action="confirm", what="household", household_id=11, id=999)])
        got = await store.audit.entries()
        assert [e.id for e in got] == sorted(e.id for e in got) and len({e.id for e in got}) == 3
        first, second, third = got
        assert (first.actor, first.role, first.staff_id, first.campaign_id, first.association_id, first.at) == (
            "head_a", "association_head", 3, 7, 2, t)
        assert (second.actor, second.action, second.what, second.detail) == ("token:4", "export", "report", "csv")
        assert (third.action, third.household_id) == ("confirm", 11) and third.id != 999  # the store gives ids
        assert await store.audit.entries(after_id=first.id, limit=1) == [second]
        assert await store.audit.entries(since=t + 1) == [second, third]
        assert await store.audit.entries(since=t, until=t + 2) == [first, second]
        assert await store.audit.erase_before(t + 2) == 2
        assert await store.audit.entries() == [third]


async def test_a_store_that_cannot_write_refuses_audit_entries(store_factory: StoreFactory,
                                                              break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        await break_writes(store, True)
        with pytest.raises(StoreUnavailable):
            await store.audit.append([entry(store.clock.now())])
        await break_writes(store, False)
        await store.audit.append([entry(store.clock.now())])
        assert len(await store.audit.entries()) == 1
