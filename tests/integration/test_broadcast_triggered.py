"""Campaigns asked for by triggers (the broadcast side of triggers.port.CampaignPort), on the in-memory store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from broadcast_helpers import H, in_memory, make_cfg, seed

from safetynet.broadcast.service import CampaignService
from safetynet.channels import registry
from safetynet.clock import FakeClock
from safetynet.domain import Role
from safetynet.domain.campaigns import Actor
from safetynet.store import Store, StoreUnavailable
from safetynet.triggers.port import CampaignPort, CampaignRequest

REPO = Path(__file__).resolve().parents[2]


def request(start: bool = False, key: str = "trigger:jma:1", scenario: str = "drills/citywide-earthquake.toml",
            kind: str = "real") -> CampaignRequest:
    return CampaignRequest(dedupe_key=key, kind=kind, start=start, title="地震 震度6弱 静岡県中部", hazard="earthquake",
                           scenario=scenario, source="jma", reason="震度6弱 ≥ 5-", event_id="20090811050000",
                           messages={"ja": "静岡県中部で震度6弱"})


async def test_a_proposal_is_a_draft_created_once_and_can_be_withdrawn(tmp_path: Path) -> None:
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        port: CampaignPort = CampaignService(store, cfg, clock)
        first = await port.create_campaign(request())
        assert await port.create_campaign(request()) == first  # idempotent by the key
        c = await store.campaigns.get(first)
        assert c is not None and (c.state, c.kind, c.title) == ("draft", "real", "地震 震度6弱 静岡県中部")
        assert len(c.ladder) == 4 and c.options["proposed"] is True
        await port.update_campaign(first, "地震 震度6強 静岡県中部", {}, "upgraded")
        assert (await store.campaigns.get(first)).title == "地震 震度6強 静岡県中部"  # type: ignore[union-attr]
        assert await port.cancel_proposed(first, "withdrawn") is True
        # again (a retry whose record failed): done already, not a person's cancel (the day's reread)
        assert await port.cancel_proposed(first, "again") is True
        assert await port.campaign_state(first) == "withdrawn"


async def test_a_scenario_naming_a_district_the_roster_no_longer_has_goes_to_the_whole_city(tmp_path: Path) -> None:
    """Review: a roster import renamed a district the triggers' scenario names; the 津波警報's campaign was
    refused, the telegram failed at every poll, and every later one (its 取消 too) waited behind it."""
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(tmp_path))
    (tmp_path / "gone.toml").write_text(
        'title = "津波"\nkind = "real"\nscope = ["district:合併前地区"]\n\n[messages]\nja = "高台へ"\n',
        encoding="utf-8")
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w"), H("b", "t")])
        svc = CampaignService(store, cfg, clock)
        cid = await svc.create_campaign(request(start=True, key="k-gone", scenario="gone.toml"))
        c = await svc.get(cid)
        assert c.scope == ("city",) and c.state == "pending_approval"
        c = await svc.approve(cid, by=await _approver(store))
        assert c.households == 2


async def test_a_withdrawal_whose_cancel_failed_leaves_no_mark_a_persons_cancel_would_carry(tmp_path: Path) -> None:
    """The last hour's review: the trigger marked its campaign withdrawn before cancelling it; when the
    cancel failed (or the campaign was approved meanwhile) the mark stayed, and a later cancel by a person
    read as the trigger's."""
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        svc = CampaignService(store, cfg, clock)
        cid = await svc.create_campaign(request(key="k-fail"))
        cancel = store.campaigns.cancel_draft

        async def down(*args: object, **kwargs: object) -> bool:
            raise StoreUnavailable("database is locked")

        store.campaigns.cancel_draft = down  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailable):
            await svc.cancel_proposed(cid, "withdrawn")
        store.campaigns.cancel_draft = cancel  # type: ignore[method-assign]
        assert "withdrawn" not in (await svc.get(cid)).options["trigger"]
        assert await svc.campaign_state(cid) == "draft"


async def _approver(store: Store) -> Actor:
    staff = await store.auth.add_staff("bousai", "防災", Role.CITY_ADMIN, "city", None)
    return Actor(staff.login, staff.id)


async def test_a_trigger_that_starts_a_real_event_is_the_first_of_two_people(tmp_path: Path) -> None:
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        svc = CampaignService(store, cfg, clock)
        cid = await svc.create_campaign(request(start=True, key="k2", scenario="drills/missing.toml"))
        c = await svc.get(cid)
        assert (c.state, c.started_by, c.started_by_staff) == ("pending_approval", "trigger", None)
        assert "ja" in c.messages and await store.campaigns.delivery_counts(cid) == {}  # nothing sent yet
        c = await svc.approve(cid, by=await _approver(store))
        assert (c.state, c.households, c.approved_by) == ("running", 1, "bousai")
        assert await svc.cancel_proposed(cid, "withdrawn") is False  # it runs: a withdrawal leaves it
        assert (await svc.get(cid)).state == "running"


async def test_a_telegram_withdrawn_before_approval_cancels_the_waiting_event(tmp_path: Path) -> None:
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        svc = CampaignService(store, cfg, clock)
        cid = await svc.create_campaign(request(start=True, key="k4"))
        assert (await svc.get(cid)).state == "pending_approval"
        assert await svc.cancel_proposed(cid, "取消") is True
        assert (await svc.get(cid)).state == "cancelled"


async def test_a_real_event_created_but_not_started_before_a_crash_is_started_when_the_telegram_comes_again(
        tmp_path: Path) -> None:
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        svc = CampaignService(store, cfg, clock)
        # what a process killed between "create" and "start" leaves behind
        draft = await svc.create(kind="real", title="地震", scope=["city"], messages={"ja": "地震"},
                                 source="jma", created_by="trigger", options={"dedupe_key": "k3", "proposed": False})
        assert draft.state == "draft"
        cid = await svc.create_campaign(request(start=True, key="k3"))
        c = await svc.get(cid)
        assert cid == draft.id and (c.state, c.started_by) == ("pending_approval", "trigger")
        assert await svc.create_campaign(request(start=True, key="k3")) == cid  # and once only
        assert (await svc.get(cid)).state == "pending_approval"


async def test_a_draft_whose_association_left_the_roster_refuses_to_start(tmp_path: Path) -> None:
    from safetynet.broadcast.service import CampaignError
    from safetynet.domain import CampaignKind

    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO))
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "w")])
        svc = CampaignService(store, cfg, clock)
        # a draft over an association the roster no longer has (renamed by a later import)
        draft = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["association:消えた町会"],
                                             messages={"ja": "x"}, ladder=registry.default_ladder())
        with pytest.raises(CampaignError, match="消えた町会"):
            await svc.start(draft.id)
        assert (await svc.get(draft.id)).state == "draft"
