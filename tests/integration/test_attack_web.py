"""Attacks on the staff side and every page: CSRF, stored XSS, scope through query strings.

- CSRF: every state-changing route of the whole route table refuses a staff session's request
  without its CSRF token, with a wrong one, or with another session's, and nothing changes; the
  same requests with the right token are not refused (so the 403s are the check's doing).
- Stored XSS: names, addresses, notes, groups, association and district names, staff names,
  resident notes, campaign titles and texts, and CAP alert text (through the trigger service) full
  of markup; every GET route, the reply page and the enrolment page show none of it raw.
- Scope through query strings: a campaign chosen by `?campaign=` shows nothing out of scope (the
  route walk of test_scope_routes fills paths only).

SQL injection and absurd ids: test_attack_inputs.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from dashboard_fixtures import ASSOC_A, World, client, index_households, login, start_campaign, world
from reliability_helpers import read_db
from roster_helpers import household
from test_scope_routes import PUBLIC_EXACT, PUBLIC_PREFIXES, fill

from safetynet.broadcast.service import CampaignService
from safetynet.config import CapConfig, TriggersConfig
from safetynet.domain import Role
from safetynet.domain.campaigns import Actor
from safetynet.domain.roster import HouseholdRecord
from safetynet.roster.codes import hash_code, new_code
from safetynet.triggers.service import TriggerService

CAP_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cap" / "01-actual-alert.xml"
JST = timezone(timedelta(hours=9))

# -- CSRF ----------------------------------------------------------------------------------------

# A body that passes validation wherever a handler validates before it checks the token.
FORM = {"method": "visit", "status": "safe", "really": "1", "kind": "drill", "title": "x", "message_ja": "x",
        "scope": f"association:{ASSOC_A}", "login": "csrf-deputy", "role": "deputy", "note": "x", "label": "x"}


def state_changing(w: World) -> list[tuple[str, str]]:
    assert w.app is not None
    found = {(r.method, r.resource.canonical) for r in w.app.router.routes() if r.resource is not None}
    out = sorted((m, p) for m, p in found if m not in ("GET", "HEAD", "OPTIONS")
                 and p not in PUBLIC_EXACT and not p.startswith(PUBLIC_PREFIXES))
    return sorted(out, key=lambda mp: mp[1] == "/logout")  # last: it ends the session


def snapshot(w: World) -> dict[str, Any]:
    with contextlib.closing(read_db(w.cfg.db_path)) as db:
        return {q: db.execute(q).fetchall() for q in (
            "SELECT id, state FROM campaigns ORDER BY id", "SELECT login, role, scope, active FROM staff ORDER BY login",
            "SELECT count(*) FROM api_tokens", "SELECT count(*) FROM replies",
            "SELECT campaign_id, household_id, handled_at FROM help_requests ORDER BY 1, 2",
            "SELECT count(*) FROM staff_sessions")}


async def _post(http: aiohttp.ClientSession, url: str, form: dict[str, str], headers: dict[str, str]) -> int:
    async with http.post(url, data=form, headers=headers, allow_redirects=False) as r:
        await r.read()
        return r.status


async def test_every_state_changing_route_needs_the_sessions_csrf_token(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # triggers running (with no area of theirs), so their routes get as far as they would in a city
        w.svc.triggers = TriggerService(w.store, w.cfg, CampaignService(w.store, w.cfg, w.clock), w.clock)
        await w.answer("A-004", "need_help")
        values = {"id": str(w.campaign_id), "campaign_id": str(w.campaign_id),
                  "household_id": str(w.hh("A-004").id), "association_id": str(w.assoc_ids[ASSOC_A])}
        routes = state_changing(w)
        assert len(routes) >= 10, routes
        async with client() as admin, client() as other:
            right = await login(admin, w, "admin")
            someone_elses = await login(other, w, "dhead")
            before = snapshot(w)
            failures = []
            for method, path in routes:
                url = w.url + fill(path, values)
                for label, token in (("none", None), ("wrong", "x" * 32), ("another session's", someone_elses)):
                    form = dict(FORM) if token is None else {**FORM, "csrf": token}
                    headers = {} if token is None else {"X-CSRF-Token": token}
                    status = await _post(admin, url, form, headers)
                    if status != 403:
                        failures.append(f"{method} {path} with {label} token: {status}")
            assert failures == []
            assert snapshot(w) == before, "a refused request changed something"
            for method, path in routes:  # control: the right token gets past the check
                status = await _post(admin, w.url + fill(path, values), {**FORM, "csrf": right},
                                     {"X-CSRF-Token": right})
                assert status != 403, (method, path)


# A page on any site could make a logged-in city admin's browser push a telegram (a form with
# enctype="text/plain" can carry an XML document): the session's CSRF token is required.
async def test_a_trigger_pushed_from_a_browser_session_needs_the_csrf_token(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        cfg = dataclasses.replace(w.cfg, triggers=TriggersConfig(cap=CapConfig(codes=("17201",), action="propose")))
        w.svc.triggers = TriggerService(w.store, cfg, CampaignService(w.store, w.cfg, w.clock), w.clock)
        await login(http, w, "admin")
        before = len(await w.store.campaigns.list_campaigns(limit=100))
        async with http.post(f"{w.url}/api/triggers/cap", data=cap_alert("CSRF-1", w.clock.now()),
                             headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 403, await r.text()
        assert len(await w.store.campaigns.list_campaigns(limit=100)) == before


async def test_login_form_needs_its_own_token(tmp_path: Path) -> None:
    """Login CSRF: a cross-site form must not log a victim into the attacker's account."""
    async with world(tmp_path) as w, client() as http:
        async with http.post(f"{w.url}/login", data={"login": "admin", "password": "pw-admin-correct horse"},
                             allow_redirects=False) as r:
            assert r.status == 403
            page = await r.text()
        async with http.get(f"{w.url}/city", allow_redirects=False) as r:
            assert r.status in (302, 303, 401)
        # what a person whose form outlived its cookie reads: the form again, in Japanese, with a new token
        # (QA: an English "missing or wrong CSRF token")
        assert "ページの有効期限が切れていました。もう一度ログインしてください。" in page and "CSRF" not in page
        assert 'value="admin"' in page  # the login typed stays; the password never comes back
        assert await login(http, w, "admin")  # the form it gave signs in


# -- stored XSS ----------------------------------------------------------------------------------

PAYLOADS = ['<script>alert("x1")</script>', '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>",
            "</textarea><script>alert(4)</script>", "<b>bold</b>", "javascript:alert(6)"]
ESCAPED = [html.escape(p, quote=True) for p in PAYLOADS]
RAW_MARKS = ["<script>alert(", "<img src=x", "<svg onload", "</textarea><script>", "<b>bold</b>"]
_HREF_JS = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def evil(i: int) -> str:
    return PAYLOADS[i % len(PAYLOADS)] + f" {i}"


def evil_records() -> list[HouseholdRecord]:
    district, assoc = evil(0) + "地区", evil(1) + "町会"
    return [household(district, assoc, evil(2 + i), f"X-00{i}", evil(3 + i), evil(4 + i), 2, i == 0, "ja",
                            phone=f"+81904444000{i}", notes=evil(5 + i)) for i in range(3)]


def cap_alert(identifier: str, sent: float) -> bytes:
    text = CAP_SAMPLE.read_text(encoding="utf-8")
    stamp = datetime.fromtimestamp(sent, JST).isoformat(timespec="seconds")
    text = text.replace("ISK-2026-0001", identifier).replace("2026-04-01T10:00:00+09:00", stamp)
    for tag, i in (("headline", 10), ("description", 11), ("instruction", 12), ("areaDesc", 13), ("event", 14)):
        text = re.sub(f"<{tag}>[^<]*</{tag}>", f"<{tag}>{_xml(evil(i))}</{tag}>", text)
    return text.encode("utf-8")


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@contextlib.asynccontextmanager
async def evil_world(tmp_path: Path) -> AsyncIterator[tuple[World, dict[str, str]]]:
    async with world(tmp_path) as w:
        await w.store.roster.import_households(evil_records())
        await index_households(w)
        await w.store.auth.add_staff("evil_deputy", evil(7), Role.DEPUTY, f"association:{ASSOC_A}", None)
        cid = await start_campaign(w, title=evil(8))
        await w.store.campaigns.update_text(cid, title=evil(8), messages={"ja": evil(9), "en": evil(9)})
        for key in ("X-000", "A-004"):
            await w.answer(key, "need_help", cid, note=evil(15))
        viewer = w.viewer("admin")
        await w.intake.confirm_in_person(viewer, cid, w.hh("X-001").id, "visit", note=evil(16))
        campaigns = CampaignService(w.store, w.cfg, w.clock)
        cap_ids = []
        for action, ident in (("start", "EVIL-1"), ("propose", "EVIL-2")):
            cfg = dataclasses.replace(w.cfg, triggers=TriggersConfig(cap=CapConfig(codes=("17201",), action=action)))
            d = await TriggerService(w.store, cfg, campaigns, w.clock).ingest_cap(cap_alert(ident, w.clock.now()))
            assert d.decision in ("start", "propose") and d.campaign, d
            if action == "start":  # the trigger is the first person; a city admin approves (DESIGN §9)
                found = await w.store.auth.staff_by_login("admin")
                assert found is not None
                await campaigns.approve(d.campaign, by=Actor("admin", found[0].id))
            cap_ids.append(str(d.campaign))
        code = new_code()
        await w.store.roster.set_enrolment_codes([(w.hh("X-000").id, hash_code(code, w.cfg.secrets.secret_key))])
        yield w, {"evil_campaign": str(cid), "cap_started": cap_ids[0], "cap_proposed": cap_ids[1],
                  "evil_assoc": str(w.assoc_ids[evil(1) + "町会"]), "code": code}


def raw_markup(body: str) -> list[str]:
    found = [m for m in RAW_MARKS if m in body]
    if _HREF_JS.search(body):
        found.append("javascript: URL in an attribute")
    return found


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with http.get(url, headers=headers or {}, allow_redirects=False) as r:
        ctype = r.headers.get("Content-Type", "")
        body = (await r.content.readany()).decode() if ctype.startswith("text/event-stream") else await r.text()
        return r.status, ctype, body


async def test_no_page_shows_stored_markup_raw(tmp_path: Path) -> None:
    async with evil_world(tmp_path) as (w, ids):
        assert w.app is not None
        gets = sorted({r.resource.canonical for r in w.app.router.routes()
                       if r.method == "GET" and r.resource is not None and not r.resource.canonical.startswith(
                           ("/r/", "/join/", "/static"))})
        urls: set[str] = set()
        for campaign in (ids["evil_campaign"], ids["cap_started"], ids["cap_proposed"]):
            for assoc in (ids["evil_assoc"], str(w.assoc_ids[ASSOC_A])):
                values = {"id": campaign, "campaign_id": campaign, "association_id": assoc,
                          "household_id": str(w.hh("X-000").id)}
                urls |= {fill(p, values) for p in gets}
                urls |= {f"/a/{assoc}?campaign={campaign}", f"/a/{assoc}/doorknock?campaign={campaign}",
                         f"/city?campaign={campaign}", f"/a/{assoc}/households?campaign={campaign}&status=need_help"}
        shown, failures = 0, []
        async with client() as session:
            await login(session, w, "admin")
            for url in sorted(urls):
                for who, headers in (("token", {"Authorization": f"Bearer {w.tokens['admin']}"}), ("session", {})):
                    status, ctype, body = await _get(session, w.url + url, headers)
                    if status >= 500 and url != "/readyz":  # 503 is its answer while nothing dispatches
                        failures.append(f"{who} {url}: {status}")
                    if "html" in ctype and raw_markup(body):
                        failures.append(f"{who} {url}: {raw_markup(body)}")
                    if status == 200 and "html" in ctype and any(e in body for e in ESCAPED):
                        shown += 1
            for campaign in (ids["evil_campaign"], ids["cap_started"]):
                from safetynet.replies.tokens import reply_token

                token = reply_token(w.cfg.secrets.secret_key, int(campaign), w.hh("X-000").id)
                for url in (f"/r/{token}", f"/r/{token}?lang=en"):
                    status, _, body = await _get(session, w.url + url)
                    assert status == 200 and not raw_markup(body), (url, raw_markup(body))
                    if campaign == ids["cap_started"]:  # the CAP headline is the title, its text the alert
                        assert html.escape(evil(10)) in body and html.escape(evil(11)) in body
                async with session.post(f"{w.url}/r/{token}", data={"status": "need_help"}) as r:
                    assert not raw_markup(await r.text())
            status, _, body = await _get(session, f"{w.url}/join/{ids['code']}")
            assert status == 200 and not raw_markup(body)
        assert failures == []
        assert shown >= 10, "the payloads were not on the pages: nothing was tested"


async def test_reflected_markup_in_query_strings_is_escaped(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "admin")
        probe = quote(PAYLOADS[1])
        for url in (f"/login?next={probe}", f"/city?lang={probe}", f"/city?campaign={probe}",
                    f"/a/{w.assoc_ids[ASSOC_A]}?status={probe}&lang={probe}&campaign={probe}",
                    f"/r/{probe}", f"/join/{probe}", f"/{probe}"):
            status, _, body = await _get(http, w.url + url)
            assert status < 500 and not raw_markup(body), (url, status, raw_markup(body))


# -- scope through query strings (the route walk of test_scope_routes fills paths only) -------------

async def test_a_campaign_chosen_by_query_string_shows_nothing_out_of_scope(tmp_path: Path) -> None:
    from test_scope_routes import leaks, objects_of_a

    async with world(tmp_path) as w:
        a_only = (await objects_of_a(w))["id"]
        b = w.assoc_ids["梅町町会"]
        urls = [f"/city?campaign={a_only}", f"/city/curve?campaign={a_only}", f"/a/{b}?campaign={a_only}",
                f"/a/{b}/households?campaign={a_only}", f"/a/{b}/statuses?campaign={a_only}",
                f"/a/{b}/help?campaign={a_only}",
                f"/a/{b}/notes?campaign={a_only}", f"/a/{b}/doorknock?campaign={a_only}", f"/?campaign={a_only}",
                f"/api/associations?campaign={a_only}"]
        async with client() as session:
            await login(session, w, "head_b")
            for url in urls:
                for headers in ({}, {"Authorization": f"Bearer {w.tokens['head_b']}"}):
                    status, _, body = await _get(session, w.url + url, headers)
                    assert status < 500 and not leaks(body), (url, status, leaks(body))
