"""Undo of an in-person confirmation (訪問 tapped by mistake) over plain HTTP, against the real app:
the earlier status comes back with the counters, the response curve and the door-knock list; the
append-only history keeps the confirmation and the undo, with who did each."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from dashboard_fixtures import ASSOC_A, World, client, login, world
from sqlite_helpers import sqlite_db

from safetynet.clock import FakeClock
from safetynet.stats.report import build_report
from safetynet.store.sqlite.db import _migrate, _migrations


def bearer(w: World, login: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[login]}"}


async def call(http: aiohttp.ClientSession, w: World, who: str, key: str, action: str,
               doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST as `who`: an API token of that role and scope, or with "csrf:TOKEN" the logged-in session."""
    url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh(key).id}/{action}"
    headers = {"X-CSRF-Token": who[5:]} if who.startswith("csrf:") else bearer(w, who)
    async with http.post(url, json=doc, headers=headers) as r:
        return r.status, await r.json()


async def confirm(http: aiohttp.ClientSession, w: World, who: str, key: str, method: str = "visit") -> int:
    status, doc = await call(http, w, who, key, "confirm", {"method": method})
    assert status == 200 and doc["status"] == "confirmed_in_person" and isinstance(doc["reply_id"], int), doc
    return int(doc["reply_id"])


async def history(http: aiohttp.ClientSession, w: World, key: str) -> list[dict[str, Any]]:
    url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh(key).id}/replies"
    async with http.get(url, headers=bearer(w, "admin")) as r:
        assert r.status == 200
        return list((await r.json())["replies"])


async def tallies(w: World) -> tuple[dict[tuple[int, str], int], dict[tuple[int, int], int]]:
    """(households per association and status, first answers per association and minute), zeros left out."""
    reads = w.store.stats
    counts = {(c.association_id, c.status): c.n for c in await reads.counts(w.campaign_id) if c.n}
    minutes = {(m.association_id, m.minute): m.n for m in await reads.minutes(w.campaign_id) if m.n}
    return counts, minutes


async def test_undo_of_a_visit_puts_the_household_back_and_the_history_says_who(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http, client() as deputy:
        head_csrf, deputy_csrf = await login(http, w, "head_a"), await login(deputy, w, "deputy_a")
        await w.store.campaigns.mark_doorknock(w.campaign_id, clock.now())  # the ladder's last step ran
        aid = w.assoc_ids[ASSOC_A]
        assert await w.status("A-002") == "unreachable"
        assert w.hh("A-002").id in await w.store.campaigns.doorknock_households(w.campaign_id, aid)
        before = await tallies(w)

        await clock.advance(120)
        reply_id = await confirm(http, w, f"csrf:{head_csrf}", "A-002")
        assert await w.status("A-002") == "confirmed_in_person"
        assert w.hh("A-002").id not in await w.store.campaigns.doorknock_households(w.campaign_id, aid)
        assert await tallies(w) != before

        await clock.advance(30)
        status, doc = await call(deputy, w, f"csrf:{deputy_csrf}", "A-002", "undo", {"reply_id": reply_id})
        assert status == 200 and doc == {"household_id": w.hh("A-002").id, "status": "unreachable",
                                         "undone": reply_id, "already": False, "by": "deputy_a"}
        assert await w.status("A-002") == "unreachable"
        assert w.hh("A-002").id in await w.store.campaigns.doorknock_households(w.campaign_id, aid)
        assert await tallies(w) == before  # counters and response curve as if the tap never happened
        report = await build_report(w.store, w.campaign_id, w.viewer("admin"))
        assert "staff" not in report["city"]["channels"] and "佐藤 花子" in [p["name"] for p in report["unreachable"]]

        entries = await history(http, w, "A-002")
        assert [(e["status"], e["by"], e["undone"], e["undoes"]) for e in entries] == [
            ("confirmed_in_person", "head_a", True, None), ("undo", "deputy_a", False, reply_id)]
        assert entries[1]["at"] - entries[0]["at"] == 30

        # the same undo again (a double tap) changes and records nothing more
        status, doc = await call(http, w, f"csrf:{head_csrf}", "A-002", "undo", {"reply_id": reply_id})
        assert status == 200 and doc["already"] is True and doc["status"] == "unreachable"
        status, _ = await call(http, w, "csrf:wrong", "A-002", "undo", {"reply_id": reply_id})
        assert status == 403  # a session needs its CSRF token
        assert len(await history(http, w, "A-002")) == 2


async def test_confirmed_before_the_door_knock_list_and_undone_after_it_goes_on_the_list(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        reply_id = await confirm(http, w, "head_a", "A-001")
        for step in (1, 2, 3):  # the ladder runs to its door-knock step while the household counts as seen
            assert await w.store.campaigns.advance_ladder(w.campaign_id, step, clock.now())
        await w.store.campaigns.mark_doorknock(w.campaign_id, clock.now())
        aid = w.assoc_ids[ASSOC_A]
        assert w.hh("A-001").id not in await w.store.campaigns.doorknock_households(w.campaign_id, aid)
        status, doc = await call(http, w, "head_a", "A-001", "undo", {"reply_id": reply_id})
        assert status == 200 and doc["status"] == "unreachable"  # never reached, as the step left the others
        assert w.hh("A-001").id in await w.store.campaigns.doorknock_households(w.campaign_id, aid)


async def test_an_answer_after_the_confirmation_stands(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        reply_id = await confirm(http, w, "head_a", "A-001")
        await w.answer("A-001", "safe")  # the resident answers after the visit
        status, doc = await call(http, w, "head_a", "A-001", "undo", {"reply_id": reply_id})
        assert status == 409 and "answer came after" in doc["error"]
        assert await w.status("A-001") == "safe"
        assert [e["status"] for e in await history(http, w, "A-001")] == ["confirmed_in_person", "safe"]


async def test_confirmations_are_undone_latest_first(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-003", "need_help")
        first = await confirm(http, w, "head_a", "A-003", "phone")
        second = await confirm(http, w, "deputy_a", "A-003", "visit")
        status, _ = await call(http, w, "head_a", "A-003", "undo", {"reply_id": first})
        assert status == 409  # the second confirmation came after it
        status, doc = await call(http, w, "head_a", "A-003", "undo", {"reply_id": second})
        assert status == 200 and doc["status"] == "confirmed_in_person"  # the first one stands
        status, doc = await call(http, w, "head_a", "A-003", "undo", {"reply_id": first})
        assert status == 200 and doc["status"] == "need_help"  # the resident's own answer again
        help_list = await w.store.replies.help_list(w.campaign_id)
        assert [h.household_id for h in help_list] == [w.hh("A-003").id]


async def test_only_a_staff_confirmation_of_that_household_in_scope_can_be_undone(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        reply_id = await confirm(http, w, "head_a", "A-004")
        await w.answer("A-005", "safe")
        (own,) = await history(http, w, "A-005")
        for login, key, doc, expected in [
            ("head_b", "A-004", {"reply_id": reply_id}, 404),  # outside B's head's scope
            ("head_a", "A-001", {"reply_id": reply_id}, 404),  # another household's confirmation
            ("head_a", "A-005", {"reply_id": own["id"]}, 404),  # a resident's own answer
            ("head_a", "A-004", {"reply_id": 10**9}, 404),
            ("head_a", "A-004", {"reply_id": "abc"}, 400),
            ("head_a", "A-004", {"reply_id": -1}, 400),
            ("head_a", "A-004", {"reply_id": True}, 400),
            ("head_a", "A-004", {}, 400),
        ]:
            status, body = await call(http, w, login, key, "undo", doc)
            assert status == expected and "error" in body, (login, key, doc, status, body)
        assert await w.status("A-004") == "confirmed_in_person" and await w.status("A-005") == "safe"
        url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh('A-004').id}/undo"
        async with http.post(url, json={"reply_id": reply_id}) as r:
            assert r.status == 401
        status, doc = await call(http, w, "admin", "A-004", "undo", {"reply_id": str(reply_id)})
        assert status == 200 and doc["status"] == "pending"


@pytest.mark.sqlite_only  # reaches into the SQLite file (sqlite_helpers)
async def test_a_confirmation_recorded_before_undo_existed_is_not_guessed_at(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        reply_id = await confirm(http, w, "head_a", "A-001")
        await sqlite_db(w.store).execute("UPDATE replies SET prior_status = NULL WHERE id = ?", (reply_id,))
        status, doc = await call(http, w, "head_a", "A-001", "undo", {"reply_id": reply_id})
        assert status == 409 and "recorded before" in doc["error"]
        assert await w.status("A-001") == "confirmed_in_person"


async def test_the_replies_migration_keeps_every_reply_and_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await _migrate(conn, [m for m in _migrations() if m[0] < 42])
        await conn.execute(
            "INSERT INTO replies (campaign_id, household_id, status, channel, dedupe_key, note, method, staff_id,"
            " actor, received_at) VALUES (1, 2, 'confirmed_in_person', 'staff', 'k1', 'メモ', 'visit', 3, 'head', 9.5)")
        await conn.execute("INSERT INTO replies (campaign_id, household_id, status, channel, dedupe_key, received_at)"
                           " VALUES (1, 2, 'safe', 'web', 'k2', 10)")
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT id, status, channel, dedupe_key, note, method, staff_id, actor, received_at,"
                                " prior_status, undoes FROM replies ORDER BY id") as cur:
            assert list(await cur.fetchall()) == [
                (1, "confirmed_in_person", "staff", "k1", "メモ", "visit", 3, "head", 9.5, None, None),
                (2, "safe", "web", "k2", None, None, None, None, 10.0, None, None)]
        insert = "INSERT INTO replies (campaign_id, household_id, status, channel, received_at, undoes) VALUES "
        for bad in ("(1, 2, 'fine', 'web', 11, NULL)", "(1, 2, 'undo', 'staff', 11, NULL)",
                    "(1, 2, 'safe', 'web', 11, 1)"):
            with pytest.raises(sqlite3.IntegrityError):
                await conn.execute(insert + bad)
        await conn.execute(insert + "(1, 2, 'undo', 'staff', 11, 1)")
        with pytest.raises(sqlite3.IntegrityError):
            await conn.execute(insert + "(1, 2, 'undo', 'staff', 12, 1)")  # one undo per reply
