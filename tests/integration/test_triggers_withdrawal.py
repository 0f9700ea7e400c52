"""A JMA 取消 or CAP Cancel of the report a trigger's real event rested on reaches city hall, not only the log:
every city admin gets a staff alert over the sandbox providers, whether the event already runs (a person
must close it) or still waited for approval (the trigger cancelled it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import DATA
from replies_fixtures import Env, add_staff_over, running_app

from safetynet.broadcast.service import CampaignService
from safetynet.config import CapConfig, JmaConfig, TriggersConfig
from safetynet.domain import Role
from safetynet.domain.campaigns import Actor
from safetynet.store import StoreUnavailable
from safetynet.triggers.service import TriggerService

JMA = DATA / "jma"
CAP = Path(__file__).resolve().parents[1] / "data" / "cap"
# the samples are of 2008 and 2026: the fake clock is not turned back to them, their age is let pass instead
ANY_AGE = 1e12


def triggers_of(env: Env, svc: CampaignService) -> TriggerService:
    cfg = dataclasses.replace(env.cfg, triggers=TriggersConfig(
        jma=JmaConfig(areas=("213", "220"), cities=("0338100",), min_intensity="4", action="start"),
        cap=CapConfig(codes=("17201",), action="start")))
    return TriggerService(env.store, cfg, svc, env.clock, max_age_seconds=ANY_AGE)


async def told(env: Env, *addresses: str) -> dict[str, list[str]]:
    await env.dispatch()
    sent: dict[str, list[str]] = {a: [] for a in addresses}
    for r in env.staff_messages("telegram"):
        if "【安否確認の開始】" not in (r.text or ""):  # the start, told to admins standing in: its own test
            sent[r.address].append(r.text or "")
    return sent


async def test_a_jma_cancellation_of_an_approved_real_event_tells_every_city_admin_to_close_it(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city", telegram="7770011")
        bousai = await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city", telegram="7770012")
        svc = CampaignService(env.store, env.cfg, env.clock)
        triggers = triggers_of(env, svc)
        started = await triggers.ingest_jma((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
        assert started.decision == "start" and started.campaign is not None
        c = await svc.approve(started.campaign, by=Actor("bousai", bousai.id))
        assert c.state == "running"
        before = await told(env, "7770011", "7770012")
        assert "（開始: 気象庁の地震・津波情報（自動））" in before["7770011"][0]  # not 「開始: trigger」

        d = await triggers.ingest_jma((JMA / "32-35_06_06_100915_VXSE53.xml").read_bytes())
        assert (d.decision, d.campaign) == ("withdraw", c.id)
        assert (await svc.get(c.id)).state == "running"  # a person closes it, not the trigger
        sent = await told(env, "7770011", "7770012")
        for address in ("7770011", "7770012"):  # the approver too: either may be the one awake
            new = sent[address][len(before[address]):]
            assert len(new) == 1, new
            assert new[0].startswith(f"【気象庁が取消】「{c.title[:10]}")
            assert "何も起きていなければ /city で終了してください。" in new[0]
            assert new[0].endswith(f"/city?campaign={c.id}")


async def test_a_cap_cancellation_of_a_real_event_waiting_for_approval_cancels_it_and_says_so(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city", telegram="7770011")
        svc = CampaignService(env.store, env.cfg, env.clock)
        triggers = triggers_of(env, svc)
        started = await triggers.ingest_cap((CAP / "01-actual-alert.xml").read_bytes())
        assert started.decision == "start" and started.campaign is not None
        before = await told(env, "7770011")
        assert len(before["7770011"]) == 1 and before["7770011"][0].startswith("【承認待ち】")
        assert "（開始: CAP 警報（自動））" in before["7770011"][0]  # not 「開始: trigger」

        # the cancel refers to the update, which is known as the same alert
        assert (await triggers.ingest_cap((CAP / "02-actual-update.xml").read_bytes())).decision == "update"
        d = await triggers.ingest_cap((CAP / "03-actual-cancel.xml").read_bytes())
        assert (d.decision, d.campaign) == ("withdraw", started.campaign)
        assert "still waited: cancelled, nothing was sent" in d.reason
        c = await svc.get(started.campaign)
        assert c.state == "cancelled"
        # the audit log says who cancelled the real event, as it does for a person's cancel
        cancels = [e for e in await env.store.audit.entries() if (e.action, e.what) == ("campaign", "cancel")]
        assert [(e.actor, e.campaign_id, e.detail) for e in cancels] == [("trigger", c.id, "real")]
        new = (await told(env, "7770011"))["7770011"][1:]
        assert len(new) == 1, new
        assert new[0].startswith(f"【発信元が取消】承認待ちの実災害「{c.title[:10]}")
        assert "中止しました。何も送信されていません。" in new[0] and new[0].endswith(f"/city?campaign={c.id}")


async def test_a_real_event_a_city_admin_cancelled_is_not_withdrawn_again_nor_updated_a_raised_report_asks_anew(
        tmp_path: Path) -> None:
    """Review: the campaign side's state was never read. After a city admin cancelled the approval request, the
    取消 said it was cancelled by the trigger and the admins were told (untrue), and a report raising the event for
    the city was "updated" into the cancelled campaign: nothing went out and nobody was asked."""
    async with running_app(tmp_path) as env:
        bousai = await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city", telegram="7770012")
        svc = CampaignService(env.store, env.cfg, env.clock)
        triggers = triggers_of(env, svc)
        first = await triggers.ingest_jma((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
        assert first.decision == "start" and first.campaign is not None
        await svc.cancel(first.campaign, by=Actor("bousai", bousai.id))  # a false alarm, he judges
        before = (await told(env, "7770012"))["7770012"]

        same = await triggers.ingest_jma((JMA / "32-35_06_04_100915_VXSE53.xml").read_bytes())
        assert (same.decision, same.campaign) == ("ignore", first.campaign)
        assert f"campaign #{first.campaign} was cancelled by city hall: no campaign" in same.reason
        raised = await triggers.ingest_jma((JMA / "32-35_06_05_100915_VXSE53.xml").read_bytes())
        assert raised.decision == "start" and raised.campaign not in (None, first.campaign)
        assert f"Same event as campaign #{first.campaign}, which city hall cancelled" in raised.reason
        assert raised.campaign is not None
        again = await svc.get(raised.campaign)
        assert again.state == "pending_approval"  # the two-person rule, as for any real event
        assert (await svc.get(first.campaign)).state == "cancelled"
        asked = (await told(env, "7770012"))["7770012"][len(before):]
        assert len(asked) == 1 and asked[0].startswith("【承認待ち】"), asked

        # the 取消 of the report the new campaign rests on withdraws that one, and says so
        d = await triggers.ingest_jma((JMA / "32-35_06_06_100915_VXSE53.xml").read_bytes())
        assert (d.decision, d.campaign) == ("withdraw", raised.campaign)
        assert (await svc.get(raised.campaign)).state == "cancelled"


async def test_a_cancellation_of_a_real_event_a_city_admin_already_cancelled_tells_no_one(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        bousai = await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city", telegram="7770012")
        svc = CampaignService(env.store, env.cfg, env.clock)
        triggers = triggers_of(env, svc)
        first = await triggers.ingest_jma((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
        assert first.campaign is not None
        await svc.cancel(first.campaign, by=Actor("bousai", bousai.id))
        before = (await told(env, "7770012"))["7770012"]
        d = await triggers.ingest_jma((JMA / "32-35_06_06_100915_VXSE53.xml").read_bytes())
        assert (d.decision, d.campaign) == ("ignore", first.campaign)
        assert d.reason.endswith(f"campaign #{first.campaign} had already been cancelled by city hall: nothing to withdraw.")
        assert "staff alert" not in d.reason and "still waiting, it is cancelled" not in d.reason
        assert (await told(env, "7770012"))["7770012"] == before
        cancels = [e for e in await env.store.audit.entries() if (e.action, e.what) == ("campaign", "cancel")]
        assert [e.actor for e in cancels] == ["bousai"]  # the person's cancel only, none by the trigger


async def test_a_withdrawal_whose_record_failed_is_a_withdrawal_again_not_a_persons_cancel(tmp_path: Path) -> None:
    """The day's reread: the 取消 cancelled the waiting event, then its record failed; on the retry the
    trigger took its own cancel for city hall's and stored 'nothing to withdraw'."""
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city", telegram="7770011")
        svc = CampaignService(env.store, env.cfg, env.clock)
        triggers = triggers_of(env, svc)
        started = await triggers.ingest_jma((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
        assert started.decision == "start" and started.campaign is not None
        record, calls = env.store.triggers.record, 0

        async def failing_once(rec: object) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailable("database is locked")
            return await record(rec)  # type: ignore[arg-type]

        env.store.triggers.record = failing_once  # type: ignore[method-assign]
        body = (JMA / "32-35_06_06_100915_VXSE53.xml").read_bytes()
        with pytest.raises(StoreUnavailable):
            await triggers.ingest_jma(body)
        assert (await svc.get(started.campaign)).state == "cancelled"  # done before the record failed
        again = await triggers.ingest_jma(body)
        assert (again.decision, again.campaign) == ("withdraw", started.campaign)
