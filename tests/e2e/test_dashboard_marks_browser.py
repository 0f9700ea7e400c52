"""Headless Chromium: a wrong tap can be taken back after the page was reloaded (QA, heads' walk: the
undo lived in the browser only). A confirmation carries an optional note; the reloaded row says who
confirmed it, when and how, with the note and one's own 取り消す; a 対応済み is reopened from the list
of handled requests under the help panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import browser, login, new_page, screenshot
from dashboard_fixtures import ASSOC_A, client, password, world
from dashboard_fixtures import login as http_login

from safetynet.clock import SystemClock
from safetynet.web.audit_api import AUDIT

pytestmark = [pytest.mark.browser]

WAIT_MS = 5000


async def test_a_confirmation_with_a_note_is_undone_from_its_row_after_a_reload(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "head_a", password("head_a"))
        hh = w.hh("A-002").id
        row = f'#hh-rows tr[data-hh="{hh}"]'

        await page.click(f"{row} details.confirm-note summary")
        await page.fill(f"{row} [data-confirm-note]", "玄関先で本人と話した")
        await page.click(f'{row} button[data-confirm="paper"]')
        await page.locator(f"{row} [data-row-undo] li button[data-undo]").wait_for(timeout=WAIT_MS)  # in the row
        (entry,) = await w.store.replies.history(w.campaign_id, hh)
        assert (entry.status, entry.method, entry.note) == ("confirmed_in_person", "paper", "玄関先で本人と話した")

        await page.reload()
        assert await page.locator("[data-row-undo] li").count() == 0  # the browser's line is gone
        mark = page.locator(f"{row} [data-done]")
        said = await mark.inner_text()
        assert said.startswith("HEAD_Aが") and "に用紙で確認" in said and "玄関先で本人と話した" in said
        await screenshot(page, "dashboard-row-confirmed-by")

        await mark.locator("button[data-undo]").click()
        await page.wait_for_function(
            "sel => { const r = document.querySelector(sel); return r && r.dataset.status === 'pending'; }",
            arg=row, timeout=WAIT_MS)
        assert await page.inner_text("[data-flash]") == "佐藤 花子：直接確認を取り消し、元の状況に戻しました。"
        assert await page.locator(f"{row} [data-done]").count() == 0
        assert await w.status("A-002") == "pending"
        assert [(e.status, e.actor) for e in await w.store.replies.history(w.campaign_id, hh)] == [
            ("confirmed_in_person", "head_a"), ("undo", "head_a")]
        await page.reload()
        assert await page.is_visible(f'{row} button[data-confirm="visit"]')  # to tap again


async def test_a_handled_request_is_reopened_after_a_reload(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-004", "need_help", note="足を怪我")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        hh = w.hh("A-004").id
        card = f'.help-card[data-hh="{hh}"]'
        await page.click(f"{card} button[data-handled]")
        await page.wait_for_selector(card, state="detached")

        await page.reload()
        assert await page.locator(card).count() == 0
        await page.click("[data-help-handled] summary")
        line = page.locator(f'[data-help-handled] li[data-hh="{hh}"]')
        said = await line.inner_text()
        assert "田中 美咲" in said and "HEAD_A" in said and "head_a" not in said  # her display name, as the rows
        await screenshot(page, "dashboard-handled-list")
        await line.get_by_role("button", name="対応済みを取り消す").click()
        await page.wait_for_selector(f"{card} button[data-handled]", timeout=WAIT_MS)  # the card is back
        assert await line.inner_text() == "田中 美咲：対応済みを取り消し、対応待ちに戻しました。"
        assert [r.household_id for r in await w.store.replies.help_list(w.campaign_id)] == [hh]


async def test_a_deputys_visit_says_who_on_the_heads_open_page(tmp_path: Path) -> None:
    """The head's page, open while a deputy confirms a household elsewhere: the row says who did it
    without a reload, and offers the head no undo of the deputy's visit. Only that row's line is read
    (review: every confirmation had each open page read its whole table again), and nobody is recorded
    as viewing households for it: the head's view is the page she loaded."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        assert w.app is not None
        page = await new_page(b)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/a/" in r.url else None)
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        hh = w.hh("A-003").id
        row = f'#hh-rows tr[data-hh="{hh}"]'
        asked.clear()
        await w.intake.confirm_in_person(w.viewer("deputy_a"), w.campaign_id, hh, "phone", note="息子さんと話した")
        mark = page.locator(f"{row} [data-done]")
        await mark.wait_for(timeout=WAIT_MS)
        said = await mark.inner_text()
        # the fixture's viewer has no staff id: the row names the login the confirmation recorded
        assert said.startswith("deputy_aが") and "に電話で確認" in said and "息子さんと話した" in said
        assert await mark.locator("button[data-undo]").count() == 0
        assert [u.split(w.url, 1)[1] for u in asked] == [
            f"/a/{w.assoc_ids[ASSOC_A]}/statuses?campaign={w.campaign_id}&hh={hh}"]

        # her own confirmation from another device of hers: the line offers her undo, naming the household
        # as her row does (the patch names it by its number alone)
        other = w.hh("A-002").id
        async with client() as phone:
            csrf = await http_login(phone, w, "head_a")
            async with phone.post(f"{w.url}/api/campaigns/{w.campaign_id}/households/{other}/confirm",
                                  json={"method": "visit"}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
        undo = page.locator(f'#hh-rows tr[data-hh="{other}"] [data-done] button[data-undo]')
        await undo.wait_for(timeout=WAIT_MS)
        assert await undo.get_attribute("data-name") == "佐藤 花子"
        assert await undo.get_attribute("aria-label") == "佐藤 花子の直接確認を取り消す"
        assert not [u for u in asked if "/households" in u]

        await w.app[AUDIT].flush()
        # the page's view, and the patch that showed the deputy's note (the one without a note is no view)
        assert [(e.actor, e.action, e.what) for e in await w.store.audit.entries() if e.action != "confirm"] == [
            ("head_a", "view", "dashboard"), ("head_a", "view", "statuses")]


async def test_a_visit_tapped_again_after_its_answer_was_lost_is_one_visit(tmp_path: Path) -> None:
    """Review: on a weak signal the server saved the visit and its answer was lost; the page said to tap
    again, and the second tap recorded a second visit, whose undo left the first standing."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b)
        # no live stream: it would show the visit the server kept and fold the row away before the tap
        # again, which is then needless (CI, under load); the tap again is what is tested here
        await page.route("**/events**", lambda route: route.abort())
        await login(page, w.url, "head_a", password("head_a"))
        hh = w.hh("A-002").id
        row = f'#hh-rows tr[data-hh="{hh}"]'
        lost = []

        async def lose_the_answer(route: Any) -> None:
            if not lost:
                await route.fetch()  # the server takes it...
                lost.append(True)
                await route.abort()  # ...and the answer never comes back
            else:
                await route.continue_()

        await page.route("**/confirm", lose_the_answer)
        await page.click(f'{row} button[data-confirm="visit"]')
        await page.wait_for_function("() => document.querySelector('[data-flash]').textContent.length > 0",
                                     timeout=WAIT_MS)
        await page.click(f'{row} button[data-confirm="visit"]')
        await page.locator(f"{row} [data-row-undo] li button[data-undo]").wait_for(timeout=WAIT_MS)  # in the row
        entries = await w.store.replies.history(w.campaign_id, hh)
        assert [e.status for e in entries] == ["confirmed_in_person"]  # one visit, as tapped
