"""Scope over the WHOLE route table of `create_app` (every module, every engineer's routes).

For every route that is not on the explicit public list below:
- an anonymous request is refused (401, 403, 404, or a redirect to /login);
- the head of association B, by API token and by session (with a valid CSRF token, so the scope
  check itself is what answers), asking about association A's objects gets 404 and nothing of A;
- a route with no object in its path may answer B's own view, but never anything of A.
A control run shows the same URLs are found by the city admin, so the 404s are the scope's doing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
from dashboard_fixtures import ASSOC_A, World, client, login, records, start_campaign, world

# Routes with their own checks (tokens, signatures, codes) or open by nature. Keep this explicit.
PUBLIC_EXACT = {"/login", "/sw.js", "/healthz", "/readyz", "/metrics", "/api/openapi.json", "/static",
                "/join",  # /join: the field to type a letter's code, a resident's page like /join/{code}
                "/push/renew"}  # the service worker's renewed subscription: the old one, whole, is its key
# /cap/: published real events, public words only (tests/integration/test_cap_publish.py); /icons/: the web app's icons.
# /c/: a contact check's page, a resident's like /r/ (its token is the key; no session, no CSRF)
PUBLIC_PREFIXES = ("/r/", "/c/", "/join/", "/hooks/", "/static/", "/cap/", "/icons/")

# Whatever identifies A (the out-of-scope association) in a response.
A_MARKERS = [ASSOC_A] + [r.name for r in records() if r.association == ASSOC_A] + ["桜町1-"]

# A body that gets past validation wherever a handler validates before checking scope.
BODY = {"method": "visit", "status": "safe", "really": "1", "kind": "drill", "title": "x", "message_ja": "x",
        "scope": f"association:{ASSOC_A}", "login": "x", "role": "deputy", "note": "x"}


# Routes that answer an out-of-scope object with an empty 200 instead of 404. They still must
# not leak (checked below); each is reported to its owner and leaves this list once it 404s.
EMPTY_NOT_404: dict[tuple[str, str], str] = {}


def is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


def routes(w: World) -> list[tuple[str, str]]:
    assert w.app is not None
    found = {(r.method, r.resource.canonical) for r in w.app.router.routes() if r.resource is not None}
    out = sorted((m, p) for m, p in found if m != "HEAD" and not is_public(p))
    # logging out would end the session the rest of the walk uses: last
    return sorted(out, key=lambda mp: mp[1] == "/logout")


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: values.get(m.group(1), "1"), path)


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]) -> tuple[int, str, str]:
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if method != "GET":
        kwargs["json"] = BODY
    async with http.request(method, url, **kwargs) as r:
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            body = (await r.content.readany()).decode()  # a live stream: its first event is enough
        else:
            body = await r.text()
        return r.status, body, r.headers.get("Location", "")


async def objects_of_a(w: World) -> dict[str, str]:
    a_only = await start_campaign(w, scope=[f"association:{ASSOC_A}"], title="A only",
                                  keys=[k for k in w.households if k.startswith("A-")])
    target = await w.intake.target_for(a_only, w.hh("A-004").id)
    assert target is not None
    await w.answer("A-004", "need_help", a_only)  # so help and history routes have something to hide
    hh = str(w.hh("A-004").id)
    return {"association_id": str(w.assoc_ids[ASSOC_A]), "id": str(a_only), "campaign_id": str(a_only),
            "household_id": hh, "hh": hh}


def leaks(body: str) -> list[str]:
    return [m for m in A_MARKERS if m in body]


async def test_every_route_refuses_anonymous_and_out_of_scope_viewers(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        values = await objects_of_a(w)
        table = routes(w)
        assert len(table) >= 15, table  # the walk covers the real table, not an empty one
        failures: list[str] = []
        async with client() as anon, client() as session:
            csrf = await login(session, w, "head_b")
            as_token = {"Authorization": f"Bearer {w.tokens['head_b']}"}
            for method, path in table:
                url = w.url + fill(path, values)
                has_object = "{" in path
                status, body, location = await call(anon, method, url, {"Accept": "application/json"})
                if not (status in (401, 403, 404) or (status in (302, 303) and location.startswith("/login"))):
                    failures.append(f"anonymous {method} {path}: {status}")
                if leaks(body):
                    failures.append(f"anonymous {method} {path}: leaks {leaks(body)}")
                for who, headers, jar in (("token", as_token, anon), ("session", {"X-CSRF-Token": csrf}, session)):
                    status, body, _ = await call(jar, method, url, headers)
                    if has_object and status != 404 and (method, path) not in EMPTY_NOT_404:
                        failures.append(f"{who} {method} {path}: {status}, expected 404")
                    elif not has_object and status >= 500:
                        failures.append(f"{who} {method} {path}: {status}")
                    if leaks(body):
                        failures.append(f"{who} {method} {path}: leaks {leaks(body)}")
        assert not failures, "\n".join(failures)


async def test_the_same_urls_exist_for_the_city_admin(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        values = await objects_of_a(w)
        gets = [p for m, p in routes(w) if m == "GET" and "{" in p]
        assert gets
        async with client() as http:
            for path in gets:
                status, _, _ = await call(http, "GET", w.url + fill(path, values),
                                          {"Authorization": f"Bearer {w.tokens['admin']}"})
                assert status == 200, (path, status)
