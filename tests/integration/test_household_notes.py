"""Words a household wrote with another answer than 助けが必要 reach its head (QA: 「1 でも夫が見つからない」,
「無事です。隣のおばあさんが出てこない」, the details form's words after 無事, an SMS kept as a note alone
(「いえがこわれた」) were on no page but the JSON API; notes showed only on need-help cards)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from dashboard_fixtures import ASSOC_A, World, client, login, records, world

from safetynet.auth import new_token
from safetynet.domain.replies import ReplyDetails

SAFE_NOTE = "無事です。隣のおばあさんが出てこない"
SMS_NOTE = "いえがこわれた"
HELP_NOTE = "足を怪我しました"
SECRET_NOTE = "夫が見つからない"  # A-002 has not consented: its words are its details


def notes(html: str) -> str:
    m = re.search(r'<section class="notes".*?</section>', html, re.S)
    return m.group(0) if m else ""


async def noted_world(w: World) -> None:
    await w.store.roster.import_households(
        [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
    await w.answer("A-003", "safe", details=ReplyDetails(note=SAFE_NOTE))
    target = await w.intake.target_for(w.campaign_id, w.hh("A-001").id)
    assert target is not None
    await w.intake.note(target, SMS_NOTE, "sms", new_token())  # an SMS with no keyword: a note alone
    await w.answer("A-004", "need_help", note=HELP_NOTE)  # on its help card, as before
    await w.answer("A-002", "safe", note=SECRET_NOTE)


async def test_the_head_reads_every_households_words_on_the_dashboard_and_the_doorknock_list(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await noted_world(w)
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}") as r:
            html = await r.text()
        block = notes(html)
        assert 'data-notes="3"' in block and "住民からのメモ" in block
        assert SAFE_NOTE in block and "高橋 健" in block and "✓ 無事" in block
        assert SMS_NOTE in block and "山田 太郎" in block
        assert HELP_NOTE not in block and HELP_NOTE in html  # the help card has it
        # without consent, outside a real event: its number and 班, never its words
        assert "世帯番号 A-002" in block and SECRET_NOTE not in html and "佐藤 花子" not in html
        async with http.get(f"{w.url}/a/{aid}?lang=en") as r:
            assert "Notes from households" in notes(await r.text())
        async with http.get(f"{w.url}/a/{aid}/doorknock") as r:
            dk = notes(await r.text())
        assert SAFE_NOTE in dk and SMS_NOTE in dk and SECRET_NOTE not in dk
        async with client() as admin:
            await login(admin, w, "admin")
            async with admin.get(f"{w.url}/a/{aid}") as r:
                assert SECRET_NOTE in notes(await r.text())


async def test_the_notes_caption_says_a_handled_help_requests_words_come_there(tmp_path: Path) -> None:
    """QA (heads' walk): the caption said 「「助けが必要」以外の回答に書かれていたことです」 over 「⚠ 助けが必要
    05:32 / たすけて 足をけがして動けない」: a help request's words come under 住民からのメモ once it is
    handled (its card is gone). The caption says what the list holds."""
    async with world(tmp_path) as w, client() as http:
        await noted_world(w)
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        assert await w.store.replies.mark_handled(w.campaign_id, w.hh("A-004").id, None, "head_a")
        for path in (f"/a/{aid}", f"/a/{aid}/doorknock"):
            async with http.get(w.url + path) as r:
                block = notes(await r.text())
            assert HELP_NOTE in block and "助けが必要" in block  # handled: its words are listed here
            assert "「助けが必要」以外" not in block
            assert "住民が回答に書いたことです。未対応の「助けが必要」は「助けが必要（未対応）」の欄にあります。" in block
        async with http.get(f"{w.url}/a/{aid}?lang=en") as r:
            assert "other than need help" not in notes(await r.text())


async def test_the_report_lists_the_households_words_in_every_format(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await noted_world(w)
        await login(http, w, "head_a")
        got = {}
        for fmt in ("html", "csv", "json"):
            async with http.get(f"{w.url}/campaigns/{w.campaign_id}/report?format={fmt}") as r:
                assert r.status == 200
                got[fmt] = await r.text()
        html = got["html"]
        listed = html[html.index("メモのあった世帯"):html.index("連絡不能の世帯")]
        assert SAFE_NOTE in listed and SMS_NOTE in listed and "高橋 健" in listed and HELP_NOTE not in listed
        assert html.index("助けが必要と答えた世帯") < html.index("メモのあった世帯")
        rows = [line for line in got["csv"].splitlines() if line.startswith("メモのあった世帯")]
        # the note column, then the help list's columns: the mobile (every list has it), injured…: blank here
        assert len(rows) == 3 and any(line.endswith(f"{SAFE_NOTE},,,,") for line in rows)
        assert any(line.endswith(f"{SMS_NOTE},090-1111-0001,,,") and "山田 太郎" in line for line in rows)
        doc = json.loads(got["json"])
        assert {(p["household"], p["note"]) for p in doc["notes"]} == {
            ("A-003", SAFE_NOTE), ("A-001", SMS_NOTE), ("A-002", "")}
        for body in got.values():  # without consent, its words stay out of every format
            assert SECRET_NOTE not in body
