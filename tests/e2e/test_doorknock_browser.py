"""The door-knock list split among the head and the deputies (the dashboard's 班 filter carried to it), and
the list as Chromium prints it on A4 (read back with pdftotext): whole words, a column for the pen."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser, login, new_page
from dashboard_fixtures import ASSOC_A, password, world

pytestmark = [pytest.mark.browser]


async def test_the_dashboards_link_takes_the_group_chosen_in_its_filter_to_the_door_knock_list(tmp_path: Path) -> None:
    """QA (heads' walk): every person got the whole list; the dashboard's 班 filter stopped at the dashboard."""
    async with world(tmp_path) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "deputy_a", password("deputy_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}")
        await page.select_option('[data-filters] select[name="group"]', "2班")  # in place, no reload (dash.js)
        async with page.expect_navigation():
            await page.click("a[data-doorknock-link]")
        assert "group=2%E7%8F%AD" in page.url
        assert await page.text_content("h1") == "2班 の戸別訪問リスト — 桜町一丁目町会"
        groups = await page.eval_on_selector_all("section.dk-group h2", "hs => hs.map(h => h.textContent)")
        assert [g.split(":")[1].split("(")[0].strip() for g in groups] == ["2班"]
        # the page's own choice: tick 1班 too
        await page.check('[data-dk-groups] input[value="1班"]')
        async with page.expect_navigation():
            await page.click("[data-dk-groups] button[type=submit]")
        assert await page.text_content("h1") == "1班・2班 の戸別訪問リスト — 桜町一丁目町会"
        assert await page.locator("section.dk-group").count() == 2
