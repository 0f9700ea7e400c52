"""Retention (DESIGN §9): `[privacy] retention_days` after a campaign finished, its free texts and
providers' answers are erased and its report keeps counts only; old audit entries go too. Run by
`safetynet privacy purge` and once a day by `safetynet serve`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import ASSOC_A, World, client, records, start_campaign, world
from roster_helpers import SECRET_KEY
from sqlite_helpers import sqlite_db
from test_scope_routes import call

from safetynet.auth import command_line_actor
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.clock import FakeClock
from safetynet.config import PrivacyConfig
from safetynet.domain import CampaignKind
from safetynet.domain.audit import AuditEntry
from safetynet.domain.campaigns import AttemptRecord, DeliveryOutcome, OutcomeKind, PlannedDelivery, StepPlan
from safetynet.domain.replies import Location, ReplyDetails, ReplyItem
from safetynet.privacy.retention import DAY, FIRST_RUN_SECONDS, PurgeReport, purge, run_daily
from safetynet.stats.report import build_report, open_report, render_html
from safetynet.web.audit_api import AUDIT

SETTINGS = PrivacyConfig(retention_days=90, audit_retention_days=730)
NOTE = "階段で転んで動けません"


async def _answers(w: World, cid: int) -> None:
    for key, status, details in (
            ("A-001", "need_help", ReplyDetails(people_injured=1, location=Location.HOME, note=NOTE)),
            ("A-002", "safe", ReplyDetails(people_safe=1, note="無事です 090-1234-5678"))):
        target = await w.intake.target_for(cid, w.hh(key).id)
        assert target is not None
        await w.intake.answer(target, status, "web", dedupe_key=f"{cid}-{key}", details=details)


async def test_a_campaign_past_retention_loses_its_free_text_and_keeps_its_counts(tmp_path: Path) -> None:
    async with world(tmp_path, serve=False) as w:
        clock = w.clock
        assert isinstance(clock, FakeClock)
        old, recent = w.campaign_id, await start_campaign(w, title="新しい訓練")
        await _answers(w, old)  # `recent`, running beside it, takes them too (domain.replies.shared_with)
        before = await build_report(w.store, old, w.viewer("admin"))
        assert await w.store.campaigns.close(old, clock.now())
        await _answers(w, recent)  # its own: `old` no longer runs, and keeps its two
        await clock.advance(2 * DAY)
        assert await w.store.campaigns.close(recent, clock.now())
        await w.store.audit.append([AuditEntry(clock.now(), "head_a", "view", "dashboard")])
        await w.store.replies.keep_staff_text("telegram:8880001:77", "世帯番号 A-001を訪問で確認済みにしました。",
                                              clock.now())  # the event's last staff text
        await clock.advance(89 * DAY)  # `old` closed 91 days ago, `recent` 89

        report = await purge(w.store, SETTINGS, clock.now())
        purged = {r.campaign_id: r for r in report.campaigns}
        assert set(purged) == {w.previous_id, old}  # the world's earlier drill closed before it
        assert purged[old].replies == 2 and report.audit_entries == 0
        assert await w.store.replies.forget_staff_texts(clock.now()) == 0  # its answer went with the purge
        for cid, kept in ((old, False), (recent, True)):
            history = await w.store.replies.history(cid, w.hh("A-001").id)
            assert (history[-1].note == NOTE) is kept and (history[-1].people_injured == 1) is kept
            assert (history[-1].location == "home") is kept

        after = await build_report(w.store, old, w.viewer("admin"))
        assert after["campaign"]["purged_at"] == clock.now()
        for key in ("city", "districts", "associations", "curve"):
            assert after[key] == before[key], key  # the numbers stay
        assert before["never_answered"] and after["never_answered"] == [] and after["unreachable"] == []
        html = render_html(after)
        assert "消去しました" in html and NOTE not in html

        assert (await purge(w.store, SETTINGS, clock.now())).campaigns == ()  # once
        await clock.advance(730 * DAY)
        assert (await purge(w.store, SETTINGS, clock.now())).audit_entries == 1  # the audit log's own retention


async def test_the_purge_erases_expired_phone_codes(tmp_path: Path) -> None:
    """A code sent to a number typed on the enrolment page, left to expire, stayed until another household
    started a confirmation: the number a resident typed, kept for ever in a quiet city."""
    async with world(tmp_path, serve=False) as w:
        clock = w.clock
        assert isinstance(clock, FakeClock)
        replies = w.store.replies
        assert await replies.start_phone_verification(w.hh("A-001").id, "+819011110001", "live", ttl_seconds=6000)
        assert await replies.start_phone_verification(w.hh("A-002").id, "+819011110002", "old", ttl_seconds=600)
        await clock.advance(601)
        await purge(w.store, SETTINGS, clock.now())
        assert await replies.forget_phone_codes(clock.now()) == 0  # the purge erased the expired one
        assert await replies.check_phone_code(w.hh("A-001").id, "live", max_attempts=3) == "+819011110001"


@pytest.mark.sqlite_only  # reaches into the SQLite file (sqlite_helpers)
async def test_provider_answers_of_a_purged_campaign_are_erased_and_others_kept(tmp_path: Path) -> None:
    async with world(tmp_path, serve=False) as w:
        clock = w.clock
        assert isinstance(clock, FakeClock)
        other = await start_campaign(w, title="別の訓練", keys=["A-004"])
        for cid in (w.campaign_id, other):
            plan = StepPlan((PlannedDelivery(w.hh("A-004").id, 0, "sms", w.hh("A-004").contacts[0].id, 10, 0),),
                            (), ())
            await w.store.campaigns.write_step(cid, plan, clock.now())
        for d in await w.store.outbox.claim([w.campaign_id, other], "sms", 5, "w", 60):
            await w.store.outbox.record(DeliveryOutcome(d, OutcomeKind.FAILED, clock.now(), (
                AttemptRecord(clock.now(), 3.0, "failed", "InvalidNumber", "number +819011110004 unknown"),),
                error="21211: +819011110004"))
        assert await w.store.campaigns.close(w.campaign_id, clock.now())
        await clock.advance(91 * DAY)
        done = {r.campaign_id: r for r in (await purge(w.store, SETTINGS, clock.now())).campaigns}
        assert other not in done and (done[w.campaign_id].deliveries, done[w.campaign_id].attempts) == (1, 1)
        rows = await sqlite_db(w.store).fetchall(
            "SELECT d.campaign_id, d.error, a.detail FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id"
            " ORDER BY d.campaign_id")
        assert [tuple(r) for r in rows] == [(w.campaign_id, None, None),
                                            (other, "21211: +819011110004", "number +819011110004 unknown")]


async def test_serve_purges_shortly_after_start_and_then_every_day(tmp_path: Path) -> None:
    async with world(tmp_path, serve=False) as w:
        clock = w.clock
        assert isinstance(clock, FakeClock)
        await _answers(w, w.campaign_id)
        assert await w.store.campaigns.close(w.campaign_id, clock.now())
        reports: asyncio.Queue[PurgeReport] = asyncio.Queue()
        task = asyncio.create_task(run_daily(w.store, PrivacyConfig(retention_days=1), clock, reports.put_nowait))
        try:
            await asyncio.sleep(0)  # one turn: the task starts and waits on the clock
            await clock.advance(FIRST_RUN_SECONDS)
            first = await reports.get()
            assert w.campaign_id not in [r.campaign_id for r in first.campaigns]  # closed a minute ago: kept
            await clock.advance(DAY)
            second = await reports.get()
            assert w.campaign_id in [r.campaign_id for r in second.campaigns]
            assert reports.empty()
        finally:
            task.cancel()


def test_privacy_purge_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from safetynet.cli import main

    async def setup() -> int:
        async with world(tmp_path, serve=False) as w:
            await _answers(w, w.campaign_id)
            assert await w.store.campaigns.close(w.campaign_id, w.clock.now() - 100 * DAY)  # long ago
            return w.campaign_id

    cid = asyncio.run(setup())
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    cfg = str(tmp_path / "config.toml")
    assert main(["--config", cfg, "privacy", "purge", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    purged = {c["id"]: c for c in doc["campaigns"]}
    assert purged[cid]["replies"] == 2
    assert main(["--config", cfg, "privacy", "purge"]) == 0
    assert capsys.readouterr().out.startswith("purged 0 campaign(s) finished more than 90 days ago")
    # QA (privacy walk): the purge was in no audit entry (only the log's retention_done); now who ran it, each
    # campaign erased with its counts, and each run, one that had nothing to erase too
    got = asyncio.run(_audit_entries(tmp_path))
    assert {e.actor for e in got} == {command_line_actor()}
    assert [(e.action, e.what, e.campaign_id, e.detail) for e in got if e.campaign_id == cid] == [
        ("purge", "campaign", cid, "2 replies, 0 deliveries, 0 attempts")]
    runs = [e.detail for e in got if e.what == "retention"]
    assert runs == [f"{len(purged)} campaigns, 0 removed households, 0 audit entries",
                    "0 campaigns, 0 removed households, 0 audit entries"]


async def _audit_entries(tmp_path: Path) -> list[AuditEntry]:
    async with world(tmp_path, serve=False, seeded=False) as w:
        return await w.store.audit.entries()


async def test_an_association_head_report_of_a_purged_campaign_lists_nobody(tmp_path: Path) -> None:
    async with world(tmp_path, serve=False) as w:
        assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
        assert isinstance(w.clock, FakeClock)
        await w.clock.advance(91 * DAY)
        await purge(w.store, SETTINGS, w.clock.now())
        rep = await open_report(w.store, w.campaign_id, w.viewer("head_a"))
        assert [rows async for rows in rep.rows("never_answered")] == []
        assert rep.summary["associations"][0]["name"] == ASSOC_A and rep.summary["city"]["households"] == 6


async def test_a_purged_campaign_takes_no_in_person_confirmation_nor_its_undo(tmp_path: Path) -> None:
    """Review: a head confirmed a household on a 120-day-old event, picked on the dashboard, with a note
    (「骨折・搬送 ○○病院」): retention had already run for it and never would again, so the note was
    kept for good. Refused (409), and nothing written."""
    async with world(tmp_path) as w:
        hid = w.hh("A-001").id
        path = f"{w.url}/api/campaigns/{w.campaign_id}/households/{hid}/confirm"
        headers = {"Authorization": f"Bearer {w.tokens['head_a']}"}
        async with client() as http:
            async with http.post(path, json={"method": "visit", "note": "訪問"}, headers=headers) as r:
                assert r.status == 200, await r.text()
                reply_id = (await r.json())["reply_id"]
            assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
            assert isinstance(w.clock, FakeClock)
            await w.clock.advance(91 * DAY)
            await purge(w.store, SETTINGS, w.clock.now())
            before = await w.store.replies.history(w.campaign_id, hid)
            async with http.post(path, json={"method": "visit", "note": "骨折・搬送 ○○病院"}, headers=headers) as r:
                assert r.status == 409 and "erased by retention" in (await r.json())["error"]
            async with http.post(path.removesuffix("/confirm") + "/undo", json={"reply_id": reply_id},
                                 headers=headers) as r:
                assert r.status == 409 and "erased by retention" in (await r.json())["error"]
        assert await w.store.replies.history(w.campaign_id, hid) == before


async def test_a_confirmation_written_while_the_purge_scans_loses_its_note_too(tmp_path: Path) -> None:
    """Review: a confirmation that passed the purged check just before the purge marked the campaign (its
    scan of the attempt log takes seconds on a large city) kept its note for good, retention never
    coming back to a purged campaign. The purge erases the answers' words once more after marking it."""
    async with world(tmp_path, serve=False) as w:
        assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
        assert isinstance(w.clock, FakeClock)
        await w.clock.advance(91 * DAY)
        campaigns: Any = w.store.campaigns
        erase, calls = campaigns._erase, []
        target = await w.store.replies.target(w.campaign_id, w.hh("A-001").id)
        assert target is not None

        async def erase_then_a_head_confirms(sql: str, campaign_id: int) -> int:
            n = await erase(sql, campaign_id)
            if campaign_id == w.campaign_id:
                calls.append(sql)
            if len(calls) == 1 and campaign_id == w.campaign_id:  # its answers erased, the rest of its purge to come
                await w.store.replies.record(ReplyItem(
                    w.campaign_id, target.household_id, target.association_id, "confirmed_in_person", "staff",
                    "staff:late", w.clock.now(), ReplyDetails(note="骨折・搬送 ○○病院"), method="visit", actor="head_a"))
            return n

        campaigns._erase = erase_then_a_head_confirms
        try:
            await purge(w.store, SETTINGS, w.clock.now())
        finally:
            campaigns._erase = erase
        db: Any = w.store.db  # the row itself: the history no longer shows a purged campaign's words
        assert await db.fetchval("SELECT note FROM replies WHERE dedupe_key = ?", ("staff:late",)) is None
        assert await db.fetchval("SELECT count(*) FROM replies WHERE dedupe_key = ?", ("staff:late",)) == 1


async def _head_help_pages(w: World, cid: int) -> str:
    """What the head of A reads of campaign `cid`'s help requests: the help cards, the door-knock list and
    the API's help list."""
    aid, parts = w.assoc_ids[ASSOC_A], []
    async with client() as http:
        for path in (f"/a/{aid}/help?campaign={cid}", f"/a/{aid}/doorknock?campaign={cid}",
                     f"/api/campaigns/{cid}/help"):
            status, body, _ = await call(http, "GET", w.url + path, {"Authorization": f"Bearer {w.tokens['head_a']}"})
            assert status == 200 or (status == 303 and "/doorknock" in path), (path, status)  # purged: 303
            parts.append(json.dumps(json.loads(body), ensure_ascii=False) if path.startswith("/api/") else body)
    return "\n".join(parts)


async def test_a_household_without_consent_that_asked_a_real_event_for_help_is_not_named_after_retention(
        tmp_path: Path) -> None:
    """QA (privacy walk): a 不同意 household that asked a real event for help stayed named in full to its
    head after the purge, for ever. Shown whole after the close (the documented exception), until retention:
    then the purged campaign's help lists name nobody, as its report."""
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        await w.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
        real = await start_campaign(w, CampaignKind.REAL, scope=[f"association:{ASSOC_A}"], title="地震 A",
                                    keys=[k for k in w.households if k.startswith("A-")])
        await w.answer("A-002", "need_help", campaign_id=real, note=NOTE)
        assert await w.store.campaigns.close(real, w.clock.now())
        closed = await _head_help_pages(w, real)
        assert "佐藤 花子" in closed and "桜町1-1-2" in closed  # after the close: the request shown whole
        await w.clock.advance(91 * DAY)
        assert real in [r.campaign_id for r in (await purge(w.store, SETTINGS, w.clock.now())).campaigns]

        purged = await _head_help_pages(w, real)
        for marker in ("佐藤 花子", "桜町1-1-2", "03-1111-0002", "+81311110002", NOTE):
            assert marker not in purged, marker
        async with client() as http:
            status, body, _ = await call(http, "GET", f"{w.url}/api/campaigns/{real}/help",
                                         {"Authorization": f"Bearer {w.tokens['head_a']}"})
        assert status == 200 and json.loads(body)["help"] == []


def test_privacy_purge_erases_the_households_that_moved_away(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """QA (privacy walk): households `roster import --replace` removed kept name, address and notes for ever."""
    from safetynet.cli import main

    async def setup() -> int:
        # the `safetynet` command reads the wall clock: the world's drills ran half a year before
        async with world(tmp_path, FakeClock(time.time() - 200 * DAY), serve=False) as w:
            await w.store.roster.import_households([r for r in records() if r.household_key != "A-002"],
                                                   replace=True)
            assert await w.store.campaigns.close(w.campaign_id, w.clock.now())  # the earlier drill closed before
            return w.hh("A-002").id  # in both

    hid = asyncio.run(setup())
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    cfg = str(tmp_path / "config.toml")
    assert main(["--config", cfg, "privacy", "purge"]) == 0
    out = capsys.readouterr().out
    assert "erased the records of 1 household(s) removed from the roster (names, addresses, contacts)" in out, out
    assert main(["--config", cfg, "privacy", "purge", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_households"] == 0  # once
    runs = [e.detail for e in asyncio.run(_audit_entries(tmp_path)) if e.what == "retention"]
    assert [r.split(", ")[1] for r in runs] == ["1 removed households", "0 removed households"]

    async def check() -> None:
        async with world(tmp_path, serve=False, seeded=False) as w:
            h = await w.store.roster.get_household(hid)
            assert h is not None and h.removed_at is not None and h.household_key == "A-002"
            assert (h.name, h.address, h.vulnerable, h.contacts) == ("", "", False, ())

    asyncio.run(check())


async def _head_reads(w: World, cid: int, hid: int) -> dict[str, tuple[int, str, str]]:
    """What the head of A gets from every page and API that shows campaign `cid` household by household."""
    aid, got = w.assoc_ids[ASSOC_A], {}
    async with client() as http:
        for path in (f"/a/{aid}?campaign={cid}", f"/a/{aid}/households?campaign={cid}",
                     f"/a/{aid}/statuses?campaign={cid}", f"/a/{aid}/notes?campaign={cid}",
                     f"/a/{aid}/doorknock?campaign={cid}", f"/api/campaigns/{cid}/households/{hid}/replies"):
            got[path.split("?")[0]] = await call(http, "GET", w.url + path,
                                                 {"Authorization": f"Bearer {w.tokens['head_a']}"})
        # the live stream's first event, as a page reconnecting from its first reply id asks for it
        async with http.get(f"{w.url}/api/campaigns/{cid}/events?association={aid}&since=1",
                            headers={"Authorization": f"Bearer {w.tokens['head_a']}"}) as r:
            async for line in r.content:
                if line.startswith(b"data: "):
                    got["events"] = (r.status, line.decode()[6:], "")
                    break
    return got


async def test_a_purged_campaign_s_pages_name_no_household_and_keep_its_counts(tmp_path: Path) -> None:
    """QA (privacy walk): after retention, the dashboard of a 90-day-old drill still listed every household
    by name with its answer, who had confirmed whom in person, and the door-knock list; the reply history
    API and the live stream's replay still said who answered what. DESIGN §9: its report keeps counts
    only, and so does every page of it; 対応済み is refused there as a confirmation is."""
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        cid, aid, hid = w.campaign_id, w.assoc_ids[ASSOC_A], w.hh("A-001").id
        await w.answer("A-001", "need_help", note=NOTE)
        await w.answer("A-002", "safe")
        await w.intake.confirm_in_person(w.viewer("head_a"), cid, w.hh("A-003").id, "visit", "玄関先で確認")
        names = ("山田 太郎", "佐藤 花子", "高橋 健", "田中 美咲", "桜町1-1-1", NOTE, "玄関先で確認")
        before = await _head_reads(w, cid, hid)
        page = before[f"/a/{aid}"][1] + before[f"/a/{aid}/households"][1]
        assert all(n in page for n in names[:5]), "the test's markers are on the page before the purge"
        assert "need_help" in before[f"/api/campaigns/{cid}/households/{hid}/replies"][1]
        assert before[f"/a/{aid}/doorknock"][0] == 200
        assert await w.store.campaigns.close(cid, w.clock.now())
        await w.clock.advance(91 * DAY)
        assert cid in [r.campaign_id for r in (await purge(w.store, SETTINGS, w.clock.now())).campaigns]

        assert w.app is not None
        await w.app[AUDIT].flush()
        seen = len(await w.store.audit.entries())
        after = await _head_reads(w, cid, hid)
        await w.app[AUDIT].flush()
        # a page of counts alone (the dashboard: its coverage block names households) is a view; an empty
        # fragment or history is none (review: the log said a head viewed a household's history of nothing)
        assert {(e.what, e.household_id) for e in (await w.store.audit.entries())[seen:]} == {("dashboard", None)}
        for path, (status, body, location) in after.items():
            for marker in names:
                assert marker not in body, (path, marker)
            if path.endswith("/doorknock"):  # nobody to walk to: the dashboard says why
                assert status == 303 and location == f"/a/{aid}?campaign={cid}"
            else:
                assert status == 200, (path, status)
        dashboard = after[f"/a/{aid}"][1]
        assert "世帯の一覧を消去しました。件数と割合は残っています。" in dashboard
        totals = (await w.store.dashboard.counts(cid, [aid]))[aid]
        answered = totals["safe"] + totals["need_help"] + totals["confirmed_in_person"]
        assert answered == 3 and f"<b data-answered>{answered}</b>" in dashboard
        assert f"<b data-households>{sum(totals.values())}</b>" in dashboard
        assert f'href="/campaigns/{cid}/report"' in dashboard
        live = json.loads(after["events"][1])
        assert json.loads(before["events"][1])["changed"] and live["changed"] == []  # no replay of who answered
        assert live["status"]["safe"] == totals["safe"] == 1
        history = json.loads(after[f"/api/campaigns/{cid}/households/{hid}/replies"][1])
        assert history["replies"] == [] and history["purged_at"] is not None
        async with client() as http:
            status, body, _ = await call(http, "POST", f"{w.url}/api/campaigns/{cid}/households/{hid}/handled",
                                         {"Authorization": f"Bearer {w.tokens['head_a']}"})
        assert status == 409 and "erased by retention" in json.loads(body)["error"]


def _outcomes(page: str) -> dict[str, str]:
    return dict(re.findall(r'<td data-outcome="(\w+)">([\d,]+)</td>', page))


async def test_a_purged_contact_check_keeps_its_outcomes_and_lists_nobody(tmp_path: Path) -> None:
    """Review of the purge's pages: a purged contact check's emptied list was counted as every household
    confirmed (「すべての世帯で連絡先を確認できました」) where /city and its report kept the real split."""
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        aid = w.assoc_ids[ASSOC_A]
        check = await CampaignService(w.store, w.cfg, w.clock).launch(CampaignSpec.for_check((f"association:{ASSOC_A}",)))
        assert await w.store.campaigns.close(check.id, w.clock.now())
        path = f"/a/{aid}?campaign={check.id}"
        head = {"Authorization": f"Bearer {w.tokens['head_a']}"}
        async with client() as http:
            _, before, _ = await call(http, "GET", w.url + path, head)
            await w.clock.advance(91 * DAY)
            assert check.id in [r.campaign_id for r in (await purge(w.store, SETTINGS, w.clock.now())).campaigns]
            status, after, _ = await call(http, "GET", w.url + path, head)
        assert status == 200 and _outcomes(after) == _outcomes(before)
        assert int(_outcomes(before)["confirmed"]) < 6 and "山田 太郎" in before  # unconfirmed, listed by name
        assert "山田 太郎" not in after and "すべての世帯で連絡先を確認できました" not in after
        assert "世帯の一覧を消去しました" in after
