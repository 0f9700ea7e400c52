"""A running drill is paused while a real event runs (the dispatcher sends none of its messages and its
steps wait: README, Decisions): the pages that say 実施中 of it say 一時停止中 beside it, the city
overview and the association dashboard alike (review: a paused drill looked live during a real event),
and the live stream says when it pauses and resumes."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from dashboard_fixtures import ASSOC_A, ASSOC_B, World, client, login, start_campaign, world
from test_dashboard_live import Stream, TickClock, auth, until

from safetynet.domain import CampaignKind

_PAUSED = re.compile(r'<span class="paused" data-campaign-paused( hidden)?>(.*?)</small></span>', re.S)


async def _html(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200, url
        return await r.text()


def paused_line(html: str) -> str | None:
    """The heading's 一時停止中 line as shown (None: hidden; "" none at all)."""
    heading = html[html.index('<p class="campaign">'):]
    m = _PAUSED.search(heading[:heading.index("</p>")])
    if m is None:
        return ""
    return None if m.group(1) else re.sub(r"<[^>]+>", "", m.group(2))


async def _pages(w: World, head: aiohttp.ClientSession, admin: aiohttp.ClientSession) -> list[str]:
    aid, cid = w.assoc_ids[ASSOC_A], w.campaign_id
    return [await _html(head, f"{w.url}/a/{aid}?campaign={cid}"),
            await _html(head, f"{w.url}/a/{aid}/doorknock?campaign={cid}"),
            await _html(admin, f"{w.url}/city?campaign={cid}")]


async def test_a_drill_paused_by_a_real_event_says_so_where_it_says_running(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as head, client() as admin:
        await login(head, w, "head_a")
        await login(admin, w, "admin")
        assert [paused_line(html) for html in await _pages(w, head, admin)] == [None, None, None]  # sending

        # a real event of another association: the dispatcher holds every drill back all the same
        real = await start_campaign(w, CampaignKind.REAL, scope=(f"association:{ASSOC_B}",), title="地震")
        said = "一時停止中 実災害の配信中のため、この訓練の送信を止めています（実災害が終わると再開します）"
        pages = await _pages(w, head, admin)
        assert [paused_line(html) for html in pages] == [said, said, said]
        # the picker names it so too, and the real event is not paused
        assert re.search(rf'<option value="{w.campaign_id}" selected>[^<]*\(訓練, 一時停止中\)</option>', pages[0])
        assert paused_line(await _html(admin, f"{w.url}/city?campaign={real}")) == ""

        assert await w.store.campaigns.close(real, w.clock.now())
        assert [paused_line(html) for html in await _pages(w, head, admin)] == [None, None, None]


async def test_the_live_stream_says_when_the_drill_pauses_and_resumes(tmp_path: Path) -> None:
    """An open page learns it without a reload (dash.js and city.js show and hide the line)."""
    clock = TickClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events?association={w.assoc_ids[ASSOC_A]}"
        async with http.get(url, headers=auth(w, "head_a")) as r:
            stream = Stream(r)
            assert (await stream.next())["campaign"]["paused"] is False
            real = await start_campaign(w, CampaignKind.REAL, scope=(f"association:{ASSOC_B}",), title="地震")
            ev = await until(stream, clock, lambda ev: ev["campaign"]["paused"])
            assert ev["campaign"]["state"] == "running"
            assert await w.store.campaigns.close(real, w.clock.now())
            await until(stream, clock, lambda ev: not ev["campaign"]["paused"])


async def test_a_contact_check_held_back_by_a_real_event_says_so_too(tmp_path: Path) -> None:
    """The dispatcher holds every campaign but the real events back (review: a held contact check still
    said 実施中)."""
    async with world(tmp_path) as w, client() as admin:
        await login(admin, w, "admin")
        check = await start_campaign(w, CampaignKind.CHECK, title="連絡先確認")
        url = f"{w.url}/city?campaign={check}"
        assert paused_line(await _html(admin, url)) is None
        await start_campaign(w, CampaignKind.REAL, scope=(f"association:{ASSOC_B}",), title="地震")
        assert paused_line(await _html(admin, url)) == (
            "一時停止中 実災害の配信中のため、この連絡先確認の送信を止めています（実災害が終わると再開します）")
