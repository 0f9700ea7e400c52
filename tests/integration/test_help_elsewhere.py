"""Open help requests of a campaign other than the one a staff page shows (QA: after `campaign close 1`
the CLI said its 18 open requests "stay on the associations' lists", while the head's /a/1 opened on the
running campaign 2 with no sign of them)."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard_fixtures import ASSOC_A, ASSOC_A2, ASSOC_B, World, client, login, start_campaign, world


def elsewhere(html: str) -> str:
    """The section naming other campaigns' open help requests ('' when there is none)."""
    m = re.search(r'<section class="help help-elsewhere".*?</section>', html, re.S)
    return m.group(0) if m else ""


async def closed_drill_with_open_help(w: World) -> int:
    old = await start_campaign(w, title="昨夜の訓練")
    await w.answer("A-004", "need_help", old, note="足を痛めた")
    await w.answer("A-005", "need_help", old)
    await w.answer("B-001", "need_help", old)
    await w.answer("A2-001", "need_help", old)
    await w.store.replies.mark_handled(old, w.hh("A2-001").id, None, "head")
    assert await w.store.campaigns.close(old, w.clock.now())
    return old


async def test_the_heads_default_page_points_to_a_closed_campaigns_open_help(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        old = await closed_drill_with_open_help(w)
        await w.answer("A-001", "need_help")  # the running campaign's own request: its help list, as before
        await login(http, w, "head_a")
        aid = w.assoc_ids[ASSOC_A]
        async with http.get(f"{w.url}/a/{aid}") as r:
            html = await r.text()
        assert f'data-campaign="{w.campaign_id}"' in html  # the running campaign, as before
        block = elsewhere(html)
        assert 'data-help-elsewhere="2"' in block
        assert f'href="/a/{aid}?campaign={old}"' in block and "昨夜の訓練" in block and "未対応 2 件" in block
        assert "終了" in block and f"campaign={w.campaign_id}" not in block
        assert html.index("help-elsewhere") < html.index('id="help-items"')  # above the help list
        async with http.get(f"{w.url}/a/{aid}?lang=en") as r:
            assert "not handled: 2" in elsewhere(await r.text())
        async with http.get(f"{w.url}/a/{aid}/doorknock") as r:
            assert f'href="/a/{aid}?campaign={old}"' in elsewhere(await r.text())
        # the old campaign's page lists them itself; the running one has none open but A-001's
        async with http.get(f"{w.url}/a/{aid}?campaign={old}") as r:
            html = await r.text()
        assert f'href="/a/{aid}?campaign={w.campaign_id}"' in elsewhere(html)
        assert f'data-hh="{w.hh("A-004").id}"' in html[html.index('id="help-items"'):]
        # handled: gone from every other page
        for key in ("A-004", "A-005"):
            assert await w.store.replies.mark_handled(old, w.hh(key).id, None, "head_a")
        async with http.get(f"{w.url}/a/{aid}") as r:
            assert elsewhere(await r.text()) == ""


async def test_another_association_and_the_district_and_city_overviews(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        old = await closed_drill_with_open_help(w)
        a, a2, b = (w.assoc_ids[n] for n in (ASSOC_A, ASSOC_A2, ASSOC_B))
        pages = {}
        for who in ("head_b", "dhead", "admin"):
            async with client() as http:
                await login(http, w, who)
                async with http.get(f"{w.url}/city") as r:
                    pages[who] = elsewhere(await r.text())
                if who == "head_b":
                    async with http.get(f"{w.url}/a/{b}") as r:
                        assert "未対応 1 件" in elsewhere(await r.text())
        assert f"/a/{b}?campaign={old}" in pages["head_b"] and ASSOC_A not in pages["head_b"]
        assert f"/a/{a}?campaign={old}" in pages["dhead"] and ASSOC_B not in pages["dhead"]
        assert 'data-help-elsewhere="2"' in pages["dhead"]
        assert f"/a/{a2}?" not in pages["admin"]  # its one request was handled
        assert 'data-help-elsewhere="3"' in pages["admin"] and f"/a/{b}?campaign={old}" in pages["admin"]
        assert f"{ASSOC_A}</a> 未対応 2 件" in pages["admin"]
