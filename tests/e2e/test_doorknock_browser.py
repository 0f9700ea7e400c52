"""The door-knock list split among the head and the deputies (the dashboard's 班 filter carried to it), and
the list as Chromium prints it on A4 (read back with pdftotext): whole words, a column for the pen."""

from __future__ import annotations

import html
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import dashboard_fixtures
import pytest
from browser import browser, login, new_page, pdf
from dashboard_fixtures import ASSOC_A, DIST_S, SECRET, password, world
from roster_helpers import household

from safetynet.clock import SystemClock
from safetynet.domain.japan_time import date_time
from safetynet.domain.roster import HouseholdRecord
from safetynet.replies.tokens import reply_token

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
        assert await page.text_content("h1") == "2班の戸別訪問リスト — 桜町一丁目町会"
        groups = await page.eval_on_selector_all("section.dk-group h2", "hs => hs.map(h => h.textContent)")
        assert [g.split(":")[1].split("(")[0].strip() for g in groups] == ["2班"]
        # the page's own choice: tick 1班 too
        await page.check('[data-dk-groups] input[value="1班"]')
        async with page.expect_navigation():
            await page.click("[data-dk-groups] button[type=submit]")
        assert await page.text_content("h1") == "1班・2班の戸別訪問リスト — 桜町一丁目町会"
        assert await page.locator("section.dk-group").count() == 2


# -- on paper ----------------------------------------------------------------------------------

A4_WIDTH_PT = 595.28
MM = 72 / 25.4
RIGHT_EDGE_PT = A4_WIDTH_PT - 10 * MM  # print.css: @page margin 12mm 10mm
GIVEN = ("誠", "花子", "久仁子", "健一郎", "美智子", "翔")
# 4班 and 5班 of a large association: addresses whose numbers QA saw cut (「千代田一丁目10-」 / 「25」), some long
PRINTED = [("4班" if i < 30 else "5班", f"C-{i:03}", f"千代田 {GIVEN[i % 6]}",
            "東京都千代田区"[:i % 8] + f"千代田一丁目{10 + i}-{25 + i}" + (f" コーポ千代田 {100 + i}号室" if i % 5 == 0 else ""))
           for i in range(60)]


def _printed_records() -> list[HouseholdRecord]:
    extra = [household(DIST_S, ASSOC_A, group, key, name, address, 2, False, phone=f"+81905555{i:04}",
                       landline=f"+81355550{i:03}" if i % 3 == 0 else "")
             for i, (group, key, name, address) in enumerate(PRINTED)]
    return [*_ORIGINAL(), *extra]


_ORIGINAL = dashboard_fixtures.records


@dataclass(frozen=True)
class Word:
    page: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    text: str


def _words(pdf_path: Path) -> list[Word]:
    """Every word Chromium printed, with its page and place (pdftotext -bbox)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    words = []
    for page, body in enumerate(out.split("<page ")[1:], 1):
        words += [Word(page, float(x0), float(y0), float(x1), float(y1), html.unescape(text))
                  for x0, y0, x1, y1, text in re.findall(
                      r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', body)]
    return words


async def test_the_printed_door_knock_list_keeps_words_whole_and_has_a_column_for_the_pen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA (heads' walk, Chromium to A4): 「携帯」 ran into the status column (「携帯✉ 送信済・未回」), addresses
    broke inside their number (「千代田一丁目10-」 / 「25」), 「未回答」 as 「未回」 / 「答」, 10–14 rows a page,
    and nowhere to write what the visit found."""
    monkeypatch.setattr(dashboard_fixtures, "records", _printed_records)
    async with world(tmp_path) as w, browser() as b:
        async with aiohttp.ClientSession() as http:
            for i, (_, key, _, _) in enumerate(PRINTED):
                if i % 4:  # three in four opened their reply page and did not answer (既読・未回答); the rest wait
                    async with http.get(f"{w.url}/r/{reply_token(SECRET, w.campaign_id, w.hh(key).id)}") as r:
                        assert r.status == 200
        page = await new_page(b)
        await login(page, w.url, "head_a", password("head_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}&group=4班&group=5班")
        await page.wait_for_selector("table.dk")
        words = _words(await pdf(page, "doorknock-4-5"))
    first_line = min(w.y_min for w in words if w.text == "地震訓練")  # the campaign's title, under the heading
    heading = "".join(w.text for w in sorted((w for w in words if w.page == 1 and w.y_max < first_line),
                                             key=lambda w: w.x_min))
    assert heading.startswith("4班・5班の戸別訪問リスト")  # whose list it is, on paper
    assert [w for w in words if w.x_max > RIGHT_EDGE_PT + 1] == []  # every column inside the page
    # every address number whole, on one line
    for _, key, _, address in PRINTED:
        number = re.search(r"\d+-\d+", address)[0]  # type: ignore[index]
        assert sum(re.search(rf"(?<![\d-]){number}(?![\d-])", w.text) is not None for w in words) == 1, (key, number)
    # every status word whole, and 「携帯」 in its own column, left of 状況
    opened = sum(1 for i in range(60) if i % 4)
    assert sum("既読・未回答" in w.text for w in words) == opened
    assert sum("未回答" in w.text for w in words) == opened
    assert sum("未送信" in w.text for w in words) == 60 - opened  # 4班 and 5班 alone: not the fixture's 1班, 2班
    headers = {w.page: w for w in words if w.text == "状況"}
    assert len(headers) == max(w.page for w in words)  # the header on every sheet
    mobiles = [w for w in words if "携帯" in w.text]
    assert len(mobiles) == 60 and all(w.text == "携帯" and w.x_max < headers[w.page].x_min for w in mobiles)
    # a column for the pen on every sheet: the time, and the result or a note, wide enough to write in
    for sheet, status in headers.items():
        on = [w for w in words if w.page == sheet and abs(w.y_min - status.y_min) < 2]
        time_h = next(w for w in on if w.text == "時刻")
        note_h = next(w for w in on if w.text == "結果・メモ")
        assert status.x_max < time_h.x_min < note_h.x_min
        assert RIGHT_EDGE_PT - note_h.x_min > 35 * MM
    # more rows a sheet (QA: 10–14), though most of these addresses take two lines: a full sheet holds 25
    # households at least, the first (under the heading) 20
    per_sheet = Counter(w.page for w in words if re.fullmatch(r"090-5555-\d{4}", w.text))  # a mobile a household
    assert per_sheet[1] >= 20 and all(n >= 25 for sheet, n in per_sheet.items() if 1 < sheet < max(per_sheet)), per_sheet
    assert max(per_sheet) == 3


# -- live: a household back on the list ----------------------------------------------------------

WAIT_MS = 8000


def _in_walk(page_rows: list[str], w: dashboard_fixtures.World, keys: tuple[str, ...]) -> list[str]:
    ids = {str(w.hh(k).id): k for k in keys}
    return [ids[r] for r in page_rows if r in ids]


async def test_a_visit_undone_elsewhere_puts_the_household_back_on_the_walkers_list(tmp_path: Path) -> None:
    """Review: a deputy's visit undone (by her, or the head's undo on another phone) left the household off
    the list on the walker's phone, read before the undo, so nobody walked there. The list reads itself again
    and shows it in its place; its figures follow live, the second as /city counts (the ladder's last step)."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        hh = w.hh("A-002").id
        base = f"{w.url}/api/campaigns/{w.campaign_id}/households/{hh}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {w.tokens['deputy_a']}"}) as deputy:
            async with deputy.post(f"{base}/confirm", json={"method": "visit"}) as r:
                reply_id = (await r.json())["reply_id"]
            page = await new_page(b, phone=True)
            await login(page, w.url, "head_a", password("head_a"))
            await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}")
            await page.wait_for_selector("[data-live].on")
            row = f'table.dk tr[data-hh="{hh}"]'
            assert await page.locator(row).count() == 0
            assert (await page.inner_text("[data-dk-count]"), await page.inner_text("[data-dk-listed]")) == ("5", "0")

            for step in (1, 2, 3):  # the ladder runs to its last step, the door-knock list
                assert await w.store.campaigns.advance_ladder(w.campaign_id, step, w.clock.now())
            await w.store.campaigns.mark_doorknock(w.campaign_id, w.clock.now())
            await w.answer("A-001", "safe")  # one on the list answers after all
            await page.wait_for_function(
                "() => document.querySelector('[data-dk-listed]').textContent === '4'", timeout=WAIT_MS)
            assert await page.inner_text("[data-dk-count]") == "4"

            async with deputy.post(f"{base}/undo", json={"reply_id": reply_id}) as r:
                assert r.status == 200
        await page.wait_for_selector(f'{row} button[data-confirm="visit"]', state="visible", timeout=WAIT_MS)
        assert await page.get_attribute(row, "data-listed") == "1"  # undone after the step: on the list
        await page.wait_for_function(
            "() => document.querySelector('[data-dk-count]').textContent === '5'"
            " && document.querySelector('[data-dk-listed]').textContent === '5'", timeout=WAIT_MS)
        first = page.locator("section.dk-group").first
        assert await first.locator("[data-group-count]").inner_text() == "2"  # A-002, A-003 (A-001 answered)
        rows = await first.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.hh)")
        assert _in_walk(rows, w, ("A-001", "A-002", "A-003")) == ["A-001", "A-002", "A-003"]  # in walking order
        # and it can be visited from there
        await page.tap(f'{row} button[data-confirm="visit"]')
        await page.locator(f"{row} [data-row-undo] li button[data-undo]").wait_for(timeout=WAIT_MS)
        assert await w.status("A-002") == "confirmed_in_person"


async def test_the_list_says_its_figures_are_as_of_when_they_last_moved(tmp_path: Path) -> None:
    """The doorknock helper's reread: the figures followed live, their 「{time} 時点で」 stayed at the time the
    page was read (and printed so). The page's clock is set an hour after the server's: the time shown is
    the server's until a figure moves, then the page's (Japan time)."""
    async with world(tmp_path, clock=SystemClock()) as w, browser() as b:
        page = await new_page(b, phone=True)
        later = time.time() + 3600
        await page.clock.install(time=later)
        await login(page, w.url, "head_a", password("head_a"))
        await page.goto(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock?campaign={w.campaign_id}")
        await page.wait_for_selector("[data-live].on")
        read_at = await page.inner_text("[data-dk-time]")
        assert read_at == date_time(w.clock.now()) or read_at == date_time(w.clock.now() - 60)
        before = await page.inner_text("[data-dk-count]")
        await w.answer("A-001", "safe")
        await page.wait_for_function(f"() => document.querySelector('[data-dk-count]').textContent !== '{before}'",
                                     timeout=WAIT_MS)
        shown = await page.inner_text("[data-dk-time]")
        assert shown in (date_time(later), date_time(later + 60)), (shown, read_at)
