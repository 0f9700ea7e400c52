"""What the association dashboard says, after any reload, of the in-person confirmations and the
対応済み marks made on it (QA, heads' walk): who confirmed a household, when and how, with 取り消す for
one's own confirmation while it may be taken back, and the note sent with it (none of a withheld
household); the requests marked handled, with 対応済みを取り消す for one's own mark."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import aiohttp
from dashboard_fixtures import ASSOC_A, World, client, login, records, world

from safetynet.clock import FakeClock
from safetynet.web.audit_api import AUDIT
from safetynet.web.dash_shell import hhmm


async def post(http: aiohttp.ClientSession, w: World, csrf: str, key: str, action: str,
               doc: dict[str, object]) -> dict[str, object]:
    url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh(key).id}/{action}"
    async with http.post(url, json=doc, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def page(http: aiohttp.ClientSession, w: World) -> str:
    async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}") as r:
        assert r.status == 200
        return await r.text()


def row(html: str, w: World, key: str) -> str:
    m = re.search(rf'<tr data-hh="{w.hh(key).id}".*?</tr>', html, re.S)
    assert m, key
    return m.group(0)


async def test_ones_own_confirmation_can_be_taken_back_after_a_reload(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as head, client() as deputy:
        head_csrf, deputy_csrf = await login(head, w, "head_a"), await login(deputy, w, "deputy_a")
        done = await post(head, w, head_csrf, "A-002", "confirm", {"method": "paper"})
        at = clock.now()
        await clock.advance(600)  # ten minutes later she sees it was the wrong house

        mine = row(await page(head, w), w, "A-002")
        assert f"HEAD_Aが{hhmm(at)}に用紙で確認" in mine  # who, when, how
        assert f'data-undo="{done["reply_id"]}"' in mine and ">取り消す</button>" in mine
        # the deputy reads who did it; the undo is the head's to offer (anyone may still undo by the API)
        theirs = row(await page(deputy, w), w, "A-002")
        assert f"HEAD_Aが{hhmm(at)}に用紙で確認" in theirs and "data-undo=" not in theirs
        # a household not confirmed in person says nothing of it
        assert "data-done" not in row(await page(head, w), w, "A-001")

        undone = await post(head, w, head_csrf, "A-002", "undo", {"reply_id": done["reply_id"]})
        assert undone["undone"] == done["reply_id"]
        assert "data-done" not in row(await page(head, w), w, "A-002")

        # confirmed again by the deputy: the row names her, and the undo is hers now
        await post(head, w, head_csrf, "A-002", "confirm", {"method": "paper"})
        again = await post(deputy, w, deputy_csrf, "A-002", "confirm", {"method": "visit"})
        mine, theirs = row(await page(head, w), w, "A-002"), row(await page(deputy, w), w, "A-002")
        assert "DEPUTY_A" in mine and "訪問" in mine and "data-undo=" not in mine
        assert f'data-undo="{again["reply_id"]}"' in theirs
        # the resident answers after it: the store would refuse the undo, and the row is theirs again
        await w.answer("A-002", "safe")
        assert "data-done" not in row(await page(deputy, w), w, "A-002")


async def test_a_handled_request_can_be_reopened_from_the_page_after_a_reload(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as head, client() as deputy:
        head_csrf, _ = await login(head, w, "head_a"), await login(deputy, w, "deputy_a")
        await w.answer("A-004", "need_help", note="足を怪我")
        hh = w.hh("A-004").id
        await post(head, w, head_csrf, "A-004", "handled", {})
        at = clock.now()
        await clock.advance(600)

        html = await page(head, w)
        handled = html[html.index("data-help-handled"):]
        # who marked it is named as the rows name who confirmed a household: the display name, never the
        # login (review: 「head_a 10:00 対応済み」 under rows saying 「HEAD_Aが…確認」)
        assert "田中 美咲" in handled and f"HEAD_A {hhmm(at)} 対応済み" in handled and "head_a" not in handled
        assert f'data-reopen="{hh}"' in handled and "対応済みを取り消す" in handled
        # a person takes back their own mark only (ReplyIntake.reopen_help): the deputy sees who marked it
        html = await page(deputy, w)
        handled = html[html.index("data-help-handled"):]
        assert "田中 美咲" in handled and f"HEAD_A {hhmm(at)} 対応済み" in handled and "data-reopen=" not in handled

        await post(head, w, head_csrf, "A-004", "reopen", {})
        html = await page(head, w)
        assert "data-help-handled" not in html and f'data-handled="{hh}"' in html


async def test_a_confirmation_carries_a_note_shown_on_the_row_but_a_withheld_households(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as head:
        await w.store.roster.import_households(  # A-002 has not consented: what is written of it is its details
            [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
        csrf = await login(head, w, "head_a")
        html = await page(head, w)
        # the confirm offers a note, folded: the tap alone is the common case
        assert 'data-confirm-note aria-label="高橋 健の確認に添えるメモ' in row(html, w, "A-003")
        await post(head, w, csrf, "A-003", "confirm", {"method": "visit", "note": "足が不自由 <b>要見守り</b>"})
        await post(head, w, csrf, "A-002", "confirm", {"method": "phone", "note": "夫が入院中"})

        html = await page(head, w)
        shown = row(html, w, "A-003")
        assert "足が不自由 &lt;b&gt;要見守り&lt;/b&gt;" in shown and "HEAD_A" in shown and "訪問" in shown
        hidden = row(html, w, "A-002")
        assert "HEAD_A" in hidden and "電話" in hidden and "data-undo=" in hidden  # who and how, and her undo
        assert "夫が入院中" not in html


async def test_the_live_patch_brings_the_asked_rows_lines_and_no_households_details(tmp_path: Path) -> None:
    """`/a/{id}/statuses`: what an open dashboard patches its rows with when households are confirmed
    elsewhere. The asked households' status and in-person line, none of a name, an address or a withheld
    household's note, and no audit entry unless a note is shown (review: each confirmation wrote a view
    per open page; then, the patch showed staff's notes with no entry)."""
    async with world(tmp_path) as w, client() as head:
        assert w.app is not None
        await w.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
        csrf = await login(head, w, "head_a")
        await post(head, w, csrf, "A-002", "confirm", {"method": "phone", "note": "夫が入院中"})
        plain = await post(head, w, csrf, "A-001", "confirm", {"method": "visit"})
        base = f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/statuses?campaign={w.campaign_id}"
        ids = {k: w.hh(k).id for k in ("A-001", "A-002", "A-003")}
        async with head.get(base) as r:  # a note withheld, a confirmation without one: nothing to audit
            quiet = await r.text()
        assert "HEAD_A" in row(quiet, w, "A-001") and "夫が入院中" not in quiet
        await w.app[AUDIT].flush()
        assert [e.what for e in await w.store.audit.entries() if e.action == "view"] == []
        await post(head, w, csrf, "A-001", "undo", {"reply_id": plain["reply_id"]})
        await post(head, w, csrf, "A-003", "confirm", {"method": "visit", "note": "足が不自由"})
        async with head.get(f"{base}&hh={ids['A-003']}&hh={ids['A-001']}&hh=x") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            patch = await r.text()
        assert re.findall(r'<tr data-hh="(\d+)"', patch) == [str(ids["A-003"])]  # the confirmed of those asked
        assert "HEAD_A" in patch and "訪問" in patch and "足が不自由" in patch and 'data-undo="' in patch
        assert "高橋 健" not in patch and "桜町1-1-3" not in patch
        assert 'data-name="世帯番号 A-003"' in patch  # the page puts the name its row shows in its place
        async with head.get(base) as r:  # every household: a reset, or a quiet while
            every = await r.text()
        assert len(re.findall(r"<tr data-hh=", every)) == len([h for h in w.households.values()
                                                                 if h.association == ASSOC_A])
        assert "HEAD_A" in row(every, w, "A-002") and "夫が入院中" not in every and "佐藤 花子" not in every
        assert 'data-status="pending"' in row(every, w, "A-001")
        await w.app[AUDIT].flush()  # the two patches that showed 「足が不自由」
        assert [e.what for e in await w.store.audit.entries() if e.action == "view"] == ["statuses", "statuses"]
