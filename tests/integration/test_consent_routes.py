"""Consent over the WHOLE route table (DESIGN §9): a `no` household's name, address and phone reach
its association head only while a real event runs over it.

Association A's household A-002 has not consented (`no`), asked for help in the running drill and
wrote a note. The head of A (in scope: the 404s are not what protects it here), by API token and by
session, walks every route that is not public with A's ids: no answer may carry A-002's name,
address, phone or note, in any form (HTML, JSON with or without escapes, CSV). Controls: the city
admin sees them during the drill, the head sees them once a real event covering A runs, and no
longer once it closes; a household that consented is shown to the head all along.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dashboard_fixtures import ASSOC_A, World, client, login, records, start_campaign, world
from test_scope_routes import call, fill, routes

from safetynet.domain import CampaignKind

NO_KEY, SILENT_KEY = "A-002", "A-006"
SECRET_NOTE = "二階の寝室にいます"
MARKERS = ["佐藤 花子", "桜町1-1-2", "03-1111-0002", "0311110002", "+81311110002", SECRET_NOTE,
           "渡辺 誠", "桜町1-2-6", "03-1111-0006", "0311110006", "+81311110006"]


async def no_consent(w: World) -> None:
    """A-002 and A-006 have not consented; A-002 asks for help in the running drill, with a note,
    A-006 (a landline only) never answers: it is on the door-knock list and the report's lists."""
    await w.store.roster.import_households(
        [dataclasses.replace(r, consent="no", contacts=r.contacts if r.contact("landline")
                             else (*r.contacts, ("landline", "+81311110006")))
         if r.household_key in (NO_KEY, SILENT_KEY) else r for r in records()])
    await w.answer(NO_KEY, "need_help", note=SECRET_NOTE)


def leaks(body: str) -> list[str]:
    texts = [body]
    try:
        texts.append(json.dumps(json.loads(body), ensure_ascii=False))  # "\u4f50…" escapes read back
    except ValueError:
        pass
    return sorted({m for m in MARKERS for text in texts if m in text})


def values_of(w: World) -> dict[str, str]:
    hh = str(w.hh(NO_KEY).id)
    return {"association_id": str(w.assoc_ids[ASSOC_A]), "id": str(w.campaign_id),
            "campaign_id": str(w.campaign_id), "household_id": hh, "hh": hh}


async def test_no_route_shows_a_head_the_details_of_a_household_without_consent(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await no_consent(w)
        values, table = values_of(w), routes(w)
        assert len(table) >= 20, table
        failures: list[str] = []
        async with client() as anon, client() as session:
            csrf = await login(session, w, "head_a")
            as_token = {"Authorization": f"Bearer {w.tokens['head_a']}"}
            seen = 0
            for method, path in table:
                url = w.url + fill(path, values) + ("?campaign=" + values["id"] if path.startswith("/a/") else "")
                for who, headers, jar in (("token", as_token, anon), ("session", {"X-CSRF-Token": csrf}, session)):
                    status, body, _ = await call(jar, method, url, headers)
                    seen += status == 200
                    if status >= 500:
                        failures.append(f"{who} {method} {path}: {status}")
                    if leaks(body):
                        failures.append(f"{who} {method} {path}: shows {leaks(body)}")
            for fmt in ("html", "csv", "json"):
                status, body, _ = await call(session, "GET", f"{w.url}/campaigns/{w.campaign_id}/report?format={fmt}",
                                             {})
                assert status == 200 and SILENT_KEY in body, fmt  # listed by its number
                if leaks(body):
                    failures.append(f"report {fmt}: shows {leaks(body)}")
        assert seen > 20  # the walk reached real pages, not a wall of 404s
        assert not failures, "\n".join(failures)


async def _page(w: World, who: str) -> str:
    headers = {"Authorization": f"Bearer {w.tokens[who]}"}
    aid = w.assoc_ids[ASSOC_A]
    async with client() as http:
        parts = []
        for path in (f"/a/{aid}?campaign={w.campaign_id}", f"/a/{aid}/doorknock?campaign={w.campaign_id}",
                     f"/api/campaigns/{w.campaign_id}/help",
                     f"/api/campaigns/{w.campaign_id}/households/{w.hh(NO_KEY).id}/replies"):
            status, body, _ = await call(http, "GET", w.url + path, headers)
            assert status == 200, (path, status)
            parts.append(json.dumps(json.loads(body), ensure_ascii=False) if path.startswith("/api/") else body)
        return "\n".join(parts)


async def test_the_details_show_during_a_real_event_over_the_household_and_to_the_city(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await no_consent(w)
        drill = await _page(w, "head_a")
        assert "佐藤 花子" not in drill and "世帯番号 A-002" in drill and SECRET_NOTE not in drill
        assert "高橋 健" in drill  # households that consented are shown as before
        assert "佐藤 花子" in await _page(w, "admin") and SECRET_NOTE in await _page(w, "admin")

        # a real event over another association changes nothing for A
        elsewhere = await start_campaign(w, CampaignKind.REAL, scope=["association:梅町町会"], title="地震",
                                         keys=["B-001", "B-002"])
        assert "佐藤 花子" not in await _page(w, "head_a")

        real = await start_campaign(w, CampaignKind.REAL, scope=[f"association:{ASSOC_A}"], title="地震 A",
                                    keys=[k for k in w.households if k.startswith("A-")])
        during = await _page(w, "head_a")
        for marker in ("佐藤 花子", "桜町1-1-2", SECRET_NOTE, "渡辺 誠", "03-1111-0006"):
            assert marker in during, marker

        for cid in (real, elsewhere):
            assert await w.store.campaigns.close(cid, w.clock.now())
        assert "佐藤 花子" not in await _page(w, "head_a")


def help_card_of(html: str, w: World) -> str:
    start = html.index(f'data-hh="{w.hh(NO_KEY).id}"', html.index('class="help-list"'))
    return html[start:html.index("</button></li>", start)]


async def test_a_withheld_help_card_has_no_phone_to_call_until_a_real_event(tmp_path: Path) -> None:
    """The card's tap-to-call links follow the disclosure rule: a household without consent keeps
    its number and 班 alone in a drill (no tel: link, no number); a real event over it shows them."""
    async with world(tmp_path) as w, client() as http:
        await no_consent(w)
        await login(http, w, "head_a")
        url = f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/help?campaign={w.campaign_id}"
        async with http.get(url) as r:
            drill = await r.text()
        card = help_card_of(drill, w)
        assert "世帯番号 A-002" in card and "<li>1班</li>" in card
        assert "tel:" not in card and "固定電話" not in card and not leaks(card)
        assert "tel:+819011110004" not in drill  # A-004 has not asked for help: no card
        real = await start_campaign(w, CampaignKind.REAL, scope=[f"association:{ASSOC_A}"], title="地震 A",
                                    keys=[k for k in w.households if k.startswith("A-")])
        await w.answer(NO_KEY, "need_help", campaign_id=real)
        async with http.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}/help?campaign={real}") as r:
            during = help_card_of(await r.text(), w)
        assert '固定電話 <a href="tel:+81311110002">03-1111-0002</a>' in during


async def test_a_withheld_doorknock_row_still_records_a_visit(tmp_path: Path) -> None:
    """As on the dashboard, a withheld row keeps its confirm buttons (a visit needs no details),
    named by its household number; the head's tap records it through the confirm API as any."""
    async with world(tmp_path) as w, client() as http:
        await no_consent(w)
        await login(http, w, "head_a")
        aid, hh = w.assoc_ids[ASSOC_A], w.hh(SILENT_KEY).id
        async with http.get(f"{w.url}/a/{aid}/doorknock?campaign={w.campaign_id}") as r:
            html = await r.text()
        assert not leaks(html)
        tr = html[html.index(f'<tr data-hh="{hh}"'):]
        tr = tr[:tr.index("</tr>")]
        assert '<td class="addr">—</td>' in tr
        assert 'data-confirm="visit" data-method="訪問" aria-label="世帯番号 A-006を訪問で確認済みにする"' in tr
        csrf = html.split('<meta name="csrf-token" content="')[1].split('"')[0]
        async with http.post(f"{w.url}/api/campaigns/{w.campaign_id}/households/{hh}/confirm",
                             json={"method": "visit"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
            doc = await r.json()
        assert not leaks(json.dumps(doc, ensure_ascii=False)) and doc["reply_id"]
        assert await w.status(SILENT_KEY) == "confirmed_in_person"
