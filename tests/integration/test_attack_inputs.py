"""Injection and absurd input on the staff side: SQL injection strings in every field a person can
type (roster, forms, JSON, query strings, paths, headers) are stored and shown verbatim, answer no
500 and widen no scope; ids no integer column can hold, and values of the wrong JSON type, are
refused like any other bad input.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from dashboard_fixtures import ASSOC_A, World, client, login, world
from reliability_helpers import read_db, refusal_problems
from test_scope_routes import fill

from safetynet.domain.replies import ReplyDetails
from safetynet.domain.roster import HouseholdRecord
from safetynet.roster.csvio import contact_kinds

# -- SQL injection -------------------------------------------------------------------------------

SQLI = ["' OR '1'='1", "'; DROP TABLE households; --", '" OR ""="', "1; DELETE FROM replies",
        "') UNION SELECT name, sql FROM sqlite_master --", "%' OR 1=1 --", "\\'; --", "1 OR 1=1"]


def table_counts(w: World) -> dict[str, int]:
    with contextlib.closing(read_db(w.cfg.db_path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: int(db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


async def test_injection_strings_in_every_field_are_just_text(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        records = [HouseholdRecord(s + "地区", s + "町会", s, f"S-{i}", s, s, 1, False, "ja", notes=s)
                   for i, s in enumerate(SQLI)]
        await w.store.roster.import_households(records)
        exported = {r.household_key: r for r in await w.store.roster.export_records(contact_kinds())}
        for i, s in enumerate(SQLI):
            rec = exported[f"S-{i}"]
            assert (rec.district, rec.association, rec.group, rec.name, rec.address, rec.notes) == (
                s + "地区", s + "町会", s, s, s, s)
        before = table_counts(w)
        head_b = {"Authorization": f"Bearer {w.tokens['head_b']}"}
        admin = {"Authorization": f"Bearer {w.tokens['admin']}"}
        async with client() as http:
            csrf = await login(http, w, "admin")
            problems: list[str] = []
            for s in SQLI:
                q = quote(s, safe="")
                calls: list[tuple[str, str, dict[str, Any]]] = [
                    ("GET", f"/a/{q}", {"headers": admin}),
                    ("GET", f"/a/{w.assoc_ids[ASSOC_A]}?campaign={q}&status={q}&group={q}&lang={q}", {"headers": admin}),
                    ("GET", f"/api/campaigns/{q}/stats", {"headers": admin}),
                    ("GET", f"/api/campaigns/{w.campaign_id}/households/{q}/replies", {"headers": admin}),
                    ("GET", f"/city?campaign={q}", {"headers": admin}),
                    ("GET", f"/campaigns/{q}/report", {"headers": admin}),
                    ("GET", "/api/associations", {"headers": {"Authorization": f"Bearer {s}"}}),
                    ("POST", "/api/campaigns", {"headers": admin, "json": {
                        "title": s, "scope": [f"association:{s}"], "messages": {"ja": s}}}),
                    ("POST", "/api/campaigns/preview", {"headers": head_b, "json": {
                        "title": s, "scope": [f"association:{ASSOC_A}' OR '1'='1"], "messages": {"ja": s}}}),
                    ("POST", f"/api/campaigns/{w.campaign_id}/households/{w.hh('A-001').id}/confirm",
                     {"headers": admin, "json": {"method": "visit", "note": s, "key": s}}),
                    ("POST", "/admin/staff", {"data": {"csrf": csrf, "login": s[:30], "display_name": s,
                                                       "role": "deputy", "scope": f"association:{s}", "password": s}}),
                    ("POST", "/admin/staff/contacts", {"data": {"csrf": csrf, "login": s[:30], "contact_phone": s,
                                                                "contact_email": s, "clear_line": s}}),
                    ("POST", "/admin/staff/contacts", {"data": {"csrf": csrf, "login": "head_a", "contact_phone": s,
                                                                "contact_telegram": s}}),
                    ("POST", "/login", {"data": {"login": s, "password": s, "csrf": s}}),
                ]
                for method, url, kwargs in calls:
                    async with http.request(method, w.url + url, allow_redirects=False, **kwargs) as r:
                        body = await r.text()
                        problems += [f"{method} {url}: {p}" for p in refusal_problems(r.status, body,
                                                                                        r.headers.get("Content-Type", ""))]
                        if kwargs.get("headers") is head_b and r.status == 200:
                            problems.append(f"{method} {url}: head of B previewed A")
            assert problems == []
        after = table_counts(w)
        shrunk = {t for t in before if after.get(t, 0) < before[t]}
        assert shrunk == set(), f"rows disappeared from {shrunk}"
        entries = await w.store.replies.history(w.campaign_id, w.hh("A-001").id)
        assert [e.note for e in entries if e.status == "confirmed_in_person"][:1] == [SQLI[0]]
        c = await w.store.campaigns.list_campaigns(limit=50)
        assert not [x for x in c if x.title in SQLI], "a campaign for an unknown association was created"


async def test_a_resident_note_with_injection_strings_is_stored_verbatim(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for s in SQLI:
            await w.intake.answer(await _target(w, "A-001"), "need_help", "web", f"k-{SQLI.index(s)}",
                                  ReplyDetails(note=s))
        notes = [e.note for e in await w.store.replies.history(w.campaign_id, w.hh("A-001").id)]
        assert notes == SQLI
        assert table_counts(w)["households"] == len(w.households)


async def _target(w: World, key: str) -> Any:
    t = await w.intake.target_for(w.campaign_id, w.hh(key).id)
    assert t is not None
    return t


# -- ids no integer column can hold -----------------------------------------------------------------

# Ids past SQLite's 64-bit integers (found by test_fuzz_http): every route that reads an id says 404.
HUGE = [str(2**63), str(-(2**63) - 1), "9" * 40]


async def test_ids_beyond_sqlite_integers_are_not_found(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert w.app is not None
        routes = sorted({(r.method, r.resource.canonical) for r in w.app.router.routes()
                         if r.resource is not None and "{" in r.resource.canonical and r.method != "HEAD"
                         and not r.resource.canonical.startswith(("/r/", "/join/", "/static"))})
        admin = {"Authorization": f"Bearer {w.tokens['admin']}"}
        failures = []
        async with client() as http:
            for method, path in routes:
                for huge in HUGE:
                    values = {"id": huge, "campaign_id": huge, "association_id": huge, "household_id": huge}
                    kwargs: dict[str, Any] = {"headers": admin}
                    if method != "GET":
                        kwargs["json"] = {"method": "visit"}
                    async with http.request(method, w.url + fill(path, values), allow_redirects=False,
                                            **kwargs) as r:
                        body = await r.read()
                        if r.status != 404:
                            failures.append(f"{method} {path} with {huge[:8]}…: {r.status} {body[:60]!r}")
        assert failures == [], "\n".join(failures)


# A JSON `method` that is a list or an object (unhashable) once crashed the confirm route.
@pytest.mark.parametrize("method", [[], {}, ["visit"], {"visit": 1}])
async def test_confirm_with_a_method_that_is_not_a_string_is_refused(tmp_path: Path, method: Any) -> None:
    async with world(tmp_path) as w, aiohttp.ClientSession() as http:
        url = f"{w.url}/api/campaigns/{w.campaign_id}/households/{w.hh('A-001').id}/confirm"
        async with http.post(url, json={"method": method}, headers={
                "Authorization": f"Bearer {w.tokens['admin']}"}) as r:
            assert r.status == 400, await r.text()
            assert json.loads(await r.text())["error"] == "method must be visit, phone or paper"
        assert await w.status("A-001") != "confirmed_in_person"
