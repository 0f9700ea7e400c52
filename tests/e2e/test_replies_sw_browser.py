"""The service worker in headless Chromium: a push delivered to it (over the DevTools protocol, as a
push service would) shows the notification and records `read` — never an answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright
from replies_fixtures import running_app

from safetynet.domain import Status
from safetynet.domain.replies import ReplyEvent

pytestmark = [pytest.mark.browser]

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


async def test_push_to_the_service_worker_records_read(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env, async_playwright() as pw:
        household = env.hh("A-001").id
        seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(event: ReplyEvent) -> None:
            if any(t.household_id == household and t.new == Status.READ for t in event.transitions):
                if not seen.done():
                    seen.set_result(None)

        env.store.replies.add_listener(on_event)
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["notifications"], origin=env.url)
            page = await context.new_page()
            await page.goto(env.url + "/healthz")
            scope = await page.evaluate(
                "async () => { const r = await navigator.serviceWorker.register('/sw.js');"
                " await navigator.serviceWorker.ready; return r.scope; }")
            assert scope == env.url + "/"
            cdp = await context.new_cdp_session(page)
            registered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            def on_registration(e: dict[str, Any]) -> None:
                for r in e["registrations"]:
                    if r["scopeURL"] == scope and not r["isDeleted"] and not registered.done():
                        registered.set_result(r["registrationId"])

            cdp.on("ServiceWorker.workerRegistrationUpdated", on_registration)
            await cdp.send("ServiceWorker.enable")
            payload = {"title": "【訓練】安否確認", "body": "無事ですか", "url": env.reply_url("A-001"),
                       "token": env.token("A-001"), "campaign": env.campaign_id,
                       "actions": [{"action": "safe", "title": "無事です"}, {"action": "need_help", "title": "助けが必要"}]}
            await cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": env.url + "/", "registrationId": await asyncio.wait_for(registered, 10),
                "data": json.dumps(payload, ensure_ascii=False)})
            await asyncio.wait_for(seen, 10)
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.READ
        entries = await env.store.replies.history(env.campaign_id, household)
        assert [(e.status, e.channel) for e in entries] == [("read", "webpush")]
