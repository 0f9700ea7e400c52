"""Paper and phone: the door-knock list and the dashboard printed on A4 portrait with every column
inside the page, walking order, 360-px pages without sideways scroll at both text sizes, the compact
phone dashboard. Screenshots of the pages go to tests/artifacts/ to be looked at."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dashboard_fixtures
import pytest
from browser import browser, login, new_page, pdf
from dashboard_fixtures import ASSOC_A, DIST_S, World, password, world
from playwright.async_api import Page
from roster_helpers import household

from safetynet.clock import SystemClock
from safetynet.domain.roster import HouseholdRecord
from safetynet.replies.tokens import reply_token

pytestmark = [pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
A4_WIDTH_PT = 595.28
RIGHT_MARGIN_PT = 10 / 25.4 * 72  # print.css: @page margin 12mm 10mm
LONG_NAME = "長谷川 久仁子（はせがわ くにこ）様方 ﾌﾘｶﾞﾅ"
LONG_ADDRESS = "桜町12-4 サンハイツ桜町第二マンション東棟 1205号室"
# 3班: addresses that sort wrongly as text (12-4 before 3-22)
EXTRA = [("A-101", "桜町12-4", LONG_NAME), ("A-102", "桜町3-22", "木村 一郎"), ("A-103", "桜町3-3", "林 二郎"),
         ("A-104", LONG_ADDRESS, "森 三郎")]


def _records() -> list[HouseholdRecord]:
    extra = [household(DIST_S, ASSOC_A, "3班", key, name, address, 12, True, landline="+81311119999")
             for key, address, name in EXTRA]
    return [*_ORIGINAL(), *extra]


_ORIGINAL = dashboard_fixtures.records


@pytest.fixture(autouse=True)
def _more_households(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_fixtures, "records", _records)


async def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def _scroll_width(page: Page) -> int:
    return int(await page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"))


def _words_beyond_the_margin(pdf_path: Path) -> tuple[list[str], str]:
    """Words whose right edge is past the printable width, and all the text (pdftotext -bbox)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    pages = re.findall(r'<page width="([\d.]+)"', out)
    assert pages and all(abs(float(w) - A4_WIDTH_PT) < 1 for w in pages), pages  # A4 portrait
    limit = A4_WIDTH_PT - RIGHT_MARGIN_PT + 1
    words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', out)
    assert words
    return [w for _, x_max, w in words if float(x_max) > limit], " ".join(w for _, _, w in words)


async def _doorknock(page: Page, w: World) -> None:
    await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}")
    await page.wait_for_selector("table.dk")


async def test_doorknock_list_and_dashboard_print_on_a4_with_every_column_inside(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "head_a", password("head_a"))
        await _doorknock(page, w)
        path = await pdf(page, "doorknock-a4")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / "doorknock-a4.pdf")
        beyond, text = _words_beyond_the_margin(path)
        assert beyond == []
        # every column is there, the last one's header and values included
        for word in ("済", "世帯主", "住所", "人数", "電話", "状況", "未送信", "03-1111-9999"):
            assert word in text, word
        # the on-screen confirm buttons are not on paper (print.css): the tick column is
        assert await page.locator("table.dk button[data-confirm]").count() > 0
        assert "訪問で確認" not in text and "電話で確認" not in text and "用紙で確認" not in text
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}")
        path = await pdf(page, "dashboard-a4")
        beyond, text = _words_beyond_the_margin(path)
        assert beyond == []
        assert "状況" in text


async def test_doorknock_list_is_in_walking_order(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        page = await new_page(b)
        await login(page, w.url, "head_a", password("head_a"))
        await _doorknock(page, w)
        groups = await page.eval_on_selector_all("section.dk-group h2", "hs => hs.map(h => h.textContent)")
        assert [g.split(":")[1].split("(")[0].strip() for g in groups] == ["1班", "2班", "3班"]
        addresses = await page.eval_on_selector_all(  # the third 班's (the help panel is a section too)
            "section.dk-group", "ss => Array.from(ss[2].querySelectorAll('td.addr')).map(td => td.textContent)")
        assert addresses == ["桜町3-3", "桜町3-22", "桜町12-4", LONG_ADDRESS]
        await _shot(page, "doorknock-list")


async def _no_sideways_scroll(page: Page, url: str, name: str) -> None:
    for large in ("0", "1"):
        await page.goto(f"{url}{'&' if '?' in url else '?'}large={large}")
        await page.wait_for_load_state("load")
        width = await _scroll_width(page)
        wide = [] if width <= 360 else await page.eval_on_selector_all("body *", """els => els
            .filter(e => e.getBoundingClientRect().right > 361 && e.children.length === 0).slice(0, 8)
            .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))""")
        assert width <= 360, f"{name} large={large}: {width} px wide: {wide}"
        await _shot(page, f"{name}-360{'-large' if large == '1' else ''}")


async def test_pages_fit_a_360px_phone_at_both_text_sizes(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        await w.answer("A-001", "safe")
        await w.answer("A-005", "need_help")
        head = await new_page(b, phone=True)
        await login(head, w.url, "head_a", password("head_a"))
        aid = w.assoc_ids[ASSOC_A]
        await _no_sideways_scroll(head, f"{w.url}/a/{aid}?campaign={w.campaign_id}", "association-dashboard")
        await _no_sideways_scroll(head, f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}", "doorknock")
        admin = await new_page(b, phone=True)
        await login(admin, w.url, "admin", password("admin"))
        await _no_sideways_scroll(admin, f"{w.url}/city?campaign={w.campaign_id}", "city-overview")
        await _no_sideways_scroll(admin, f"{w.url}/admin", "admin")
        # QA: headers one character a line (ロ/グ/イ/ン/ID), a login split (tan/aka)
        assert all(n == 1 for n in await _lines_of(admin, "table.staff th, table.staff td.login, table.tokens th"))
        await admin.goto(f"{w.url}/admin")
        await admin.eval_on_selector_all("table.staff details", "ds => ds.forEach(d => { d.open = true; })")
        inputs = await admin.eval_on_selector_all("table.staff fieldset input",
                                                  "els => els.map(e => e.getBoundingClientRect().right)")
        box = await admin.eval_on_selector("div.scroll", "d => d.getBoundingClientRect().right")
        assert inputs and await _scroll_width(admin) <= 360 and box <= 361, (inputs, box)
        # QA: 連絡先確認を送る's box stood alone, centred above its words
        await admin.goto(f"{w.url}/city?campaign={w.campaign_id}")
        box_, words = await admin.eval_on_selector("section.check-start input[name=really]", """b => {
            const r = document.createRange(); r.selectNodeContents(b.parentNode); r.setStartAfter(b);
            return [b.getBoundingClientRect().toJSON(), r.getClientRects()[0].toJSON()]; }""")
        assert box_["right"] <= words["left"] and abs(box_["top"] - words["top"]) < words["height"], (box_, words)
        resident = await new_page(b, phone=True)
        token = reply_token(dashboard_fixtures.SECRET, w.campaign_id, w.hh("A-002").id)
        await resident.goto(f"{w.url}/r/{token}")
        assert await _scroll_width(resident) <= 360
        await _shot(resident, "reply-page-360")
        # each language name stays whole (한국어 was split over two lines) and is a thumb's height
        shapes = await resident.eval_on_selector_all("nav.lang a", """links => links.map(a => {
            const r = document.createRange(); r.selectNodeContents(a);
            return [new Set([...r.getClientRects()].map(x => Math.round(x.top))).size, a.getBoundingClientRect().height];
        })""")
        assert len(shapes) == 7 and all(lines == 1 and height >= 28 for lines, height in shapes), shapes
        # the details sent, shown back on a phone: a long unbroken note wraps, the empty form folds away
        await resident.click("button.help")
        await resident.fill("input[name=people_safe]", "2")
        await resident.check("input[name=location][value=shelter]")
        await resident.fill("textarea[name=note]", "階段の下で動けません" * 20)
        await resident.click("form.details button[type=submit]")
        await resident.wait_for_selector("section.sent")
        assert await resident.is_visible("section.sent dd") and not await resident.is_visible("form.details")
        assert await _scroll_width(resident) <= 360
        await _shot(resident, "reply-details-sent-360")
        await resident.click("details.more summary")
        assert await resident.is_visible("form.details textarea")
        # an oversize form's page: its way back is one box, not two lines drawn over each other
        await resident.evaluate("""() => { const f = document.querySelector("form.details");
            f.querySelector("textarea").removeAttribute("maxlength");
            f.querySelector("textarea").value = "あ".repeat(700); f.submit(); }""")
        await resident.wait_for_selector("a.button")
        assert await resident.eval_on_selector("a.button", "a => a.getClientRects().length") == 1
        await _shot(resident, "reply-too-large-360")


_BREAKS = """els => els.map(el => {
    // the characters after which the label's lines break (a new line starts at a new top)
    const text = el.firstChild, out = [];
    let top = null;
    for (let i = 0; i < text.length; i++) {
        const r = document.createRange(); r.setStart(text, i); r.setEnd(text, i + 1);
        const t = Math.round(r.getBoundingClientRect().top);
        if (top !== null && t > top + 2) { out.push(text.data[i - 1]); }
        top = t;
    }
    return [text.data, out];
})"""


async def test_city_labels_break_between_words_and_numbers_never_on_a_phone(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        admin = await new_page(b, phone=True)
        await login(admin, w.url, "admin", password("admin"))
        for large in ("0", "1"):
            await admin.goto(f"{w.url}/city?campaign={w.campaign_id}&large={large}")
            labels = await admin.eval_on_selector_all(".tile .lbl", _BREAKS)
            # 「既読・未/回答」 read as nonsense: a line may end after 「・」 or a space, never inside a word
            assert labels and all(set(after) <= {"・", " "} for _, after in labels), labels
            cells = await admin.eval_on_selector_all("table.check td, table.check th", """cells => cells.map(c => {
                const r = document.createRange(); r.selectNodeContents(c);
                return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })""")
            assert cells and all(n == 1 for n in cells), cells  # 167 was 16 over 7
            assert await _scroll_width(admin) <= 360
            await _shot(admin, f"city-360-large{large}")


async def test_short_headers_and_cells_stay_on_one_line(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        for phone, url in ((False, "/a/{aid}?campaign={cid}"), (False, "/a/{aid}/doorknock?campaign={cid}"),
                           (True, "/a/{aid}?campaign={cid}")):
            page = await new_page(b, phone=phone)
            await login(page, w.url, "head_a", password("head_a"))
            await page.goto(w.url + url.format(aid=w.assoc_ids[ASSOC_A], cid=w.campaign_id) + "&large=1")
            lines = await page.eval_on_selector_all(
                "table.dk th.h-tick, table.dk th.h-people, table.hh th.h-group, table.hh th.h-people, "
                "table.hh td.grp, table.hh td.num", """ths => ths
                .filter(th => th.offsetParent !== null)
                .map(th => { const r = document.createRange(); r.selectNodeContents(th);
                             return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })""")
            assert lines and all(n == 1 for n in lines), (url, lines)


async def _lines_of(page: Page, selector: str) -> list[int]:
    """How many lines each (shown) element of `selector` takes."""
    return list(await page.eval_on_selector_all(selector, """els => els.filter(e => e.offsetParent !== null)
        .map(e => { const r = document.createRange(); r.selectNodeContents(e);
                    return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })"""))


async def test_count_tiles_keep_each_number_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """「41」 shown as 「4」 over 「1」 reads as two numbers: a tile's label may wrap, its number never."""
    many = [household(DIST_S, ASSOC_A, "4班", f"A-2{i:02}", f"小林 {i}", f"桜町4-{i}", 2, False, phone=f"+8190444400{i:02}")
            for i in range(40)]
    monkeypatch.setattr(dashboard_fixtures, "records", lambda: [*_records(), *many])
    async with world(tmp_path) as w, browser() as b:
        await w.answer("A-001", "need_help")
        admin = await new_page(b)
        await login(admin, w.url, "admin", password("admin"))
        head = await new_page(b, phone=True)
        await login(head, w.url, "head_a", password("head_a"))
        pages = ((admin, f"/city?campaign={w.campaign_id}"), (admin, f"/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}"),
                 (head, f"/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}"))
        for width in (1366, 1024):
            await admin.set_viewport_size({"width": width, "height": 768})
            for page, url in pages:
                for large in ("0", "1"):
                    await page.goto(f"{w.url}{url}&large={large}")
                    numbers = await page.eval_on_selector_all(".tile b[data-count]", "bs => bs.map(b => b.textContent)")
                    assert any(len(n) >= 2 for n in numbers), numbers  # a number that could break
                    lines = await _lines_of(page, ".tile b[data-count]")
                    assert lines and all(n == 1 for n in lines), (width, url, large, numbers, lines)


async def test_the_phone_dashboard_shows_need_help_and_unanswered_first(tmp_path: Path) -> None:
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        for key in ("A-001", "A-002", "A-003"):
            await w.answer(key, "safe")
        await w.answer("A-006", "need_help")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}")
        statuses = await page.eval_on_selector_all("#hh-rows tr", "rs => rs.map(r => r.dataset.status)")
        assert statuses[0] == "need_help"
        assert statuses.index("safe") > max(i for i, s in enumerate(statuses) if s not in ("safe", "need_help"))
        safe_row = f'#hh-rows tr[data-hh="{w.hh("A-001").id}"]'
        assert not await page.is_visible(safe_row)  # folded
        height_folded = await page.evaluate("() => document.documentElement.scrollHeight")
        await page.click("details.phone-more summary")
        assert await page.is_visible(safe_row)
        await _shot(page, "association-dashboard-phone-open")
        desktop = await new_page(b)
        await login(desktop, w.url, "head_a", password("head_a"))
        await desktop.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}")
        assert await desktop.is_visible(safe_row)  # nothing folded on a wide screen
        assert not await desktop.is_visible("details.phone-more")
        await _shot(desktop, "association-dashboard")
        await desktop.goto(f"{w.url}/city?campaign={w.campaign_id}")
        await _shot(desktop, "city-overview")
        assert height_folded < 6000, height_folded


async def test_the_enrolment_page_fits_a_240px_feature_phone(tmp_path: Path) -> None:
    """QA2: the sender address to allow ran 17 px past a 240-px screen in やさしい日本語, and English's
    notifications button 6 px."""
    from replies_fixtures import enrolment_code, running_app

    async with running_app(tmp_path) as env, browser() as b:
        ctx = await b.new_context(viewport={"width": 240, "height": 320}, is_mobile=True, locale="ja-JP")
        page = await ctx.new_page()
        code = await enrolment_code(env, "A-002")
        for lang in ("ja-easy", "en", "ja"):
            await page.goto(f"{env.url}/join/{code}?lang={lang}")
            assert "example.jp" in await page.inner_text("main")  # the sender to allow is on it
            assert await _scroll_width(page) <= 240, lang


async def _on_two_lines(page: Page, selector: str) -> list[str]:
    """The texts of the elements whose text the browser laid out over more than one line."""
    return list(await page.eval_on_selector_all(selector, """els => els.filter(el => {
        const r = document.createRange(); r.selectNodeContents(el);
        return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1;
    }).map(el => el.textContent)"""))


async def test_the_report_on_a_phone_breaks_no_header_inside_a_word(tmp_path: Path) -> None:
    """QA2: on a 375-px phone the report broke 助けが/必要 and 直接確/認; a wide table scrolls instead."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "admin", password("admin"))
        await page.goto(f"{w.url}/campaigns/{w.campaign_id}/report")
        assert await _on_two_lines(page, "th") == []
        assert await _scroll_width(page) <= 360


async def _font_px(page: Page, selector: str) -> float:
    return float(await page.eval_on_selector(selector, "e => parseFloat(getComputedStyle(e).fontSize)"))


async def test_the_report_is_a_staff_page_on_a_phone_and_text_follows_the_phones_size(tmp_path: Path) -> None:
    """QA (heads' walk): base.css fixed 18 px, so a phone set to larger text still showed 18 px; the report
    was 14 px with no 文字を大きく, no way back and no logout, its first table cut off at 360 px."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        await w.answer("A-005", "need_help")
        page = await new_page(b, phone=True)
        await login(page, w.url, "head_a", password("head_a"))
        report = f"{w.url}/campaigns/{w.campaign_id}/report"
        await _no_sideways_scroll(page, report, "report")
        await page.goto(f"{report}?large=0")
        assert await _font_px(page, "td") >= 18  # the staff pages' size, not 10.5 pt
        header = page.locator("header.top")
        assert await header.locator("a").first.get_attribute("href") == "/"  # back to her dashboard
        assert await header.locator("button", has_text="ログアウト").count() == 1
        await header.locator("a", has_text="文字を大きく").click()
        await page.wait_for_load_state("load")
        assert await _font_px(page, "td") >= 18 * 1.25 and await header.locator("a", has_text="文字を標準に").count()
        # every table inside the page; a wide one scrolls in its box, its last column reachable
        rights = await page.eval_on_selector_all("table", "ts => ts.map(t => t.getBoundingClientRect().right)")
        assert rights and max(rights) <= 361, rights
        first = await page.eval_on_selector("table", """t => [t.scrollWidth, t.clientWidth,
            getComputedStyle(t).overflowX]""")
        assert first[0] <= first[1] or first[2] == "auto", first
        # the phone's own text size is followed, on the report and the dashboard alike
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 24}})
        for url in (f"{report}?large=0", f"{w.url}/a/{w.assoc_ids[ASSOC_A]}?campaign={w.campaign_id}&large=0"):
            await page.goto(url)
            assert await _font_px(page, "html") == 27, url  # 24 × 112.5 %, where 18 px stayed 18
        await _shot(page, "dashboard-360-phone-text-24")
        await page.goto(f"{report}?large=0")
        async with page.expect_navigation():
            await header.locator("button", has_text="ログアウト").click()
        assert page.url.endswith("/login")
        admin = await new_page(b, phone=True)
        await login(admin, w.url, "admin", password("admin"))
        await admin.goto(report)
        assert await admin.locator("header.top a").first.get_attribute("href") == f"/city?campaign={w.campaign_id}"


async def test_the_staff_menu_keeps_each_word_whole_on_a_phone(tmp_path: Path) -> None:
    """QA2: the staff menu broke 管理 into 管 / 理 on a phone."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        await login(page, w.url, "admin", password("admin"))
        await page.goto(f"{w.url}/city")
        assert await _on_two_lines(page, "header.top a") == []


async def test_a_cancelled_campaigns_reply_page_fits_a_phone_and_offers_nothing_to_press(tmp_path: Path) -> None:
    async with world(tmp_path) as w, browser() as b:
        assert await w.store.campaigns.cancel(w.campaign_id, w.clock.now())
        resident = await new_page(b, phone=True)
        token = reply_token(dashboard_fixtures.SECRET, w.campaign_id, w.hh("A-002").id)
        await resident.goto(f"{w.url}/r/{token}")
        assert await resident.inner_text("main h1") == "この安否確認は取り消されました"
        assert "119番" in await resident.inner_text("main")
        assert await resident.locator("main button, main form, main input").count() == 0
        assert await _scroll_width(resident) <= 360
        await _shot(resident, "reply-cancelled-360")
