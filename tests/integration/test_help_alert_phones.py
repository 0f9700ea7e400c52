"""The need-help alert gives the household's phones (QA: 「石井 陽子 (1人世帯) / 住所: … / メモ: …」 and the link:
a head on a feature phone had to log in to call), under the consent rule that shows its name and address, and
the audit log records whom it gave them to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from replies_fixtures import ASSOC_A, add_staff, records, running_app

from safetynet.domain import Role


async def test_the_help_alert_carries_the_households_phones_mobile_first(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0001"}) as resp:
            assert resp.status == 200
        await env.dispatch()
        (sms,) = [r.text or "" for r in env.staff_messages("sms")]
        lines = sms.splitlines()
        assert "電話: 090-1111-0002 (携帯) / 03-1111-0002 (固定)" in lines
        assert lines.index("電話: 090-1111-0002 (携帯) / 03-1111-0002 (固定)") == lines.index("住所: 桜町1-1-2") + 1
        # review: whose phone got the household's details was in no record: the audit log says it, as for a page
        sent = [(e.actor, e.what, e.household_id, e.detail, e.campaign_id) for e in await env.store.audit.entries()
                if e.action == "notify"]
        assert sent == [("head-a", "help", env.hh("A-002").id, "sms", env.campaign_id)]


async def test_no_phone_for_a_household_whose_details_the_head_may_not_see(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await env.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0001"}) as resp:
            assert resp.status == 200
        await env.dispatch()
        (sms,) = [r.text or "" for r in env.staff_messages("sms")]
        assert "A-002" in sms and "電話:" not in sms and "1111-0002" not in sms and "11110002" not in sms
        assert [e for e in await env.store.audit.entries() if e.action == "notify"] == []  # no details went
