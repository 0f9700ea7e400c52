"""Headless Chromium: a wrong tap on safety data can be taken back. 訪問 on a head's dashboard offers
an undo that stays above the table (the row itself leaves the "no answer" filter at once); 削除 on
the enrolment page asks first, and works without JavaScript as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import PHONE, browser, screenshot
from replies_fixtures import enrolment_code, running_app

from safetynet.domain import ContactKind

pytestmark = [pytest.mark.browser]

WAIT_MS = 5000


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
        assert household is not None and ContactKind.LANDLINE in {c.kind for c in household.contacts}

        await landline.get_by_role("button", name="削除").click()
        await page.get_by_role("button", name="削除する").click()
        await page.wait_for_load_state()
        assert await page.inner_text("p.notice") == "削除しました。"
        assert await landline.count() == 0
        household = await env.store.roster.get_household(env.hh("A-002").id)
        assert household is not None and ContactKind.LANDLINE not in {c.kind for c in household.contacts}

        # the household's last contact: the question says what removing it means
        await page.goto(f"{env.url}/join/{await enrolment_code(env, 'A-001')}")
        await page.locator("ul.channels li").get_by_role("button", name="削除").click()
        await page.wait_for_load_state()
        assert "これが最後の連絡先です" in await page.get_by_role("alert").inner_text()
        await screenshot(page, "join-remove-last-contact")
        await ctx.close()
