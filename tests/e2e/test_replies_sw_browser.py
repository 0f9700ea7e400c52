"""The service worker in headless Chromium: a push delivered to it (over the DevTools protocol, as a
push service would) shows the notification and records `read` — never an answer; a tap without
signal is kept and sent when the phone is back online (Background Sync)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, Worker, async_playwright
from replies_fixtures import running_app

from safetynet.channels.labels import pending_text
from safetynet.domain import Status
from safetynet.domain.replies import ReplyEvent
from safetynet.replies import texts

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


async def _service_worker(context: BrowserContext, page: Page, url: str) -> Worker:
    await page.goto(url + "/healthz")
    await page.evaluate("async () => { await navigator.serviceWorker.register('/sw.js'); await navigator.serviceWorker.ready; }")
    worker = context.service_workers[0] if context.service_workers else await context.wait_for_event("serviceworker")
    # the worker flushes its queue when it activates: a test's own flush must not share that one's result
    await worker.evaluate(IDLE)
    return worker


IDLE = "async () => { while (flushing !== null || flushAgain !== null) await (flushAgain || flushing).catch(() => {}); }"


SHOWN = "() => self.registration.getNotifications().then(l => l.map(n => [n.title, n.body, n.tag]))"
# the notifications once the worker has sent what it kept (polled inside the worker)
SETTLED = """async () => {
  for (let i = 0; i < 400; i++) {
    if (flushing === null && flushAgain === null && (await kept()).length === 0)
      return (await self.registration.getNotifications()).map(n => [n.title, n.body, n.tag]);
    await new Promise(r => setTimeout(r, 25));
  }
  return null;
}"""


async def test_taps_without_signal_are_kept_and_sent_in_order_once_back_online(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env, async_playwright() as pw:
        household, token = env.hh("A-001").id, env.token("A-001")
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(event: ReplyEvent) -> None:
            if any(t.household_id == household and t.new == Status.NEED_HELP for t in event.transitions):
                if not arrived.done():
                    arrived.set_result(None)

        env.store.replies.add_listener(on_event)
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            # granting some permissions denies the rest: Background Sync is on by default in Chromium
            await context.grant_permissions(["notifications", "background-sync"], origin=env.url)
            worker = await _service_worker(context, await context.new_page(), env.url)
            # what the push handler keeps of the payload in the notification's data
            data = {"url": env.reply_url("A-001"), "token": token, "via": "webpush", "title": "【訓練】安否確認",
                    "pending": {a: pending_text(a, "ja") for a in ("safe", "need_help")}}
            await context.set_offline(True)
            await worker.evaluate("d => answerTap(d, 'safe')", data)
            await worker.evaluate("d => answerTap(d, 'need_help')", data)  # changed their mind: both kept, in order
            assert await worker.evaluate(SHOWN) == [["【訓練】安否確認", pending_text("need_help", "ja"),
                                                     f"safetynet-answer-{token}"]]
            assert "119" in pending_text("need_help", "ja")
            assert [e["status"] for e in await worker.evaluate("() => kept()")] == ["safe", "need_help"]
            assert await env.status("A-001") == Status.PENDING  # nothing reached the server

            await context.set_offline(False)  # the browser fires the sync event by itself
            await asyncio.wait_for(arrived, 15)
            assert await worker.evaluate(SETTLED) == [[texts.recorded("need_help", "ja"), "", f"safetynet-answer-{token}"]]
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.NEED_HELP
        entries = await env.store.replies.history(env.campaign_id, household)
        assert [(e.status, e.channel) for e in entries] == [("safe", "webpush"), ("need_help", "webpush")]


async def test_a_kept_answer_the_server_refuses_is_dropped_not_retried(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["notifications", "background-sync"], origin=env.url)
            worker = await _service_worker(context, await context.new_page(), env.url)
            gone = {"key": "sw-gone", "token": "A" * 22, "status": "safe", "via": "webpush", "at": 1,
                    "url": env.url + "/r/" + "A" * 22, "title": "", "pending": pending_text("safe", "ja")}
            kept = {**gone, "key": "sw-kept", "token": env.token("A-001"), "at": 2, "url": env.reply_url("A-001")}
            out = await worker.evaluate("async es => { for (const e of es) await keep(e); return flush(); }", [gone, kept])
            assert out == {"left": 0, "refused": {"sw-gone": True}} and await worker.evaluate("() => kept()") == []
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.SAFE  # the one after it still went


async def test_a_tap_once_back_online_goes_after_the_taps_kept_from_before(tmp_path: Path) -> None:
    """The older tap must not land last and override the newer one."""
    async with running_app(tmp_path) as env, async_playwright() as pw:
        household = env.hh("A-001").id
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["notifications", "background-sync"], origin=env.url)
            worker = await _service_worker(context, await context.new_page(), env.url)
            data = {"url": env.reply_url("A-001"), "token": env.token("A-001"), "via": "webpush", "title": "訓練",
                    "pending": {a: pending_text(a, "ja") for a in ("safe", "need_help")}}
            older = {"key": "sw-older", "token": data["token"], "status": "need_help", "via": "webpush", "at": 1,
                     "url": data["url"], "title": "訓練", "pending": pending_text("need_help", "ja")}
            await worker.evaluate("e => keep(e)", older)  # kept while offline; its sync not yet come
            await worker.evaluate("d => answerTap(d, 'safe')", data)
            assert await worker.evaluate(SETTLED) == [[texts.recorded("safe", "ja"), "", f"safetynet-answer-{data['token']}"]]
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.SAFE
        entries = await env.store.replies.history(env.campaign_id, household)
        assert [e.status for e in entries] == ["need_help", "safe"]


async def test_a_safe_kept_from_before_a_call_for_help_made_since_does_not_withdraw_it(tmp_path: Path) -> None:
    """Tapped 無事です with no signal an hour ago; since then the household asked for help on the page.
    The kept tap, sent when the phone is back, must not turn the call for help into "safe"."""
    async with running_app(tmp_path) as env, async_playwright() as pw:
        token = env.token("A-001")
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["notifications", "background-sync"], origin=env.url)
            worker = await _service_worker(context, await context.new_page(), env.url)
            kept = {"key": "sw-old-safe", "token": token, "status": "safe", "via": "webpush",
                    "url": env.reply_url("A-001"), "title": "訓練", "pending": pending_text("safe", "ja")}
            await worker.evaluate("e => keep({...e, at: Date.now() - 3600 * 1000})", kept)
            async with env.http.post(env.reply_url("A-001"), data={"status": "need_help"}) as resp:
                assert resp.status == 200
            assert (await worker.evaluate("() => flush()"))["left"] == 0
            assert await worker.evaluate(SETTLED) == [["現在の回答: 助けが必要", "", f"safetynet-answer-{token}"]]
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.NEED_HELP


async def test_taps_kept_without_signal_go_in_the_order_tapped_when_the_phones_clock_went_back(tmp_path: Path) -> None:
    """無事です, then the phone's clock set back an hour (a dead battery, a manual fix), then 助けが必要,
    both without signal: the call for help is the last answer, whatever the clock said."""
    async with running_app(tmp_path) as env, async_playwright() as pw:
        household, token = env.hh("A-001").id, env.token("A-001")
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["notifications", "background-sync"], origin=env.url)
            worker = await _service_worker(context, await context.new_page(), env.url)
            tap = {"token": token, "via": "webpush", "url": env.reply_url("A-001"), "title": "訓練"}
            await worker.evaluate("e => keep({...e, key: 'sw-first', status: 'safe', at: Date.now()})", tap)
            await worker.evaluate("e => keep({...e, key: 'sw-second', status: 'need_help', at: Date.now() - 3600 * 1000})",
                                  tap)
            assert [e["key"] for e in await worker.evaluate("() => kept()")] == ["sw-first", "sw-second"]
            assert (await worker.evaluate("() => flush()"))["left"] == 0
        finally:
            await browser.close()
        assert await env.status("A-001") == Status.NEED_HELP
        entries = await env.store.replies.history(env.campaign_id, household)
        assert [e.status for e in entries] == ["safe", "need_help"]
