"""Headless Chromium against the real app: a head's live dashboard on a 360-px phone, the
door-knock list printed to PDF, and the city overview with its live curve; what the pages say
once their login has expired, and once their campaign has ended.

Waits are on the DOM (Playwright's wait_for_*), with the 2-second promise as the timeout.
The clock is the system clock here: the live poller runs by itself, as in production.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from browser import browser, login, new_page, pdf, screenshot
from dashboard_fixtures import ASSOC_A, DIST_S, SECRET, World, client, password, world
from playwright.async_api import Browser, Page

from safetynet.auth import new_token, token_hash
from safetynet.clock import SystemClock
from safetynet.replies.tokens import reply_token
from safetynet.stats import live
from safetynet.web.app import SESSION_COOKIE
from safetynet.web.dash_sse import HUB

pytestmark = [pytest.mark.browser]

LIVE_MS = 2000  # "an answer appears within 2 s without reload"


async def reply_elsewhere(w: World, key: str, status: str, note: str = "") -> float:
    """A resident answers on the reply page (another device); returns when it was accepted."""
    token = reply_token(SECRET, w.campaign_id, w.hh(key).id)
    async with client() as http, http.post(f"{w.url}/r/{token}", data={"status": status, "note": note}) as r:
        assert r.status == 200
    return time.monotonic()


def row(w: World, key: str) -> str:
    return f'#hh-rows tr[data-hh="{w.hh(key).id}"]'


async def wait_status(page: Page, w: World, key: str, status: str, within_ms: float = LIVE_MS) -> None:
    await page.wait_for_function(
        "([sel, st]) => { const r = document.querySelector(sel); return r && r.dataset.status === st; }",
        arg=[row(w, key), status], timeout=within_ms,
    )


async def wait_text(page: Page, selector: str, text: str) -> None:
    await page.wait_for_function("([sel, t]) => document.querySelector(sel).textContent === t",
                                 arg=[selector, text], timeout=LIVE_MS)


async def test_head_dashboard_live_on_a_phone(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid = w.assoc_ids[ASSOC_A]
        assert page.url.endswith(f"/a/{aid}")
        await page.wait_for_selector("[data-live].on")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        await screenshot(page, "dashboard-phone")

        # an answer from elsewhere shows without reload, counts included
        accepted = await reply_elsewhere(w, "A-001", "safe")
        await wait_status(page, w, "A-001", "safe")
        await wait_text(page, "[data-count=safe]", "1")
        print(f"answer shown {time.monotonic() - accepted:.3f} s after it was accepted")

        # need help: the card appears on top; "handled" takes it off the list
        await reply_elsewhere(w, "A-004", "need_help", note="足を怪我")
        card = f'.help-card[data-hh="{w.hh("A-004").id}"]'
        await page.wait_for_selector(card, timeout=LIVE_MS)
        assert "足を怪我" in await page.inner_text(card)
        call = page.locator(f'{card} a[href="tel:+819011110004"]')  # one tap calls the household back
        assert await call.inner_text() == "090-1111-0004" and await call.is_visible()
        await screenshot(page, "dashboard-need-help")

        # a later 無事 leaves the request open (nobody handled it): the card says so without a reload
        await reply_elsewhere(w, "A-004", "safe")
        await page.wait_for_selector(f"{card} .since.s-safe", timeout=LIVE_MS)
        assert (await page.inner_text(f"{card} .since")).startswith("その後「無事です」と回答（")
        assert await page.inner_text("[data-help-count]") == "1"  # open requests
        await wait_text(page, "[data-count=need_help]", "0")  # answers now
        await page.click(f"{card} button[data-handled]")
        await page.wait_for_selector(card, state="detached")
        help_rows = await w.store.replies.help_list(w.campaign_id, [aid], include_handled=True)
        assert [r.household_id for r in help_rows if r.handled_at] == [w.hh("A-004").id]

        # one tap records a confirmation by phone (the button says it records, it does not call)
        assert await page.inner_text(f'{row(w, "A-002")} button[data-confirm="phone"]') == "電話で確認"
        await page.click(f'{row(w, "A-002")} button[data-confirm="phone"]')
        await wait_status(page, w, "A-002", "confirmed_in_person")
        assert await w.status("A-002") == "confirmed_in_person"

        # the "no answer" filter hides the answered, without a reload
        await page.check('input[name="filter"][value="noanswer"]')
        assert await page.is_hidden(row(w, "A-001")) and await page.is_visible(row(w, "A-003"))

        # a dropped stream resumes and replays what happened meanwhile
        assert w.app is not None
        assert w.app[HUB].disconnect(w.campaign_id) >= 1
        await reply_elsewhere(w, "A-003", "safe")
        await wait_status(page, w, "A-003", "safe", within_ms=LIVE_MS + 3000)  # + the 2 s retry
        assert await page.is_hidden(row(w, "A-003"))
        await screenshot(page, "dashboard-after-reconnect")

        # large text, English, keyboard: the skip link is the first stop
        await page.goto(f"{w.url}/a/{aid}?lang=en&large=1")
        assert "Need help (not handled)" in await page.inner_text("main")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        await screenshot(page, "dashboard-phone-en-large")


async def test_a_note_and_an_escalation_show_without_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """住民からのメモ and a help card's escalation line showed only after a reload: the stream says a note
    came (`noted`) and when the latest escalation was told, and the page fetches the panel again."""
    monkeypatch.setattr(live, "HELP_RECOUNT_SECONDS", 1.0)  # when the hub reads escalations: 10 s is long to wait
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-004", "need_help")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        assert await page.inner_text("#notes-panel") == ""

        await w.answer("A-003", "safe", note="無事です。隣のおばあさんが出てこない")
        note = f'#notes-panel li[data-hh="{w.hh("A-003").id}"]'
        await page.wait_for_selector(note, timeout=LIVE_MS)
        assert "隣のおばあさんが出てこない" in await page.inner_text(note)
        target = await w.intake.target_for(w.campaign_id, w.hh("A-001").id)
        assert target is not None
        await w.intake.note(target, "いえがこわれた", "sms", new_token())  # an SMS kept as a note alone
        await wait_text(page, "section.notes h2 .count", "2")
        assert "いえがこわれた" in await page.inner_text(f'#notes-panel li[data-hh="{w.hh("A-001").id}"]')

        # the check (replies.escalate) tells the district's staff: no answer, no count moves
        card = f'.help-card[data-hh="{w.hh("A-004").id}"]'
        assert await page.locator(f"{card} .escalated").count() == 0
        assert await w.store.replies.claim_unhandled_help(w.clock.now()) == [(w.campaign_id, w.hh("A-004").id)]
        await w.store.replies.escalation_told(w.campaign_id, w.hh("A-004").id)
        await page.wait_for_selector(f"{card} .escalated", timeout=LIVE_MS + 1000)  # + the recount's second
        assert (await page.inner_text(f"{card} .escalated")).endswith("対応済みにならないため、地区・市の担当者に知らせました")
        await screenshot(page, "dashboard-note-and-escalation")


async def test_doorknock_list_prints_and_city_overview_draws_the_curve(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        for key in ("A-001", "A2-001", "A2-002", "B-001"):
            await w.answer(key, "safe")
        head = await new_page(b)
        await login(head, w.url, "head_a", password("head_a"))
        aid = w.assoc_ids[ASSOC_A]
        await head.goto(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}")
        await head.wait_for_selector("[data-live].on")
        assert await head.locator("table.dk tbody tr").count() == 5
        await reply_elsewhere(w, "A-003", "safe")  # regenerated live: the household answered by itself
        # in sight, it stays in place, dimmed, until scrolled away (tests/e2e/test_live_rows_browser.py);
        # the count says it at once, and the paper leaves it out
        await head.wait_for_selector(f'table.dk tr.settling[data-hh="{w.hh("A-003").id}"][data-status="safe"]',
                                     timeout=LIVE_MS)
        assert await head.inner_text("[data-dk-count]") == "4"
        path = await pdf(head, "doorknock-list")
        data = path.read_bytes()
        assert data.startswith(b"%PDF") and len(data) > 5_000
        await screenshot(head, "doorknock-list")

        admin = await new_page(b)
        await login(admin, w.url, "admin", password("admin"))
        await admin.goto(f"{w.url}/city")
        await admin.wait_for_selector("figure#curve svg g[data-series] path")
        assert await admin.locator("figure#curve svg g[data-series]").count() == 2
        await admin.wait_for_selector("[data-live].on")
        before = await admin.inner_text("[data-answered]")
        await reply_elsewhere(w, "A-005", "safe")
        await admin.wait_for_function(  # a function, not a string: the CSP forbids eval
            "([sel, old]) => document.querySelector(sel).textContent !== old", arg=["[data-answered]", before],
            timeout=LIVE_MS)
        rates = [float(r) for r in await admin.eval_on_selector_all(
            "#associations tbody tr", "rows => rows.map(r => r.dataset.rate)")]
        assert rates == sorted(rates)  # worst first, kept so live
        assert "● 注意 50%" in await admin.inner_text("#associations tbody tr >> nth=0")  # said in words too
        # the ladder's last step: the door-knock column and its district total follow without a reload
        knock, district_knock = (f'#associations tr[data-aid="{aid}"] td[data-doorknock]',
                                 f'#districts tr[data-district="{DIST_S}"] td[data-doorknock]')
        assert await admin.inner_text(knock) == "0"
        await w.store.campaigns.mark_doorknock(w.campaign_id, w.clock.now())
        await wait_text(admin, knock, "3")
        await wait_text(admin, district_knock, "4")  # and A2-003
        await reply_elsewhere(w, "A-002", "safe")  # one on the list answered after all
        await wait_text(admin, knock, "2")
        await wait_text(admin, district_knock, "3")
        await screenshot(admin, "city-overview")


async def end_session(w: World, page: Page) -> None:
    """The page's login ends on the server (expired, or logged out elsewhere); the cookie stays."""
    cookies = await page.context.cookies()
    await w.store.auth.delete_session(token_hash(next(c["value"] for c in cookies if c["name"] == SESSION_COOKIE)))


async def test_a_tap_after_the_login_expired_says_log_in_again_and_comes_back(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid = w.assoc_ids[ASSOC_A]
        await page.wait_for_selector("[data-live].on")
        await end_session(w, page)

        await page.click(f'{row(w, "A-002")} button[data-confirm="visit"]')
        notice = page.locator("[data-login-expired]")
        await notice.wait_for(timeout=LIVE_MS)
        assert await notice.inner_text() == "ログインの有効期限が切れたため、記録できませんでした。 もう一度ログインする"
        assert await notice.get_attribute("role") == "alert"
        assert await notice.locator("a").get_attribute("href") == f"/login?next={quote(f'/a/{aid}', safe='')}"
        assert await page.inner_text("[data-flash]") == ""  # not "try again": that cannot help
        assert await page.inner_text("[data-live]") == "○ 更新停止"
        assert await w.status("A-002") == "pending"
        await screenshot(page, "dashboard-login-expired")

        # logging in again brings the head back to this dashboard, live again
        async with page.expect_navigation():
            await notice.locator("a").click()
        assert "/login?next=" in page.url
        await page.fill('input[name="login"]', "head_a")
        await page.fill('input[name="password"]', password("head_a"))
        async with page.expect_navigation():
            await page.click('form.login button[type="submit"]')
        assert page.url == f"{w.url}/a/{aid}"
        await page.wait_for_selector("[data-live].on")
        await page.click(f'{row(w, "A-002")} button[data-confirm="visit"]')
        await wait_status(page, w, "A-002", "confirmed_in_person")
        assert await page.locator("[data-login-expired]").count() == 0


async def test_a_tap_on_the_doorknock_list_after_the_login_expired_says_log_in_again(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid, hh = w.assoc_ids[ASSOC_A], w.hh("A-002").id
        path = f"/a/{aid}/doorknock?campaign={w.campaign_id}"
        await page.goto(w.url + path)
        await page.wait_for_selector("[data-live].on")
        await end_session(w, page)

        await page.tap(f'table.dk tr[data-hh="{hh}"] button[data-confirm="visit"]')
        notice = page.locator("[data-login-expired]")
        await notice.wait_for(timeout=LIVE_MS)
        assert await notice.inner_text() == "ログインの有効期限が切れたため、記録できませんでした。 もう一度ログインする"
        assert await notice.locator("a").get_attribute("href") == f"/login?next={quote(path, safe='')}"
        assert await page.inner_text("[data-flash]") == ""
        assert await page.inner_text(f'table.dk tr[data-hh="{hh}"] .box') == "☐"
        assert await w.status("A-002") == "pending"
        await screenshot(page, "doorknock-login-expired")


async def _head_and_admin_live(w: World, b: Browser) -> tuple[Page, Page]:
    """A head's dashboard on a phone and the admin's /city, both with their live stream on."""
    head, admin = await new_page(b, phone=True), await new_page(b)
    await login(head, w.url, "head_a", password("head_a"))
    await login(admin, w.url, "admin", password("admin"))
    await admin.goto(f"{w.url}/city")
    for page in (head, admin):
        await page.wait_for_selector("[data-live].on")
    return head, admin


async def test_live_pages_stop_and_say_so_when_the_login_expired(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        head, admin = await _head_and_admin_live(w, b)
        for page in (head, admin):
            await end_session(w, page)
        # the stream ends as the server finds the session gone (at its next heartbeat): the browser
        # reconnects, is refused, and the page asks why
        assert w.app is not None
        assert w.app[HUB].disconnect(w.campaign_id) >= 2
        for page in (head, admin):
            notice = page.locator("[data-login-expired]")
            await notice.wait_for(timeout=LIVE_MS + 3000)  # + the 2 s retry
            assert await notice.inner_text() == "ログインの有効期限が切れたため、ライブ更新を止めました。 もう一度ログインする"
            assert await page.inner_text("[data-live]") == "○ 更新停止"
        assert await admin.locator("[data-login-expired] a").get_attribute("href") == "/login?next=%2Fcity"
        await screenshot(admin, "city-login-expired")


async def test_a_campaign_that_ends_on_screen_is_no_longer_shown_live(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        head, admin = await _head_and_admin_live(w, b)
        assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
        for page in (head, admin):
            await page.wait_for_selector("[data-live]", state="detached", timeout=LIVE_MS)
            assert await page.inner_text("p.campaign [data-campaign-state]") == "終了"
        await screenshot(admin, "city-campaign-ended")


async def test_a_stream_that_goes_silent_is_said_and_opened_again(tmp_path: Path) -> None:
    """QA: with the network holding the connection open and passing nothing, the dashboard said
    「ライブ更新中」 for 80 s and showed nothing that happened meanwhile. The server pings every 15 s;
    a page that hears nothing for 40 s says it is not live and opens a new stream (the page's clock
    is mocked: a minute goes by at once, with no ping in it)."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await page.clock.install()
        await login(page, w.url, "head_a", password("head_a"))
        await page.wait_for_selector("[data-live].on")
        async with page.expect_request(lambda r: "/events" in r.url, timeout=LIVE_MS) as reopened:
            await page.clock.fast_forward(60_000)
        assert "/api/campaigns/" in (await reopened.value).url
        await page.wait_for_selector("[data-live].on", timeout=LIVE_MS)  # live again
        await reply_elsewhere(w, "A-001", "safe")  # and what happens now shows
        await wait_status(page, w, "A-001", "safe")


async def test_a_tap_whose_request_stalls_says_so_after_twenty_seconds(tmp_path: Path) -> None:
    """A weak signal that takes the request and never answers: after 20 s by the page's clock the tap
    fails beside the household, and its button can be tapped again (the wait had no test, and rested on
    AbortSignal.timeout, which older iPhones lack: they waited without end)."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await page.clock.install()
        await login(page, w.url, "head_a", password("head_a"))
        aid, hh = w.assoc_ids[ASSOC_A], w.hh("A-006").id
        await page.goto(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        row = f'table.dk tr[data-hh="{hh}"]'
        stalled: list[Any] = []
        arrived = asyncio.Event()

        async def stall(route: Any) -> None:
            stalled.append(route)  # held: no answer, no error
            arrived.set()

        await page.route("**/confirm", stall)
        await page.tap(f'{row} button[data-confirm="visit"]')
        await asyncio.wait_for(arrived.wait(), LIVE_MS / 1000)
        await page.clock.run_for(19_000)
        assert await page.locator(f"{row} [data-tap-failed]").count() == 0  # still waiting
        await page.clock.run_for(1_500)
        note = page.locator(f"{row} [data-tap-failed]")
        await note.wait_for(timeout=LIVE_MS)
        assert "渡辺 誠" in await note.inner_text()
        assert await page.locator(f'{row} button[data-confirm="visit"]').is_enabled()
        assert len(stalled) == 1  # the page gave up on it: no answer came, and nothing was recorded
        assert [e.status for e in await w.store.replies.history(w.campaign_id, hh)] == []


async def test_a_tap_that_fails_offline_says_so_beside_the_household(tmp_path: Path) -> None:
    """QA: offline, 訪問で確認 far down the door-knock list changed nothing where the head looked; the
    only message was at the top of the page, 4,000 px away, and it stayed after the network came back."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        aid, hh = w.assoc_ids[ASSOC_A], w.hh("A-006").id
        await page.goto(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        row = f'table.dk tr[data-hh="{hh}"]'
        await page.context.set_offline(True)
        await page.tap(f'{row} button[data-confirm="visit"]')
        note = page.locator(f"{row} [data-tap-failed]")
        await note.wait_for(timeout=LIVE_MS)
        assert await note.inner_text() == "渡辺 誠：記録できませんでした。電波の届く所で、もう一度押してください。"
        assert await note.is_visible() and await note.get_attribute("role") == "alert"
        await page.context.set_offline(False)
        await page.tap(f'{row} button[data-confirm="visit"]')
        await note.wait_for(state="detached", timeout=LIVE_MS)  # saved: the line goes
        assert await w.status("A-006") == "confirmed_in_person"
        assert await page.inner_text("[data-flash]") == ""


async def test_the_admin_changes_a_heads_phone_on_the_admin_page(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "admin", password("admin"))
        await page.goto(f"{w.url}/admin")
        cell = page.locator('td:has(ul[data-contacts="head_a"])')
        # a head no alert can reach is said so (the fixture's heads have no contacts yet)
        assert await cell.locator("[data-no-contacts]").inner_text() == "連絡先がないため「助けが必要」の知らせが届きません"
        await cell.locator("summary").click()
        await cell.locator('input[name="contact_phone"]').fill("090-7777-8888")
        async with page.expect_navigation():
            await cell.locator('button[type="submit"]').click()
        assert await page.inner_text(".notice") == "head_a の連絡先を変更しました"
        shown = page.locator('ul[data-contacts="head_a"] li')
        assert "…8888" in await shown.all_inner_texts()
        assert await page.locator('td:has(ul[data-contacts="head_a"]) [data-no-contacts]').count() == 0
        found = await w.store.auth.staff_by_login("head_a")
        assert found is not None and ("mobile", "+819077778888") in found[0].contacts
        # the same form takes it away again: the box shows only for a kind the head has
        cell = page.locator('td:has(ul[data-contacts="head_a"])')
        await cell.locator("summary").click()
        assert await cell.locator('input[name="contact_phone"]').get_attribute("placeholder") == "…8888"
        await cell.locator('input[name="clear_phone"]').check()
        async with page.expect_navigation():
            await cell.locator('button[type="submit"]').click()
        assert "…8888" not in await page.locator('ul[data-contacts="head_a"] li').all_inner_texts()
        assert await page.locator('td:has(ul[data-contacts="head_a"]) [data-no-contacts]').count() == 1
        await screenshot(page, "admin-staff-contacts")


async def test_what_was_typed_into_the_start_form_comes_back_after_the_login_it_needed(tmp_path: Path) -> None:
    """QA: a long campaign message typed while the login expired was lost: 確認画面へ led to the login,
    and the login back to an empty start form. Now it comes back (this tab only), once, with a line."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "admin", password("admin"))
        await page.goto(f"{w.url}/city")
        form = page.locator('form[data-keep="start"]')
        message = "震度6弱の地震がありました。\n安否を回答してください。"
        await form.locator('input[name="kind"][value="real"]').check()
        await form.locator('input[name="title"]').fill("地震 安否確認")
        await form.locator('textarea[name="message_ja"]').fill(message)
        await form.locator('textarea[name="message_en"]').fill("An earthquake. Are you safe?")
        await form.locator('select[name="scope"]').select_option(f"district:{DIST_S}")
        await end_session(w, page)
        async with page.expect_navigation():
            await form.locator('button[type="submit"]').click()
        assert "/login?" in page.url and "ended=1" in page.url
        assert "送信した内容は受け付けられませんでした" in await page.inner_text("main")
        kept = await page.evaluate("() => JSON.stringify(Object.keys(sessionStorage))")
        assert kept == '["safetynet.kept.start"]'
        stored = await page.evaluate("() => sessionStorage.getItem('safetynet.kept.start')")
        assert "csrf" not in stored and "password" not in stored

        await page.fill('input[name="login"]', "admin")
        await page.fill('input[name="password"]', password("admin"))
        async with page.expect_navigation():
            await page.click('form.login button[type="submit"]')
        assert page.url == f"{w.url}/city"  # the #kept is taken off once read
        form = page.locator('form[data-keep="start"]')
        assert await form.locator('input[name="title"]').input_value() == "地震 安否確認"
        assert await form.locator('textarea[name="message_ja"]').input_value() == message
        assert await form.locator('textarea[name="message_en"]').input_value() == "An earthquake. Are you safe?"
        assert await form.locator('select[name="scope"]').input_value() == f"district:{DIST_S}"
        assert await form.locator('input[name="kind"][value="real"]').is_checked()
        said = page.locator("[data-kept]")
        assert await said.inner_text() == (
            "送信できなかった入力内容を戻しました。まだ送信していません。内容を確かめてから、もう一度進めてください。")
        # the form is below the overview: the page is taken to it, the line focused
        top = await said.evaluate("e => e.getBoundingClientRect().top")
        assert -2 < top < 900 and await page.evaluate("() => scrollY") > 0
        assert await said.evaluate("e => document.activeElement === e")
        assert await page.evaluate("() => sessionStorage.length") == 0
        assert len(await w.store.campaigns.list_campaigns()) == 2  # nothing was started: the seeded two
        await screenshot(page, "city-start-form-kept")

        # once: a reload is the empty form, and a form that went through is not given back later
        await page.reload()
        assert await page.locator('form[data-keep="start"] textarea[name="message_ja"]').input_value() == ""
        assert await page.locator("[data-kept]").count() == 0
        await page.fill('form[data-keep="start"] input[name="title"]', "訓練")
        await page.fill('form[data-keep="start"] textarea[name="message_ja"]', "訓練です。")
        async with page.expect_navigation():
            await page.click('form[data-keep="start"] button[type="submit"]')
        assert page.url == f"{w.url}/city/campaigns/preview"  # the preview: taken
        await page.goto(f"{w.url}/city#kept")
        assert await page.locator('form[data-keep="start"] input[name="title"]').input_value() == ""
        # logging out forgets whatever a form left (a shared computer's next person)
        await page.evaluate("() => sessionStorage.setItem('safetynet.kept.start', '{}')")
        async with page.expect_navigation():
            await page.click('form[action="/logout"] button[type="submit"]')
        assert await page.evaluate("() => sessionStorage.length") == 0
