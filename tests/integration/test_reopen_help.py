"""Undo of "handled" on the help list (対応済み tapped by mistake) over plain HTTP, against the real app:
`POST …/households/{id}/reopen` puts the household back on the open help list as it was, with the
rules of "handled": a session sends its CSRF token, a household outside the caller's scope or one
that never asked for help is not found, and reopening an open one says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from dashboard_fixtures import ASSOC_A, World, client, login, world

from safetynet.clock import FakeClock


async def call(http: aiohttp.ClientSession, w: World, who: str, key: str, action: str) -> tuple[int, dict[str, Any]]:
    """POST as `who`: an API token of that role and scope, or with "csrf:TOKEN" the logged-in session."""
    url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh(key).id}/{action}"
    headers = {"X-CSRF-Token": who[5:]} if who.startswith("csrf:") else {"Authorization": f"Bearer {w.tokens[who]}"}
    async with http.post(url, json={}, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def open_help(w: World) -> list[int]:
    return [r.household_id for r in await w.store.replies.help_list(w.campaign_id)]


async def test_a_wrong_handled_tap_is_taken_back_and_the_card_comes_back(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as head, client() as deputy:
        head_csrf, deputy_csrf = await login(head, w, "head_a"), await login(deputy, w, "deputy_a")
        await w.answer("A-004", "need_help", note="足を怪我")
        opened_at = clock.now()
        hh = w.hh("A-004").id
        await clock.advance(60)
        status, doc = await call(head, w, f"csrf:{head_csrf}", "A-004", "handled")
        assert status == 200 and doc["already"] is False
        assert await open_help(w) == []

        await clock.advance(5)
        # a person takes back their own mark only: the deputy's button (or an old one) meets the head's
        status, doc = await call(deputy, w, f"csrf:{deputy_csrf}", "A-004", "reopen")
        assert status == 409 and "someone else" in doc["error"]
        assert await open_help(w) == []
        status, doc = await call(head, w, f"csrf:{head_csrf}", "A-004", "reopen")
        assert status == 200 and doc == {"household_id": hh, "handled": False, "already": False, "by": "head_a"}
        assert await open_help(w) == [hh]
        row = await w.store.replies.help_row(w.campaign_id, hh)
        assert row is not None and (row.opened_at, row.handled_at, row.handled_by, row.note) == (
            opened_at, None, None, "足を怪我")
        # the dashboard's help panel shows the card again, with its 対応済みにする
        aid = w.assoc_ids[ASSOC_A]
        async with head.get(f"{w.url}/a/{aid}/help?campaign={w.campaign_id}") as r:
            assert r.status == 200 and r.headers["X-Help-Count"] == "1"
            assert f'data-handled="{hh}"' in await r.text()

        # a double tap: open already, said so rather than refused
        status, doc = await call(head, w, f"csrf:{head_csrf}", "A-004", "reopen")
        assert status == 200 and doc["already"] is True and doc["handled"] is False
        assert await open_help(w) == [hh]

        # the head's undo button is minutes old: the household asked again and the deputy marked it
        await w.answer("A-004", "need_help", note="まだ動けない")
        status, _ = await call(deputy, w, f"csrf:{deputy_csrf}", "A-004", "handled")
        assert status == 200
        status, doc = await call(head, w, f"csrf:{head_csrf}", "A-004", "reopen")
        assert status == 409 and await open_help(w) == []
        row = await w.store.replies.help_row(w.campaign_id, hh)
        assert row is not None and row.handled_by == "deputy_a"  # the deputy's mark stands, with its name


async def test_reopen_takes_the_rules_of_handled(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-004", "need_help")
        status, _ = await call(http, w, "head_a", "A-004", "handled")
        assert status == 200
        for who, key, expected in [
            ("head_b", "A-004", 404),  # outside B's head's scope: as if there were no such household
            ("admin", "A-001", 404),  # never asked for help
            ("admin", "B-001", 404),
        ]:
            status, body = await call(http, w, who, key, "reopen")
            assert status == expected and "error" in body, (who, key, status, body)
        assert await open_help(w) == []

        url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh('A-004').id}/reopen"
        async with http.post(url, json={}) as r:
            assert r.status == 401  # no session, no token
        csrf = await login(http, w, "head_a")
        status, _ = await call(http, w, "csrf:wrong", "A-004", "reopen")
        assert status == 403  # a session needs its CSRF token
        async with http.post(f"{w.url}/api/campaigns/{w.campaign_id}/households/999999/reopen", json={},
                             headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 404
        assert await open_help(w) == []

        status, doc = await call(http, w, "dhead", "A-004", "reopen")  # the district head sees A
        assert status == 200 and doc["already"] is False and doc["by"] == "api-token"
        assert await open_help(w) == [w.hh("A-004").id]
