"""iPhone web push in headless Chromium: the join page's web app manifest is valid and installable, an
iPhone is told to add the page to its Home Screen first, and the app opened from there subscribes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, browser, chromium_ready, screenshot
from playwright.async_api import Browser, Page, async_playwright
from replies_fixtures import Env, enrolment_code, running_app

from safetynet.i18n import t
from safetynet.web.pwa_icons import icon_png

pytestmark = [pytest.mark.browser]

IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
             " Version/17.4 Mobile/15E148 Safari/604.1")
# What iOS gives a web app opened from the Home Screen: navigator.standalone.
STANDALONE = "Object.defineProperty(Navigator.prototype, 'standalone', {get: () => true});"


async def _page(b: Browser, env: Env, *, user_agent: str | None = None, init: str = "") -> Page:
    ctx = await b.new_context(user_agent=user_agent, viewport={"width": 390, "height": 844},
                              locale="ja-JP", timezone_id="Asia/Tokyo")
    ctx.set_default_timeout(10_000)
    await ctx.grant_permissions(["notifications"], origin=env.url)
    if init:
        await ctx.add_init_script(init)
    return await ctx.new_page()


async def test_the_manifest_is_valid_and_the_page_installable(tmp_path: Path) -> None:
    chromium_ready()
    async with running_app(tmp_path) as env, async_playwright() as pw:
        code = await enrolment_code(env, "A-001")
        # a profile on disk: Chromium never offers to install from an incognito context
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 390, "height": 844}, locale="ja-JP")
        ctx.set_default_timeout(10_000)
        page = ctx.pages[0] if ctx.pages else await ctx.new_page()
        await page.goto(f"{env.url}/join/{code}")
        cdp = await page.context.new_cdp_session(page)
        got: dict[str, Any] = await cdp.send("Page.getAppManifest", {})
        assert got["errors"] == [], got["errors"]
        assert got["url"] == f"{env.url}/join/{code}/manifest.webmanifest?lang=ja"
        manifest = json.loads(got["data"])
        assert manifest["display"] == "standalone" and manifest["scope"] == "/"
        assert manifest["name"] == "さくら市 安否確認" and manifest["short_name"] == "安否確認" and manifest["lang"] == "ja"
        assert manifest["start_url"] == f"/join/{code}?lang=ja&source=homescreen"
        # the service worker the page registers is the one whose scope is the app's
        scope = await page.evaluate("async () => (await navigator.serviceWorker.register('/sw.js', {scope: '/'})).scope")
        assert scope == f"{env.url}/"
        await page.evaluate("() => navigator.serviceWorker.ready")
        errors = await cdp.send("Page.getInstallabilityErrors", {})
        assert errors["installabilityErrors"] == [], errors
        for icon in manifest["icons"]:
            size = int(icon["sizes"].split("x")[0])
            shown = await page.evaluate(
                "async (src) => { const i = new Image(); i.src = src; await i.decode(); return [i.naturalWidth, i.naturalHeight]; }",
                icon["src"])
            assert shown == [size, size]
        touch = await page.evaluate("() => document.querySelector('link[rel=apple-touch-icon]').href")
        assert touch == f"{env.url}/icons/icon-180.png" and icon_png(180).startswith(b"\x89PNG")
        # a desktop browser sees no iPhone steps, and the notification button at once
        assert await page.locator("#iphone").is_hidden() and await page.locator("#push-on").is_visible()
        await ctx.close()


async def test_an_iphone_adds_the_page_to_the_home_screen_then_subscribes_from_there(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env, browser() as b:
        code = await enrolment_code(env, "A-001")
        in_safari = await _page(b, env, user_agent=IPHONE_UA)
        await in_safari.goto(f"{env.url}/join/{code}")
        hint = in_safari.locator("#iphone")
        assert await hint.is_visible()
        assert "ホーム画面に追加" in await hint.inner_text()
        assert await in_safari.locator("#push-on").is_hidden()  # it could only fail in a Safari tab
        assert "ホーム画面に追加した「安否確認」から" in await in_safari.locator("#push-nojs").inner_text()
        await screenshot(in_safari, "join-iphone-safari")

        async with env.http.get(f"{env.url}/join/{code}/manifest.webmanifest") as r:
            start_url = (await r.json(content_type=None))["start_url"]
        sub = env.sandbox.fake("webpush").subscribe(str(env.senders["webpush"].keys.application_server_key))  # type: ignore[attr-defined]
        # headless Chromium reaches no real push service: the subscription comes from the sandbox's
        fake_subscribe = (STANDALONE + "PushManager.prototype.subscribe = async function () {"
                          f" const s = {json.dumps(sub)}; return {{toJSON: () => s}}; }};")
        from_home = await _page(b, env, user_agent=IPHONE_UA, init=fake_subscribe)
        await from_home.goto(env.url + start_url)
        assert await from_home.locator("#iphone").is_hidden()
        button = from_home.locator("#push-on")
        assert await button.is_visible()
        await button.click()
        await from_home.wait_for_function("() => document.getElementById('push-status').textContent.length > 0")
        assert await from_home.locator("#push-status").inner_text() == "この端末を登録しました。"
        await screenshot(from_home, "join-iphone-home-screen")
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None
        (contact,) = [c for c in household.contacts if c.kind == "webpush"]
        assert json.loads(contact.address)["endpoint"] == sub["endpoint"]


async def test_a_subscription_the_push_service_dropped_is_replaced_not_revived(tmp_path: Path) -> None:
    """Review: a push answered 410 marked the contact dead; the browser still held that subscription, the
    join page sent it again, the store revived it, the page said 「登録しました」 and the next push failed.
    Now the server refuses it (410) and the page unsubscribes, subscribes anew and sends the new one."""
    async with running_app(tmp_path) as env, browser() as b:
        code = await enrolment_code(env, "A-001")
        key = str(env.senders["webpush"].keys.application_server_key)
        old = env.sandbox.fake("webpush").subscribe(key)  # type: ignore[attr-defined]
        new = env.sandbox.fake("webpush").subscribe(key)  # type: ignore[attr-defined]
        hid = env.hh("A-001").id
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=old) as resp:  # enrolled once, as ever
            assert resp.status == 201
            contact_id = (await resp.json())["contact_id"]
        assert await env.store.roster.mark_contact_dead(contact_id, "subscription_gone")  # a push got 410
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=old) as resp:
            assert resp.status == 410  # sent again as it was: refused, not revived
        # the browser kept the old one (getSubscription); a new subscribe gives the new one
        held = ("window.__unsubscribed = false;"
                f" const held = {{toJSON: () => ({json.dumps(old)}),"
                " unsubscribe: async () => { window.__unsubscribed = true; return true; }};"
                " PushManager.prototype.getSubscription = async function () { return window.__unsubscribed ? null : held; };"
                f" PushManager.prototype.subscribe = async function () {{ const s = {json.dumps(new)};"
                " return {toJSON: () => s, unsubscribe: async () => true}; };")
        page = await _page(b, env, init=held)
        await page.goto(f"{env.url}/join/{code}")
        await page.locator("#push-on").click()
        await page.wait_for_function("() => document.getElementById('push-status').textContent.length > 0")
        assert await page.locator("#push-status").inner_text() == "この端末を登録しました。"
        assert await page.evaluate("() => window.__unsubscribed") is True
        household = await env.store.roster.get_household(hid)
        assert household is not None
        pushes = {json.loads(c.address)["endpoint"]: c.working for c in household.contacts if c.kind == "webpush"}
        assert pushes == {old["endpoint"]: False, new["endpoint"]: True}


async def test_an_iphone_in_lines_browser_is_told_to_open_safari_and_an_old_one_its_version(tmp_path: Path) -> None:
    """Review: an iPhone scanning the letter's QR code with LINE opens the page in LINE's own browser, whose
    menu has no share button; an iPhone before iOS 16.4 opened from the Home Screen was told only to check
    its browser's settings."""
    async with running_app(tmp_path) as env, browser() as b:
        code = await enrolment_code(env, "A-001")
        in_line = await _page(b, env, user_agent=IPHONE_UA + " Line/14.3.0")
        await in_line.goto(f"{env.url}/join/{code}")
        steps = await in_line.locator("#iphone li").all_inner_texts()
        assert steps[0] == t("ja", "join.iphone_step_in_app") and len(steps) == 5
        in_safari = await _page(b, env, user_agent=IPHONE_UA)
        await in_safari.goto(f"{env.url}/join/{code}")
        assert t("ja", "join.iphone_step_in_app") not in await in_safari.locator("#iphone").inner_text()
        old = await _page(b, env, user_agent=IPHONE_UA, init=STANDALONE + "delete window.PushManager;")
        await old.goto(f"{env.url}/join/{code}")
        assert await old.locator("#push-nojs").inner_text() == t("ja", "join.iphone_version")
        assert await old.locator("#push-on").is_hidden()
