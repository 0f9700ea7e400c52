"""DashboardReads and StatsReads: what the staff pages, the live stream and the reports read."""

from __future__ import annotations

import dataclasses

from safetynet.domain import CampaignKind, Role, Scope
from safetynet.domain.replies import ChannelCount, Location, ReplyDetails, ReplyItem
from safetynet.store import Store

from .support import (
    LADDER,
    MATSU,
    MSG,
    NORTH,
    SAKURA,
    SOUTH,
    UME,
    StoreFactory,
    _hh,
    association_ids,
    clock_of,
    running_campaign,
    seed,
)


async def _reply(store: Store, cid: int, hid: int, status: str, key: str, channel: str = "web",
                 note: str | None = None, people_injured: int | None = None, location: Location | None = None,
                 people_safe: int | None = None) -> None:
    t = await store.replies.target(cid, hid)
    assert t is not None
    await store.replies.record(ReplyItem(cid, hid, t.association_id, status, channel, key, store.clock.now(),
                                         ReplyDetails(people_safe, people_injured, location, note)))


async def test_associations_in_page_order_and_by_scope(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        a = await association_ids(store)
        assert [x.name for x in await store.dashboard.associations()] == [SAKURA, UME, MATSU]
        assert [x.name for x in await store.dashboard.associations_in_scope(Scope("city"))] == [SAKURA, UME, MATSU]
        assert [x.name for x in await store.dashboard.associations_in_scope(Scope("district", NORTH))] == [SAKURA, UME]
        assert [x.name for x in await store.dashboard.associations_in_scope(Scope("association", MATSU))] == [MATSU]
        assert await store.dashboard.associations_in_scope(Scope("district", "無い地区")) == []
        got = await store.dashboard.association(a[MATSU])
        assert got is not None and (got.name, got.district) == (MATSU, SOUTH)
        assert await store.dashboard.association(10_000) is None
        assert (await store.dashboard.association_by_name(UME)).id == a[UME]  # type: ignore[union-attr]
        assert await store.dashboard.association_by_name("無い町会") is None
        assert [x.id for x in await store.stats.associations()] == sorted(a.values())


async def test_coverage_lists_households_without_a_working_contact(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        c = await store.dashboard.coverage(a[SAKURA])
        assert (c.households, c.with_channel) == (4, 3)
        [s4] = c.without
        assert (s4.id, s4.group, s4.household_key, s4.name, s4.status, s4.has_channel) == (
            ids["S-4"], "2班", "S-4", "鈴木 一郎", "", False)
        u = await store.dashboard.coverage(a[UME])
        assert (u.households, u.with_channel, u.without) == (2, 2, ())


async def test_campaigns_covering_associations_newest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        a = await association_ids(store)
        city = await running_campaign(store)
        await clock.advance(60)
        ume = await running_campaign(store, ["association:梅町"])
        await store.campaigns.close(ume, clock.now())
        await clock.advance(60)
        await store.campaigns.create(kind=CampaignKind.DRILL, title="draft", scope=["city"], messages={}, ladder=LADDER)
        info = await store.dashboard.campaign(city)
        assert info is not None and (info.kind, info.title, info.state, info.scope, info.households) == (
            "drill", "訓練", "running", ("city",), 7)
        assert await store.dashboard.campaign(10_000) is None
        assert [c.id for c in await store.dashboard.campaigns_for(None)] == [ume, city]  # no drafts
        assert [c.id for c in await store.dashboard.campaigns_for([a[UME]], limit=1)] == [ume]
        assert [c.id for c in await store.dashboard.campaigns_for([a[MATSU]])] == [city]
        assert await store.dashboard.campaigns_for([]) == []
        assert await store.dashboard.campaign_association_ids(ume) == {a[UME]}
        assert await store.dashboard.covered_among(city, [a[UME], a[MATSU], 10_000]) == {a[UME], a[MATSU]}
        assert await store.dashboard.covered_among(city, []) == set()
        latest = await store.dashboard.latest_campaign_for([a[UME]])
        assert latest is not None and latest.id == city  # a running one before a newer closed one
        await store.campaigns.close(city, clock.now())
        assert (await store.dashboard.latest_campaign_for(None)).id == ume  # type: ignore[union-attr]  # started last
        assert await store.dashboard.latest_campaign_for([]) is None


async def test_a_dashboard_opens_on_the_running_real_event_before_a_drill_started_since(
        store_factory: StoreFactory) -> None:
    """QA: a drill (or a contact check) started during an earthquake's event opened every head's dashboard
    on the drill, paused at 0 %, while /city showed the event: the running real event comes first."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        a = await association_ids(store)
        event = await running_campaign(store, ["association:梅町"], kind=CampaignKind.REAL)
        await clock.advance(60)
        drill = await running_campaign(store)
        await clock.advance(60)
        await running_campaign(store, ["association:梅町"], kind=CampaignKind.CHECK)
        for ids in ([a[UME]], None):
            assert (await store.dashboard.latest_campaign_for(ids)).id == event  # type: ignore[union-attr]
        assert (await store.dashboard.latest_campaign_for([a[MATSU]])).id == drill  # type: ignore[union-attr]
        await store.campaigns.close(event, clock.now())
        assert (await store.dashboard.latest_campaign_for([a[UME]])).kind == "check"  # type: ignore[union-attr]


async def test_the_previous_campaign_has_the_same_scope_and_started_before(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        first = await running_campaign(store, ["association:梅町", "association:桜町"])
        await clock.advance(60)
        await running_campaign(store, ["city"])
        await clock.advance(60)
        cancelled = await running_campaign(store, ["association:桜町", "association:梅町"])
        await store.campaigns.cancel(cancelled, clock.now())
        await clock.advance(60)
        third = await running_campaign(store, ["association:桜町", "association:梅町"])
        info = await store.dashboard.campaign(third)
        assert info is not None
        prev = await store.dashboard.previous_campaign(info)
        assert prev is not None and prev.id == first  # cancelled ones and other scopes do not compare
        first_info = await store.dashboard.campaign(first)
        assert first_info is not None and await store.dashboard.previous_campaign(first_info) is None


async def test_a_drill_is_compared_with_the_drill_before_it_not_a_real_event_between(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        scope = ["association:梅町"]
        drill = await running_campaign(store, scope)
        await clock.advance(60)
        real = await running_campaign(store, scope, kind=CampaignKind.REAL)
        await clock.advance(60)
        second = await running_campaign(store, scope)
        await clock.advance(60)
        later_real = await running_campaign(store, scope, kind=CampaignKind.REAL)
        for this, before in ((second, drill), (later_real, real), (real, None), (drill, None)):
            info = await store.dashboard.campaign(this)
            assert info is not None
            prev = await store.dashboard.previous_campaign(info)
            assert (prev.id if prev else None) == before, (this, before)


async def test_the_previous_drill_is_found_behind_many_drills_of_other_scopes(store_factory: StoreFactory) -> None:
    """Review: the read took the 50 latest campaigns of the kind and looked for the scope among them: in a
    city whose associations each drill monthly, last month's drill of 梅町 was 60 campaigns back and the
    report compared with nothing."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        last_month = await running_campaign(store, ["association:梅町"])
        for _ in range(60):
            await clock.advance(60)
            await running_campaign(store, ["association:桜町"])
        await clock.advance(60)
        info = await store.dashboard.campaign(await running_campaign(store, ["association:梅町"]))
        assert info is not None
        prev = await store.dashboard.previous_campaign(info)
        assert prev is not None and prev.id == last_month


async def test_households_without_a_group_come_first_on_every_store(store_factory: StoreFactory) -> None:
    """Review: SQLite sorts a missing 班 first, PostgreSQL last: the coverage list and the campaign's
    households came in another order on each."""
    roster = [_hh(NORTH, SAKURA, "1班", "S-1", "山田 太郎", "桜町1-1", 1, False, "ja"),
              _hh(NORTH, SAKURA, "", "S-2", "佐藤 花子", "桜町9-9", 1, False, "ja"),
              _hh(NORTH, SAKURA, "2班", "S-3", "鈴木 一郎", "桜町0-1", 1, False, "ja")]
    async with store_factory() as store:
        await seed(store, roster)
        a = await association_ids(store)
        assert [h.household_key for h in (await store.dashboard.coverage(a[SAKURA])).without] == ["S-2", "S-1", "S-3"]
        campaign = await running_campaign(store, [f"association:{SAKURA}"])
        assert [h.household_key for h in await store.dashboard.households(campaign, a[SAKURA])] == ["S-2", "S-1", "S-3"]


async def test_drafts_waiting_to_start_newest_first(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store)
        assert await store.dashboard.drafts() == []
        older = await store.campaigns.create(kind=CampaignKind.REAL, title="地震 提案", scope=["city"], messages=MSG, ladder=LADDER,
                                             source="trigger")
        await clock.advance(10)
        newer = await store.campaigns.create(kind=CampaignKind.DRILL, title="訓練", scope=["association:梅町"],
                                             messages=MSG, ladder=LADDER)
        started = await running_campaign(store)  # not a draft any more
        withdrawn = await store.campaigns.create(kind=CampaignKind.REAL, title="取り下げ", scope=["city"], messages=MSG, ladder=LADDER)
        assert await store.campaigns.cancel_draft(withdrawn.id, clock.now())
        drafts = await store.dashboard.drafts()
        assert [d.id for d in drafts] == [newer.id, older.id] and started not in [d.id for d in drafts]
        assert (drafts[1].kind, drafts[1].title, drafts[1].state, drafts[1].scope) == (
            "real", "地震 提案", "draft", ("city",))
        assert [d.id for d in await store.dashboard.drafts(limit=1)] == [newer.id]


async def test_households_of_campaigns_within_associations(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        a = await association_ids(store)
        city = await running_campaign(store)
        ume = await running_campaign(store, ["association:梅町"])
        draft = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages=MSG, ladder=LADDER)
        within = store.dashboard.households_within
        assert await within([city, ume, draft.id], [a[SAKURA], a[UME]]) == {city: 6, ume: 2}
        assert await within([city, ume], [a[MATSU]]) == {city: 1}
        assert await within([city], [a[SAKURA], a[UME], a[MATSU]]) == {city: 7}
        assert await within([], [a[SAKURA]]) == {} and await within([city], []) == {}


async def test_households_of_a_campaign_with_their_status(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["S-2"], "safe", "k1")
        lines = await store.dashboard.households(cid, a[SAKURA])
        assert [h.household_key for h in lines] == ["S-1", "S-2", "S-3", "S-4"]  # by group, address, key
        s2 = lines[1]
        assert (s2.status, s2.status_at, s2.landline, s2.has_channel, s2.members) == (
            "safe", store.clock.now(), "+81311110002", True, 1)
        assert (lines[3].status, lines[3].has_channel, lines[3].landline) == ("unreachable", False, "")
        assert await store.dashboard.households(cid, 10_000) == []


async def test_households_with_status_are_read_in_pages(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["U-2"], "read", "k1")
        every = await store.dashboard.households_with_status(cid, a.values(), ["pending", "unreachable", "read"])
        assert [h.household_key for h in every] == ["S-1", "S-2", "S-3", "S-4", "U-1", "U-2", "M-1"]
        pages, after = [], None
        while True:
            page = await store.dashboard.households_with_status(cid, a.values(), ["pending", "unreachable", "read"],
                                                                after=after, limit=3)
            if not page:
                break
            pages.append([h.household_key for h in page])
            after = page[-1]
        assert pages == [["S-1", "S-2", "S-3"], ["S-4", "U-1", "U-2"], ["M-1"]]
        never = await store.dashboard.households_with_status(cid, [a[UME]], ["pending", "read"], never_answered=True)
        assert [h.household_key for h in never] == ["U-1", "U-2"]
        await _reply(store, cid, ids["U-1"], "safe", "k2")
        await _reply(store, cid, ids["U-1"], "read", "k3")
        assert await store.dashboard.households_with_status(cid, [a[UME]], ["safe"], never_answered=True) == []
        assert await store.dashboard.households_with_status(cid, [], ["pending"]) == []
        assert await store.dashboard.households_with_status(cid, [a[UME]], []) == []
        # the numbers alone (a staff text's read): the same households, the same order
        for aids, sts in ((a.values(), ["pending", "unreachable", "read"]), ([a[UME]], ["read", "safe"]),
                          ([], ["pending"]), ([a[UME]], [])):
            lines = await store.dashboard.households_with_status(cid, aids, sts)
            assert await store.dashboard.household_numbers(cid, aids, sts) == [
                (h.id, h.household_key, h.association_id) for h in lines]


async def test_the_help_panel_and_its_counts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["S-2"], "need_help", "k1", note="水がない")
        await clock.advance(5)
        await _reply(store, cid, ids["U-1"], "need_help", "k2")
        await _reply(store, cid, ids["S-2"], "need_help", "k3", note="薬も")  # the panel shows the latest ask
        panel = await store.dashboard.help_panel(cid, a.values())
        assert [(h.household_id, h.note) for h in panel] == [(ids["S-2"], "薬も"), (ids["U-1"], "")]
        assert (panel[0].group, panel[0].address, panel[0].vulnerable, panel[0].people_injured) == (
            "1班", "桜町1-2", False, None)
        assert await store.dashboard.help_panel(cid, [a[MATSU]]) == []
        assert await store.dashboard.open_help_counts(cid) == {a[SAKURA]: 1, a[UME]: 1}
        assert await store.dashboard.open_help_counts(cid, [a[UME], a[MATSU]]) == {a[UME]: 1, a[MATSU]: 0}
        assert await store.dashboard.open_help_counts(cid, []) == {}
        assert await store.stats.open_help_requests(cid) == {a[SAKURA]: 1, a[UME]: 1}
        await store.replies.mark_handled(cid, ids["U-1"], None, "head")
        assert await store.dashboard.open_help_counts(cid) == {a[SAKURA]: 1}
        assert [h.household_id for h in await store.dashboard.help_panel(cid, a.values())] == [ids["S-2"]]
        # the association page reads its cards and its 対応済み list at once: the handled ones come too,
        # in the same order, each with when and by whom (the login: a person takes back their own mark)
        both = await store.dashboard.help_panel(cid, a.values(), include_handled=True)
        assert [(h.household_id, h.handled_by, h.handled_at is not None) for h in both] == [
            (ids["S-2"], None, False), (ids["U-1"], "head", True)]
        assert both[1].note == "" and both[1].opened_at == panel[1].opened_at
        assert both[1].handled_by_name == "head"  # marked by no staff member of the store: the login names them


async def test_open_help_of_every_campaign_not_purged(store_factory: StoreFactory) -> None:
    """A closed campaign's open requests stay on the associations' lists: the pages of a newer
    campaign must find them (QA: 18 open requests of a closed drill were on no default page)."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        old = await running_campaign(store)
        await _reply(store, old, ids["S-2"], "need_help", "k1")
        await _reply(store, old, ids["S-3"], "need_help", "k2")
        await _reply(store, old, ids["U-1"], "need_help", "k3")
        await _reply(store, old, ids["U-2"], "need_help", "k4")
        await store.replies.mark_handled(old, ids["U-2"], None, "head")
        assert await store.campaigns.close(old, clock.now())
        await clock.advance(60)
        new = await running_campaign(store)
        await _reply(store, new, ids["S-2"], "need_help", "k5")
        got = [(o.campaign.id, o.campaign.state, o.association_id, o.open)
               for o in await store.dashboard.open_help_everywhere()]
        assert got == [(new, "running", a[SAKURA], 1), (old, "closed", a[SAKURA], 2), (old, "closed", a[UME], 1)]
        got = [(o.campaign.id, o.association_id, o.open) for o in await store.dashboard.open_help_everywhere([a[UME]])]
        assert got == [(old, a[UME], 1)]
        assert await store.dashboard.open_help_everywhere([a[MATSU]]) == []
        assert await store.dashboard.open_help_everywhere([]) == []
        await store.replies.mark_handled(old, ids["U-1"], None, "head")
        assert await store.dashboard.open_help_everywhere([a[UME]]) == []
        # retention erased the old campaign's words: its requests are no one's list any more
        await clock.advance(86400)
        await store.campaigns.purge(old, clock.now())
        got = [(o.campaign.id, o.association_id, o.open) for o in await store.dashboard.open_help_everywhere()]
        assert got == [(new, a[SAKURA], 1)]


async def test_household_notes_whatever_the_answer(store_factory: StoreFactory) -> None:
    """Words a household wrote reach its head whatever it answered (QA: a note with 無事, an SMS kept
    as a note alone, were on no page): the latest of each household, never staff's."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        other = await running_campaign(store)
        await _reply(store, cid, ids["S-3"], "safe", "k1", note="無事です。隣のおばあさんが出てこない")
        await clock.advance(5)
        await _reply(store, cid, ids["S-2"], "note", "k2", channel="sms", note="いえがこわれた")
        await _reply(store, cid, ids["S-3"], "safe", "k3")  # a plain answer after it keeps the words
        await _reply(store, cid, ids["U-1"], "need_help", "k4", note="足が痛い")
        await clock.advance(5)
        await _reply(store, cid, ids["U-1"], "need_help", "k5", note="水もない")
        await _reply(store, cid, ids["S-1"], "safe", "k6", note="")
        await _reply(store, other, ids["S-4"], "safe", "k7", note="別の訓練")
        t = await store.replies.target(cid, ids["S-4"])
        assert t is not None
        await store.replies.record(ReplyItem(cid, ids["S-4"], t.association_id, "confirmed_in_person", "staff", "k8",
                                             clock.now(), ReplyDetails(note="訪問した")))
        got = await store.dashboard.household_notes(cid, a.values())
        assert [(n.line.household_key, n.line.status, n.note) for n in got] == [
            ("S-2", "pending", "いえがこわれた"), ("S-3", "safe", "無事です。隣のおばあさんが出てこない"),
            ("U-1", "need_help", "水もない")]
        assert got[1].noted_at == got[0].noted_at - 5 and got[1].line.name == "Smith John"
        assert [n.line.household_key for n in await store.dashboard.household_notes(cid, [a[UME], a[MATSU]])] == ["U-1"]
        assert await store.dashboard.household_notes(cid, []) == []
        assert [n.note for n in await store.dashboard.household_notes(other, a.values())] == ["別の訓練"]


async def test_the_help_panel_says_which_requests_went_on_as_unhandled(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["S-2"], "need_help", "k1")
        await clock.advance(1800)
        await _reply(store, cid, ids["U-1"], "need_help", "k2")
        assert await store.replies.claim_unhandled_help(clock.now() - 1800) == [(cid, ids["S-2"])]
        await clock.advance(1)
        panel = {h.household_id: h.escalated_at for h in await store.dashboard.help_panel(cid, a.values())}
        assert panel == {ids["S-2"]: None, ids["U-1"]: None}  # claimed, not told yet
        assert await store.dashboard.escalations_told(cid) == {}
        await store.replies.escalation_told(cid, ids["S-2"])
        told = clock.now()
        panel = {h.household_id: h.escalated_at for h in await store.dashboard.help_panel(cid, a.values())}
        assert panel == {ids["S-2"]: told, ids["U-1"]: None}
        # what the live stream says moved (no reply does): per association, its latest escalation told
        assert await store.dashboard.escalations_told(cid) == {a[SAKURA]: told}
        assert await store.dashboard.escalations_told(cid, [a[UME], a[SAKURA]]) == {a[SAKURA]: told}
        assert await store.dashboard.escalations_told(cid, [a[UME]]) == {}
        assert await store.dashboard.escalations_told(cid, []) == {}
        await store.replies.mark_handled(cid, ids["S-2"], None, "head")
        assert await store.dashboard.escalations_told(cid) == {a[SAKURA]: told}  # handled since: still told


async def test_a_plain_second_help_keeps_the_details_on_the_card_as_in_the_help_list(
        store_factory: StoreFactory) -> None:
    """Details, then "help" again without any (an anxious second tap, an SMS "2"): the card keeps the
    latest of each detail given, as the help list (its API) and the staff alert do."""
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        hid = ids["S-2"]
        await _reply(store, cid, hid, "need_help", "k1", note="2階にいます", people_injured=1, location="home")
        await _reply(store, cid, hid, "need_help", "k2", people_safe=2)
        await _reply(store, cid, hid, "need_help", "k3")
        # a staff confirmation's note is staff's words, never shown as the household's
        await _reply(store, cid, hid, "confirmed_in_person", "k4", channel="staff", note="電話で確認した")
        await _reply(store, cid, hid, "need_help", "k5")
        (card,) = await store.dashboard.help_panel(cid, a.values())
        assert (card.note, card.people_injured, card.location, card.people_safe) == ("2階にいます", 1, "home", 2)
        (row,) = await store.replies.help_list(cid)
        assert (row.note, row.people_injured, row.location, row.people_safe) == ("2階にいます", 1, "home", 2)


async def test_a_help_card_keeps_the_words_before_the_latest(store_factory: StoreFactory) -> None:
    """QA (privacy walk): 「2 足を骨折…」, then 「配信停止」 and 「もう送らないで…」 left the card and the help
    list with the last words only, the injury gone from them. The two notes before the latest stay,
    oldest first; staff's words are never among them."""
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        hid = ids["S-2"]
        await _reply(store, cid, hid, "need_help", "k1", note="足を骨折")
        await _reply(store, cid, hid, "confirmed_in_person", "k2", channel="staff", note="電話で確認した")
        (card,) = await store.dashboard.help_panel(cid, a.values())
        assert (card.note, card.earlier_notes) == ("足を骨折", ())
        await _reply(store, cid, hid, "note", "k3", channel="sms", note="配信停止")
        await _reply(store, cid, hid, "need_help", "k4")  # an anxious second tap says nothing of its own
        await _reply(store, cid, hid, "note", "k5", channel="sms", note="もう送らないで")
        (card,) = await store.dashboard.help_panel(cid, a.values())
        assert (card.note, card.earlier_notes) == ("もう送らないで", ("足を骨折", "配信停止"))
        await _reply(store, cid, hid, "note", "k6", channel="sms", note="妻に連絡して")
        (row,) = await store.replies.help_list(cid)
        assert (row.note, row.earlier_notes) == ("妻に連絡して", ("配信停止", "もう送らないで"))


async def test_a_help_card_carries_the_households_answer_since_and_its_phones(store_factory: StoreFactory) -> None:
    """An open request stays on the panel after a later 無事; the card says so (status, when) and
    gives the working phones to call back, landline and mobile as the roster has them."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["S-2"], "need_help", "k1")
        await _reply(store, cid, ids["U-1"], "need_help", "k2")
        (s2, u1) = await store.dashboard.help_panel(cid, a.values())
        assert (s2.status, s2.landline, s2.mobile) == ("need_help", "+81311110002", "+819011110002")
        assert (u1.landline, u1.mobile) == ("+81322220001", "")  # a landline only
        assert not s2.answered_since
        await clock.advance(60)
        await _reply(store, cid, ids["S-2"], "safe", "k3")
        (s2, _) = await store.dashboard.help_panel(cid, a.values())  # still open: nobody marked it handled
        assert (s2.status, s2.status_at, s2.answered_since) == ("safe", clock.now(), True)
        assert await store.dashboard.open_help_counts(cid) == {a[SAKURA]: 1, a[UME]: 1}


async def test_the_phones_of_households_as_the_help_cards_give_them(store_factory: StoreFactory) -> None:
    """The report's help list calls back from `household_phones`: each household's first working
    landline and mobile ('' without one); a phone marked dead is no longer given; an unknown id is left out."""
    async with store_factory() as store:
        ids = await seed(store)
        assert await store.stats.household_phones([ids["S-2"], ids["U-1"], 999_999]) == {
            ids["S-2"]: ("+81311110002", "+819011110002"), ids["U-1"]: ("+81322220001", "")}
        hh = await store.roster.get_household(ids["S-2"])
        assert hh is not None
        (mobile,) = [c for c in hh.contacts if c.kind == "mobile"]
        assert await store.roster.mark_contact_dead(mobile.id, "test")
        assert await store.stats.household_phones([ids["S-2"]]) == {ids["S-2"]: ("+81311110002", "")}
        assert await store.stats.household_phones([]) == {}


async def test_live_counters_and_the_answer_curve(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await clock.advance(90)
        await _reply(store, cid, ids["S-1"], "safe", "k1")
        await _reply(store, cid, ids["S-1"], "need_help", "k2")  # a change of answer: not a second first answer
        await clock.advance(60)
        await _reply(store, cid, ids["U-2"], "safe", "k3")
        await _reply(store, cid, ids["M-1"], "read", "k4")
        counts = await store.dashboard.counts(cid)
        assert counts[a[SAKURA]] == {"pending": 2, "notified": 0, "read": 0, "safe": 0, "need_help": 1,
                                     "confirmed_in_person": 0, "unreachable": 1}
        assert counts[a[UME]]["safe"] == 1 and counts[a[MATSU]]["read"] == 1
        assert set(await store.dashboard.counts(cid, [a[MATSU]])) == {a[MATSU]}
        assert await store.dashboard.counts(cid, []) == {}
        rows = {(r.association_id, r.status): r.n for r in await store.stats.counts(cid)}
        assert rows == {(a[SAKURA], "pending"): 2, (a[SAKURA], "need_help"): 1, (a[SAKURA], "unreachable"): 1,
                        (a[UME], "pending"): 1, (a[UME], "safe"): 1, (a[MATSU], "read"): 1}
        minutes = [(r.association_id, r.minute, r.n) for r in await store.stats.minutes(cid)]
        assert minutes == [(a[SAKURA], 1, 1), (a[UME], 2, 1)]


async def test_changes_since_a_cursor_show_current_statuses(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        other = await running_campaign(store)
        start = await store.dashboard.reply_cursor()
        await _reply(store, cid, ids["S-1"], "read", "k1")
        await _reply(store, cid, ids["U-1"], "safe", "k2")
        await _reply(store, other, ids["U-2"], "safe", "k3")
        await _reply(store, cid, ids["S-1"], "need_help", "k4")
        end = await store.dashboard.reply_cursor()
        assert end > start
        changes = await store.dashboard.changes_since(cid, start, end, limit=10)
        assert [(c.household_id, c.association_id, c.status) for c in changes] == [
            (ids["U-1"], a[UME], "safe"), (ids["S-1"], a[SAKURA], "need_help")]  # by their latest reply
        assert changes[-1].reply_id == end
        assert len(await store.dashboard.changes_since(cid, start, end, limit=1)) == 2  # limit + 1: "too many"
        only = await store.dashboard.changes_since(cid, start, end, limit=10, association_ids=[a[UME]])
        assert [c.household_id for c in only] == [ids["U-1"]]
        assert await store.dashboard.changes_since(cid, start, end, 10, association_ids=[]) == []
        assert await store.dashboard.changes_since(cid, end, end, limit=10) == []


async def test_changes_since_a_cursor_say_which_carried_a_note(store_factory: StoreFactory) -> None:
    """What the live stream says of each change: whether the household's notes (household_notes) moved."""
    async with store_factory() as store:
        ids = await seed(store)
        cid = await running_campaign(store)
        start = await store.dashboard.reply_cursor()
        await _reply(store, cid, ids["S-1"], "safe", "k1", note="隣のおばあさんが出てこない")
        await _reply(store, cid, ids["S-1"], "safe", "k2")  # a plain answer after it in the same range
        await _reply(store, cid, ids["S-2"], "note", "k3", channel="sms", note="いえがこわれた")
        await _reply(store, cid, ids["U-1"], "safe", "k4", note="")
        await _reply(store, cid, ids["U-2"], "confirmed_in_person", "k5", channel="staff", note="訪問した")
        end = await store.dashboard.reply_cursor()
        noted = {c.household_id: c.noted for c in await store.dashboard.changes_since(cid, start, end, limit=10)}
        assert noted == {ids["S-1"]: True, ids["S-2"]: True, ids["U-1"]: False, ids["U-2"]: False}
        later = await store.dashboard.changes_since(cid, end - 1, end, limit=10)  # the staff's confirmation alone
        assert [(c.household_id, c.noted) for c in later] == [(ids["U-2"], False)]


async def test_first_answers_by_channel(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["S-1"], "read", "k0", channel="webpush")
        await _reply(store, cid, ids["S-1"], "safe", "k1", channel="sms")
        await _reply(store, cid, ids["S-1"], "need_help", "k2", channel="web")
        await _reply(store, cid, ids["S-2"], "safe", "k3", channel="sms")
        await _reply(store, cid, ids["U-1"], "confirmed_in_person", "k4", channel="staff")
        got = sorted(await store.dashboard.first_answers_by_channel(cid), key=lambda c: (c.association_id, c.channel))
        assert got == sorted([ChannelCount(a[SAKURA], "sms", 2), ChannelCount(a[UME], "staff", 1)],
                             key=lambda c: (c.association_id, c.channel))


async def test_an_undone_confirmation_is_no_first_answer(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        await _reply(store, cid, ids["U-1"], "confirmed_in_person", "staff-1", channel="staff")
        await _reply(store, cid, ids["U-2"], "confirmed_in_person", "staff-2", channel="staff")
        reply_id = await store.replies.reply_id("staff-1")
        assert reply_id is not None
        await store.replies.undo_confirmation(cid, ids["U-1"], reply_id, None, "head")
        assert await store.dashboard.first_answers_by_channel(cid) == [ChannelCount(a[UME], "staff", 1)]
        await _reply(store, cid, ids["U-1"], "safe", "k1", channel="sms")  # the resident's own answer, later
        got = await store.dashboard.first_answers_by_channel(cid)
        assert sorted(got, key=lambda c: c.channel) == [ChannelCount(a[UME], "sms", 1), ChannelCount(a[UME], "staff", 1)]



async def test_in_person_marks_say_who_when_how_and_whether_it_may_be_undone(store_factory: StoreFactory) -> None:
    """The dashboard row of a household confirmed in person names the confirmation that stands on it
    (QA, heads' walk: no page said who visited, and the undo was lost on a reload)."""
    async with store_factory() as store:
        clock = clock_of(store)
        ids = await seed(store)
        a = await association_ids(store)
        cid = await running_campaign(store)
        staff_id = (await store.auth.add_staff("takeda", "武田", Role.DEPUTY, f"association:{UME}", None)).id

        async def confirm(hh: str, key: str, method: str, note: str | None = None, sid: int | None = staff_id,
                          actor: str | None = "takeda") -> int:
            t = await store.replies.target(cid, ids[hh])
            assert t is not None
            item = dataclasses.replace(
                ReplyItem(cid, ids[hh], t.association_id, "confirmed_in_person", "staff", key, clock.now(),
                          ReplyDetails(note=note)), method=method, staff_id=sid, actor=actor)
            await store.replies.record(item)
            rid = await store.replies.reply_id(key)
            assert rid is not None
            return rid

        first = await confirm("U-1", "s1", "visit", "玄関先で会えた")
        at = clock.now()
        await clock.advance(60)
        wrong = await confirm("U-2", "s2", "paper")
        await store.replies.undo_confirmation(cid, ids["U-2"], wrong, staff_id, "takeda")  # put back: no mark
        token = await confirm("U-2", "s3", "phone", sid=None, actor=None)  # an API token, acting for the city
        got = await store.dashboard.in_person_marks(cid, a[UME])
        assert [(m.household_id, m.reply_id, m.at, m.method, m.actor, m.by, m.note, m.undoable) for m in got] == [
            (ids["U-1"], first, at, "visit", "takeda", "武田", "玄関先で会えた", True),
            (ids["U-2"], token, at + 60, "phone", None, "", "", True)]
        assert await store.dashboard.in_person_marks(cid, a[SAKURA]) == []
        # the resident answers after it: the household is no longer confirmed in person, no mark stands
        await _reply(store, cid, ids["U-1"], "safe", "k1")
        assert [m.household_id for m in await store.dashboard.in_person_marks(cid, a[UME])] == [ids["U-2"]]
