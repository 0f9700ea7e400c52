"""ReplyRepo: replies once per key, statuses from them, listeners, targets, the help list, phone codes."""

from __future__ import annotations

import asyncio

import pytest

from safetynet.domain import CampaignKind, CampaignState, Role, Status
from safetynet.domain.campaigns import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryOutcome,
    OutcomeKind,
    StaffAlert,
)
from safetynet.domain.replies import (
    ESCALATION_CLAIM_SECONDS,
    Location,
    RecordOutcome,
    ReplyDetails,
    ReplyEvent,
    ReplyItem,
    ReplyTarget,
    TokenAnswer,
    TokenOutcome,
    UndoOutcome,
    UndoRefused,
)
from safetynet.store import Store

from .support import (
    MSG,
    SAKURA,
    SHARED_MOBILE,
    UME,
    StoreFactory,
    association_ids,
    clock_of,
    running_campaign,
    seed,
    token_of,
)


async def item(store: Store, cid: int, hid: int, status: str, key: str, details: ReplyDetails | None = None,
               channel: str = "web", **kw: object) -> ReplyItem:
    t = await store.replies.target(cid, hid)
    assert t is not None
    return ReplyItem(cid, hid, t.association_id, status, channel, key, store.clock.now(),
                     details or ReplyDetails(), **kw)  # type: ignore[arg-type]


async def test_a_reply_is_stored_once_per_key_and_moves_the_status(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        s1 = ids["S-1"]
        first = await store.replies.record(await item(store, cid, s1, "read", "k1"))
        assert (first.duplicate, first.help_opened) == (False, False)
        assert (await store.replies.record(await item(store, cid, s1, "read", "k1"))).duplicate
        await store.replies.record(await item(store, cid, s1, "safe", "k2"))
        late = await store.replies.record(await item(store, cid, s1, "read", "k3"))  # after the answer: not kept
        assert late.duplicate
        await store.replies.record(await item(store, cid, s1, "note", "k4", ReplyDetails(note="犬もいます")))
        t = await store.replies.target(cid, s1)
        assert t is not None and t.status == Status.SAFE
        assert [h.status for h in await store.replies.history(cid, s1)] == ["read", "safe", "note"]
        await store.replies.record(await item(store, cid, s1, "need_help", "k5"))  # answers replace each other
        assert (await store.replies.target(cid, s1)).status == Status.NEED_HELP  # type: ignore[union-attr]


async def test_the_page_state_is_the_target_with_its_latest_answers_once_answered(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        clock = clock_of(store)
        s1, s2 = ids["S-1"], ids["S-2"]
        assert await store.replies.page_state("unknown") is None
        await store.replies.record(await item(store, cid, s2, "read", "r"))
        opened = await store.replies.page_state(token_of(cid, s2))
        assert opened is not None and opened.target == await store.replies.target(cid, s2)
        assert opened.recent == ()  # not answered: nothing to show, nothing read
        times = []
        for n in range(13):  # reads in between are never shown; more than RECENT_SHOWN answers keep the latest
            await clock.advance(61.5)
            times.append(store.clock.now())
            await store.replies.record(await item(store, cid, s1, ("safe", "need_help", "note")[n % 3], f"k{n}"))
            await store.replies.record(await item(store, cid, s1, "read", f"read{n}"))
        state = await store.replies.page_state(token_of(cid, s1))
        assert state is not None and state.target == await store.replies.target(cid, s1)
        assert state.target.status == Status.SAFE
        assert state.recent == tuple((at, ("safe", "need_help", "note")[n % 3]) for n, at in enumerate(times))[-10:]
        # batched with other pages read at the same moment, each still gets its own
        both = await asyncio.gather(store.replies.page_state(token_of(cid, s1)),
                                    store.replies.page_state(token_of(cid, s2)))
        assert both == [state, opened]


async def test_the_same_key_twice_at_once_is_stored_once(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        it = await item(store, cid, ids["S-1"], "safe", "same")
        results = await asyncio.gather(*(store.replies.record(it) for _ in range(3)))
        assert sorted(r.duplicate for r in results) == [False, True, True]
        assert await store.replies.count_replies(cid) == 1


async def test_a_read_reported_just_after_the_answer_is_not_kept(store_factory: StoreFactory) -> None:
    """A push shown and the resident's answer, resolved at the same moment, stored in one batch or
    in two: the history never shows the read after the answer; a read before it stays."""
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        s1, s2, u1 = ids["S-1"], ids["S-2"], ids["U-1"]
        answer = await item(store, cid, s1, "need_help", "a1")
        late, before = await item(store, cid, s1, "read", "r1"), await item(store, cid, s2, "read", "r2")
        results = await asyncio.gather(store.replies.record(before), store.replies.record(answer),
                                       store.replies.record(late), store.replies.record(
                                           await item(store, cid, s2, "safe", "a2")),
                                       store.replies.record(before))  # a household's reads share a key
        assert [r.duplicate for r in results] == [False, False, True, False, True]
        assert [h.status for h in await store.replies.history(cid, s1)] == ["need_help"]
        assert [h.status for h in await store.replies.history(cid, s2)] == ["read", "safe"]
        await store.replies.record(await item(store, cid, u1, "safe", "a3"))
        assert (await store.replies.record(await item(store, cid, u1, "read", "r3"))).duplicate
        assert await store.replies.count_replies(cid, ("read",)) == 1


async def test_listeners_hear_real_transitions_after_the_write(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        events: list[ReplyEvent] = []
        seen_stored: list[bool] = []

        def listener(e: ReplyEvent) -> None:
            events.append(e)
            seen_stored.append(True)

        def broken(e: ReplyEvent) -> None:
            raise RuntimeError("a listener that fails does not stop the others")

        store.replies.add_listener(broken)
        store.replies.add_listener(listener)
        await store.replies.record(await item(store, cid, ids["U-1"], "need_help", "k1"))
        await store.replies.record(await item(store, cid, ids["U-1"], "read", "k2"))  # no transition: silent
        [e] = events
        [tr] = e.transitions
        assert (tr.campaign_id, tr.household_id, tr.association_id, tr.old, tr.new, tr.first_answer) == (
            cid, ids["U-1"], a[UME], Status.PENDING, Status.NEED_HELP, True)
        assert e.help_changed == ((cid, a[UME]),)
        store.replies.remove_listener(listener)
        store.replies.remove_listener(listener)  # twice is fine
        await store.replies.record(await item(store, cid, ids["U-2"], "safe", "k3"))
        assert len(events) == 1


async def test_targets_by_token_and_by_household(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        t = await store.replies.target_by_token_hash(token_of(cid, ids["S-3"]))
        assert t is not None
        assert (t.campaign_id, t.household_id, t.association_id, t.status, t.campaign_state, t.kind,
                t.closed_at, t.language) == (cid, ids["S-3"], a[SAKURA], Status.PENDING,
                                             CampaignState.RUNNING, CampaignKind.DRILL, None, "en")
        assert await store.replies.target_by_token_hash("unknown") is None
        assert await store.replies.target(cid, ids["S-3"]) == t
        assert await store.replies.target(cid + 1, ids["S-3"]) is None
        at = store.clock.now() + 1
        await store.campaigns.close(cid, at)
        closed = await store.replies.target_by_token_hash(token_of(cid, ids["S-3"]))
        assert closed is not None and (closed.campaign_state, closed.closed_at) == (CampaignState.CLOSED, at)
        counters = store.replies.counters()
        assert set(counters) == {"lookups", "lookup_batches", "writes", "write_batches"}
        assert counters["lookups"] >= 1


def by_token(cid: int, hid: int, status: str, key: str, at: float, seen: list[ReplyTarget] | None = None,
             refuse: bool = False) -> TokenAnswer:
    def build(t: ReplyTarget) -> ReplyItem | None:
        if seen is not None:
            seen.append(t)
        if refuse:
            return None
        return ReplyItem(t.campaign_id, t.household_id, t.association_id, status, "web", key, at)

    return TokenAnswer(token_of(cid, hid), build)


async def test_a_reply_by_token_finds_its_target_in_its_own_commit(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        now = store.clock.now()
        s1, s2, s3 = ids["S-1"], ids["S-2"], ids["S-3"]
        events: list[ReplyEvent] = []
        store.replies.add_listener(events.append)
        # answers by token and a plain one at the same moment: batched where the store batches
        safe, helped, plain = await asyncio.gather(
            store.replies.record_by_token(by_token(cid, s1, "safe", "t1", now)),
            store.replies.record_by_token(by_token(cid, s2, "need_help", "t2", now)),
            store.replies.record(await item(store, cid, s3, "safe", "t3")))
        assert safe.target is not None and safe.target.household_id == s1
        assert (safe.target.status, safe.target.association_id) == (Status.PENDING, a[SAKURA])  # as read before it
        assert safe.outcome is not None and not safe.outcome.duplicate
        assert helped.outcome is not None and helped.outcome.help_opened
        assert not plain.duplicate
        assert [(await store.replies.target(cid, h)).status for h in (s1, s2, s3)] == [  # type: ignore[union-attr]
            Status.SAFE, Status.NEED_HELP, Status.SAFE]
        assert any(e.help_changed for e in events)
        # the target handed to `build` is the household as it stands in the answer's transaction
        seen: list[ReplyTarget] = []
        again = await store.replies.record_by_token(by_token(cid, s1, "need_help", "t4", now, seen))
        assert [t.status for t in seen] == [Status.SAFE] and again.target == seen[0]
        assert again.outcome is not None and again.outcome.help_opened
        assert (await store.replies.record_by_token(by_token(cid, s1, "need_help", "t4", now))).outcome == \
            RecordOutcome(duplicate=True)
        # refused by `build`: the target comes back, nothing is stored
        before = await store.replies.history(cid, s2)
        refused = await store.replies.record_by_token(by_token(cid, s2, "safe", "t5", now, refuse=True))
        assert refused.target is not None and refused.target.status == Status.NEED_HELP and refused.outcome is None
        assert await store.replies.history(cid, s2) == before
        # an unknown token: no target, nothing built
        built: list[ReplyTarget] = []
        unknown = TokenAnswer("unknown", lambda t: built.append(t))  # type: ignore[func-returns-value]
        assert await store.replies.record_by_token(unknown) == TokenOutcome(None, None) and built == []
        # a key with a NUL is stored as the store keeps keys, and counted once
        nul = await store.replies.record_by_token(by_token(cid, s3, "need_help", "tg:\x001", now))
        assert nul.outcome is not None and not nul.outcome.duplicate
        assert (await store.replies.record_by_token(by_token(cid, s3, "need_help", "tg:\x001", now))).outcome == \
            RecordOutcome(duplicate=True)


async def test_a_reply_by_token_sees_the_answers_before_it_in_its_own_batch(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        now = store.clock.now()
        s1, s2 = ids["S-1"], ids["S-2"]
        seen: list[ReplyTarget] = []

        def unless_help(key: str) -> TokenAnswer:
            # the reply page's stale details form: a "safe" refused once the household asked for help
            def build(t: ReplyTarget) -> ReplyItem | None:
                seen.append(t)
                if t.status == Status.NEED_HELP:
                    return None
                return ReplyItem(t.campaign_id, t.household_id, t.association_id, "safe", "web", key, now)

            return TokenAnswer(token_of(cid, s1), build)

        # the same moment: where the store batches, all four share a commit, in this order
        helped, stale, plain, after_plain = await asyncio.gather(
            store.replies.record_by_token(by_token(cid, s1, "need_help", "h1", now)),
            store.replies.record_by_token(unless_help("s1")),
            store.replies.record(await item(store, cid, s2, "need_help", "h2")),
            store.replies.record_by_token(by_token(cid, s2, "safe", "s2", now, seen)))
        assert helped.outcome is not None and helped.outcome.help_opened
        assert stale.outcome is None and stale.target is not None and stale.target.status == Status.NEED_HELP
        assert [h.status for h in await store.replies.history(cid, s1)] == ["need_help"]
        assert not plain.duplicate and after_plain.outcome is not None
        assert after_plain.target is not None and after_plain.target.status == Status.NEED_HELP
        assert [h.status for h in await store.replies.history(cid, s2)] == ["need_help", "safe"]


async def test_a_build_that_raises_fails_only_its_own_answer(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)

        def broken(t: ReplyTarget) -> ReplyItem | None:
            raise RuntimeError("a bug in the caller")

        fine, failed = await asyncio.gather(
            store.replies.record_by_token(by_token(cid, ids["S-1"], "safe", "k1", store.clock.now())),
            store.replies.record_by_token(TokenAnswer(token_of(cid, ids["S-2"]), broken)),
            return_exceptions=True)
        assert isinstance(fine, TokenOutcome) and fine.outcome is not None and not fine.outcome.duplicate
        assert isinstance(failed, RuntimeError)
        assert await store.replies.history(cid, ids["S-2"]) == []


async def test_a_contact_finds_each_household_in_its_latest_running_campaign(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        phones = ["mobile", "landline"]
        old = await running_campaign(store)
        await clock.advance(60)
        new = await running_campaign(store, ["association:桜町"])
        await clock.advance(60)
        closed = await running_campaign(store)
        await store.campaigns.close(closed, clock.now())
        got = await store.replies.running_targets_by_contact(phones, SHARED_MOBILE)
        assert [(t.campaign_id, t.household_id) for t in got] == [(new, ids["S-1"]), (old, ids["M-1"])]
        # one campaign's only (the buttons of a multicast name their campaign)
        got = await store.replies.running_targets_by_contact(phones, SHARED_MOBILE, campaign_id=old)
        assert [(t.campaign_id, t.household_id) for t in got] == [(old, ids["S-1"]), (old, ids["M-1"])]
        assert await store.replies.running_targets_by_contact(phones, SHARED_MOBILE, campaign_id=closed) == []
        assert await store.replies.running_targets_by_contact(phones, "+819000000000") == []
        assert await store.replies.running_targets_by_contact(["landline"], SHARED_MOBILE) == []  # not that kind
        assert await store.replies.running_targets_by_contact([], SHARED_MOBILE) == []
        assert [t.household_id for t in await store.replies.running_targets_by_contact(["telegram"], "5550003")] == [
            ids["S-3"]]
        m1 = await store.roster.get_household(ids["M-1"])
        assert m1 is not None
        await store.roster.mark_contact_dead(m1.contacts[0].id, "gone")
        assert [t.household_id for t in await store.replies.running_targets_by_contact(phones, SHARED_MOBILE)] == [
            ids["S-1"]]


async def test_a_contact_finds_a_real_event_before_a_drill_started_after_it(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        real = await running_campaign(store, kind=CampaignKind.REAL)
        await clock.advance(60)
        await running_campaign(store)  # a drill started during the event (paused by it): not what "2" answers
        got = await store.replies.running_targets_by_contact(["mobile"], SHARED_MOBILE)
        assert [(t.campaign_id, t.household_id) for t in got] == [(real, ids["S-1"]), (real, ids["M-1"])]


async def test_a_household_s_running_campaigns_with_their_start(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        closed = await running_campaign(store)
        await store.campaigns.close(closed, clock.now())
        await clock.advance(60)
        city = await running_campaign(store)
        city_at = clock.now()
        await clock.advance(60)
        sakura = await running_campaign(store, ["association:桜町"], kind=CampaignKind.REAL)
        sakura_at = clock.now()
        await clock.advance(60)
        cancelled = await running_campaign(store)
        await store.campaigns.cancel(cancelled, clock.now())
        got = await store.replies.running_targets_of(ids["S-1"])
        assert sorted((r.target.campaign_id, r.target.household_id, r.started_at) for r in got) == [
            (city, ids["S-1"], city_at), (sakura, ids["S-1"], sakura_at)]
        assert {r.target.campaign_id: r.target.kind for r in got} == {city: CampaignKind.DRILL,
                                                                     sakura: CampaignKind.REAL}
        assert all(r.target.campaign_state == CampaignState.RUNNING for r in got)
        # 梅町 is not in the 桜町 event: the city's drill alone
        assert [r.target.campaign_id for r in await store.replies.running_targets_of(ids["M-1"])] == [city]
        assert await store.replies.running_targets_of(10_000) == []
        await store.campaigns.close(city, clock.now())
        await store.campaigns.close(sakura, clock.now())
        assert await store.replies.running_targets_of(ids["S-1"]) == []


async def test_campaign_page_and_household_ref(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, ["association:桜町"])
        page = await store.replies.campaign_page(cid, a[SAKURA])
        assert page is not None and (page.campaign_id, page.kind, page.title, page.messages, page.association) == (
            cid, CampaignKind.DRILL, "訓練", MSG, SAKURA)
        assert await store.replies.campaign_page(cid, 10_000) is None
        assert await store.replies.campaign_page(10_000, a[SAKURA]) is None
        ref = await store.replies.household_ref(cid, ids["S-2"])
        assert ref is not None and (ref.association_id, ref.association, ref.district) == (a[SAKURA], SAKURA, "北地区")
        assert await store.replies.household_ref(cid, ids["U-1"]) is None  # not in this campaign


async def test_history_and_counts_keep_every_reply(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        details = ReplyDetails(people_safe=2, people_injured=1, location=Location.SHELTER, note="足を怪我")
        await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k1", details, channel="sms"))
        await store.replies.record(await item(store, cid, ids["S-2"], "confirmed_in_person", "k2", channel="staff",
                                              method="visit", staff_id=5, actor="head"))
        await store.replies.record(await item(store, cid, ids["U-2"], "safe", "k3", channel="sms"))
        h = await store.replies.history(cid, ids["S-2"])
        assert [(e.status, e.channel, e.people_safe, e.people_injured, e.location, e.note, e.method, e.actor)
                for e in h] == [("need_help", "sms", 2, 1, "shelter", "足を怪我", None, None),
                                ("confirmed_in_person", "staff", None, None, None, None, "visit", "head")]
        assert h[0].at == store.clock.now()
        assert await store.replies.count_replies(cid) == 3
        assert await store.replies.count_replies(cid, ("safe", "need_help")) == 2
        assert await store.replies.count_replies(cid, channel="sms") == 2
        assert await store.replies.count_replies(cid, ("safe",), channel="web") == 0


async def test_a_nul_in_a_text_from_outside_is_stored_and_found_again(store_factory: StoreFactory) -> None:
    """A NUL can arrive in any text a provider or a resident sends (an SMS body, a message id, a sender).
    PostgreSQL text cannot hold one: there it is kept as U+FFFD (the replacement character), so the write
    works, the same key is still a duplicate and a lookup by such an address finds nothing."""
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        assert await store.replies.running_targets_by_contact(["mobile"], "\x00") == []
        assert await store.replies.running_targets_by_contact(["mobile"], SHARED_MOBILE + "\x00") == []
        note = await item(store, cid, ids["S-2"], "note", "sms:SM\x001", ReplyDetails(note="犬\x00も"), channel="sms")
        assert not (await store.replies.record(note)).duplicate
        assert (await store.replies.record(note)).duplicate
        assert await store.replies.reply_id("sms:SM\x001") is not None
        [h] = await store.replies.history(cid, ids["S-2"])
        assert h.note is not None and h.note.replace("\ufffd", "\x00") == "犬\x00も"


async def test_the_help_list_opens_on_need_help_and_is_handled_once(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        head = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        events: list[ReplyEvent] = []
        store.replies.add_listener(events.append)
        opened = await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k1",
                                                       ReplyDetails(note="水がない")))
        assert opened.help_opened
        await clock.advance(10)
        again = await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k2",
                                                      ReplyDetails(people_safe=0, people_injured=2)))
        assert not again.help_opened  # open already
        await clock.advance(10)
        await store.replies.record(await item(store, cid, ids["U-1"], "need_help", "k3"))  # vulnerable
        rows = await store.replies.help_list(cid)
        assert [r.household_id for r in rows] == [ids["U-1"], ids["S-2"]]  # vulnerable first, then oldest
        s2 = rows[1]
        assert (s2.association, s2.district, s2.group, s2.name, s2.status, s2.note, s2.people_injured,
                s2.people_safe, s2.handled_at) == (SAKURA, "北地区", "1班", "佐藤 花子", Status.NEED_HELP, "水がない", 2, 0,
                                                   None)
        assert rows[0].people_safe is None  # U-1 said nothing of it
        assert await store.replies.help_list(cid, [a[SAKURA]]) == [s2]
        assert await store.replies.help_list(cid, []) == []
        events.clear()
        assert await store.replies.mark_handled(cid, ids["S-2"], head.id, "head") is True
        assert events == [ReplyEvent((), ((cid, a[SAKURA]),))]
        assert await store.replies.mark_handled(cid, ids["S-2"], head.id, "head") is False
        assert await store.replies.mark_handled(cid, ids["S-1"], head.id, "head") is None  # never asked
        assert [r.household_id for r in await store.replies.help_list(cid)] == [ids["U-1"]]
        everyone = await store.replies.help_list(cid, include_handled=True)
        assert [r.household_id for r in everyone] == [ids["U-1"], ids["S-2"]]
        assert (everyone[1].handled_at, everyone[1].handled_by) == (clock.now(), "head")
        row = await store.replies.help_row(cid, ids["S-2"])
        assert row == everyone[1]
        assert await store.replies.help_row(cid, ids["S-1"]) is None
        # asking again after being handled puts the household back on the list
        back = await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k4"))
        assert back.help_opened
        reopened = await store.replies.help_row(cid, ids["S-2"])
        assert reopened is not None and (reopened.handled_at, reopened.handled_by, reopened.opened_at) == (
            None, None, clock.now())


async def test_a_handled_help_request_reopens_as_it_was_once(store_factory: StoreFactory) -> None:
    """The undo of a wrong "handled" tap: back on the open list with its opening time, no new alert."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        head = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k1", ReplyDetails(note="水がない")))
        opened_at = clock.now()
        await store.replies.mark_notified(cid, ids["S-2"])  # its alert went out
        assert await store.replies.reopen_help(cid, ids["S-2"]) is False  # open: nothing to reopen
        await clock.advance(30)
        assert await store.replies.mark_handled(cid, ids["S-2"], head.id, "head") is True
        assert await store.stats.open_help_requests(cid) == {}
        events: list[ReplyEvent] = []
        store.replies.add_listener(events.append)
        await clock.advance(5)

        assert await store.replies.reopen_help(cid, ids["S-2"]) is True
        assert events == [ReplyEvent((), ((cid, a[SAKURA]),))]  # the dashboards' help lists move
        row = await store.replies.help_row(cid, ids["S-2"])
        assert row is not None and (row.handled_at, row.handled_by, row.opened_at, row.note) == (
            None, None, opened_at, "水がない")
        assert [r.household_id for r in await store.replies.help_list(cid)] == [ids["S-2"]]
        assert await store.stats.open_help_requests(cid) == {a[SAKURA]: 1}
        assert await store.replies.unnotified_help() == []  # alerted once already: not again
        assert (await store.replies.target(cid, ids["S-2"])).status == Status.NEED_HELP  # type: ignore[union-attr]

        events.clear()
        assert await store.replies.reopen_help(cid, ids["S-2"]) is False  # twice: open already, no event
        assert events == []
        assert await store.replies.reopen_help(cid, ids["S-1"]) is None  # never asked for help
        assert await store.replies.reopen_help(cid + 1000, ids["S-2"]) is None  # no such campaign
        # asking again while open keeps the one request; handled again, it reopens again
        assert not (await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k2"))).help_opened
        assert await store.replies.mark_handled(cid, ids["S-2"], head.id, "head") is True
        assert await store.replies.reopen_help(cid, ids["S-2"]) is True
        # a person takes back their own mark only (`marked_by`): another's stands, whole
        assert await store.replies.mark_handled(cid, ids["S-2"], head.id, "head") is True
        with pytest.raises(UndoRefused):
            await store.replies.reopen_help(cid, ids["S-2"], marked_by="deputy")
        row = await store.replies.help_row(cid, ids["S-2"])
        assert row is not None and row.handled_at is not None and row.handled_by == "head"
        assert await store.replies.reopen_help(cid, ids["S-2"], marked_by="head") is True
        assert await store.replies.reopen_help(cid, ids["S-2"], marked_by="deputy") is False  # open: nothing to refuse


async def test_a_mark_under_a_known_key_marks_nothing_again(store_factory: StoreFactory) -> None:
    """A staff text's mark keeps its message id through a reopen (a new call for help, an undo): the
    provider's retry of that text marks nothing; a page's mark (no key) and another text's do."""
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        head = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        s2 = ids["S-2"]
        await store.replies.record(await item(store, cid, s2, "need_help", "k1"))
        assert await store.replies.mark_handled(cid, s2, head.id, "head", "sms:SM1") is True
        await store.replies.record(await item(store, cid, s2, "need_help", "k2"))  # asks again: open
        assert [r.household_id for r in await store.replies.help_list(cid)] == [s2]
        assert await store.replies.mark_handled(cid, s2, head.id, "head", "sms:SM1") is False
        assert [r.household_id for r in await store.replies.help_list(cid)] == [s2]
        assert await store.replies.mark_handled(cid, s2, head.id, "head") is True  # the page's button
        assert await store.replies.reopen_help(cid, s2) is True
        assert await store.replies.mark_handled(cid, s2, head.id, "head", "sms:SM1") is False  # still known
        assert await store.replies.mark_handled(cid, s2, head.id, "head", "sms:SM2") is True
        assert await store.replies.help_list(cid) == []


async def test_help_alerts_not_sent_are_found_again(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        await store.replies.record(await item(store, cid, ids["S-1"], "need_help", "k1"))
        await clock.advance(100)
        await store.replies.record(await item(store, cid, ids["U-1"], "need_help", "k2"))
        await store.replies.record(await item(store, cid, ids["U-2"], "need_help", "k3"))
        await store.replies.mark_notified(cid, ids["U-2"])
        await store.replies.mark_notified(cid, ids["U-2"])
        assert await store.replies.unnotified_help() == [(cid, ids["U-1"]), (cid, ids["S-1"])]  # newest first
        assert await store.replies.unnotified_help(max_age_seconds=50) == [(cid, ids["U-1"])]
        # the periodic re-drive leaves alone what a process may be queuing at this moment
        assert await store.replies.unnotified_help(min_age_seconds=50) == [(cid, ids["S-1"])]
        await store.replies.mark_handled(cid, ids["U-1"], None, "api")
        assert await store.replies.unnotified_help() == [(cid, ids["S-1"])]


async def test_a_request_whose_every_help_alert_failed_is_claimed_at_once(store_factory: StoreFactory) -> None:
    """`escalation_due`'s `unreached`: every alert about the household failed or was dropped (one at
    least): claimed whatever the wait, once; one still on its way, or sent, keeps the usual wait, and
    so does a request with no alert about it (another's failed alerts are not its own)."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        s1, s2, u1 = ids["S-1"], ids["S-2"], ids["U-1"]
        head = await store.auth.add_staff("head", "Head", Role.ASSOCIATION_HEAD, "association:桜町", None,
                                          contacts=[("telegram", "tg-head")])
        for hid in (s1, s2, u1):
            await store.replies.record(await item(store, cid, hid, "need_help", f"k{hid}"))

        async def claimed_after_queuing(hid: int | None, *channels: str) -> list[ClaimedDelivery]:
            await store.outbox.queue_staff([StaffAlert(cid, head.id, ch, "tg-head", "alert", "https://x/a/1",
                                                       about_household=hid) for ch in channels], clock.now())
            return [d for ch in channels for d in await store.outbox.claim_staff(ch, 10, "w1", 60)]

        long_ago = clock.now() - 3600  # no request has waited that long
        (dropped,) = await claimed_after_queuing(s2, "telegram")
        (other,) = await claimed_after_queuing(None, "telegram")  # a door-knock notice, say
        assert await store.replies.claim_unhandled_help(long_ago) == []  # on their way
        await store.outbox.record(DeliveryOutcome(dropped, OutcomeKind.FAILED, clock.now(), error="blocked"))
        await store.outbox.record(DeliveryOutcome(other, OutcomeKind.FAILED, clock.now(), error="blocked"))
        assert await store.replies.claim_unhandled_help(long_ago) == [(cid, s2)]
        assert await store.replies.claim_unhandled_help(long_ago) == []  # once

        tg, sms = await claimed_after_queuing(s1, "telegram", "sms")
        await store.outbox.record(DeliveryOutcome(tg, OutcomeKind.FAILED, clock.now(), error="blocked"))
        assert await store.replies.claim_unhandled_help(long_ago) == []  # its SMS may still get through
        now = clock.now()
        await store.outbox.record(DeliveryOutcome(sms, OutcomeKind.SENT, now, (AttemptRecord(now, 1.0, "sent"),),
                                                  provider_id="SM1"))
        assert await store.replies.claim_unhandled_help(long_ago) == []  # sent: it may be read
        # the provider then says it never arrived (a phone off, a call not picked up): reached nobody
        assert await store.outbox.record_provider_status("SM1", "undelivered", 30003)
        assert await store.replies.claim_unhandled_help(long_ago) == [(cid, s1)]
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, u1)]  # the usual wait


async def test_unhandled_help_is_claimed_for_escalation_once(store_factory: StoreFactory) -> None:
    """`claim_unhandled_help`: open requests of running campaigns waiting since the cutoff, each once;
    a handled one never, a reopened one again after a full wait, one asked for again afresh."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        s1, s2, u1 = ids["S-1"], ids["S-2"], ids["U-1"]
        await store.replies.record(await item(store, cid, s1, "need_help", "k1"))
        await clock.advance(60)
        await store.replies.record(await item(store, cid, s2, "need_help", "k2"))
        await store.replies.record(await item(store, cid, u1, "need_help", "k3"))
        assert await store.replies.mark_handled(cid, u1, None, "head") is True  # handled in time
        assert await store.replies.claim_unhandled_help(clock.now() - 61) == []  # none waited so long
        assert await store.replies.claim_unhandled_help(clock.now() - 60) == [(cid, s1)]
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, s2)]  # S-1 claimed already
        assert await store.replies.claim_unhandled_help(clock.now() + 3600) == []
        assert await store.replies.help_list(cid)  # escalating leaves them on the list, open

        # handled, then reopened (the undo of a wrong tap): a full wait again from the reopening
        await clock.advance(100)
        assert await store.replies.mark_handled(cid, s1, None, "head") is True
        assert await store.replies.reopen_help(cid, s1) is True
        reopened = clock.now()
        assert await store.replies.claim_unhandled_help(reopened - 1) == []
        assert await store.replies.claim_unhandled_help(reopened) == [(cid, s1)]
        # handled, then asked for again: a new request, from its new opening
        assert await store.replies.mark_handled(cid, s2, None, "head") is True
        await clock.advance(10)
        assert (await store.replies.record(await item(store, cid, s2, "need_help", "k4"))).help_opened
        assert await store.replies.claim_unhandled_help(clock.now() - 1) == []
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, s2)]


async def test_help_from_a_household_answering_otherwise_since_is_not_escalated(store_factory: StoreFactory) -> None:
    """Its request stays open on the help list (for the heads), but a later 無事です is an answer someone has."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        await store.replies.record(await item(store, cid, ids["S-1"], "need_help", "k1"))
        await store.replies.record(await item(store, cid, ids["S-2"], "need_help", "k2"))
        await clock.advance(1)
        await store.replies.record(await item(store, cid, ids["S-1"], "safe", "k3"))
        await clock.advance(3600)
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, ids["S-2"])]
        assert len(await store.replies.help_list(cid)) == 2


async def test_an_escalation_claimed_and_never_told_is_claimed_again(store_factory: StoreFactory) -> None:
    """At least once: a process killed between its claim and its alerts leaves the request untold, and
    another claims it after ESCALATION_CLAIM_SECONDS; one told is never claimed again."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        s1, s2 = ids["S-1"], ids["S-2"]
        await store.replies.record(await item(store, cid, s1, "need_help", "k1"))
        await store.replies.record(await item(store, cid, s2, "need_help", "k2"))
        await clock.advance(3600)
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, s1), (cid, s2)]
        await store.replies.escalation_told(cid, s2)  # S-1's claimer died before telling
        await clock.advance(ESCALATION_CLAIM_SECONDS - 1)
        assert await store.replies.claim_unhandled_help(clock.now()) == []  # its claimer may still be telling
        await clock.advance(1)
        assert await store.replies.claim_unhandled_help(clock.now()) == [(cid, s1)]
        await store.replies.escalation_told(cid, s1)
        await clock.advance(3600)
        assert await store.replies.claim_unhandled_help(clock.now()) == []


@pytest.mark.parametrize("end", ["close", "cancel"])
async def test_help_of_a_finished_campaign_is_never_escalated(store_factory: StoreFactory, end: str) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        await store.replies.record(await item(store, cid, ids["S-1"], "need_help", "k1"))
        await clock.advance(3600)
        assert await getattr(store.campaigns, end)(cid, clock.now())
        assert await store.replies.claim_unhandled_help(clock.now()) == []
        assert [r.household_id for r in await store.replies.help_list(cid)] == [ids["S-1"]]  # still open


async def test_concurrent_escalation_claims_take_each_request_once(store_factory: StoreFactory) -> None:
    """Claims at once (on PostgreSQL, on several pooled connections): every request goes to one."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        cid = await running_campaign(store)
        households = [ids[k] for k in ("S-1", "S-2", "U-1", "U-2")]
        for n, hid in enumerate(households):
            await store.replies.record(await item(store, cid, hid, "need_help", f"k{n}"))
        await clock.advance(60)
        claims = await asyncio.gather(*(store.replies.claim_unhandled_help(clock.now()) for _ in range(6)))
        claimed = [key for c in claims for key in c]
        assert sorted(claimed) == sorted((cid, hid) for hid in households)


async def test_phone_codes_expire_are_used_once_and_limit_attempts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        hid = ids["S-4"]
        assert await store.replies.start_phone_verification(hid, "+819012340001", "c1", ttl_seconds=600)
        assert await store.replies.start_phone_verification(hid, "+819012340002", "c2", ttl_seconds=600, max_pending=2)
        assert not await store.replies.start_phone_verification(hid, "+819012340003", "c3", 600, max_pending=2)
        assert await store.replies.check_phone_code(hid, "wrong", max_attempts=3) is None
        assert await store.replies.check_phone_code(hid, "c1", max_attempts=3) == "+819012340001"
        assert await store.replies.check_phone_code(hid, "c1", max_attempts=3) is None  # used up: an attempt spent
        assert await store.replies.check_phone_code(hid, "c2", max_attempts=2) is None  # two attempts spent
        assert await store.replies.check_phone_code(hid, "c2", max_attempts=3) == "+819012340002"
        assert await store.replies.start_phone_verification(hid, "+819012340004", "c4", ttl_seconds=60)
        await clock.advance(61)
        assert await store.replies.check_phone_code(hid, "c4", max_attempts=3) is None  # expired
        for n in range(3):  # expired ones no longer count against the limit
            assert await store.replies.start_phone_verification(hid, f"+81901234001{n}", f"d{n}", 60)


async def test_forget_phone_codes_erases_the_expired_ones_and_keeps_live_ones(store_factory: StoreFactory) -> None:
    """An expired code holds the number a resident typed on the enrolment page; it went only when someone
    started another confirmation. `forget_phone_codes` (retention) erases it; a live one stays usable."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        assert await store.replies.start_phone_verification(ids["S-4"], "+819012340001", "old", ttl_seconds=60)
        assert await store.replies.start_phone_verification(ids["S-3"], "+819012340002", "new", ttl_seconds=600)
        await clock.advance(60)
        assert await store.replies.forget_phone_codes(clock.now()) == 0  # expiring now: still live
        await clock.advance(1)
        assert await store.replies.forget_phone_codes(clock.now()) == 1
        assert await store.replies.forget_phone_codes(clock.now()) == 0  # gone, not only out of date
        assert await store.replies.check_phone_code(ids["S-3"], "new", max_attempts=3) == "+819012340002"


@pytest.mark.parametrize("status", ["safe", "need_help", "confirmed_in_person"])
async def test_an_answer_to_a_household_outside_the_campaign_changes_no_status(store_factory: StoreFactory,
                                                                              status: str) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store, ["association:梅町"])
        a = await association_ids(store)
        outcome = await store.replies.record(ReplyItem(cid, ids["S-1"], a[SAKURA], status, "staff", "k",
                                                       store.clock.now()))
        assert not outcome.duplicate
        assert ids["S-1"] not in await store.campaigns.household_statuses(cid)
        assert await store.replies.help_list(cid) == []


# -- taking back an in-person confirmation ---------------------------------------------------------


async def confirm(store: Store, cid: int, hid: int, key: str, method: str = "visit", actor: str = "head") -> int:
    """A staff confirmation in person, as the intake records one; its reply id."""
    await store.replies.record(await item(store, cid, hid, "confirmed_in_person", key, channel="staff",
                                          method=method, staff_id=1, actor=actor))
    reply_id = await store.replies.reply_id(key)
    assert reply_id is not None
    return reply_id


async def tallies(store: Store, cid: int) -> tuple[dict[tuple[int, str], int], dict[tuple[int, int], int]]:
    """(households per association and status, first answers per association and minute), zeros left out."""
    counts = {(c.association_id, c.status): c.n for c in await store.stats.counts(cid) if c.n}
    minutes = {(m.association_id, m.minute): m.n for m in await store.stats.minutes(cid) if m.n}
    return counts, minutes


async def test_an_undone_confirmation_puts_back_the_status_before_it(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        u2 = ids["U-2"]
        await clock.advance(30)
        await store.replies.record(await item(store, cid, u2, "read", "k1"))
        before = await tallies(store, cid)
        await clock.advance(90)
        reply_id = await confirm(store, cid, u2, "staff:1")
        assert await store.replies.reply_id("nope") is None
        assert (await store.campaigns.household_statuses(cid))[u2] == Status.CONFIRMED_IN_PERSON
        assert await tallies(store, cid) != before
        events: list[ReplyEvent] = []
        store.replies.add_listener(events.append)

        await clock.advance(30)
        outcome = await store.replies.undo_confirmation(cid, u2, reply_id, 2, "deputy")
        assert outcome == UndoOutcome(Status.READ, already=False, changed=True)
        assert (await store.campaigns.household_statuses(cid))[u2] == Status.READ
        assert await tallies(store, cid) == before  # counters and the answer curve as if it never happened
        [e] = events
        [tr] = e.transitions
        assert (tr.household_id, tr.association_id, tr.old, tr.new, tr.first_answer) == (
            u2, a[UME], Status.CONFIRMED_IN_PERSON, Status.READ, False)
        history = await store.replies.history(cid, u2)
        assert [(h.status, h.channel, h.method, h.actor, h.undoes, h.undone) for h in history] == [
            ("read", "web", None, None, None, False), ("confirmed_in_person", "staff", "visit", "head", None, True),
            ("undo", "staff", "visit", "deputy", reply_id, False)]
        assert history[1].id == reply_id and history[0].id < reply_id < history[2].id
        assert history[2].at - history[1].at == 30

        # the same undo again (a double tap) stores and changes nothing
        again = await store.replies.undo_confirmation(cid, u2, reply_id, 2, "deputy")
        assert again == UndoOutcome(Status.READ, already=True)
        assert len(await store.replies.history(cid, u2)) == 3 and len(events) == 1
        # the household can be confirmed again, and that confirmation undone in its turn
        second = await confirm(store, cid, u2, "staff:2")
        assert (await store.campaigns.household_statuses(cid))[u2] == Status.CONFIRMED_IN_PERSON
        done = await store.replies.undo_confirmation(cid, u2, second, None, "head")
        assert done == UndoOutcome(Status.READ, already=False, changed=True)


async def test_an_undo_under_a_known_key_takes_nothing_back(store_factory: StoreFactory) -> None:
    """A staff text's undo is keyed by its message id: the provider's retry, come after the household
    was confirmed again, finds its key stored and leaves the new confirmation standing."""
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        u2 = ids["U-2"]
        before = (await store.campaigns.household_statuses(cid))[u2]
        first = await confirm(store, cid, u2, "staff:1")
        done = await store.replies.undo_confirmation(cid, u2, first, 2, "deputy", "undo:sms:SM1")
        assert done == UndoOutcome(before, already=False, changed=True)
        assert await store.replies.reply_id("undo:sms:SM1") is not None
        second = await confirm(store, cid, u2, "staff:2")
        retried = await store.replies.undo_confirmation(cid, u2, second, 2, "deputy", "undo:sms:SM1")
        assert retried == UndoOutcome(Status.CONFIRMED_IN_PERSON, already=True)
        assert (await store.campaigns.household_statuses(cid))[u2] == Status.CONFIRMED_IN_PERSON
        assert [h.status for h in await store.replies.history(cid, u2)] == [
            "confirmed_in_person", "undo", "confirmed_in_person"]
        # another key (a new text) takes it back
        again = await store.replies.undo_confirmation(cid, u2, second, 2, "deputy", "undo:sms:SM2")
        assert again == UndoOutcome(before, already=False, changed=True)


async def test_a_staff_texts_answer_is_kept_two_days_and_the_first_stands(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        assert await store.replies.staff_text_answer("sms:SM1") is None
        await store.replies.keep_staff_text("sms:SM1", "世帯番号 12を訪問で確認済みにしました。", clock.now())
        await store.replies.keep_staff_text("sms:SM1", "another", clock.now())  # a retry that raced it
        assert await store.replies.staff_text_answer("sms:SM1") == "世帯番号 12を訪問で確認済みにしました。"
        assert await store.replies.staff_text_answer("telegram:SM1") is None
        await clock.advance(2 * 86400 - 1)
        assert await store.replies.staff_text_answer("sms:SM1") is not None
        await clock.advance(2)
        assert await store.replies.staff_text_answer("sms:SM1") is None  # past any provider's retry
        await store.replies.keep_staff_text("sms:SM2", "b", clock.now())  # and gone from the table
        await store.replies.keep_staff_text("sms:SM1", "again", clock.now())
        assert await store.replies.staff_text_answer("sms:SM1") == "again"
        # retention erases what the next text would have: the last of an event's too
        await clock.advance(60)
        assert await store.replies.forget_staff_texts(clock.now() - 30) == 2
        assert await store.replies.staff_text_answer("sms:SM1") is None
        assert await store.replies.forget_staff_texts(clock.now()) == 0


async def test_an_answer_after_the_confirmation_stands(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        s1 = ids["S-1"]
        reply_id = await confirm(store, cid, s1, "staff:1")
        await store.replies.record(await item(store, cid, s1, "safe", "k1"))  # the resident answers after the visit
        with pytest.raises(UndoRefused, match="answer came after"):
            await store.replies.undo_confirmation(cid, s1, reply_id, None, "head")
        assert (await store.campaigns.household_statuses(cid))[s1] == Status.SAFE
        assert [h.status for h in await store.replies.history(cid, s1)] == ["confirmed_in_person", "safe"]


async def test_confirmations_are_undone_latest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        u1 = ids["U-1"]
        await store.replies.record(await item(store, cid, u1, "need_help", "k1"))
        first = await confirm(store, cid, u1, "staff:1", "phone")
        second = await confirm(store, cid, u1, "staff:2", "visit", actor="deputy")
        with pytest.raises(UndoRefused):
            await store.replies.undo_confirmation(cid, u1, first, None, "head")  # the second came after it
        # the second confirmation changed nothing: undoing it leaves the first one standing
        kept = await store.replies.undo_confirmation(cid, u1, second, None, "head")
        assert kept == UndoOutcome(Status.CONFIRMED_IN_PERSON, already=False, changed=False)
        back = await store.replies.undo_confirmation(cid, u1, first, None, "head")
        assert back == UndoOutcome(Status.NEED_HELP, already=False, changed=True)  # the resident's own answer
        assert (await store.campaigns.household_statuses(cid))[u1] == Status.NEED_HELP
        assert [h.household_id for h in await store.replies.help_list(cid)] == [u1]


async def test_only_a_staff_confirmation_of_that_household_can_be_undone(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        other = await running_campaign(store, [f"association:{UME}"])
        reply_id = await confirm(store, cid, ids["S-1"], "staff:1")
        await store.replies.record(await item(store, cid, ids["S-2"], "safe", "k1"))
        own = await store.replies.reply_id("k1")
        assert own is not None
        undo = store.replies.undo_confirmation
        assert await undo(cid, ids["S-2"], reply_id, None, "head") is None  # another household's confirmation
        assert await undo(cid, ids["S-2"], own, None, "head") is None  # a resident's own answer
        assert await undo(other, ids["S-1"], reply_id, None, "head") is None  # not in that campaign
        assert await undo(cid, ids["S-1"], 10**9, None, "head") is None
        assert (await store.campaigns.household_statuses(cid))[ids["S-1"]] == Status.CONFIRMED_IN_PERSON
        assert [h.status for h in await store.replies.history(cid, ids["S-1"])] == ["confirmed_in_person"]


async def test_a_household_silent_again_after_the_door_knock_step_goes_back_on_its_list(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{UME}"])
        u1, u2 = ids["U-1"], ids["U-2"]
        first_u1 = await confirm(store, cid, u1, "staff:1")  # confirmed before the door-knock step
        for step in (1, 2, 3):
            assert await store.campaigns.advance_ladder(cid, step, clock.now())
        await store.campaigns.mark_doorknock(cid, clock.now())
        assert await store.campaigns.doorknock_households(cid, a[UME]) == [u2]
        assert (await store.campaigns.household_statuses(cid))[u2] == Status.UNREACHABLE
        later_u2 = await confirm(store, cid, u2, "staff:2")  # a visit on the door-knock round
        assert await store.campaigns.doorknock_households(cid, a[UME]) == []
        for hid, reply_id in ((u1, first_u1), (u2, later_u2)):
            outcome = await store.replies.undo_confirmation(cid, hid, reply_id, None, "head")
            assert outcome == UndoOutcome(Status.UNREACHABLE, already=False, changed=True)
        assert await store.campaigns.doorknock_households(cid, a[UME]) == [u1, u2]
        assert await store.campaigns.doorknock_counts(cid) == {a[UME]: 2}
        counts, minutes = await tallies(store, cid)
        assert counts == {(a[UME], "unreachable"): 2} and minutes == {}


async def test_a_confirmation_undone_after_an_early_close_goes_back_on_the_list(store_factory: StoreFactory) -> None:
    """Closing lists every silent household (the door-knock step had not run): one whose confirmation
    is taken back after the close is silent again, and on the list, not unaccounted."""
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store, [f"association:{UME}"])
        u1, u2 = ids["U-1"], ids["U-2"]
        reply_id = await confirm(store, cid, u1, "staff:1")
        assert await store.campaigns.close(cid, store.clock.now())
        assert await store.campaigns.doorknock_households(cid, a[UME]) == [u2]
        outcome = await store.replies.undo_confirmation(cid, u1, reply_id, None, "head")
        assert outcome is not None and outcome.changed
        assert await store.campaigns.doorknock_households(cid, a[UME]) == [u1, u2]


async def test_a_read_after_the_visit_counts_when_it_is_undone(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        m1 = ids["M-1"]
        reply_id = await confirm(store, cid, m1, "staff:1")
        await store.replies.record(await item(store, cid, m1, "read", "k1"))  # the resident opened the page since
        assert (await store.campaigns.household_statuses(cid))[m1] == Status.CONFIRMED_IN_PERSON
        outcome = await store.replies.undo_confirmation(cid, m1, reply_id, None, "head")
        assert outcome == UndoOutcome(Status.READ, already=False, changed=True)
