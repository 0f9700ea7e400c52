"""The association dashboard, door-knock list and city overview as served HTML (no browser)."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard_fixtures import (
    ASSOC_A,
    ASSOC_A2,
    ASSOC_B,
    B_SECRET_NAMES,
    DIST_S,
    DIST_U,
    client,
    login,
    world,
)
from test_dashboard_live import Stream

from safetynet.auth import new_token
from safetynet.clock import FakeClock
from safetynet.domain.japan_time import time_of_day
from safetynet.domain.replies import Location, ReplyDetails


def rows(html: str) -> dict[str, str]:
    """household id -> status of every (visible or hidden) household row."""
    return dict(re.findall(r'<tr data-hh="(\d+)" data-status="(\w+)"', html))


async def test_head_sees_counts_help_panel_list_and_coverage(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-001", "safe")
        await w.answer("A-004", "need_help", note="足を怪我しました <script>x</script>")
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}") as r:
            assert r.status == 200
            html = await r.text()
        assert '<html lang="ja">' in html and "助けが必要（未対応）" in html
        help_panel = html[html.index('id="help-items"'):html.index('data-count="need_help"')]
        assert "田中 美咲" in help_panel and "桜町1-2-4" in help_panel and "4人" in help_panel
        assert "&lt;script&gt;" in help_panel and "<script>x" not in html  # notes are escaped
        assert f'data-handled="{w.hh("A-004").id}"' in help_panel
        assert 'data-count="safe">1<' in html and 'data-count="need_help">1<' in html
        assert 'data-count="pending">4<' in html
        st = rows(html)
        assert len(st) == 6 and st[str(w.hh("A-001").id)] == "safe"
        assert not any(name in html for name in B_SECRET_NAMES)
        # coverage: A-006 has no channel at all
        cov = html[html.index('id="cov-h"'):]
        assert "5 / 6" in cov and "渡辺 誠" in cov
        assert f'data-campaign="{w.campaign_id}"' in html and 'data-since="' in html


async def test_a_help_card_says_in_words_where_the_household_is_and_how_many_it_is(tmp_path: Path) -> None:
    """The stored location code (home) and a bare number read as nothing to a head: words from the catalog."""
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help", details=ReplyDetails(
            people_safe=3, people_injured=1, location=Location.HOME, note="父が足を痛めました"))
        await w.answer("A-002", "need_help", details=ReplyDetails(location=Location.ELSEWHERE))
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        cards = {}
        for lang in ("ja", "en"):
            async with http.get(f"{w.url}/a/{aid}/help?lang={lang}") as r:
                assert r.status == 200
                cards[lang] = await r.text()
    items = {lang: re.findall(r"<li>([^<]*)</li>", html) for lang, html in cards.items()}
    assert {"4人世帯", "無事 3人", "けが人 1人", "いる場所: 自宅", "1人世帯", "いる場所: その他"} <= set(items["ja"])
    assert {"Household of 4", "3 safe", "1 injured", "Where: home", "Household of 1", "Where: elsewhere"} <= set(
        items["en"])
    assert items["ja"].count("無事 3人") == 1  # A-002 said nothing of how many are safe: no line
    for html in cards.values():
        assert "<li>home</li>" not in html and "<li>elsewhere</li>" not in html
    assert "people" not in cards["en"]  # no "1 people"


def card(html: str, household_id: int) -> str:
    """The need-help card of one household (its <li> to the end of its button)."""
    found = re.search(f'<li class="help-card[^"]*" data-hh="{household_id}"', html)
    assert found is not None, household_id
    return html[found.start():html.index("</button></li>", found.start())]


async def test_a_help_card_shows_the_words_before_the_latest_oldest_first(tmp_path: Path) -> None:
    """QA (privacy walk): the injury written with the call for help went off the card once the household
    texted again (「配信停止」). The card lists the two notes before the latest, then the latest."""
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-001", "need_help", note="足を骨折")
        target = await w.intake.target_for(w.campaign_id, w.hh("A-001").id)
        assert target is not None
        await w.intake.note(target, "配信停止", "sms", new_token())
        await login(http, w, "head_a")
        async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/help?lang=ja") as r:
            html = card(await r.text(), w.hh("A-001").id)
    assert re.findall(r'<li class="note[^"]*">([^<]*)</li>', html) == ["足を骨折", "配信停止"]


async def test_a_help_card_says_what_the_household_answered_since_and_both_counts_say_what_they_count(
        tmp_path: Path) -> None:
    """QA: the list said 6 and the 助けが必要 tile 5. The list counts requests not yet handled (a later
    無事 leaves a request open); the tile counts households by their answer now (a handled request
    whose household still needs help stays in it). Each says so, and a card says when its household
    answered 無事 since; the live stream's counts are those of the page."""
    async with world(tmp_path) as w, client() as http:
        for key in ("A-001", "A-003", "A-004"):
            await w.answer(key, "need_help")
        assert isinstance(w.clock, FakeClock)
        await w.clock.advance(25 * 60)
        await w.answer("A-001", "safe")  # still on the list: nobody marked it handled
        safe_at = w.clock.now()
        assert await w.store.replies.mark_handled(w.campaign_id, w.hh("A-003").id, None, "head_a")
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        pages = {}
        for lang in ("ja", "en"):
            async with http.get(f"{w.url}/a/{aid}?lang={lang}") as r:
                pages[lang] = await r.text()
        async with http.get(f"{w.url}/a/{aid}/help?lang=ja") as r:
            fragment, fragment_count = await r.text(), r.headers["X-Help-Count"]
        async with http.get(f"{w.url}/api/campaigns/{w.campaign_id}/events?association={aid}",
                            headers={"Authorization": f"Bearer {w.tokens['head_a']}"}) as r:
            first = await Stream(r).next()
    html = pages["ja"]
    # the list: open requests, named so
    assert "⚠ 助けが必要（未対応） <span class=\"count\" data-help-count>2</span>" in html
    assert "後から「無事」と回答した世帯もここに残ります" in html
    assert fragment_count == "2" and first["need_help_open"] == 2
    # the tile: households whose answer now is need-help (A-003 handled, A-004), named so
    assert 'data-count="need_help">2<' in html and first["status"]["need_help"] == 2
    assert "各世帯の現在の状況（世帯数）" in html
    # the card of A-001 says it answered safe since, at what time; A-004's says nothing of the kind
    since = f"その後「無事です」と回答（{time_of_day(safe_at)}）"
    for page in (html, fragment):
        assert since in card(page, w.hh("A-001").id) and "answered-since" in card(page, w.hh("A-001").id)
        assert "その後" not in card(page, w.hh("A-004").id)
        assert not re.search(f'<li class="help-card[^"]*" data-hh="{w.hh("A-003").id}"', page)  # handled
    assert f"Since then answered “I&#39;m safe” ({time_of_day(safe_at)})" in card(pages["en"], w.hh("A-001").id)
    assert "Need help (not handled)" in pages["en"] and "Households by their current status" in pages["en"]


async def test_a_help_card_says_when_staff_recorded_the_household_confirmed_since(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help")
        url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh('A-004').id}/confirm"
        async with http.post(url, json={"method": "phone"}, headers={"Authorization": f"Bearer {w.tokens['head_a']}"}) as r:
            assert r.status == 200
        await login(http, w, "head_a")
        async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/help") as r:
            html = await r.text()
    assert f"その後、確認済みと記録（{time_of_day(w.clock.now())}）" in card(html, w.hh("A-004").id)


async def test_a_help_card_gives_the_households_phones_to_call(tmp_path: Path) -> None:
    """The consent note promises heads the phone of a household: on its card, a tap calls it (the
    landline and the mobile as the roster has them), with the number as people read it."""
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-002", "need_help")  # a landline only
        await w.answer("A-004", "need_help")  # a mobile only
        await w.answer("A-003", "need_help")  # telegram only: nothing to call
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}") as r:
            html = await r.text()
    landline, mobile = card(html, w.hh("A-002").id), card(html, w.hh("A-004").id)
    assert '<li class="tel">固定電話 <a href="tel:+81311110002">03-1111-0002</a></li>' in landline
    assert "携帯電話" not in landline
    assert '<li class="tel">携帯電話 <a href="tel:+819011110004">090-1111-0004</a></li>' in mobile
    assert "固定電話" not in mobile and "tel:" not in card(html, w.hh("A-003").id)


async def test_confirmation_buttons_read_as_recording_not_calling(tmp_path: Path) -> None:
    """「電話」 read as "call"; the buttons record how a household was confirmed, and their spoken
    labels read as a sentence (QA heard 「…を 用紙で回答 で確認済みにする」)."""
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        rows_of = {}
        for lang in ("ja", "en"):
            async with http.get(f"{w.url}/a/{aid}/households?lang={lang}") as r:
                rows_of[lang] = await r.text()
    ja, en = rows_of["ja"], rows_of["en"]
    for method, label, said in (("visit", "訪問で確認", "山田 太郎を訪問で確認済みにする"),
                                ("phone", "電話で確認", "山田 太郎を電話で確認済みにする"),
                                ("paper", "用紙で確認", "山田 太郎を用紙で確認済みにする")):
        assert f'data-confirm="{method}"' in ja and f'aria-label="{said}">{label}</button>' in ja
    assert 'aria-label="Record 山田 太郎 as confirmed by phone">Confirmed by phone</button>' in en
    assert ">電話</button>" not in ja and "用紙で回答" not in ja and " で確認済み" not in ja


async def test_staff_pages_call_the_answer_what_residents_tapped(tmp_path: Path) -> None:
    """Residents tap 「助けが必要」; 要支援 would read as the registered vulnerable people (要配慮) beside it."""
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-002", "need_help")  # a vulnerable household: both words on its row
        await login(http, w, "admin")
        aid = w.assoc_ids[ASSOC_A]
        pages = {}
        for path in (f"/a/{aid}", f"/a/{aid}/households", f"/a/{aid}/doorknock", "/city",
                     f"/campaigns/{w.campaign_id}/report"):
            async with http.get(f"{w.url}{path}?lang=ja") as r:
                assert r.status == 200, path
                pages[path] = await r.text()
    assert not [p for p, html in pages.items() if "要支援" in html]
    dash = pages[f"/a/{aid}"]
    assert '<span class="lbl">⚠ 助けが必要</span> <b data-count="need_help">1<' in dash  # the tile
    assert 'value="help"> 助けが必要</label>' in dash and 'value="vulnerable"> 要配慮</label>' in dash  # filters
    row = pages[f"/a/{aid}/households"]
    row = row[row.index(f'data-hh="{w.hh("A-002").id}"'):]
    row = row[:row.index("</tr>")]
    assert "⚠ 助けが必要" in row and "要配慮" in row
    city = pages["/city"]
    assert "⚠ 助けが必要（未対応） <b data-help-total>1<" in city and "<th>助けが必要（未対応）</th>" in city
    # its tiles are the answers now, named so as on the association page (two need-help counts that may differ)
    assert city.index("各世帯の現在の状況（世帯数）") < city.index('<ul class="tiles"')
    assert "助けが必要" in pages[f"/campaigns/{w.campaign_id}/report"]


async def test_filters_work_without_javascript(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-001", "safe")
        await w.answer("A-004", "need_help")
        await login(http, w, "deputy_a")
        aid = w.assoc_ids[ASSOC_A]

        async def visible(query: str) -> set[str]:
            async with http.get(f"{w.url}/a/{aid}?{query}") as r:
                html = await r.text()
            return set(re.findall(r'<tr data-hh="(\d+)"[^>]*data-rid="0">', html))

        ids = {k: str(w.hh(k).id) for k in ("A-001", "A-002", "A-003", "A-004", "A-005", "A-006")}
        assert await visible("filter=noanswer") == {ids[k] for k in ("A-002", "A-003", "A-005", "A-006")}
        assert await visible("filter=help") == {ids["A-004"]}
        assert await visible("filter=vulnerable") == {ids["A-002"], ids["A-005"]}
        assert await visible("filter=all&group=1班") == {ids[k] for k in ("A-001", "A-002", "A-003")}


async def test_language_switch_and_large_text_are_remembered(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}?lang=en&large=1") as r:
            html = await r.text()
        assert '<html lang="en">' in html and "Need help (not handled)" in html and "large-text" in html
        async with http.get(f"{w.url}/a/{aid}/doorknock") as r:
            html = await r.text()
        assert '<html lang="en">' in html and "Door-knock list" in html and "large-text" in html
        async with http.get(f"{w.url}/city?lang=ja&large=0") as r:
            html = await r.text()
        assert '<html lang="ja">' in html and "large-text" not in html


async def test_every_page_renders_in_both_languages(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help", note="help")
        await login(http, w, "admin")
        aid = w.assoc_ids[ASSOC_A]
        paths = [f"/a/{aid}", f"/a/{aid}/doorknock", f"/a/{aid}/help", f"/a/{aid}/households", "/city",
                 "/city/curve", f"/campaigns/{w.campaign_id}/report", "/admin", "/login"]
        for lang in ("ja", "en"):
            for path in paths:
                sep = "&" if "?" in path else "?"
                async with http.get(f"{w.url}{path}{sep}lang={lang}") as r:
                    assert r.status == 200, (path, lang)


async def test_pages_with_times_say_once_that_they_are_japan_time(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help")
        await login(http, w, "admin")
        aid = w.assoc_ids[ASSOC_A]
        pages = {}
        for path in (f"/a/{aid}?lang=ja", f"/a/{aid}/doorknock?lang=en", "/city?lang=ja", "/city/letters?lang=ja"):
            async with http.get(f"{w.url}{path}") as r:
                assert r.status == 200, path
                pages[path] = await r.text()
    ja, en = "時刻はすべて日本時間です。", "All times are Japan time (JST, UTC+9)."
    assert pages[f"/a/{aid}?lang=ja"].count(ja) == 1 and pages["/city?lang=ja"].count(ja) == 1
    assert pages[f"/a/{aid}/doorknock?lang=en"].count(en) == 1
    assert ja not in pages["/city/letters?lang=ja"]  # a page without times has nothing to say about them


async def test_campaign_choice_defaults_to_the_latest_running_and_refuses_others(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}") as r:
            assert f'data-campaign="{w.campaign_id}"' in await r.text()
        async with http.get(f"{w.url}/a/{aid}?campaign={w.previous_id}") as r:
            html = await r.text()
        assert r.status == 200 and f'data-campaign="{w.previous_id}"' in html
        assert 'data-count="safe">2<' in html  # answered the previous drill
        b_only = await _campaign_of(w, [k for k in w.households if k.startswith("B-")])
        async with http.get(f"{w.url}/a/{aid}?campaign={b_only}") as r:
            assert r.status == 404  # exists, but does not cover this association
        async with http.get(f"{w.url}/a/{aid}?campaign=99999") as r:
            assert r.status == 404


async def test_a_link_that_leads_nowhere_gets_a_staff_page_in_the_viewers_language(tmp_path: Path) -> None:
    """Not a bare English `404: Not Found`: the staff layout, the page's language, the way back. Out of
    scope answers exactly as missing; the API keeps its JSON."""
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "head_a")
        a, b = w.assoc_ids[ASSOC_A], w.assoc_ids[ASSOC_B]
        pages = {}
        for path in (f"/a/{b}", "/a/99999", f"/a/{a}?campaign=abc", f"/a/{a}/doorknock?campaign=999",
                     "/campaigns/999/report", f"/a/{b}/doorknock?lang=en"):
            async with http.get(f"{w.url}{path}") as r:
                assert (r.status, r.content_type) == (404, "text/html"), path
                pages[path] = await r.text()
        for path, html in pages.items():
            if "lang=en" in path:
                continue
            assert '<html lang="ja">' in html and "<h1>ページが見つかりません</h1>" in html, path
            assert '<a class="button" href="/">町会のページに戻る</a>' in html and "Not Found" not in html, path
        # another association's page reveals nothing: the same page as a missing one (but for its own links)
        assert pages[f"/a/{b}"].replace(f"/a/{b}?", "/a/N?") == pages["/a/99999"].replace("/a/99999?", "/a/N?")
        en = pages[f"/a/{b}/doorknock?lang=en"]
        assert '<html lang="en">' in en and "<h1>Page not found</h1>" in en and "Back to your association" in en
        async with http.get(f"{w.url}/a/{a}") as r:
            assert r.status == 200  # the way back leads home
        async with http.get(f"{w.url}/a/{b}", headers={"Accept": "application/json"}) as r:
            assert r.status == 404 and (await r.json())["error"]
        async with http.get(f"{w.url}/api/campaigns/999/stats") as r:
            assert r.status == 404 and (await r.json())["error"]
        async with client() as admin:
            await login(admin, w, "admin")
            async with admin.get(f"{w.url}/campaigns/999/report") as r:
                assert r.status == 404 and '<a class="button" href="/">全市の状況に戻る</a>' in await r.text()
        async with client() as district:  # "/" is their district's overview, not the city's
            await login(district, w, "dhead")
            async with district.get(f"{w.url}/a/{w.assoc_ids[ASSOC_B]}") as r:
                assert r.status == 404 and '<a class="button" href="/">地区の状況に戻る</a>' in await r.text()


async def test_an_ended_campaign_is_not_shown_as_live(tmp_path: Path) -> None:
    """Beside 終了 the pages say nothing of live updates; a running campaign's pages do."""
    async with world(tmp_path) as w, client() as head, client() as admin:
        await login(head, w, "head_a")
        await login(admin, w, "admin")
        aid = w.assoc_ids[ASSOC_A]
        for http, path in [(head, f"/a/{aid}"), (head, f"/a/{aid}/doorknock"), (admin, "/city")]:
            pages = {}
            for cid in (w.campaign_id, w.previous_id):
                sep = "&" if "?" in path else "?"
                async with http.get(f"{w.url}{path}{sep}campaign={cid}") as r:
                    assert r.status == 200, path
                    pages[cid] = await r.text()
            running, ended = pages[w.campaign_id], pages[w.previous_id]
            indicator = re.compile(r'<span class="live[^"]*" data-live aria-live="polite">○ 再接続中…</span>')
            assert indicator.search(running), path
            assert "data-live " not in ended and not indicator.search(ended), path
            assert 'data-campaign-state>終了<' in ended, path


async def _campaign_of(w, keys):  # type: ignore[no-untyped-def]
    from dashboard_fixtures import start_campaign

    return await start_campaign(w, scope=[f"association:{ASSOC_B}"], title="梅だけ", keys=keys)


async def test_doorknock_lists_the_unanswered_by_group_and_address(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-001", "safe")
        await w.answer("A-005", "need_help")
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}") as r:
            assert r.status == 200
            html = await r.text()
        assert "/static/print.css" in html
        groups = re.findall(r"<h2>班: (\S+) <small>\(<span data-group-count>(\d+)</span>\)</small></h2>", html)
        assert groups == [("1班", "2"), ("2班", "2")]
        names = re.findall(r'<td class="who">([^<]+?)(?: <b class="?vuln"?>[^<]*</b>)?</td><td class="addr">桜町', html)
        assert names == ["佐藤 花子", "高橋 健", "田中 美咲", "渡辺 誠"]
        assert 'href="tel:+81311110002">03-1111-0002<' in html  # the landline, to call before walking
        # and the mobile, marked so (A-004 has one): calling first may save the walk
        row = html[html.index(f'data-hh="{w.hh("A-004").id}"'):]
        row = row[:row.index("</tr>")]
        assert '<a href="tel:+819011110004">090-1111-0004</a> <small>携帯</small>' in row
        assert "<th class=\"h-phone\">電話</th>" in html
        assert "☐" in html and "山田 太郎" not in html
        # who asked for help and is not seen to comes first, above the 班 (QA: the printed list left them out)
        help_at, first_group = html.index('id="help-items"'), html.index('<section class="dk-group"')
        assert help_at < first_group and "伊藤 光" in html[help_at:first_group] and "伊藤 光" not in html[first_group:]


async def test_doorknock_list_takes_some_groups_so_the_head_and_deputies_split_the_walk(tmp_path: Path) -> None:
    """QA (heads' walk): ?group=4班 still listed every 班 and the page had no 班 to choose; four people
    walked (and printed) the one list of the whole association."""
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "deputy_a")
        aid, cid = w.assoc_ids[ASSOC_A], w.campaign_id

        async def page(query: str) -> str:
            async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={cid}{query}") as r:
                assert r.status == 200
                return await r.text()

        def listed(html: str) -> list[tuple[str, str]]:
            return re.findall(r"<h2>班: (\S+) <small>\(<span data-group-count>(\d+)</span>\)</small></h2>", html)

        def ticked(html: str) -> dict[str, bool]:
            return {g: bool(on) for on, g in re.findall(
                r'<input type="checkbox" name="group" value="[^"]+"( checked)?> ([^<]+)</label>', html)}

        whole, second, both = await page(""), await page("&group=2班"), await page("&group=1班&group=2班")
        assert listed(whole) == listed(both) == [("1班", "3"), ("2班", "3")]
        assert "<h1>戸別訪問リスト — 桜町一丁目町会</h1>" in whole and ticked(whole) == {"1班": False, "2班": False}
        # one 班: its households alone, on screen and on paper, and the heading says whose list it is
        assert listed(second) == [("2班", "3")] and "山田 太郎" not in second and "田中 美咲" in second
        assert "<h1>2班の戸別訪問リスト — 桜町一丁目町会</h1>" in second
        assert "<title>2班の戸別訪問リスト — 桜町一丁目町会" in second
        assert "回答のない世帯 <b data-dk-count>3</b> 件" in second
        assert ticked(second) == {"1班": False, "2班": True}  # the choice is on the page, kept in the URL
        assert f'<form method="get" action="/a/{aid}/doorknock" class="filters noprint"' in second
        assert f'<input type="hidden" name="campaign" value="{cid}">' in second
        assert "<h1>1班・2班の戸別訪問リスト — 桜町一丁目町会</h1>" in both
        assert "<h1>Door-knock list: 1班, 2班 — " in await page("&group=1班&group=2班&lang=en")
        # the dashboard's link to the list carries the 班 its filter shows
        async with http.get(f"{w.url}/a/{aid}?campaign={cid}&filter=noanswer&group=2班&lang=ja") as r:
            dashboard = await r.text()
        assert f'href="/a/{aid}/doorknock?campaign={cid}&amp;group=2%E7%8F%AD" data-doorknock-link>' in dashboard
        async with http.get(f"{w.url}/a/{aid}?campaign={cid}") as r:
            assert f'href="/a/{aid}/doorknock?campaign={cid}" data-doorknock-link>' in await r.text()


async def test_doorknock_rows_record_a_visit_on_screen_with_the_dashboards_buttons(tmp_path: Path) -> None:
    """Each row has the dashboard's confirm buttons (in a .noprint cell part: paper keeps the tick
    column alone) and its own undo line; <main> carries what dash.js says around a tap."""
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-001", "safe")
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}") as r:
            html = await r.text()
        body = html[html.index("<tbody>"):]
        ids = re.findall(r'<tr data-hh="(\d+)"', body)
        assert sorted(ids) == sorted(str(w.hh(k).id) for k in ("A-002", "A-003", "A-004", "A-005", "A-006"))
        for hh in ids:
            tr = body[body.index(f'<tr data-hh="{hh}"'):]
            tr = tr[:tr.index("</tr>")]
            acts = tr[tr.index('<span class="act noprint">'):tr.index("</span>", tr.index('class="act noprint"'))]
            assert re.findall(r'data-confirm="(\w+)"', acts) == ["visit", "phone", "paper"], hh
            assert '<ul class="undo-list noprint" aria-live="polite" data-row-undo></ul>' in tr
        sato = body[body.index(f'<tr data-hh="{w.hh("A-002").id}"'):]
        assert ('data-method="訪問" aria-label="佐藤 花子を訪問で確認済みにする">訪問で確認</button>'
                in sato[:sato.index("</tr>")])
        main = html[html.index("<main"):html.index(">", html.index("<main"))]
        for attr in ('data-page="doorknock"', 'data-msg-confirmed="{name}：{method}で確認済みにしました。"',
                     'data-msg-undo="取り消す"', 'data-undo-seconds="300"', 'data-msg-failed=',
                     'data-msg-expired=', 'data-msg-login='):
            assert attr in main, attr
        assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)  # what dash.js posts with
        assert '<p class="flash" role="status" aria-live="polite" data-flash></p>' in html


async def test_city_overview_worst_first_with_words_and_a_curve(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        for key in ("A2-001", "A2-002", "A2-003", "B-001", "A-001"):
            await w.answer(key, "safe")
        await w.answer("A-002", "need_help")
        await login(http, w, "admin")
        async with http.get(f"{w.url}/city") as r:
            html = await r.text()
        table = html[html.index('id="associations"'):]
        order = re.findall(r'<a href="/a/\d+\?campaign=\d+">([^<]+)</a>', table)
        assert order == [ASSOC_A, ASSOC_B, ASSOC_A2]  # 33%, 50%, 100%
        assert "▼ 低い 33%" in table and "● 注意 50%" in table and "▲ 良好 100%" in table
        dist = html[html.index('id="districts"'):html.index('id="associations"')]
        assert dist.index(DIST_U) < dist.index(DIST_S)  # 50% before 5/9
        svg = html[html.index("<svg"):html.index("</svg>")]
        assert svg.count('<g data-series="') == 2 and DIST_S in svg and DIST_U in svg
        assert 'role="img"' in svg and "<title" in svg
        assert 'name="really"' in html  # close/cancel need a second deliberate step
        assert "<h1>全市の状況</h1>" in html
        assert "/city/campaigns/preview" in html


async def test_city_overview_is_cut_to_the_viewers_scope(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        async with client() as http:
            await login(http, w, "dhead")
            async with http.get(f"{w.url}/city") as r:
                html = await r.text()
            assert ASSOC_A in html and ASSOC_A2 in html and ASSOC_B not in html and DIST_U not in html
            assert 'name="really"' not in html  # a city-wide campaign is not a district head's to close
            assert f"<h1>{DIST_S}の状況</h1>" in html and "<h1>全市の状況</h1>" not in html  # the part they see
        async with client() as http:
            await login(http, w, "head_b")
            async with http.get(f"{w.url}/city") as r:
                html = await r.text()
            assert ASSOC_B in html and ASSOC_A not in html and "/city/campaigns/preview" not in html
            assert f"<h1>{ASSOC_B}の状況</h1>" in html


def doorknock_cells(html: str) -> tuple[dict[str, str], dict[str, str]]:
    """The door-knock column of /city: association name -> count, district name -> count."""
    dist = html[html.index('id="districts"'):html.index('id="associations"')]
    assoc = html[html.index('id="associations"'):]
    by_district = dict(re.findall(r'<th scope="row">([^<]+)</th>.*?<td class="num" data-doorknock>(\d+)</td></tr>', dist))
    by_association = dict(re.findall(r'">([^<]+)</a></th>.*?<td class="num" data-doorknock>(\d+)</td></tr>', assoc))
    return by_association, by_district


async def test_city_overview_counts_the_door_knock_list_per_association_in_the_viewers_scope(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for key in ("A-001", "A2-001", "B-001"):
            await w.answer(key, "safe")
        await w.store.campaigns.mark_doorknock(w.campaign_id, w.clock.now())  # the ladder's last step ran
        await w.answer("A-003", "safe")  # answered after all: off the list
        async with client() as http:
            await login(http, w, "admin")
            async with http.get(f"{w.url}/city") as r:
                html = await r.text()
            assert "<th>戸別訪問リスト入り（未回答）</th>" in html
            assert doorknock_cells(html) == ({ASSOC_A: "4", ASSOC_A2: "2", ASSOC_B: "1"}, {DIST_S: "6", DIST_U: "1"})
            async with http.get(f"{w.url}/city?lang=en") as r:
                assert "<th>On the door-knock list (not answered)</th>" in await r.text()
        async with client() as http:
            await login(http, w, "dhead")
            async with http.get(f"{w.url}/city") as r:
                assert doorknock_cells(await r.text()) == ({ASSOC_A: "4", ASSOC_A2: "2"}, {DIST_S: "6"})
        async with client() as http:
            await login(http, w, "head_b")
            async with http.get(f"{w.url}/city") as r:
                assert doorknock_cells(await r.text()) == ({ASSOC_B: "1"}, {DIST_U: "1"})


async def test_the_door_knock_list_says_how_many_are_on_the_list_as_the_city_overview_counts_them(
        tmp_path: Path) -> None:
    """Review: before the ladder's last step /city's door-knock column said 0 where the association's list
    said 5 households with no answer: the list lists every household not answered yet, /city those the
    step put on the list. The list says both, the second as /city counts it; its tables come alone too
    (`/doorknock/rows`, for the live page), with every household of its 班 named for a row that comes back."""
    async with world(tmp_path) as w:
        async with client() as http:
            await w.answer("A-001", "safe")
            await login(http, w, "head_a")
            aid, cid = w.assoc_ids[ASSOC_A], w.campaign_id

            async def figures(query: str = "") -> tuple[str, str]:
                async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={cid}{query}") as r:
                    html = await r.text()
                found = re.search(r"回答のない世帯 <b data-dk-count>(\d+)</b> 件（うち、連絡の手順を終えて戸別訪問リスト入りした"
                                  r"世帯 <b data-dk-listed>(\d+)</b> 件）", html)
                assert found is not None
                return found[1], found[2]

            assert await figures() == ("5", "0")
            await w.store.campaigns.mark_doorknock(cid, w.clock.now())  # the ladder's last step
            await w.answer("A-003", "safe")
            assert await figures() == ("4", "4")
            assert await figures("&group=2班") == ("3", "3")
            async with http.get(f"{w.url}/a/{aid}/doorknock/rows?campaign={cid}&group=1班") as r:
                assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
                tables = await r.text()
            assert tables.startswith('<div class="dk-list" data-dk-list data-dk-cut="[')
            ids = sorted(w.hh(k).id for k in ("A-001", "A-002", "A-003"))
            assert f'data-dk-cut="{ids}"'.replace(" ", "") in tables.replace(", ", ",")
            assert re.findall(r'<tr data-hh="(\d+)" data-status="\w+" data-rid="0"( data-listed="1")?>', tables) == [
                (str(w.hh("A-002").id), ' data-listed="1"')]
            assert '<section class="dk-group" data-group="1班">' in tables and "2班" not in tables
            async with http.get(f"{w.url}/a/{aid}/doorknock/rows?campaign={cid}&lang=en") as r:
                assert "佐藤 花子" in await r.text()
        async with client() as http:
            await login(http, w, "admin")
            async with http.get(f"{w.url}/city") as r:
                assert doorknock_cells(await r.text())[0][ASSOC_A] == "4"
            async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_B]}/doorknock/rows?campaign={w.campaign_id}") as r:
                assert r.status == 200
        async with client() as http:
            await login(http, w, "head_b")  # another association's list is out of scope
            async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/doorknock/rows?campaign={w.campaign_id}") as r:
                assert r.status == 404


async def test_api_associations_lists_the_callers_scope(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        expected = {"admin": {ASSOC_A, ASSOC_A2, ASSOC_B}, "dhead": {ASSOC_A, ASSOC_A2}, "head_b": {ASSOC_B}}
        for who, names in expected.items():
            async with http.get(f"{w.url}/api/associations",
                                headers={"Authorization": f"Bearer {w.tokens[who]}"}) as r:
                doc = await r.json()
            assert {a["name"] for a in doc} == names
            assert all(set(a) == {"id", "name", "district"} for a in doc)
        async with http.get(f"{w.url}/api/associations") as r:
            assert r.status == 401 and (await r.json())["error"]


async def test_a_help_card_says_when_it_went_to_the_district_or_city_as_unhandled(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help")
        await w.clock.advance(31 * 60)
        assert await w.store.replies.claim_unhandled_help(w.clock.now() - 30 * 60) == [(w.campaign_id, w.hh("A-004").id)]
        await w.store.replies.escalation_told(w.campaign_id, w.hh("A-004").id)
        escalated = w.clock.now()
        await w.answer("A-001", "need_help")  # asked later: not escalated
        await login(http, w, "head_a")
        async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/help") as r:
            html = await r.text()
    told = f"{time_of_day(escalated)} 対応済みにならないため、地区・市の担当者に知らせました"
    assert told in card(html, w.hh("A-004").id)
    assert "対応済みにならないため" not in card(html, w.hh("A-001").id)
