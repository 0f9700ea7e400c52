"""Headless Chromium: a wrong tap on safety data can be taken back. 訪問 on a head's dashboard offers
an undo in the row, which stays where it was, marked confirmed, while its undo does (though the "no answer"
filter or a phone's fold would take it away), 対応済み an
undo that stays above the help list (the card leaves it at once); 訪問 on the door-knock list an undo
beside the row, which stays ticked; 削除 on the enrolment page asks
first, and works without JavaScript as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import PHONE, browser, login, new_page, screenshot
from dashboard_fixtures import ASSOC_A, password, world
from replies_fixtures import enrolment_code, running_app

from safetynet.clock import SystemClock

pytestmark = [pytest.mark.browser]

WAIT_MS = 5000


async def test_a_wrong_visit_tap_is_undone_from_the_dashboard(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid = w.assoc_ids[ASSOC_A]
        hh = w.hh("A-002").id
        row = f'#hh-rows tr[data-hh="{hh}"]'
        assert await page.get_attribute("main", "data-undo-seconds") == "300"
        await page.check('input[name="filter"][value="noanswer"]')

        await page.click(f'{row} button[data-confirm="visit"]')
        line = page.locator(f"{row} [data-row-undo] li").first
        await line.locator("button[data-undo]").wait_for(timeout=WAIT_MS)
        assert await line.locator("span").inner_text() == "佐藤 花子：訪問で確認済みにしました。"
        assert await line.locator("button[data-undo]").inner_text() == "取り消す"
        # answered, yet kept in the "no answer" list with its undo, marked confirmed (review: on a phone the
        # row went and its undo showed far above, out of sight)
        assert await page.is_visible(row) and await line.is_visible()
        assert await page.get_attribute(row, "data-status") == "confirmed_in_person"
        assert await page.locator("[data-undo-list] li").count() == 0
        assert await w.status("A-002") == "confirmed_in_person"
        await screenshot(page, "dashboard-undo-offered")

        door = await new_page(b)
        await login(door, w.url, "head_a", password("head_a"))
        await door.goto(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}")
        assert await door.locator(f'table.dk tr[data-hh="{hh}"]').count() == 0

        await line.locator("button[data-undo]").click()
        await page.wait_for_function(
            "sel => { const r = document.querySelector(sel); return r && r.dataset.status === 'pending' && !r.hidden; }",
            arg=row, timeout=WAIT_MS)
        assert await line.inner_text() == "佐藤 花子：直接確認を取り消し、元の状況に戻しました。"
        assert await w.status("A-002") == "pending"
        entries = await w.store.replies.history(w.campaign_id, hh)
        assert [(e.status, e.actor, e.undone) for e in entries] == [
            ("confirmed_in_person", "head_a", True), ("undo", "head_a", False)]
        await screenshot(page, "dashboard-undo-done")

        await door.reload()  # back on the door-knock list
        assert await door.locator(f'table.dk tr[data-hh="{hh}"]').count() == 1


async def test_a_visit_tapped_on_a_phones_dashboard_keeps_its_row_and_undo_where_the_tap_was(tmp_path: Path) -> None:
    """Review: on a phone the confirmed row folded away under 回答済み at once and its undo line showed above
    the table, out of sight: a mistaken tap could not be undone where it was made."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        row = f'#hh-rows tr[data-hh="{w.hh("A-005").id}"]'
        button = page.locator(f'{row} button[data-confirm="phone"]')
        await button.scroll_into_view_if_needed()
        tapped = await button.bounding_box()
        assert tapped is not None

        await button.tap()
        undo = page.locator(f"{row} [data-row-undo] li button[data-undo]")
        await undo.wait_for(timeout=WAIT_MS)
        assert await w.status("A-005") == "confirmed_in_person"
        assert await page.is_visible(row)  # not folded away with the answered
        assert "確認済" in await page.inner_text(f"{row} .st .status")  # marked confirmed
        # the undo is in sight, where the tap was made
        at = await undo.bounding_box()
        assert at is not None and 0 <= at["y"] and at["y"] + at["height"] <= PHONE["height"]
        assert abs(at["y"] - tapped["y"]) < PHONE["height"] / 2
        # the live stream's news of it (who confirmed) offers no second 取り消す beside the line's
        await page.wait_for_selector(f"{row} [data-done]", timeout=WAIT_MS)
        assert await page.locator(f"{row} button[data-undo]:visible").count() == 1
        await screenshot(page, "dashboard-phone-undo-in-row")

        await undo.tap()
        await page.wait_for_function(
            "sel => { const r = document.querySelector(sel); return r && r.dataset.status !== 'confirmed_in_person'; }",
            arg=row, timeout=WAIT_MS)
        assert await w.status("A-005") != "confirmed_in_person"
        assert await page.locator(f'{row} button[data-confirm="phone"]').is_visible()  # to tap again


async def test_a_visit_is_recorded_and_undone_on_the_doorknock_list_on_a_phone(tmp_path: Path) -> None:
    """The walker taps 訪問で確認 on the row: recorded, the row stays in place ticked and dimmed with
    its undo line beside it (not at the top of a long list); 取り消す takes it back."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid, hh = w.assoc_ids[ASSOC_A], w.hh("A-002").id
        await page.goto(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        row = f'table.dk tr[data-hh="{hh}"]'
        todo = await page.inner_text("[data-dk-count]")
        assert await page.inner_text(f"{row} .box") == "☐"

        await page.tap(f'{row} button[data-confirm="visit"]')
        line = page.locator(f"{row} [data-row-undo] li").first
        await line.locator("button[data-undo]").wait_for(timeout=WAIT_MS)
        assert await line.locator("span").inner_text() == "佐藤 花子：訪問で確認済みにしました。"
        assert await w.status("A-002") == "confirmed_in_person"
        entries = await w.store.replies.history(w.campaign_id, hh)
        assert [(e.status, e.actor) for e in entries] == [("confirmed_in_person", "head_a")]
        assert await page.is_visible(row) and await page.inner_text(f"{row} .box") == "☑"
        assert "done" in (await page.get_attribute(row, "class") or "")
        assert await page.locator(f"{row} button[data-confirm]").first.is_hidden()  # nothing left to tap
        assert int(await page.inner_text("[data-dk-count]")) == int(todo) - 1
        await screenshot(page, "doorknock-visit-undo-offered")

        await line.locator("button[data-undo]").tap()
        await page.wait_for_function(
            "sel => { const r = document.querySelector(sel); return r && r.dataset.status === 'pending'; }",
            arg=row, timeout=WAIT_MS)
        assert await line.inner_text() == "佐藤 花子：直接確認を取り消し、元の状況に戻しました。"
        assert await w.status("A-002") == "pending"
        # the row as it was, to tap again. Waited for, not read at once: under load the live stream's news of
        # the confirmation (read before the undo) may come after it and show it a moment, until the undo's
        # own news follows (CI's PostgreSQL pass once read the row in that moment)
        await page.wait_for_function(
            """sel => { const r = document.querySelector(sel); const b = r && r.querySelector('button[data-confirm="visit"]');
                        return r && r.dataset.status === 'pending' && r.querySelector('.box').textContent === '☐'
                               && !r.classList.contains('done') && b && b.offsetParent !== null; }""",
            arg=row, timeout=WAIT_MS)
        assert await page.inner_text("[data-dk-count]") == todo
        await screenshot(page, "doorknock-visit-undone")


async def test_a_wrong_handled_tap_is_undone_from_the_dashboard(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-004", "need_help", note="足を怪我")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        hh = w.hh("A-004").id
        card = f'.help-card[data-hh="{hh}"]'
        assert "足を怪我" in await page.inner_text(card)

        await page.click(f"{card} button[data-handled]")
        line = page.locator("[data-help-undo] li").first
        await line.locator("button[data-reopen]").wait_for(timeout=WAIT_MS)
        assert await line.locator("span").inner_text() == "田中 美咲：対応済みにしました。"
        assert await line.locator("button[data-reopen]").inner_text() == "取り消す"
        await page.wait_for_selector(card, state="detached")  # off the list at once, the undo stays
        assert await w.store.replies.help_list(w.campaign_id) == []
        await screenshot(page, "dashboard-handled-undo-offered")

        await line.locator("button[data-reopen]").click()
        await page.wait_for_selector(f"{card} button[data-handled]", timeout=WAIT_MS)  # the card is back
        assert "足を怪我" in await page.inner_text(card)
        assert await line.inner_text() == "田中 美咲：対応済みを取り消し、対応待ちに戻しました。"
        assert await page.inner_text("[data-help-count]") == "1"
        (row,) = await w.store.replies.help_list(w.campaign_id)
        assert (row.household_id, row.handled_at, row.handled_by) == (hh, None, None)
        await screenshot(page, "dashboard-handled-undone")

        # the card came back as it was: 対応済み works on it again
        await page.click(f"{card} button[data-handled]")
        await page.wait_for_selector(card, state="detached")
        assert [r.household_id for r in await w.store.replies.help_list(w.campaign_id, include_handled=True)
                if r.handled_at] == [hh]


async def test_an_old_undo_of_handled_says_someone_else_marked_it_since(tmp_path: Path) -> None:
    """The head's 取り消す, offered for their 対応済み, meets a deputy's later mark (put back and marked
    again meanwhile): the line says so, the deputy's mark stands and the card stays off the list."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-004", "need_help")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        hh = w.hh("A-004").id
        await page.click(f'.help-card[data-hh="{hh}"] button[data-handled]')
        line = page.locator("[data-help-undo] li").first
        await line.locator("button[data-reopen]").wait_for(timeout=WAIT_MS)

        assert await w.store.replies.reopen_help(w.campaign_id, hh) is True  # the city puts it back
        assert await w.store.replies.mark_handled(w.campaign_id, hh, None, "deputy_a") is True

        await line.locator("button[data-reopen]").click()
        await page.wait_for_function("li => !li.querySelector('button[data-reopen]')",
                                     arg=await line.element_handle(), timeout=WAIT_MS)
        assert await line.inner_text() == "田中 美咲：その後ほかの人が対応済みにしたため、取り消せません。"
        (row,) = await w.store.replies.help_list(w.campaign_id, include_handled=True)
        assert row.handled_at is not None and row.handled_by == "deputy_a"
        # the put-back and the deputy's mark reach the page by its live stream, one after the other:
        # the card the put-back may have shown again leaves with the mark (CI on PostgreSQL once
        # read the list between the two)
        await page.locator(f'.help-card[data-hh="{hh}"]').wait_for(state="detached", timeout=WAIT_MS)
        await screenshot(page, "dashboard-handled-undo-refused")


async def test_removing_a_contact_asks_first_without_javascript(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env, browser() as b:
        ctx = await b.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="ja-JP", java_script_enabled=False)
        page = await ctx.new_page()
        code = await enrolment_code(env, "A-002")
        await page.goto(f"{env.url}/join/{code}")
        landline = page.locator("ul.channels li", has_text="固定電話")

        await landline.get_by_role("button", name="削除").click()
        await page.wait_for_load_state()
        assert "この連絡先を削除しますか？ 固定電話（音声） …0002" in await page.inner_text("main")
        await screenshot(page, "join-remove-confirm")
        await page.get_by_role("link", name="やめる（削除しない）").click()
        await page.wait_for_load_state()
        assert await landline.count() == 1  # kept
        household = await env.store.roster.get_household(env.hh("A-002").id)
        assert household is not None and "landline" in {c.kind for c in household.contacts}

        await landline.get_by_role("button", name="削除").click()
        await page.get_by_role("button", name="削除する").click()
        await page.wait_for_load_state()
        assert await page.inner_text("p.notice") == "削除しました。"
        assert await landline.count() == 0
        household = await env.store.roster.get_household(env.hh("A-002").id)
        assert household is not None and "landline" not in {c.kind for c in household.contacts}

        # the household's last contact: the question says what removing it means
        await page.goto(f"{env.url}/join/{await enrolment_code(env, 'A-001')}")
        await page.locator("ul.channels li").get_by_role("button", name="削除").click()
        await page.wait_for_load_state()
        assert "これが最後の連絡先です" in await page.get_by_role("alert").inner_text()
        await screenshot(page, "join-remove-last-contact")
        await ctx.close()
