"""The campaign service on the in-memory store: lifecycle, the first wave's plan, preview, stats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from broadcast_helpers import H, in_memory, make_cfg, seed

from safetynet.broadcast.service import (
    CampaignError,
    CampaignNotFound,
    CampaignService,
    CampaignSpec,
    CampaignStateError,
)
from safetynet.clock import FakeClock
from safetynet.config import Secrets
from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.campaigns import LadderStep

MSG = {"ja": "安否確認です。"}
HOUSEHOLDS = [H("push", "w", vulnerable=True), H("sms", "m"), H("land", "l"), H("none", ""),
              H("east", "t", association="東町会", district="東地区")]


def spec(scope: tuple[str, ...] = ("city",), ladder: tuple[LadderStep, ...] | None = None) -> CampaignSpec:
    s = CampaignSpec("訓練", CampaignKind.DRILL, scope, dict(MSG))
    return s if ladder is None else dataclasses.replace(s, ladder=ladder)


async def test_start_plans_the_first_wave_then_runs(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    changes: list[int] = []
    async with in_memory(clock) as store:
        ids = await seed(store, HOUSEHOLDS)
        svc = CampaignService(store, cfg, clock, on_change=lambda: changes.append(1))
        draft = await svc.create(spec())
        assert draft.state == CampaignState.DRAFT and changes == []
        c = await svc.start(draft.id)
        assert (c.state, c.households, c.started_at) == (CampaignState.RUNNING, 5, clock.now()) and changes == [1]
        assert await store.campaigns.delivery_counts(c.id) == {
            (0, "webpush", "queued"): 1, (0, "sms", "queued"): 1, (0, "voice", "queued"): 1,
            (0, "telegram", "queued"): 1}
        assert (await store.campaigns.household_statuses(c.id))[ids["none"]] == Status.UNREACHABLE
        assert (await store.campaigns.ladder_progress(c.id)).next_step == 1
        doc = await svc.stats(c.id)
        assert doc["status"]["pending"] == 4 and doc["status"]["unreachable"] == 1 and doc["paused"] is False


async def test_a_door_knock_first_step_plans_no_sends(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    async with in_memory(clock) as store:
        await seed(store, HOUSEHOLDS)
        c = await CampaignService(store, cfg, clock).launch(spec(ladder=(LadderStep(0, door_knock=True),)))
        assert c.state == CampaignState.RUNNING and await store.campaigns.delivery_counts(c.id) == {}


async def test_lifecycle_errors_say_what_is_wrong(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    async with in_memory(clock) as store:
        await seed(store, HOUSEHOLDS)
        svc = CampaignService(store, cfg, clock)
        with pytest.raises(CampaignError, match="無い町会"):
            await svc.create(spec(("association:無い町会",)))
        with pytest.raises(CampaignError, match="missing"):
            await svc.create(title="x")
        with pytest.raises(CampaignNotFound):
            await svc.get(999)
        c = await svc.launch(spec())
        with pytest.raises(CampaignStateError, match="only a draft can start"):
            await svc.start(c.id)
        updated = await svc.update_text(c.id, title="新しい題", messages={"ja": "新しい文"})
        assert (updated.title, updated.messages) == ("新しい題", {"ja": "新しい文"})
        assert (await svc.cancel(c.id)).state == CampaignState.CANCELLED
        for action in (svc.close, svc.cancel):
            with pytest.raises(CampaignStateError):
                await action(c.id)
        with pytest.raises(CampaignStateError, match="can no longer change"):
            await svc.update_text(c.id, title="遅い")
        draft = await svc.create(spec())
        with pytest.raises(CampaignStateError, match="only a running campaign can close"):
            await svc.close(draft.id)


async def test_start_needs_the_secret_key_and_leaves_the_draft(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    cfg = dataclasses.replace(cfg, secrets=Secrets())
    async with in_memory(clock) as store:
        await seed(store, HOUSEHOLDS)
        svc = CampaignService(store, cfg, clock)
        draft = await svc.create(spec())
        with pytest.raises(CampaignError, match="secret key"):
            await svc.start(draft.id)
        assert (await svc.get(draft.id)).state == CampaignState.DRAFT
        assert await store.campaigns.household_statuses(draft.id) == {}


async def test_a_crashed_start_is_simply_started_again(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    async with in_memory(clock) as store:
        await seed(store, HOUSEHOLDS)
        svc = CampaignService(store, cfg, clock)
        draft = await svc.create(spec())
        await store.campaigns.enrol_scope(draft.id, draft.scope, lambda c, h: f"half-{h}")  # stopped half-way
        c = await svc.start(draft.id)
        assert c.households == 5 and sum((await store.campaigns.delivery_counts(c.id)).values()) == 4


async def test_preview_and_coverage_read_the_roster_only(tmp_path: Path) -> None:
    cfg, clock = make_cfg(tmp_path), FakeClock()
    async with in_memory(clock) as store:
        await seed(store, HOUSEHOLDS)
        svc = CampaignService(store, cfg, clock)
        p = await svc.preview(["city"])
        assert (p.households, p.no_contact, p.vulnerable) == (5, 1, 1)
        assert p.steps[0].households == {"webpush": 1, "telegram": 1, "sms": 1, "voice": 1}
        assert [a.name for a in await svc.coverage(["district:東地区"])] == ["東町会"]
        with pytest.raises(CampaignError, match="unknown district"):
            await svc.preview(["district:無い地区"])
        assert await store.campaigns.list_campaigns() == []
