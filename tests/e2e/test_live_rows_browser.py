"""Headless Chromium: a row changed by someone else keeps its place while the page is being touched
and while it is in sight (a deputy aiming at one household must not tap the next one as the rows
jump, nor one who read the row a while before tapping), and leaves once the hand is still and the
row out of sight. This person's own taps still apply at once (tests/e2e/test_undo_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser, login, new_page, screenshot
from dashboard_fixtures import ASSOC_A, password, world

from safetynet.clock import SystemClock

pytestmark = [pytest.mark.browser]

WAIT_MS = 8000

# the page is being scrolled for as long as this polls: a wheel every poll, until the row changes
_TOUCHING_UNTIL_SETTLING = """sel => {
  document.body.dispatchEvent(new WheelEvent("wheel", { bubbles: true }));
  const r = document.querySelector(sel);
  return r !== null && r.classList.contains("settling");
}"""


async def test_a_row_answered_elsewhere_stays_in_place_while_the_list_is_touched(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        await page.check('input[name="filter"][value="noanswer"]')
        row = f'#hh-rows tr[data-hh="{w.hh("A-002").id}"]'
        below = f'#hh-rows tr[data-hh="{w.hh("A-003").id}"]'
        before = await page.locator(below).bounding_box()
        assert before is not None

        await w.answer("A-002", "safe")  # the resident answers while the deputy scrolls the list
        await page.wait_for_function(_TOUCHING_UNTIL_SETTLING, arg=row, polling=100, timeout=WAIT_MS)
        assert await page.get_attribute(row, "data-status") == "safe"  # the news shows at once
        assert await page.is_visible(row)
        assert await page.locator(f'{row} button[data-confirm="visit"]').is_hidden()  # nothing to tap there
        assert await page.locator(below).bounding_box() == before  # the next row has not moved
        await screenshot(page, "dashboard-row-settling")

        # scrolled away, the hand still: the answered household leaves the "no answer" list
        await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        await page.wait_for_selector(row, state="hidden", timeout=WAIT_MS)
        assert not await page.locator(f"{row}.settling").count()


async def test_a_row_to_act_on_again_gets_its_buttons_back_in_sight(tmp_path: Path) -> None:
    """A deputy's visit, then its undo, both elsewhere: while visited the row in sight waits dimmed; once
    it is to visit again its buttons come back where it stands (it must not wait to be scrolled away)."""
    import aiohttp

    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        hh = w.hh("A-002").id
        row = f'#hh-rows tr[data-hh="{hh}"]'
        base = f"{w.url}/api/campaigns/{w.campaign_id}/households/{hh}"
        auth = {"Authorization": f"Bearer {w.tokens['deputy_a']}"}
        await page.locator(row).scroll_into_view_if_needed()  # in sight
        async with aiohttp.ClientSession(headers=auth) as deputy:
            async with deputy.post(f"{base}/confirm", json={"method": "visit"}) as r:
                reply_id = (await r.json())["reply_id"]
            await page.wait_for_selector(f'{row}.settling[data-status="confirmed_in_person"]', timeout=WAIT_MS)
            async with deputy.post(f"{base}/undo", json={"reply_id": reply_id}) as r:
                assert r.status == 200
        await page.wait_for_selector(f'{row}:not(.settling)[data-status="pending"] button[data-confirm="visit"]',
                                     state="visible", timeout=WAIT_MS)


async def test_a_household_asking_for_help_during_the_walk_shows_on_the_door_knock_list(tmp_path: Path) -> None:
    """Review: a household on the list answered 助けが必要 while the head walked; its row left the list
    (it had answered) and the page, with no help panel when it loaded, showed it nowhere."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        assert await page.locator("section.help").is_hidden()  # nobody asked yet: no empty panel
        row = f'tr[data-hh="{w.hh("A-002").id}"]'
        assert await page.is_visible(row)
        await w.answer("A-002", "need_help")
        card = f'section.help .help-card[data-hh="{w.hh("A-002").id}"]'
        await page.wait_for_selector(card, timeout=WAIT_MS)
        assert await page.locator("section.help").is_visible()
        await screenshot(page, "doorknock-help-during-walk")


async def test_the_last_call_for_help_marked_handled_on_the_door_knock_list_keeps_its_undo(tmp_path: Path) -> None:
    """The last hour's review: the panel, hidden once it held no card, hid the undo line of the card just
    marked 対応済み with it: a wrong tap could not be taken back."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-002", "need_help")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        await page.click(f'section.help button[data-handled="{w.hh("A-002").id}"]')
        undo = page.locator("[data-help-undo] li button")
        await undo.first.wait_for(timeout=WAIT_MS)
        assert await page.locator("section.help").is_visible() and await undo.first.is_visible()
