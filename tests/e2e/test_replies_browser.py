"""A resident on a phone: opens the reply page in headless Chromium, taps 無事です, sees the confirmation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright
from replies_fixtures import running_app

from safetynet.domain.shares import share
from safetynet.stats.document import build_stats

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextlib.asynccontextmanager
async def phone_page(width: int, scale: int | None = None) -> AsyncIterator[Page]:
    """A touch phone of `width` CSS px with JavaScript off (a reply page works without it), closed after."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": width, "height": 740}, is_mobile=True,
                                                has_touch=True, java_script_enabled=False,
                                                **({"device_scale_factor": scale} if scale else {}))
            yield await context.new_page()
        finally:
            await browser.close()


async def _stats(env: object) -> dict[str, object]:
    store = env.store  # type: ignore[attr-defined]
    reads = store.stats
    campaign = {"id": env.campaign_id, "kind": "drill", "state": "running"}  # type: ignore[attr-defined]
    return build_stats(campaign, await reads.counts(env.campaign_id), await reads.minutes(env.campaign_id),  # type: ignore[attr-defined]
                       await reads.associations())


async def test_phone_taps_safe_and_the_stats_count_it(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_app(tmp_path) as env:
        async with phone_page(360, scale=2) as page:
            await page.goto(env.reply_url("A-001"))
            await page.screenshot(path=str(ARTIFACTS / "reply-page-question.png"), full_page=True)
            button = page.get_by_role("button", name="無事です")
            box = await button.bounding_box()
            assert box is not None and box["height"] >= 60 and box["width"] >= 300  # a thumb finds it
            await button.tap()
            await page.wait_for_load_state()
            status = page.get_by_role("status")
            assert "「無事」と記録しました" in await status.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "reply-page-confirmed.png"), full_page=True)
        doc = await _stats(env)
        assert doc["status"]["safe"] == 1  # type: ignore[index]
        assert doc["answered_rate"] == share(1, len(env.households))  # rounded down (domain.shares)


async def test_back_after_sending_details_shows_the_answer_again_not_a_browser_error(tmp_path: Path) -> None:
    """助けが必要, then the details, then Back: the page before (a POST's answer) comes back from the
    browser's own cache instead of Chromium's "Confirm Form Resubmission" error (ERR_CACHE_MISS)."""
    async with running_app(tmp_path) as env:
        async with phone_page(375) as page:
            await page.goto(env.reply_url("A-001"))
            async with page.expect_navigation():
                await page.get_by_role("button", name="助けが必要").tap()
            assert "「助けが必要」と記録しました" in await page.get_by_role("status").inner_text()
            await page.fill("textarea[name=note]", "2階にいます")
            async with page.expect_navigation():
                await page.get_by_role("button", name="送信する").tap()
            assert "受け取りました" in await page.inner_text("body")
            await page.go_back()
            assert "「助けが必要」と記録しました" in await page.get_by_role("status").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "reply-page-back-after-details.png"), full_page=True)
        assert await env.history("A-001") == ["read", "need_help", "need_help"]  # Back sent nothing again


async def test_after_need_help_the_way_back_to_safe_is_set_apart_from_send(tmp_path: Path) -> None:
    """QA: after 助けが必要 the big green 「回答を変更: 無事です」 sat right under 送信する: a hurried second
    tap could take the request back. It is outlined, below a line, well apart; after 無事 the way to
    助けが必要 stays filled and close."""
    async with running_app(tmp_path) as env:
        async with phone_page(360) as page:
            await page.goto(env.reply_url("A-001"))
            async with page.expect_navigation():
                await page.get_by_role("button", name="助けが必要").tap()
            send = await page.get_by_role("button", name="送信する").bounding_box()
            safe = page.locator("form.change button")
            back = await safe.bounding_box()
            assert send is not None and back is not None and back["y"] - (send["y"] + send["height"]) >= 48
            filled = await safe.evaluate("b => getComputedStyle(b).backgroundColor")
            assert filled in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")  # outlined, not a green block
            await page.screenshot(path=str(ARTIFACTS / "reply-page-need-help-change-apart.png"), full_page=True)
            await page.goto(env.reply_url("A-002"))
            async with page.expect_navigation():
                await page.get_by_role("button", name="無事です").tap()
            help_back = page.locator("form.change button")
            assert await help_back.evaluate("b => getComputedStyle(b).backgroundColor") not in (
                "rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")


async def test_the_reply_flow_asks_for_nothing_but_its_pages_and_stays_on_the_front(tmp_path: Path) -> None:
    """Issue 18: the page's stylesheets were links, so a phone's next request on the connection was a
    stylesheet, which aiohttp serves; aiohttp then kept the connection and the answer went through it,
    not through the front the reply routes have (and a lost stylesheet left the buttons small). Each
    page of the flow now carries its styles: the phone asks for the page and sends the answer, nothing
    else, and the front answers both (its answers carry no Server header; aiohttp's do)."""
    async with running_app(tmp_path) as env:
        async with phone_page(360) as page:
            asked: list[str] = []
            page.on("request", lambda r: asked.append(f"{r.method} {r.url.removeprefix(env.url)}"))
            opened = await page.goto(env.reply_url("A-001"))
            assert opened is not None and "server" not in await opened.all_headers()
            button = page.get_by_role("button", name="無事です")
            box = await button.bounding_box()
            assert box is not None and box["height"] >= 60  # styled without a stylesheet of its own
            async with page.expect_navigation() as answered:
                await button.tap()
            response = await answered.value
            assert response is not None and response.status == 200
            assert "server" not in await response.all_headers()
            assert "「無事」と記録しました" in await page.get_by_role("status").inner_text()
            path = env.reply_url("A-001").removeprefix(env.url)
            assert asked == [f"GET {path}", f"POST {path}"]
