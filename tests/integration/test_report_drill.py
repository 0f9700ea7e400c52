"""The drill report: numbers per level, milestones, channels, lists, comparison, renderers, CLI, page."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import io
import itertools
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from dashboard_fixtures import (
    ASSOC_A,
    ASSOC_A2,
    ASSOC_B,
    B_SECRET_NAMES,
    DIST_S,
    World,
    client,
    index_households,
    login,
    records,
    start_campaign,
    world,
)
from locale_helpers import terminal_locale
from roster_helpers import household
from sqlite_helpers import sqlite_db
from structlog.testing import capture_logs

from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import StepPlan
from safetynet.domain.replies import Location, ReplyDetails
from safetynet.domain.shares import share
from safetynet.stats.report import (
    RENDERERS,
    build_report,
    open_report,
    render_csv,
    render_html,
    render_json,
    report_cli,
    stream_report,
    writer_for,
)


async def play(w: World, clock: FakeClock) -> None:
    """A drill: answers at known minutes over several channels, one household unreachable."""
    await w.store.campaigns.write_step(w.campaign_id, StepPlan((), (w.hh("A-006").id,), ()), clock.now())
    await clock.advance(30)
    await w.answer("A-001", "safe")  # minute 0
    await clock.advance(60)
    await w.answer("A-003", "safe", channel="telegram")  # minute 1
    await w.answer("A2-001", "safe", channel="sms")
    await clock.advance(300)
    await w.answer("A-004", "need_help")  # minute 6
    await w.answer("B-001", "safe", channel="voice")
    await w.intake.confirm_in_person(w.viewer("head_a"), w.campaign_id, w.hh("A-002").id, "visit")


async def test_city_report_numbers(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
    city = rep["city"]
    assert city["households"] == 11 and city["answered"] == 6
    assert city["status"]["unreachable"] == 1 and city["status"]["pending"] == 4
    assert city["rates"]["safe"] == 0.3636 and city["answered_rate"] == 0.5454  # rounded down: 100 % is everyone
    assert city["minutes_to"] == {"25": 2, "50": 7, "75": None, "80": None}
    assert city["channels"] == {"sms": 1, "staff": 1, "telegram": 1, "voice": 1, "web": 2}
    assoc = {a["name"]: a for a in rep["associations"]}
    assert assoc[ASSOC_A]["answered_rate"] == 0.6666 and assoc[ASSOC_A]["comparison"] == "better"
    assert assoc[ASSOC_A2]["comparison"] == "worse" and assoc[ASSOC_B]["comparison"] == "same"
    assert assoc[ASSOC_A]["previous_answered_rate"] == share(2, 6)
    assert [d["name"] for d in rep["districts"]] == ["桜地区", "梅地区"]
    assert rep["previous"]["id"] == w.previous_id
    assert [p["name"] for p in rep["unreachable"]] == ["渡辺 誠"]
    assert sorted(p["name"] for p in rep["never_answered"]) == sorted(["伊藤 光", "中村 2", "中村 3", B_SECRET_NAMES[1]])
    assert {c["label"] for c in rep["curve"]} == {"桜地区", "梅地区"}
    # who asked for help and whether it was seen to: A-004 asked, nobody marked it handled yet
    assert rep["help_requests"] == {"households": 1, "handled": 0, "open": 1}
    assert "助けが必要と答えた世帯: 1（対応済み 0、未対応 1）" in render_html(rep)
    # and who: the report filed after an event names them (QA: it counted them only)
    ((asked),) = rep["need_help"]
    assert (asked["household"], asked["name"], asked["handled"]) == ("A-004", "田中 美咲", False)
    page = render_html(rep)
    listed = page[page.index("<h2>助けが必要と答えた世帯</h2>"):page.index("<h2>連絡不能の世帯</h2>")]
    assert "田中 美咲" in listed and "<td>未対応</td>" in listed
    lines = render_csv(rep).splitlines()
    assert ",対応,本人からの連絡," in lines[lines.index("") + 1]
    assert any(x.startswith("助けが必要と答えた世帯,") and ",A-004,田中 美咲," in x and ",0,," in x for x in lines)


async def test_the_help_list_gives_the_phones_and_the_injured_as_the_help_card(tmp_path: Path) -> None:
    """QA: the help list had no phone and no injured count, while the help card and the alert said
    携帯/固定 and けが人 1人: the open requests left at the close could not be phoned from the report.
    Every format gives them now (the CSV appends its columns); a household withheld from the viewer
    gives no phone, as its help alert."""
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await w.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "B-001" else r for r in records()])
        await w.answer("A-004", "need_help", details=ReplyDetails(3, 1, Location.HOME, "足をけがしました"))
        await w.answer("B-001", "need_help", details=ReplyDetails(people_injured=2))  # 不同意
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
        theirs = await build_report(w.store, w.campaign_id, w.viewer("head_b"))
    by_key = {r["household"]: r for r in rep["need_help"]}
    a4, b1 = by_key["A-004"], by_key["B-001"]
    assert (a4["mobile"], a4["landline"], a4["people_injured"], a4["people_safe"], a4["location"]) == (
        "+819011110004", "", 1, 3, "home")
    assert (b1["mobile"], b1["landline"], b1["people_injured"]) == ("+819033330001", "+81333330001", 2)
    lines = render_csv(rep).splitlines()
    assert lines[lines.index("") + 1].endswith(",対応,本人からの連絡,携帯電話,けが人（人）,無事（人）,場所")
    (row,) = [x for x in lines if ",A-004," in x and x.startswith("助けが必要と答えた世帯,")]
    assert row.endswith(",0,足をけがしました,090-1111-0004,1,3,自宅")
    (row,) = [x for x in lines if ",B-001," in x and x.startswith("助けが必要と答えた世帯,")]
    assert ",03-3333-0001," in row and row.endswith(",090-3333-0001,2,,")
    en = list(csv.DictReader(io.StringIO(render_csv(rep, "en").split("\n\n")[1])))
    (row_en,) = [r for r in en if r["household"] == "A-004"]
    assert (row_en["mobile"], row_en["people_injured"], row_en["location"]) == ("090-1111-0004", "1", "home")
    page = render_html(rep)
    listed = page[page.index("<h2>助けが必要と答えた世帯</h2>"):page.index("<h2>連絡不能の世帯</h2>")]
    assert "090-1111-0004 (携帯)" in listed and "無事 3人 / けが人 1人 / 場所: 自宅" in listed
    assert "<th>人数・場所</th>" in listed  # the heading over 「無事 3人」 and 「場所:」, not just the injured
    assert "090-3333-0001 (携帯) / 03-3333-0001 (固定)" in listed and "けが人 2人" in listed
    # a drill's 不同意 household, seen by its head: its number and 班 alone, no phone either
    ((withheld),) = theirs["need_help"]
    assert withheld["withheld"] and (withheld["mobile"], withheld["landline"], withheld["people_injured"]) == ("", "", None)
    text = render_json(theirs) + render_csv(theirs) + render_html(theirs)
    assert "3333-0001" not in text and "33330001" not in text


async def test_the_follow_up_lists_give_the_mobile_as_the_door_knock_list(tmp_path: Path) -> None:
    """QA (heads' walk): 一度も回答のなかった世帯 and 連絡不能 gave the landline alone: a household with only a
    mobile, which the door-knock list shows, had no phone in the report. Every format gives the mobile
    now; a household withheld from the viewer gives none, as on the door-knock list."""
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await w.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "B-002" else r for r in records()])
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
        theirs = await build_report(w.store, w.campaign_id, w.viewer("head_b"))  # a drill: B-002 withheld
    never = {r["household"]: r for r in rep["never_answered"]}
    assert (never["A-005"]["mobile"], never["A-005"]["landline"]) == ("+819011110005", "")  # a mobile alone
    assert (never["B-002"]["mobile"], never["B-002"]["landline"]) == ("+819033330002", "+81333330002")
    assert rep["unreachable"][0]["mobile"] == ""  # A-006 has no phone at all
    lines = render_csv(rep).splitlines()
    (row,) = [x for x in lines if x.startswith("一度も回答のなかった世帯,") and ",A-005," in x]
    assert row.endswith(",090-1111-0005,,,")  # under 携帯電話, the help list's column
    en = list(csv.DictReader(io.StringIO(render_csv(rep, "en").split("\n\n")[1])))
    assert {r["household"]: r["mobile"] for r in en if r["list"] == "never_answered"}["A2-002"] == "090-2222-0002"
    page = render_html(rep)
    listed = page[page.index("<h2>一度も回答のなかった世帯</h2>"):]
    assert "<th>電話</th>" in listed and "<th>人数・場所</th>" not in listed
    assert "090-1111-0005 (携帯)" in listed and "090-3333-0002 (携帯) / 03-3333-0002 (固定)" in listed
    ((withheld),) = [r for r in theirs["never_answered"] if r["household"] == "B-002"]
    assert withheld["withheld"] and (withheld["mobile"], withheld["landline"]) == ("", "")
    text = render_json(theirs) + render_csv(theirs) + render_html(theirs)
    assert "3333-0002" not in text and "33330002" not in text


async def test_a_drill_compares_with_the_previous_drill_not_a_real_event_between(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        assert await w.store.campaigns.close(w.campaign_id, clock.now())
        await clock.advance(3600)
        real = await start_campaign(w, kind=CampaignKind.REAL, title="地震 震度6弱")  # same scope: the city
        assert await w.store.campaigns.close(real, clock.now())
        await clock.advance(3600)
        drill = await start_campaign(w, title="地震訓練")
        rep = await build_report(w.store, drill, w.viewer("admin"))
        assert rep["previous"]["id"] == w.campaign_id and rep["previous"]["kind"] == "drill"
        rep = await build_report(w.store, real, w.viewer("admin"))
        assert rep["previous"] is None  # the first real event has nothing of its kind to compare with


async def test_scoped_report_shows_only_the_viewers_associations(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("head_a"))
        text = render_json(rep) + render_csv(rep) + render_html(rep)
    assert [a["name"] for a in rep["associations"]] == [ASSOC_A]
    assert rep["city"]["households"] == 6 and rep["viewer_scope"] == f"association:{ASSOC_A}"
    assert [p["name"] for p in rep["never_answered"]] == ["伊藤 光"]
    assert ASSOC_B not in text and not any(n in text for n in B_SECRET_NAMES) and "中村" not in text


async def test_renderers(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
    assert json.loads(render_json(rep)) == json.loads(json.dumps(rep))
    table, lists = render_csv(rep, "en").split("\n\n")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [r["level"] for r in rows] == ["city", "district", "district", "association", "association", "association"]
    assert rows[0]["households"] == "11" and rows[0]["minutes_to_50"] == "7" and rows[0]["minutes_to_75"] == ""
    assert rows[0]["first_answers_web"] == "2" and rows[0]["comparison"] in ("better", "worse", "same")
    listed = list(csv.DictReader(io.StringIO(lists)))
    assert {r["list"] for r in listed} == {"need_help", "unreachable", "never_answered"} and len(listed) == 6
    # in Japanese (the default) for a person reading it in Excel: headers and words, the same numbers
    table_ja, lists_ja = render_csv(rep).split("\n\n")
    rows_ja = list(csv.DictReader(io.StringIO(table_ja)))
    assert [r["区分"] for r in rows_ja] == ["全体", "地区", "地区", "町会", "町会", "町会"]
    assert rows_ja[0]["世帯数"] == "11" and rows_ja[0]["回答率50%までの分"] == "7"
    assert rows_ja[0]["最初の回答（返信ページ）"] == "2" and rows_ja[0]["比較"] in ("改善", "悪化", "同程度")
    assert {r["一覧"] for r in csv.DictReader(io.StringIO(lists_ja))} == {
        "助けが必要と答えた世帯", "連絡不能の世帯", "一度も回答のなかった世帯"}
    assert [r["世帯主"] for r in csv.DictReader(io.StringIO(lists_ja))] == [r["name"] for r in listed]
    # a number as a person dials it (QA read +81… in Excel); the JSON keeps E.164 for programs
    phones = {r["固定電話"] for r in csv.DictReader(io.StringIO(lists_ja))} - {""}
    assert phones and all(p.startswith("0") and "-" in p for p in phones), phones
    assert all(p["landline"].startswith("+81") for p in rep["never_answered"] if p.get("landline"))
    html = render_html(rep)
    assert html.startswith("<!doctype html>") and "@page { size: A4" in html and "<svg" in html
    assert "渡辺 誠" in html and "▲ 改善" in html and "▼ 悪化" in html
    assert "Drill report" in render_html(rep, "en")


async def test_the_report_says_its_times_are_japan_time(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
    started = datetime.fromtimestamp(rep["campaign"]["started_at"], timezone(timedelta(hours=9)))
    for lang, label in (("ja", "時刻は日本時間"), ("en", "Times are Japan time (JST, UTC+9)")):
        meta = render_html(rep, lang).split('<p class="meta">', 1)[1].split("</p>", 1)[0]
        assert started.strftime("%Y-%m-%d %H:%M") in meta and meta.endswith(" · " + label), lang
    # the CSV shows no time (minutes since the start, not clock times): its columns stay as they are
    assert render_csv(rep, "en").splitlines()[0].startswith("level,district,association,households,")


async def test_cli_writes_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        for fmt in ("html", "csv", "json"):
            out = tmp_path / f"r.{fmt}"
            args = argparse.Namespace(id=str(w.campaign_id), format=fmt, output=str(out))
            assert await asyncio.to_thread(report_cli, w.cfg, args) == 0
            assert out.stat().st_size > 200
        doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert doc["city"]["households"] == 11
        args = argparse.Namespace(id="999", format="json", output=None)
        assert await asyncio.to_thread(report_cli, w.cfg, args) == 2
        assert "no campaign 999" in capsys.readouterr().err
        missing = tmp_path / "missing.json"
        args = argparse.Namespace(id="999", format="json", output=str(missing))
        assert await asyncio.to_thread(report_cli, w.cfg, args) == 2
        assert not missing.exists()


async def test_report_page_per_viewer(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        await play(w, clock)
        await login(http, w, "head_a")
        base = f"{w.url}/campaigns/{w.campaign_id}/report"
        async with http.get(base) as r:
            assert r.status == 200 and "<svg" in await r.text()
        async with http.get(f"{base}?format=csv") as r:
            assert r.headers["Content-Type"].startswith("text/csv")
            body = await r.text()
        assert ASSOC_A in body and ASSOC_B not in body
        async with http.get(f"{base}?format=json") as r:
            assert (await r.json())["city"]["households"] == 6
        async with http.get(f"{base}?format=pdf") as r:
            assert r.status == 400


# -- lists read and written a page at a time ---------------------------------------------------------

EXTRA = 23  # households added to A: one group, one address, so the keyset must break ties by id


async def crowd(w: World) -> tuple[int, set[str], set[str]]:
    """A campaign over the world plus EXTRA look-alike households of A, every third unreachable.
    Returns it with the names expected on the unreachable and the never-answered list."""
    await w.store.roster.import_households([
        household(DIST_S, ASSOC_A, "3班", f"A-X{i:02}", f"追加 {i:02}", "桜町1-3-1", 1, i % 2 == 0,
                        phone=f"+8190444400{i:02}") for i in range(EXTRA)])
    await index_households(w)
    cid = await start_campaign(w, title="大人数の訓練")
    gone = [f"A-X{i:02}" for i in range(0, EXTRA, 3)] + ["B-002"]
    await w.store.campaigns.write_step(cid, StepPlan((), tuple(w.hh(k).id for k in gone), ()), w.clock.now())
    await w.answer("A-001", "safe", cid)
    names = {k: h.name for k, h in w.households.items()}
    unreachable = {names[k] for k in gone}
    never = {n for k, n in names.items() if k not in gone and k != "A-001"}
    assert len(names) == 11 + EXTRA and len(unreachable) == 9 and len(never) == 11 + EXTRA - 10
    return cid, unreachable, never


def listed(fmt: str, text: str) -> dict[str, list[str]]:
    """The names on each list of a rendered report."""
    if fmt == "json":
        doc = json.loads(text)
        return {k: [p["name"] for p in doc[k]] for k in ("unreachable", "never_answered")}
    if fmt == "csv":
        out: dict[str, list[str]] = {"unreachable": [], "never_answered": []}
        for r in csv.DictReader(io.StringIO(text.split("\n\n", 1)[1])):
            out[r["list"]].append(r["name"])
        return out
    _, unreachable, never = text.split("<h2>")[-3:]  # the two lists are the last sections
    cells = re.compile(r"<tr><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>")  # after the 世帯番号
    return {"unreachable": cells.findall(unreachable), "never_answered": cells.findall(never)}


@pytest.mark.parametrize("chunk", [1, 4, 7])
async def test_lists_longer_than_a_page_list_every_household_once(tmp_path: Path, chunk: int) -> None:
    async with world(tmp_path, serve=False) as w:
        cid, unreachable, never = await crowd(w)
        whole = await build_report(w.store, cid, w.viewer("admin"))
        rep = await open_report(w.store, cid, w.viewer("admin"), chunk=chunk)
        pages = [len(lines) async for lines in rep.lines("never_answered")]
        assert sum(pages) == len(never) and max(pages) == chunk and len(pages) > 1
        assert sum([len(rows) async for rows in rep.rows("never_answered")]) == len(never)
        for fmt in ("json", "csv", "html"):
            lang = "en" if fmt == "csv" else "ja"  # the CSV's English column names are what `listed` reads
            text = "".join([p async for p in stream_report(rep, writer_for(fmt, lang))])
            got = listed(fmt, text)
            assert sorted(got["unreachable"]) == sorted(unreachable), fmt
            assert sorted(got["never_answered"]) == sorted(never), fmt
            # the same document, to the byte, as the report rendered whole
            assert text == (render_csv(whole, "en") if fmt == "csv" else RENDERERS[fmt](whole)), fmt
    doc = json.loads(render_json(whole))
    assert list(doc)[-2:] == ["unreachable", "never_answered"] and doc["city"]["households"] == 11 + EXTRA


# QA's addresses, in the order the store reads them (as text), and in walking order
STREET = ("桜町12-4", "桜町12-9", "桜町17-22", "桜町18-11", "桜町27-5", "桜町6-3", "桜町1-24", "桜町1-3")
WALKED = ("桜町1-3", "桜町1-24", "桜町6-3", "桜町12-4", "桜町12-9", "桜町17-22", "桜町18-11", "桜町27-5")


@pytest.mark.parametrize("chunk", [3, 2000])
async def test_the_lists_go_by_address_with_its_numbers_as_numbers(tmp_path: Path, chunk: int) -> None:
    """QA: the report sorted households by address as text (12-4, …, 27-5, 6-3; 1-24 before 1-3). Its
    lists go in the door-knock list's walking order now (班 then address, numbers as numbers: 2班
    before 10班), across the store's pages too, in every format."""
    async with world(tmp_path, serve=False) as w:
        await w.store.roster.import_households(
            [household(DIST_S, ASSOC_A, "10班", f"A-N{i}", f"番地 {i}", a, 1, False) for i, a in enumerate(STREET)]
            + [household(DIST_S, ASSOC_A, "2班", f"A-M{i}", f"二班 {i}", a, 1, False) for i, a in enumerate(STREET[:2])])
        await index_households(w)
        cid = await start_campaign(w, title="番地の訓練")
        rep = await open_report(w.store, cid, w.viewer("admin"), chunk=chunk)
        rows = [r async for page in rep.rows("never_answered") for r in page]
        ours = [r for r in rows if r["household"].startswith(("A-N", "A-M"))]
        assert [r["address"] for r in ours] == ["桜町12-4", "桜町12-9", *WALKED]  # 2班 first
        blocks = [a for a, _ in itertools.groupby(r["association"] for r in rows)]
        assert len(blocks) == len(set(blocks))  # each association's households together
        text = "".join([p async for p in stream_report(rep, writer_for("csv", "en"))])
        listed_csv = [r["address"] for r in csv.DictReader(io.StringIO(text.split("\n\n", 1)[1]))
                      if r["household"].startswith("A-N")]
        assert listed_csv == list(WALKED)


async def test_report_page_is_streamed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        await play(w, clock)
        whole = await build_report(w.store, w.campaign_id, w.viewer("head_a"))
        await login(http, w, "head_a")
        base = f"{w.url}/campaigns/{w.campaign_id}/report"
        for fmt in ("json", "csv", "html"):
            async with http.get(f"{base}?format={fmt}") as r:
                assert r.status == 200 and r.headers["Transfer-Encoding"] == "chunked"
                assert "Content-Length" not in r.headers and r.charset == "utf-8"
                body = await r.text()
                if fmt == "csv":  # Japanese Excel reads UTF-8 only after a byte order mark
                    assert body.startswith("\ufeff")
                    body = body[1:]
                if fmt == "html":  # the page has the staff pages' header (back, text size, logout); the file has not
                    assert '<header class="top"><a href="/">' in body and 'action="/logout"' in body
                    body = re.sub(r'<header class="top">.*?</header>', "", body, count=1)
                assert body == RENDERERS[fmt](whole), fmt
        # refused before the first byte: still a proper status
        async with http.get(f"{w.url}/campaigns/999/report?format=json") as r:
            assert r.status == 404


@pytest.mark.sqlite_only  # reaches into the SQLite file (sqlite_helpers)
async def test_store_failure_mid_stream_cuts_the_response(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        await play(w, clock)
        await login(http, w, "admin")
        # the lists read the households' contacts; the summary (its help requests too) does not: the
        # failure comes after the first byte
        await sqlite_db(w.store).execute("ALTER TABLE contacts RENAME TO contacts_gone")
        for fmt in ("json", "csv", "html"):
            with capture_logs() as logs:
                async with http.get(f"{w.url}/campaigns/{w.campaign_id}/report?format={fmt}") as r:
                    assert r.status == 200
                    got = b""
                    with pytest.raises(aiohttp.ClientPayloadError):
                        async for chunk in r.content.iter_any():
                            got += chunk
                if fmt == "html":  # a person reads that it stops there (QA: a cut page looked whole)
                    assert "この報告は不完全です" in got.decode()
                else:
                    assert "不完全".encode() not in got  # a file a program reads just stops (a payload error)
            failed = [e for e in logs if e["event"] == "report_stream_failed"]
            assert len(failed) == 1 and failed[0]["format"] == fmt, logs


# -- the report's title says what the campaign was -------------------------------------------------


async def test_a_real_events_report_is_not_headed_drill_report(tmp_path: Path) -> None:
    """The report officers file after a disaster must not say 訓練報告 (QA: title and h1 did)."""
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        real = await start_campaign(w, kind=CampaignKind.REAL, title="地震 震度6弱")
        rep = await build_report(w.store, real, w.viewer("admin"))
        drill = await build_report(w.store, w.campaign_id, w.viewer("admin"))
    html = render_html(rep)
    assert "<title>安否確認報告: 地震 震度6弱</title>" in html and "<h1>安否確認報告: 地震 震度6弱</h1>" in html
    assert "訓練報告" not in html and '<p class="meta">実災害 · ' in html
    en = render_html(rep, "en")
    assert "<h1>Safety check report: 地震 震度6弱</h1>" in en and "Drill report" not in en
    assert "<h1>訓練報告: 地震訓練</h1>" in render_html(drill)  # a drill's still is


async def test_cli_says_a_campaign_that_never_started_has_no_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `campaign report 5` said "no campaign 5" for one waiting for approval or cancelled before
    it started, while `campaign status 5` showed it."""
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    async with world(tmp_path, serve=False) as w:
        now = w.clock.now()
        waiting = await w.store.campaigns.create(kind=CampaignKind.REAL, title="地震", scope=["city"],
                                                 messages={"ja": "地震です"}, ladder=())
        assert await w.store.campaigns.request_approval(waiting.id, now, "first", 1001)
        dropped = await w.store.campaigns.create(kind=CampaignKind.DRILL, title="訓練", scope=["city"],
                                                 messages={"ja": "訓練です"}, ladder=())
        assert await w.store.campaigns.cancel(dropped.id, now)
        for cid, state in ((waiting.id, "承認待ち"), (dropped.id, "中止")):
            out = tmp_path / f"never-{cid}.html"
            args = argparse.Namespace(id=str(cid), format="html", output=str(out))
            assert await asyncio.to_thread(report_cli, w.cfg, args) == 2
            err = capsys.readouterr().err
            assert f"安否確認 {cid} は一度も開始されていないため、報告はありません（状態: {state}）" in err
            assert "no campaign" not in err and not out.exists()


async def test_the_report_says_how_many_answered_after_the_close(tmp_path: Path) -> None:
    """QA: late answers moved the figures after the close and the filed report did not say so."""
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        await play(w, clock)
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
        assert rep["answered_after_close"] == 0 and "終了後に届いた回答" not in render_html(rep)  # still running
        assert await w.store.campaigns.close(w.campaign_id, clock.now())
        await clock.advance(180)
        await w.answer("A2-002", "safe")  # the link takes answers for a while after closing
        rep = await build_report(w.store, w.campaign_id, w.viewer("admin"))
    assert rep["answered_after_close"] == 1
    assert "終了後に届いた回答: 1 世帯以上" in render_html(rep)
