"""The contact check (連絡先確認) in every store adapter: its contacts and their own tokens, a
confirmation by token (only while the check runs), bounces, and the tallies the dashboards show."""

from __future__ import annotations

from safetynet.broadcast.planner import plan_check
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import CheckRow

from .support import MATSU, SAKURA, SHARED_MOBILE, UME, StoreFactory, association_ids, seed, token_of


def th(contact_id: int, campaign_id: int = 1) -> str:
    return f"check-{campaign_id}-{contact_id}"


async def check_campaign(store, scope=("city",)) -> tuple[int, dict[int, CheckRow]]:  # type: ignore[no-untyped-def]
    """A running check as the campaign service starts one; contact id → its row."""
    c = await store.campaigns.create(kind=CampaignKind.CHECK, title="連絡先の確認", scope=scope,
                                     messages={"ja": "確認"}, ladder=())
    now = store.clock.now()
    await store.campaigns.enrol_scope(c.id, scope, token_of)
    rows: dict[int, CheckRow] = {}
    async for batch in store.campaigns.step_households(c.id):
        plan = plan_check(batch)
        mine = [CheckRow(d.contact_id, d.household_id, d.channel, th(d.contact_id, c.id)) for d in plan.deliveries]
        await store.campaigns.write_checks(c.id, mine)
        await store.campaigns.write_checks(c.id, mine)  # a start redone after a crash: nothing doubles
        await store.campaigns.write_step(c.id, plan, now)
        rows.update({r.contact_id: r for r in mine})
    assert await store.campaigns.begin_running(c.id, now)
    return c.id, rows


async def test_every_contact_gets_a_row_and_confirms_by_its_own_token(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        cid, rows = await check_campaign(store)
        s2 = [r for r in rows.values() if r.household_id == ids["S-2"]]
        assert [r.channel for r in s2] == ["sms"]  # its mobile; its landline cannot tap a link
        assert len(rows) == 5  # S-1 m, S-2 m, S-3 t, U-2 m, M-1 m (the shared phone: once per household)
        sms = next(r for r in s2 if r.channel == "sms")
        got = await store.replies.check_by_token(sms.token_hash)
        assert got is not None and (got.campaign_id, got.contact_id, got.household_id, got.channel) == (
            cid, sms.contact_id, ids["S-2"], "sms")
        assert got.campaign_state == "running" and got.confirmed_at is None and got.language == "ja"
        assert await store.replies.check_by_token("nope") is None
        assert await store.replies.confirm_check("nope", 1.0) is None

        first = await store.replies.confirm_check(sms.token_hash, store.clock.now())
        assert first is not None and first.confirmed_at is not None
        again = await store.replies.confirm_check(sms.token_hash, store.clock.now() + 60)
        assert again is not None and again.confirmed_at == first.confirmed_at  # the first tap is kept
        s1 = next(r for r in rows.values() if r.household_id == ids["S-1"])
        still = await store.replies.check_by_token(s1.token_hash)
        assert still is not None and still.confirmed_at is None  # another contact is not confirmed

        # a bounce (the dispatcher's mark_contact_dead) shows as dead
        u2 = next(r for r in rows.values() if r.household_id == ids["U-2"])
        assert await store.roster.mark_contact_dead(u2.contact_id, "invalid_number")
        counts = await store.dashboard.check_counts(cid)
        assert counts["sms"] == {"confirmed": 1, "unconfirmed": 2, "dead": 1}
        assert "voice" not in counts
        assert counts["telegram"] == {"confirmed": 0, "unconfirmed": 1, "dead": 0}

        # a check's household is no target of keyword answers by phone (a "1" is no safety answer)
        assert await store.replies.running_targets_by_contact(["mobile"], SHARED_MOBILE) == []

        assert await store.campaigns.close(cid, store.clock.now())
        closed = await store.replies.confirm_check(s1.token_hash, store.clock.now())
        assert closed is not None and closed.confirmed_at is None and closed.campaign_state == "closed"


async def test_tallies_per_kind_follow_the_latest_check(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        assoc = await association_ids(store)
        before = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA]])}
        assert before["mobile"].unchecked == 2 and before["mobile"].reachable_households == 2
        assert before["mobile"].confirmed == before["mobile"].unconfirmed == before["mobile"].dead == 0

        cid, rows = await check_campaign(store, (f"association:{SAKURA}",))
        mobiles = {r.household_id: r for r in rows.values() if r.channel == "sms"}
        assert await store.replies.confirm_check(mobiles[ids["S-1"]].token_hash, store.clock.now())
        running = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA]])}
        # while the check runs, S-2's silence is no answer yet: still reachable as never checked (QA: 「届く世帯 0」
        # a minute after a check went out)
        assert (running["mobile"].confirmed, running["mobile"].unconfirmed, running["mobile"].unchecked,
                running["mobile"].reachable_households) == (1, 0, 1, 2)
        assert await store.campaigns.close(cid, store.clock.now())
        after = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA]])}
        # closed: S-1 confirmed, S-2 asked and silent: only S-1 still counts as reachable by mobile
        assert (after["mobile"].confirmed, after["mobile"].unconfirmed, after["mobile"].reachable_households) == (1, 1, 1)
        assert after["landline"].unchecked == 1 and after["landline"].reachable_households == 1  # never asked
        # M-1 (another association, not in this check) stays unchecked, reachable
        whole = {x.kind: x for x in await store.dashboard.contact_checks(None)}
        assert whole["mobile"].unchecked == 2 and whole["mobile"].reachable_households == 3
        assert await store.dashboard.contact_checks([]) == []

        # a later check decides anew (latest wins) once it is closed; while it runs the earlier one stands
        second, rows2 = await check_campaign(store, (f"association:{SAKURA}",))
        again = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA]])}
        assert (again["mobile"].confirmed, again["mobile"].unconfirmed) == (1, 1)

        # a cancelled check's silence says nothing (QA: cancelled a minute after it went out, coverage
        # fell for good): the check before it decides again; a tap made before the cancel still counts
        s2_sms = next(r for r in rows2.values() if r.household_id == ids["S-2"] and r.channel == "sms")
        assert await store.replies.confirm_check(s2_sms.token_hash, store.clock.now())
        assert await store.campaigns.cancel(second, store.clock.now())
        cancelled = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA]])}
        # S-1: its confirmation in the first check; S-2: confirmed in the cancelled one
        assert (cancelled["mobile"].confirmed, cancelled["mobile"].unconfirmed) == (2, 0)
        assert cancelled["mobile"].reachable_households == 2


async def test_tallies_count_contacts_by_latest_state_and_households_once(store_factory: StoreFactory) -> None:
    """What the tallies' aggregate must get right: each contact counted once, by its latest check, a
    bounce (dead) over any confirmation, a household reachable once however many of its contacts
    are, kinds in the order of their first contact, only the associations asked for."""
    async with store_factory() as store:
        ids = await seed(store)
        assoc = await association_ids(store)
        s1_second = await store.roster.add_contact(ids["S-1"], "mobile", "+819011119999")
        s2_second = await store.roster.add_contact(ids["S-2"], "mobile", "+819011118888")
        cid, rows = await check_campaign(store, (f"association:{SAKURA}",))
        by_contact = {r.contact_id: r for r in rows.values()}
        s1 = [r for r in rows.values() if r.household_id == ids["S-1"]]
        assert len(s1) == 2  # both of S-1's mobiles are asked
        for r in s1:  # S-1: both mobiles confirmed; one household reachable, two contacts confirmed
            assert await store.replies.confirm_check(r.token_hash, store.clock.now())
        # S-2: its second mobile confirmed, then bounced: dead, not confirmed; its first asked and silent
        assert await store.replies.confirm_check(by_contact[s2_second.id].token_hash, store.clock.now())
        assert await store.roster.mark_contact_dead(s2_second.id, "invalid_number")
        assert s1_second.id in by_contact
        assert await store.campaigns.close(cid, store.clock.now())  # its silence counts once it is closed

        sakura = await store.dashboard.contact_checks([assoc[SAKURA]])
        assert [x.as_dict() for x in sakura] == [
            {"kind": "mobile", "confirmed": 2, "unconfirmed": 1, "dead": 1, "unchecked": 0, "reachable_households": 1},
            {"kind": "landline", "confirmed": 0, "unconfirmed": 0, "dead": 0, "unchecked": 1, "reachable_households": 1},
            {"kind": "telegram", "confirmed": 0, "unconfirmed": 1, "dead": 0, "unchecked": 0, "reachable_households": 0},
        ]
        # 梅町 first lists its landline (U-1's contact comes before U-2's mobile): its own order
        ume = await store.dashboard.contact_checks([assoc[UME]])
        assert [(x.kind, x.unchecked, x.reachable_households) for x in ume] == [("landline", 1, 1), ("mobile", 1, 1)]
        both = {x.kind: x for x in await store.dashboard.contact_checks([assoc[SAKURA], assoc[UME]])}
        assert (both["mobile"].confirmed, both["mobile"].unchecked, both["mobile"].reachable_households) == (2, 1, 2)
        assert (both["landline"].unchecked, both["landline"].reachable_households) == (2, 2)
        whole = await store.dashboard.contact_checks(None)
        assert [x.kind for x in whole] == ["mobile", "landline", "telegram"]
        assert {x.kind: x.reachable_households for x in whole} == {"mobile": 3, "landline": 2, "telegram": 0}
        assert await store.dashboard.contact_checks([999_999]) == []


async def test_the_report_reads_each_households_outcome_and_lists_the_unconfirmed_in_pages(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        assoc = await association_ids(store)
        cid, rows = await check_campaign(store)
        by_household = {r.household_id: r for r in rows.values()}
        assert await store.replies.confirm_check(by_household[ids["S-2"]].token_hash, store.clock.now())
        assert await store.roster.mark_contact_dead(by_household[ids["U-2"]].contact_id, "invalid_number")

        got = {(a, o): n for a, o, n in await store.dashboard.check_outcomes(cid)}
        # S-1, S-3 silent; S-4 and U-1 (a landline alone) had nothing to ask; U-2 bounced
        assert got == {(assoc[SAKURA], "confirmed"): 1, (assoc[SAKURA], "unconfirmed"): 2,
                       (assoc[SAKURA], "not_asked"): 1, (assoc[UME], "not_asked"): 1, (assoc[UME], "bounced"): 1,
                       (assoc[MATSU], "unconfirmed"): 1}

        aids = [assoc[SAKURA], assoc[UME]]
        whole = await store.dashboard.check_unconfirmed(cid, aids)
        keys = {v: k for k, v in ids.items()}
        assert [(keys[h.id], h.status) for h in whole] == [
            ("S-1", "unconfirmed"), ("S-3", "unconfirmed"), ("S-4", "not_asked"),
            ("U-1", "not_asked"), ("U-2", "bounced")] if assoc[SAKURA] < assoc[UME] else [
            ("U-1", "not_asked"), ("U-2", "bounced"), ("S-1", "unconfirmed"), ("S-3", "unconfirmed"),
            ("S-4", "not_asked")]
        pages, after = [], None
        while page := await store.dashboard.check_unconfirmed(cid, aids, after=after, limit=2):
            pages.append(page)
            after = page[-1]
        assert [len(p) for p in pages] == [2, 2, 1] and [h for p in pages for h in p] == whole

        # the channels' contacts of one association's households only
        assert await store.dashboard.check_counts(cid, [assoc[UME]]) == {"sms": {"confirmed": 0, "unconfirmed": 0,
                                                                                 "dead": 1}}
        assert await store.dashboard.check_counts(cid, []) == {}
        assert (await store.dashboard.check_counts(cid, aids))["sms"] == {"confirmed": 1, "unconfirmed": 1, "dead": 1}
