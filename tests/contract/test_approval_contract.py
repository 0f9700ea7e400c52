"""The two-person rule as every store adapter guards it (DESIGN §9): a real event goes draft →
pending_approval → running, the second step only by a staff member other than the one who started
it (by staff id), and nothing that finished ever starts again."""

from __future__ import annotations

import pytest

from safetynet.domain import CampaignKind, CampaignState
from safetynet.store import Store

from .support import LADDER, MSG, SAKURA, StoreFactory, association_ids, running_campaign, seed, token_of

FIRST, SECOND = 11, 12


async def _real(store: Store, title: str = "地震") -> int:
    c = await store.campaigns.create(kind=CampaignKind.REAL, title=title, scope=["city"], messages=MSG, ladder=LADDER)
    return c.id


async def _plan(store: Store, cid: int) -> None:
    await store.campaigns.enrol_scope(cid, ["city"], token_of)


async def test_a_real_event_never_runs_without_approval(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await _real(store)
        await _plan(store, cid)
        now = store.clock.now()
        assert not await store.campaigns.begin_running(cid, now, started_by="admin", started_by_staff=FIRST)
        assert await store.campaigns.request_approval(cid, now, "admin", FIRST)
        assert not await store.campaigns.begin_running(cid, now, started_by="admin", started_by_staff=FIRST)
        c = await store.campaigns.get(cid)
        assert c is not None and c.state == CampaignState.PENDING_APPROVAL and c.started_at is None
        assert (c.started_by, c.started_by_staff, c.requested_at) == ("admin", FIRST, now)
        assert await store.campaigns.running() == []
        assert await store.dashboard.real_event_scopes() == frozenset()  # waiting discloses nothing
        assert await store.dashboard.counts(cid) == {}  # nothing counted, nothing to show yet


async def test_request_approval_is_for_a_real_draft_only(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        drill = await store.campaigns.create(kind=CampaignKind.DRILL, title="訓練", scope=["city"], messages=MSG, ladder=LADDER)
        now = store.clock.now()
        assert not await store.campaigns.request_approval(drill.id, now, "admin", FIRST)
        cid = await _real(store)
        assert await store.campaigns.request_approval(cid, now, "admin", FIRST)
        assert not await store.campaigns.request_approval(cid, now + 1, "other", SECOND)  # not twice
        c = await store.campaigns.get(cid)
        assert c is not None and (c.started_by, c.requested_at) == ("admin", now)
        assert not await store.campaigns.request_approval(10_000, now, "admin", FIRST)


async def test_the_one_who_started_it_cannot_approve_it(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        a = await association_ids(store)
        cid = await _real(store)
        t0 = store.clock.now()
        assert await store.campaigns.request_approval(cid, t0, "admin", FIRST)
        await _plan(store, cid)
        # the same staff member under another name is still the same person
        assert not await store.campaigns.approve(cid, t0 + 5, "admin-renamed", FIRST)
        c = await store.campaigns.get(cid)
        assert c is not None and c.state == CampaignState.PENDING_APPROVAL and c.approved_by == ""
        assert await store.campaigns.approve(cid, t0 + 30, "second", SECOND)
        c = await store.campaigns.get(cid)
        assert c is not None and c.state == CampaignState.RUNNING
        assert (c.started_at, c.households, c.requested_at) == (t0 + 30, 7, t0)
        assert (c.started_by, c.started_by_staff, c.approved_by, c.approved_by_staff, c.approved_at) == (
            "admin", FIRST, "second", SECOND, t0 + 30)
        assert (await store.campaigns.ladder_progress(cid)).next_step == 1
        assert {aid: per["pending"] for aid, per in (await store.dashboard.counts(cid)).items()}[a[SAKURA]] == 4
        assert [r.id for r in await store.campaigns.running()] == [cid]
        assert not await store.campaigns.approve(cid, t0 + 40, "third", 13)  # approved once
        assert (await store.campaigns.get(cid)).approved_by == "second"  # type: ignore[union-attr]


async def test_a_trigger_or_a_token_is_the_first_and_any_staff_the_second(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        for first in ("trigger", "token:3"):
            cid = await _real(store, title=first)
            assert await store.campaigns.request_approval(cid, store.clock.now(), first)
            assert await store.campaigns.approve(cid, store.clock.now(), "admin", FIRST)
            c = await store.campaigns.get(cid)
            assert c is not None and (c.state, c.started_by, c.started_by_staff, c.approved_by_staff) == (
                CampaignState.RUNNING, first, None, FIRST)


@pytest.mark.parametrize("finish", ["cancel", "cancel_draft"])
async def test_either_may_cancel_a_waiting_event_and_it_never_starts_again(
    store_factory: StoreFactory, finish: str
) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await _real(store)
        now = store.clock.now()
        assert await store.campaigns.request_approval(cid, now, "admin", FIRST)
        assert not await store.campaigns.close(cid, now)  # only a running campaign closes
        assert await getattr(store.campaigns, finish)(cid, now + 1)
        c = await store.campaigns.get(cid)
        assert c is not None and (c.state, c.closed_at) == (CampaignState.CANCELLED, now + 1)
        assert not await store.campaigns.approve(cid, now + 2, "second", SECOND)
        assert not await store.campaigns.request_approval(cid, now + 2, "admin", FIRST)
        assert not await store.campaigns.begin_running(cid, now + 2)
        assert (await store.campaigns.get(cid)).state == CampaignState.CANCELLED  # type: ignore[union-attr]


async def test_a_closed_real_event_never_reopens(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        cid = await running_campaign(store, kind=CampaignKind.REAL)
        now = store.clock.now()
        assert await store.campaigns.close(cid, now)
        for step in (store.campaigns.approve(cid, now, "x", 99), store.campaigns.request_approval(cid, now, "x", 99),
                     store.campaigns.begin_running(cid, now), store.campaigns.cancel(cid, now)):
            assert not await step
        assert (await store.campaigns.get(cid)).state == CampaignState.CLOSED  # type: ignore[union-attr]


async def test_waiting_events_are_listed_for_the_console_and_keep_their_texts_editable(
    store_factory: StoreFactory,
) -> None:
    async with store_factory() as store:
        await seed(store)
        older, newer = await _real(store, "古い"), await _real(store, "新しい")
        draft = await _real(store, "提案")
        t0 = store.clock.now()
        assert await store.campaigns.request_approval(older, t0, "admin", FIRST)
        assert await store.campaigns.request_approval(newer, t0 + 10, "trigger")
        waiting = await store.dashboard.awaiting_approval()
        assert [(c.id, c.state, c.started_by, c.requested_at) for c in waiting] == [
            (newer, "pending_approval", "trigger", t0 + 10), (older, "pending_approval", "admin", t0)]
        assert [c.id for c in await store.dashboard.drafts()] == [draft]
        assert await store.campaigns.update_text(newer, title="地震 震度6弱")
        info = await store.dashboard.campaign(newer)
        assert info is not None and (info.title, info.started_by, info.requested_at) == ("地震 震度6弱", "trigger", t0 + 10)
        assert await store.campaigns.approve(older, t0 + 20, "second", SECOND)
        info = await store.dashboard.campaign(older)
        assert info is not None and (info.approved_by, info.approved_at) == ("second", t0 + 20)
        assert [c.id for c in await store.dashboard.awaiting_approval()] == [newer]
