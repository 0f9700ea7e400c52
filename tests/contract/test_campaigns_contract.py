"""CampaignRepo: guarded lifecycle, enrolment, planned steps, ladder progress, the door-knock list."""

from __future__ import annotations

import pytest

from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.campaigns import (
    DeliveryOutcome,
    Enrolment,
    LadderStep,
    OutcomeKind,
    PlannedDelivery,
    StepPlan,
)
from safetynet.domain.replies import ReplyItem
from safetynet.domain.roster import UnknownScopeError
from safetynet.store import Store

from .support import (
    LADDER,
    MSG,
    SAKURA,
    UME,
    StoreFactory,
    association_ids,
    clock_of,
    running_campaign,
    seed,
    token_of,
)


async def _answer(store: Store, campaign_id: int, household_id: int, status: str, key: str) -> None:
    t = await store.replies.target(campaign_id, household_id)
    assert t is not None
    await store.replies.record(ReplyItem(campaign_id, household_id, t.association_id, status, "web", key,
                                         store.clock.now()))


async def test_a_campaign_is_created_as_a_draft_and_read_back(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ladder = (LadderStep(0, ("sms",), ("voice",)), LadderStep(300, door_knock=True))
        c = await store.campaigns.create(kind=CampaignKind.REAL, title="地震", scope=["district:北地区"],
                                         messages={"ja": "無事ですか", "en": "Are you safe?"}, ladder=ladder,
                                         options={"dedupe_key": "k1", "nested": {"a": [1, 2]}}, source="jma",
                                         created_by="trigger")
        assert (c.state, c.kind, c.scope, c.ladder, c.source, c.created_by) == (
            CampaignState.DRAFT, CampaignKind.REAL, ("district:北地区",), ladder, "jma", "trigger")
        assert c.messages == {"ja": "無事ですか", "en": "Are you safe?"} and c.options["nested"] == {"a": [1, 2]}
        assert (c.created_at, c.started_at, c.closed_at, c.households) == (store.clock.now(), None, None, 0)
        got = await store.campaigns.get(c.id)
        assert got == c
        got.options["changed"] = True  # type: ignore[union-attr]
        assert "changed" not in (await store.campaigns.get(c.id)).options  # type: ignore[union-attr]
        assert await store.campaigns.get(10_000) is None
        default = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG,
                                               ladder=LADDER)
        assert default.ladder == LADDER and default.options == {} and default.source == "cli"


async def test_campaigns_are_listed_found_by_key_and_running_ones_real_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        drill1 = await running_campaign(store)
        real = await running_campaign(store, kind=CampaignKind.REAL)
        drill2 = await running_campaign(store)
        draft = await store.campaigns.create(kind=CampaignKind.DRILL, title="d", scope=["city"], messages=MSG, ladder=LADDER,
                                             options={"dedupe_key": "dk"})
        later = await store.campaigns.create(kind=CampaignKind.DRILL, title="d2", scope=["city"], messages=MSG, ladder=LADDER,
                                             options={"dedupe_key": "dk"})
        assert await store.campaigns.close(drill2, store.clock.now())
        assert [c.id for c in await store.campaigns.running()] == [real, drill1]
        assert [c.id for c in await store.campaigns.list_campaigns()] == [later.id, draft.id, drill2, real, drill1]
        assert [c.id for c in await store.campaigns.list_campaigns([CampaignState.RUNNING, CampaignState.CLOSED],
                                                                   limit=2)] == [drill2, real]
        found = await store.campaigns.find_by_dedupe_key("dk")
        assert found is not None and found.id == draft.id  # the first of that key
        assert await store.campaigns.find_by_dedupe_key("other") is None


async def test_texts_change_until_the_campaign_ends(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await running_campaign(store)
        assert await store.campaigns.update_text(cid, title="新しい題")
        assert await store.campaigns.update_text(cid, messages={"ja": "新しい文"})
        c = await store.campaigns.get(cid)
        assert c is not None and (c.title, c.messages) == ("新しい題", {"ja": "新しい文"})
        assert await store.campaigns.set_options(cid, {"note": "x"})
        assert await store.campaigns.close(cid, store.clock.now())
        assert not await store.campaigns.update_text(cid, title="遅い")
        assert (await store.campaigns.get(cid)).title == "新しい題"  # type: ignore[union-attr]
        assert not await store.campaigns.update_text(10_000, title="x")
        assert not await store.campaigns.set_options(10_000, {})
        assert (await store.campaigns.get(cid)).options == {"note": "x"}  # type: ignore[union-attr]


async def test_begin_running_counts_households_seeds_counters_and_the_ladder(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        a = await association_ids(store)
        c = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        assert await store.campaigns.enrol_scope(c.id, ["city"], token_of) == 7
        assert (await store.campaigns.ladder_progress(c.id)).next_step == 0
        at = store.clock.now() + 5
        assert await store.campaigns.begin_running(c.id, at)
        got = await store.campaigns.get(c.id)
        assert got is not None and (got.state, got.started_at, got.households) == (CampaignState.RUNNING, at, 7)
        assert (await store.campaigns.ladder_progress(c.id)).next_step == 1
        counts = await store.dashboard.counts(c.id)
        assert {aid: per["pending"] for aid, per in counts.items()} == {a[SAKURA]: 4, a[UME]: 2, a["松町"]: 1}
        assert not await store.campaigns.begin_running(c.id, at)  # only a draft starts
        assert (got.started_by, got.started_by_staff) == ("", None)  # nobody named


async def test_who_started_a_drill_is_kept_and_its_options_stay(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        c = await store.campaigns.create(kind=CampaignKind.DRILL, title="訓練", scope=["city"], messages=MSG, ladder=LADDER,
                                         options={"proposed": True, "scenario": "earthquake"}, source="trigger")
        assert await store.campaigns.begin_running(c.id, store.clock.now(), started_by="admin", started_by_staff=7)
        got = await store.campaigns.get(c.id)
        assert got is not None and got.options == {"proposed": True, "scenario": "earthquake"}
        assert (got.started_by, got.started_by_staff, got.approved_by, got.approved_by_staff) == ("admin", 7, "", None)
        assert not await store.campaigns.begin_running(c.id, store.clock.now(), started_by="other")
        assert (await store.campaigns.get(c.id)).started_by == "admin"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("finish", "from_draft", "from_running", "state"),
    [("close", False, True, CampaignState.CLOSED), ("cancel", True, True, CampaignState.CANCELLED),
     ("cancel_draft", True, False, CampaignState.CANCELLED)],
)
async def test_finishing_is_guarded_and_a_finished_campaign_never_reopens(
    store_factory: StoreFactory, finish: str, from_draft: bool, from_running: bool, state: CampaignState
) -> None:
    async with store_factory() as store:
        await seed(store)
        draft = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        running = await running_campaign(store)
        at = store.clock.now() + 60
        assert await getattr(store.campaigns, finish)(draft.id, at) is from_draft
        assert await getattr(store.campaigns, finish)(running, at) is from_running
        ended = running if from_running else draft.id
        c = await store.campaigns.get(ended)
        assert c is not None and (c.state, c.closed_at) == (state, at)
        for again in ("close", "cancel", "cancel_draft"):
            assert not await getattr(store.campaigns, again)(ended, at + 1)
        assert not await store.campaigns.begin_running(ended, at + 1)
        assert (await store.campaigns.get(ended)).state == state  # type: ignore[union-attr]
        assert not await store.campaigns.close(10_000, at)


async def test_finishing_skips_what_is_queued_but_not_what_is_claimed(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store, ["association:桜町"])
        # a fallback planned ahead waits in standby: it goes too
        standby = PlannedDelivery(ids["S-4"], 0, "telegram", 1, 10, 1)
        await store.campaigns.write_step(cid, StepPlan((standby,), (), ()), store.clock.now())
        claimed = await store.outbox.claim([cid], "sms", 1, "w1", 60)
        assert len(claimed) == 1
        assert await store.campaigns.close(cid, store.clock.now())
        counts = await store.campaigns.delivery_counts(cid)
        assert counts[(0, "sms", "claimed")] == 1
        assert counts[(0, "sms", "skipped")] == 1 and counts[(0, "telegram", "skipped")] == 2
        assert await store.outbox.due_count([cid]) == 0


async def test_enrolment_is_idempotent_by_household_and_token(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        c = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        assert await store.campaigns.enrol_scope(c.id, [f"association:{UME}"], token_of) == 2
        assert await store.campaigns.enrol_scope(c.id, ["city"], token_of, batch_size=2) == 5
        assert await store.campaigns.enrol_scope(c.id, ["city"], token_of) == 0
        target = await store.replies.target_by_token_hash(token_of(c.id, ids["U-1"]))
        assert target is not None and (target.campaign_id, target.household_id) == (c.id, ids["U-1"])
        assert set(await store.campaigns.household_statuses(c.id)) == set(ids.values())
        assert set((await store.campaigns.household_statuses(c.id)).values()) == {Status.PENDING}
        # by the write_step path too: a household or a token hash already enrolled is left alone
        a = await association_ids(store)
        again = [Enrolment(ids["U-1"], a[UME], "other-token"), Enrolment(10_001, a[UME], token_of(c.id, ids["U-2"]))]
        await store.campaigns.write_step(c.id, StepPlan((), (), ()), store.clock.now(), enrol=again)
        assert await store.replies.target_by_token_hash("other-token") is None
        assert len(await store.campaigns.household_statuses(c.id)) == 7


async def test_enrolment_takes_current_households_and_refuses_an_unknown_scope(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        from .support import city

        ids = await seed(store)
        await store.roster.import_households([r for r in city() if r.household_key != "S-4"], replace=True)
        c = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        with pytest.raises(UnknownScopeError):
            await store.campaigns.enrol_scope(c.id, ["association:無い町会"], token_of)
        assert await store.campaigns.household_statuses(c.id) == {}
        assert await store.campaigns.enrol_scope(c.id, [f"association:{SAKURA}"], token_of) == 3
        assert ids["S-4"] not in await store.campaigns.household_statuses(c.id)


async def test_write_step_queues_once_and_puts_households_without_contacts_on_the_list(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        c = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        at = store.clock.now()
        plan = StepPlan((PlannedDelivery(ids["S-1"], 0, "sms", 1, 0, 0),
                         PlannedDelivery(ids["S-1"], 0, "voice", 1, 0, 1)), (ids["S-4"],), ())
        enrol = [Enrolment(ids["S-1"], a[SAKURA], "t1"), Enrolment(ids["S-4"], a[SAKURA], "t4")]
        await store.campaigns.write_step(c.id, plan, at, enrol=enrol)
        await store.campaigns.write_step(c.id, plan, at + 10, enrol=enrol)  # a crashed start, redone
        assert await store.campaigns.delivery_counts(c.id) == {(0, "sms", "queued"): 1, (0, "voice", "queued"): 1}
        assert await store.outbox.next_due_at([c.id]) == at
        assert (await store.campaigns.household_statuses(c.id))[ids["S-4"]] == Status.UNREACHABLE
        assert await store.campaigns.doorknock_households(c.id) == [ids["S-4"]]


async def test_step_households_are_the_unanswered_with_their_contacts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{SAKURA}", f"association:{UME}"])
        await _answer(store, cid, ids["S-1"], "safe", "k1")
        await _answer(store, cid, ids["S-2"], "read", "k2")
        dead = await store.roster.add_contact(ids["S-3"], "mobile", "+819033330003")
        await store.roster.mark_contact_dead(dead.id, "gone")
        batches = [b async for b in store.campaigns.step_households(cid, batch_size=2)]
        assert [len(b) for b in batches] == [2, 2, 1]
        got = {h.id: h for b in batches for h in b}
        assert sorted(got) == sorted(ids[k] for k in ("S-2", "S-3", "S-4", "U-1", "U-2"))
        s3 = got[ids["S-3"]]
        assert s3.association_id == a[SAKURA] and not s3.vulnerable
        assert [(c.kind, c.working) for c in s3.contacts] == [("telegram", True), ("mobile", False)]
        assert got[ids["U-1"]].vulnerable and got[ids["S-4"]].contacts == ()


async def test_waiting_channels_are_those_still_queued_or_claimed(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store, [f"association:{SAKURA}"])
        claimed = await store.outbox.claim([cid], "telegram", 5, "w1", 60)
        assert [d.household_id for d in claimed] == [ids["S-3"]]
        waiting = await store.campaigns.waiting_channels(cid, ids["S-1"], ids["S-4"])
        assert waiting == {ids["S-1"]: frozenset({"sms"}), ids["S-2"]: frozenset({"sms"}),
                           ids["S-3"]: frozenset({"telegram"})}
        assert await store.campaigns.waiting_channels(cid, ids["S-2"], ids["S-2"]) == {
            ids["S-2"]: frozenset({"sms"})}
        # step 1 planned (half of it, by a leader that then lost its lease): planning it again, its own
        # queued SMS is no earlier step's (review: its fallback was planned beside it)
        await store.campaigns.write_step(cid, StepPlan((PlannedDelivery(ids["S-4"], 1, "sms", 1, 0, 0),), (), ()),
                                         store.clock.now())
        assert ids["S-4"] not in await store.campaigns.waiting_channels(cid, ids["S-1"], ids["S-4"], before_step=1)
        assert (await store.campaigns.waiting_channels(cid, ids["S-1"], ids["S-4"], before_step=2))[ids["S-4"]] == {"sms"}
        await store.campaigns.close(cid, store.clock.now())
        assert await store.campaigns.waiting_channels(cid, ids["S-1"], ids["S-4"]) == {
            ids["S-3"]: frozenset({"telegram"})}


async def test_the_ladder_advances_once_per_step_and_pauses_add_up(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        cid = await running_campaign(store)
        p = await store.campaigns.ladder_progress(cid)
        assert (p.next_step, p.paused_since, p.paused_seconds) == (1, None, 0.0)
        assert not await store.campaigns.advance_ladder(cid, 0, clock.now())  # step 0 is done already
        assert await store.campaigns.advance_ladder(cid, 1, clock.now())
        assert not await store.campaigns.advance_ladder(cid, 1, clock.now())  # a second scheduler: too late
        assert (await store.campaigns.ladder_progress(cid)).next_step == 2
        start = clock.now()
        assert await store.campaigns.set_paused(cid, True, start)
        assert not await store.campaigns.set_paused(cid, True, start + 5)  # paused already
        assert (await store.campaigns.ladder_progress(cid)).paused_since == start
        assert await store.campaigns.set_paused(cid, False, start + 30)
        assert not await store.campaigns.set_paused(cid, False, start + 40)
        assert await store.campaigns.set_paused(cid, True, start + 100)
        assert await store.campaigns.set_paused(cid, False, start + 110)
        p = await store.campaigns.ladder_progress(cid)
        assert (p.next_step, p.paused_since, p.paused_seconds) == (2, None, 40.0)
        assert not await store.campaigns.set_paused(10_000, True, start)
        assert (await store.campaigns.ladder_progress(10_000)).next_step == 0


async def test_the_door_knock_list_holds_the_unanswered(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{SAKURA}", f"association:{UME}"])
        await _answer(store, cid, ids["S-1"], "safe", "k1")
        await _answer(store, cid, ids["U-2"], "read", "k2")
        texts = await store.outbox.claim([cid], "sms", 5, "w1", 60)
        [sent] = [d for d in texts if d.household_id == ids["S-2"]]  # S-2 is notified by an SMS
        await store.outbox.record(DeliveryOutcome(sent, OutcomeKind.SENT, store.clock.now(), provider_id="p1"))
        counts = await store.campaigns.mark_doorknock(cid, store.clock.now())
        assert counts == {a[SAKURA]: 3, a[UME]: 2}
        statuses = await store.campaigns.household_statuses(cid)
        assert (statuses[ids["S-2"]], statuses[ids["S-3"]], statuses[ids["U-2"]]) == (
            Status.NOTIFIED, Status.UNREACHABLE, Status.READ)
        assert await store.campaigns.doorknock_households(cid) == sorted(
            ids[k] for k in ("S-2", "S-3", "S-4", "U-1", "U-2"))
        assert await store.campaigns.doorknock_households(cid, a[UME]) == [ids["U-1"], ids["U-2"]]
        await _answer(store, cid, ids["U-1"], "need_help", "k3")  # answered since: off the list
        assert await store.campaigns.doorknock_counts(cid) == {a[SAKURA]: 3, a[UME]: 1}
        assert await store.campaigns.mark_doorknock(cid, store.clock.now() + 60) == {a[SAKURA]: 3, a[UME]: 1}


async def test_the_door_knock_step_is_recorded_with_its_list_and_the_notices_it_owes(
        store_factory: StoreFactory) -> None:
    """Review: the heads' notices were owed in the leader's memory, lost on a restart. The step, its list
    and the notices owed are one write; a step recorded already (another leader) changes nothing."""
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{SAKURA}", f"association:{UME}"])
        other = await running_campaign(store, [f"association:{UME}"])
        await _answer(store, cid, ids["U-1"], "safe", "k1")
        await _answer(store, cid, ids["U-2"], "need_help", "k2")
        now = store.clock.now()
        assert await store.campaigns.record_doorknock(cid, 3, now) is None  # not the next step: nothing
        assert await store.campaigns.doorknock_households(cid) == [ids["S-4"]]  # (no contact: listed at once)
        assert await store.campaigns.owed_doorknock_notices() == {}
        assert await store.campaigns.record_doorknock(cid, 1, now) == {a[SAKURA]: 4}
        assert (await store.campaigns.ladder_progress(cid)).next_step == 2
        assert (await store.campaigns.household_statuses(cid))[ids["S-1"]] == Status.UNREACHABLE
        assert await store.campaigns.record_doorknock(cid, 1, now + 1) is None  # a second leader: once
        assert await store.campaigns.record_doorknock(other, 1, now + 5) == {a[UME]: 2}
        owed = await store.campaigns.owed_doorknock_notices()
        assert list(owed.items()) == [(cid, [a[SAKURA]]), (other, [a[UME]])]  # oldest first
        await store.campaigns.doorknock_notices_told(cid, [a[SAKURA]])
        await store.campaigns.doorknock_notices_told(other, [])
        assert await store.campaigns.owed_doorknock_notices() == {other: [a[UME]]}
        closed = await running_campaign(store, [f"association:{UME}"])
        assert await store.campaigns.close(closed, now + 6)  # closed after the ladder read it: its close made the list
        before = await store.campaigns.household_statuses(closed)
        assert await store.campaigns.record_doorknock(closed, 1, now + 7) is None
        assert await store.campaigns.household_statuses(closed) == before and closed not in (
            await store.campaigns.owed_doorknock_notices())


async def test_closing_puts_every_silent_household_on_the_door_knock_list(store_factory: StoreFactory) -> None:
    """Review: a campaign closed before its door-knock step (the city ends the event at +25 min, the
    step is at +30) left its silent households answered by no one and on no list: no door-knock
    count on /city, none for the heads, counted unaccounted. Closing makes the list, as the step
    does; a contact check asks no one whether they are safe and lists no one."""
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{SAKURA}", f"association:{UME}"])
        check = await running_campaign(store, [f"association:{UME}"], kind=CampaignKind.CHECK)
        await _answer(store, cid, ids["S-1"], "safe", "k1")
        await _answer(store, cid, ids["U-2"], "read", "k2")
        assert await store.campaigns.doorknock_households(cid) == [ids["S-4"]]  # no contact: listed at once
        assert await store.campaigns.close(cid, store.clock.now())
        assert await store.campaigns.doorknock_counts(cid) == {a[SAKURA]: 3, a[UME]: 2}
        assert await store.campaigns.doorknock_households(cid) == sorted(
            ids[k] for k in ("S-2", "S-3", "S-4", "U-1", "U-2"))
        statuses = await store.campaigns.household_statuses(cid)
        # statuses stay as they were: 'pending' in the report says nothing was sent before the close
        assert (statuses[ids["S-1"]], statuses[ids["U-2"]], statuses[ids["S-3"]]) == (
            Status.SAFE, Status.READ, Status.PENDING)
        assert await store.campaigns.close(check, store.clock.now())
        assert await store.campaigns.doorknock_counts(check) == {}


async def test_household_statuses_and_delivery_counts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        assert await store.campaigns.delivery_counts(cid) == {
            (0, "sms", "queued"): 4, (0, "voice", "queued"): 1, (0, "telegram", "queued"): 1}
        statuses = await store.campaigns.household_statuses(cid)
        assert statuses[ids["S-4"]] == Status.UNREACHABLE and statuses[ids["S-1"]] == Status.PENDING
        assert await store.campaigns.household_statuses(10_000) == {}
        assert await store.campaigns.delivery_counts(10_000) == {}
