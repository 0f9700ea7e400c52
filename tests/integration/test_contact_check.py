"""The contact check (連絡先確認): the pure planner, and a check end to end through the sandbox and
the web app (every contact asked, a tap on the SMS link confirms the SMS contact, a bounce is dead)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from dashboard_fixtures import ASSOC_A, client, start_campaign
from dashboard_fixtures import world as dash_world
from ports import listening_socket
from test_broadcast_cli import city, run  # noqa: F401  (`city`: the CLI tests' seeded city, a fixture)
from test_broadcast_sandbox import dispatch, phone, roster, world

from safetynet.auth import Viewer
from safetynet.broadcast.planner import plan_check
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.clock import SystemClock
from safetynet.domain import CampaignKind, CampaignState, Role, Scope
from safetynet.domain.campaigns import CheckRow, ContactRef, StepHousehold, tally_checks
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.tokens import token_hash
from safetynet.stats.report import build_report, render_csv, render_html
from safetynet.web.app import Services, app_runner, create_app, site


def test_every_working_contact_gets_one_delivery() -> None:
    households = [
        StepHousehold(1, 1, False, (ContactRef(10, "webpush", True), ContactRef(11, "mobile", True),
                                    ContactRef(12, "landline", True), ContactRef(13, "mobile", True))),
        StepHousehold(2, 1, True, (ContactRef(20, "mobile", False), ContactRef(21, "telegram", True))),
        StepHousehold(3, 1, False, ()),
    ]
    plan = plan_check(households)
    got = sorted((d.household_id, d.contact_id, d.channel, d.step) for d in plan.deliveries)
    # one each; a mobile gets an SMS, never a call too; the second mobile is its channel's next step;
    # the landline is not called (a call has no link to tap)
    assert got == [(1, 10, "webpush", 0), (1, 11, "sms", 0), (1, 13, "sms", 1), (2, 21, "telegram", 0)]
    assert plan.deliveries[0].household_id == 2  # vulnerable first
    assert plan.no_contact == () and plan.not_covered == (3,)  # no door-knock list for a check
    assert all(d.fallback_rank == 0 for d in plan.deliveries)
    # only a landline: nothing to ask, not covered
    alone = plan_check([StepHousehold(4, 1, False, (ContactRef(40, "landline", True),))])
    assert alone.deliveries == () and alone.not_covered == (4,)
    # a registry without the spoken rule (linkless empty): the landline is called
    assert [d.channel for d in plan_check(households[:1], linkless=frozenset()).deliveries].count("voice") == 1


def test_tally_counts_reachable_households_per_kind() -> None:
    rows = [(1, "mobile", "confirmed"), (1, "mobile", "dead"), (2, "mobile", "unconfirmed"),
            (3, "mobile", "unchecked"), (3, "webpush", "dead")]
    got = {x.kind: x for x in tally_checks(rows)}
    assert (got["mobile"].confirmed, got["mobile"].unconfirmed, got["mobile"].dead, got["mobile"].unchecked) == (
        1, 1, 1, 1)
    assert got["mobile"].reachable_households == 2 and got["webpush"].reachable_households == 0



async def test_check_through_the_sandbox_confirms_by_link_and_marks_bounces(tmp_path: Path) -> None:
    clock = SystemClock()
    async with world(tmp_path, clock) as (sb, cfg, store):
        await roster(store, sb, cfg, ["wm", "m"])  # household 0: push + SMS; household 1: a dead number
        sb.faults.update({"dead": [phone(1)]})
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(CampaignSpec.for_check(("city",)), created_by="admin")
        assert c.kind == CampaignKind.CHECK and c.state == CampaignState.RUNNING  # one person, no approval
        await dispatch(store, cfg, clock)

        sent = sorted((r.channel, r.address) for r in sb.messages())
        assert [ch for ch, _ in sent] == ["sms", "webpush"]  # both of household 0's contacts, nothing else
        sms = next(r for r in sb.messages("sms") if r.address == phone(0))
        text = sms.text or ""
        assert "/c/" in text and "/r/" not in text and "【訓練】" not in text and "1=" not in text
        push = sb.messages("webpush")[0]
        # who sends it, first (QA2: a link to open, from an unknown number, in quiet times)
        assert text.startswith("【さくら市】") and (push.text or "").startswith("【さくら市】")
        token_sms = re.search(r"/c/([A-Za-z0-9_-]{22})", text)
        token_push = re.search(r"/c/([A-Za-z0-9_-]{22})", push.text or "")
        assert token_sms and token_push and token_sms.group(1) != token_push.group(1)  # one token per contact
        # the bounce: the dead number is marked dead, nothing else tried for it (no call)
        assert (await store.dashboard.check_counts(c.id))["sms"] == {"confirmed": 0, "unconfirmed": 1, "dead": 1}

        sock = listening_socket()
        port = sock.getsockname()[1]
        intake = ReplyIntake(store, cfg, clock)
        runner = app_runner(create_app(Services(cfg=cfg, store=store, clock=clock, intake=intake)),
                            shutdown_timeout=1.0)
        await runner.setup()
        await site(runner, sock=sock).start()  # as `serve` listens: the reply routes on the front
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{port}/c/{token_sms.group(1)}"
                async with http.get(url) as r:  # a link previewer's GET confirms nothing
                    assert r.status == 200 and 'method="post"' in await r.text()
                assert (await store.dashboard.check_counts(c.id))["sms"]["confirmed"] == 0
                async with http.post(url) as r:
                    assert r.status == 200 and "確認済み" in await r.text()
                async with http.get(f"http://127.0.0.1:{port}/c/{'x' * 22}") as r:
                    assert r.status == 404
        finally:
            await runner.cleanup()
            await intake.stop()

        counts = await store.dashboard.check_counts(c.id)
        assert counts["sms"] == {"confirmed": 1, "unconfirmed": 0, "dead": 1}
        assert counts["webpush"] == {"confirmed": 0, "unconfirmed": 1, "dead": 0}
        assert await store.campaigns.close(c.id, clock.now())  # the silence counts once the check is closed
        tallies = {x.kind: x for x in await store.dashboard.contact_checks(None)}
        assert (tallies["mobile"].confirmed, tallies["mobile"].dead, tallies["mobile"].reachable_households) == (1, 1, 1)
        assert tallies["webpush"].unconfirmed == 1 and tallies["webpush"].reachable_households == 0
        doc = await svc.stats(c.id)
        assert doc["kind"] == "check" and doc["status"]["safe"] == 0  # a confirmation is no safety answer


async def test_the_report_of_a_check_counts_contacts_not_answers_and_lists_whom_to_call_on(tmp_path: Path) -> None:
    """QA: a check's report said 0 % answered and listed every household as never answered."""
    clock = SystemClock()
    async with world(tmp_path, clock) as (sb, cfg, store):
        await roster(store, sb, cfg, ["wm", "m", "l", "t"])  # push + SMS; a dead number; a landline; Telegram
        sb.faults.update({"dead": [phone(1)]})
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec.for_check(("city",)), created_by="admin")
        await dispatch(store, cfg, clock)
        sms = next(r for r in sb.messages("sms") if r.address == phone(0))
        token = re.search(r"/c/([A-Za-z0-9_-]{22})", sms.text or "")
        assert token and await store.replies.confirm_check(token_hash(token.group(1)), clock.now())

        doc = await build_report(store, c.id, Viewer(Role.CITY_ADMIN, Scope("city")))
        check = doc["check"]
        assert (check["households"], check["confirmed_rate"]) == (4, 0.25)
        assert check["outcomes"] == {"confirmed": 1, "bounced": 1, "unconfirmed": 1, "not_asked": 1}
        assert check["channels"]["sms"] == {"asked": 2, "confirmed": 1, "unconfirmed": 0, "dead": 1}
        assert "never_answered" not in doc and "unreachable" not in doc
        assert [(r["household"], r["outcome"]) for r in doc["unconfirmed"]] == [
            ("k1", "bounced"), ("k2", "not_asked"), ("k3", "unconfirmed")]

        page = render_html(doc)
        assert "連絡先確認の報告" in page and "安否の確認ではありません" in page
        assert "回答率" not in page and "一度も回答のなかった世帯" not in page
        listed = page[page.index("連絡先を確認できなかった世帯"):]
        assert "世帯1" in listed and "不達（連絡先の誤り）" in listed and "確認できる連絡先なし" in listed
        assert "世帯0" not in listed  # its SMS was confirmed
        lines = render_csv(doc).splitlines()
        assert lines[0].startswith("区分,地区,町会,世帯数,確認済,") and lines[1] == "全体,,,4,1,1,1,1,0.25"
        # then its mobile (k3 has a landline alone): the follow-up lists carry it (QA, heads' walk)
        assert lines[-1].endswith(",未確認,") and sum("連絡先を確認できなかった世帯" in x for x in lines) == 3


def test_cli_starts_a_check_without_a_scenario(city: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    cfg = city
    code, out, _ = run(cfg, capsys, "start", "--kind", "check", "--scope", "association:桜町一丁目町会", "--json")
    assert code == 0 and json.loads(out)["state"] == "running"  # no approval for a check
    cid = json.loads(out)["id"]
    code, out, _ = run(cfg, capsys, "status", str(cid), "--json")
    assert json.loads(out)["kind"] == "check" and json.loads(out)["households"] == 2
    code, _, err = run(cfg, capsys, "start")
    assert code == 2 and "--kind check" in err


async def test_staff_pages_on_a_check_show_what_contacts_came_to_not_answers(tmp_path: Path) -> None:
    """QA: a running check's dashboard said 回答 0 / 6 (0%), offered the door-knock list and 訪問で確認
    buttons (a safety answer), and /city drew an answer curve with every association ▼ 低い."""
    async with dash_world(tmp_path) as w:
        assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
        cid = await start_campaign(w, CampaignKind.CHECK, title="連絡先の確認")
        # A-001's mobile asked and confirmed, A-004's asked and silent; nothing asked of the others
        rows = []
        for key in ("A-001", "A-004"):
            h = await w.store.roster.get_household(w.households[key].id)
            assert h is not None
            mobile = next(c for c in h.contacts if c.kind == "mobile")
            rows.append(CheckRow(mobile.id, h.id, "sms", f"check-{key}"))
        await w.store.campaigns.write_checks(cid, rows)
        assert await w.store.replies.confirm_check("check-A-001", w.clock.now())
        aid, head = w.assoc_ids[ASSOC_A], {"Authorization": f"Bearer {w.tokens['head_a']}"}
        async with client() as http:
            async with http.get(f"{w.url}/a/{aid}?campaign={cid}", headers=head) as r:
                assert r.status == 200
                page = await r.text()
            assert "この連絡先確認の結果" in page and "6 世帯のうち、連絡先を確認できた世帯は 1 世帯です" in page
            assert "回答 " not in page and "戸別訪問リスト" not in page and "訪問で確認" not in page
            assert 'class="contact-check"' not in page  # this check's figures, not the tallies of every check (QA)
            listed = page[page.index("連絡先を確認できなかった世帯（5）"):]
            assert "山田 太郎" not in listed  # confirmed
            assert re.search(r'data-outcome="unconfirmed"><td>2班</td><td>田中 美咲', listed)
            assert re.search(r'data-outcome="not_asked"><td>2班</td><td>渡辺 誠', listed)
            async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={cid}", headers=head,
                                allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == f"/a/{aid}?campaign={cid}"
            url = f"{w.url}/api/campaigns/{cid}/households/{w.households['A-004'].id}/confirm"
            async with http.post(url, headers=head, json={"method": "visit"}) as r:
                assert r.status == 409 and "contact check" in (await r.json())["error"]
            async with http.get(f"{w.url}/city?campaign={cid}", headers={
                    "Authorization": f"Bearer {w.tokens['admin']}"}) as r:
                city = await r.text()
            assert "この連絡先確認の結果" in city and 'id="curve"' not in city and "回答率" not in city
            assert "連絡先確認はまだ行っていません" not in city  # QA: said under a running check
            row = re.search(rf'<tr data-aid="{aid}">(.*?)</tr>', city, re.S)
            assert row and re.findall(r"<td>([^<]*)</td>", row.group(1))[1:] == ["6", "1", "0", "1", "4", "16%"]  # 1 of 6, rounded down (domain.shares)
