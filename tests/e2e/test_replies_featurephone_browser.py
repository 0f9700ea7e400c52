"""A feature phone (ガラケー/ガラホ) answering from its carrier mail: the mail's link opens the reply
page in a browser with no script, no cookies and a 240 px screen; a plain form POST records it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, artifact, chromium_ready
from channel_helpers import outbound
from playwright.async_api import async_playwright
from replies_fixtures import running_app
from test_replies_browser import _stats

from safetynet.channels.email.resident import reply_url_in
from safetynet.i18n import t

pytestmark = [pytest.mark.browser]

# A docomo ガラホ's browser (an Android-based feature phone).
FEATURE_PHONE_UA = "Mozilla/5.0 (Linux; Android 4.4.4; SH-01J Build/S3080) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/33.0.0.0 Mobile Safari/537.36"
SCREEN = {"width": 240, "height": 320}


async def test_a_feature_phone_answers_from_its_mail_without_script_or_cookies(tmp_path: Path) -> None:
    chromium_ready()
    async with running_app(tmp_path) as env, async_playwright() as pw:
        hh = env.hh("A-001")
        url = env.reply_url("A-001")
        msg = dataclasses.replace(outbound("email", "sakura@docomo.ne.jp", household_id=hh.id,
                                           text=f"{t('ja', 'message.reply_label')}: {url}\n\n震度5強の地震がありました。",
                                           public_url=env.url), reply_url=url, title="安否確認")
        await env.senders["email"].send(msg)
        (mail,) = env.sandbox.messages("email")
        link = reply_url_in(mail.text)
        assert link == url and mail.text and mail.text.startswith(t("ja", "message.reply_label"))

        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await b.new_context(viewport=SCREEN, user_agent=FEATURE_PHONE_UA, java_script_enabled=False,
                                      locale="ja-JP", is_mobile=True)
            page = await ctx.new_page()
            first = await page.goto(link)
            assert first is not None and first.status == 200
            assert "set-cookie" not in {k.lower() for k in first.headers}  # nothing to keep between requests
            await page.screenshot(path=str(artifact("reply-page-featurephone.png")), full_page=True)
            need_help = page.get_by_role("button", name=t("ja", "reply.need_help_button"))
            box = await need_help.bounding_box()
            # the answer first, the seven language names after it (they took the whole first screen)
            safe = await page.get_by_role("button", name=t("ja", "reply.safe_button")).bounding_box()
            languages = await page.locator("nav.lang").bounding_box()
            jump = await page.locator(".lang-jump a").bounding_box()
            assert safe is not None and languages is not None and jump is not None
            assert jump["y"] < safe["y"] < languages["y"] and jump["height"] < 40  # one line leads down to them
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= SCREEN["width"]  # fits the screen
            async with page.expect_navigation():
                await need_help.click()
            assert t("ja", "reply.need_help_recorded") in await page.get_by_role("status").inner_text()
            assert await ctx.cookies() == []
            await page.screenshot(path=str(artifact("reply-page-featurephone-recorded.png")), full_page=True)
        finally:
            await b.close()
        household = await env.store.roster.get_household(hh.id)
        assert household is not None
        doc = await _stats(env)
        assert doc["status"]["need_help"] == 1  # type: ignore[index]
