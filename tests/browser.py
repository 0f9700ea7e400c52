"""Shared Playwright helpers: Debian's headless Chromium, phone and desktop pages, artifacts.

    async with browser() as b:
        page = await new_page(b, phone=True)
        await page.goto(url)
        await screenshot(page, "reply-page")

Screenshots and PDFs go to `test-artifacts/` at the repository root (kept by CI).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("SAFETYNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def chromium_ready() -> None:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    chromium_ready()
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def new_page(b: Browser, *, phone: bool = False, locale: str = "ja-JP") -> Page:
    """A page in its own context (own cookies); phone = 360 px wide, touch, 2x pixels."""
    ctx = await b.new_context(
        viewport=PHONE if phone else DESKTOP, device_scale_factor=2 if phone else 1, is_mobile=phone,
        has_touch=phone, locale=locale, timezone_id="Asia/Tokyo",
    )
    ctx.set_default_timeout(10_000)
    return await ctx.new_page()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


async def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    path = artifact(f"{name}.png")
    await page.screenshot(path=str(path), full_page=full_page)
    return path


async def pdf(page: Page, name: str) -> Path:
    """Prints the page as the browser would (print CSS, A4) to `test-artifacts/NAME.pdf`."""
    path = artifact(f"{name}.pdf")
    await page.emulate_media(media="print")
    await page.pdf(path=str(path), format="A4", print_background=True, prefer_css_page_size=True)
    await page.emulate_media(media="screen")
    return path


async def login(page: Page, base_url: str, user: str, password: str) -> None:
    """Logs in through the staff login form and waits for the landing page."""
    await page.goto(f"{base_url}/login")
    await page.fill('input[name="login"]', user)
    await page.fill('input[name="password"]', password)
    async with page.expect_navigation():
        await page.click('form.login button[type="submit"]')
