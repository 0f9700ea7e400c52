"""Headless Chromium: a drill's dashboard and the city overview, open when a real event starts, say
一時停止中 beside 実施中 without a reload, and take it away when the real event closes (the live stream's
`paused`; tests/integration/test_paused_drill.py for the pages as loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser, login, new_page, screenshot
from dashboard_fixtures import ASSOC_A, ASSOC_B, password, start_campaign, world

from safetynet.clock import SystemClock
from safetynet.domain import CampaignKind

pytestmark = [pytest.mark.browser]

WAIT_MS = 8000
PAUSED = "p.campaign [data-campaign-paused]"


async def test_open_pages_say_the_drill_is_paused_while_a_real_event_runs(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        head, admin = await new_page(b, phone=True), await new_page(b)
        await login(head, w.url, "head_a", password("head_a"))
        await login(admin, w.url, "admin", password("admin"))
        await admin.goto(f"{w.url}/city?campaign={w.campaign_id}")
        for page in (head, admin):
            await page.wait_for_selector("[data-live].on")
            assert await page.locator(PAUSED).is_hidden()
        assert await head.evaluate("() => location.pathname") == f"/a/{w.assoc_ids[ASSOC_A]}"

        real = await start_campaign(w, CampaignKind.REAL, scope=(f"association:{ASSOC_B}",), title="地震")
        for page in (head, admin):
            await page.wait_for_selector(PAUSED, state="visible", timeout=WAIT_MS)
            assert (await page.inner_text(PAUSED)).startswith("一時停止中")
        assert await head.inner_text("p.campaign [data-campaign-state]") == "実施中"
        await screenshot(head, "dashboard-drill-paused", full_page=False)

        assert await w.store.campaigns.close(real, w.clock.now())
        for page in (head, admin):
            await page.wait_for_selector(PAUSED, state="hidden", timeout=WAIT_MS)
