"""Security headers on every response: each route of the table (anonymous and as the city admin),
the live stream, static files, and the error answers (400, 401, 403, 404, 405, 413, 429, 503).

Every response carries a Content-Security-Policy that forbids framing (frame-ancestors 'none') and
inline scripts, X-Frame-Options DENY, a Referrer-Policy that keeps reply and enrolment URLs (which
hold secrets) from leaking, and X-Content-Type-Options nosniff. Every response but the static files
says Cache-Control: no-store (pages and API answers carry personal data), and behind an https
public URL every response carries HSTS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dashboard_fixtures import ASSOC_A, client, login, world
from replies_fixtures import running_app
from store_helpers import break_writes
from test_scope_routes import fill

from safetynet.replies.tokens import reply_token
from safetynet.roster.codes import hash_code, new_code


def header_problems(headers: Any, content_type: str, url: str = "", method: str = "GET") -> list[str]:
    problems = []
    static = url.startswith(("/static/", "/icons/")) or url == "/sw.js"  # the same for everyone: may be kept
    # the reply page's answer to its own form: the resident's browser alone may keep it (Back works)
    after_post = method == "POST" and url.startswith("/r/") and url.count("/") == 2 and "html" in content_type
    if after_post and headers.get("Cache-Control") != "private, no-cache":
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r} after an answer, not private, no-cache")
    if not static and not after_post and "no-store" not in headers.get("Cache-Control", ""):
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r}, not no-store")
    csp = headers.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" not in csp:
        problems.append(f"CSP without frame-ancestors 'none': {csp!r}")
    if headers.get("X-Frame-Options", "").upper() != "DENY":
        problems.append("no X-Frame-Options: DENY")
    if headers.get("Referrer-Policy", "") not in ("no-referrer", "same-origin", "strict-origin"):
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}")
    if headers.get("X-Content-Type-Options", "").lower() != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    twice = [name for name in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy",
                                "X-Content-Type-Options", "Permissions-Policy", "Cache-Control")
             if len(headers.getall(name, ())) > 1]
    if twice:  # set by the page and again by the response hook
        problems.append(f"headers sent twice: {twice}")
    if "html" in content_type:
        script = next((p for p in csp.split(";") if p.strip().startswith(("script-src", "default-src"))), "")
        if not script or "'unsafe-inline'" in script or "*" in script:
            problems.append(f"an HTML page whose CSP allows inline or foreign scripts: {csp!r}")
    return problems


async def _call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, str, Any]:
    async with http.request(method, url, allow_redirects=False, **kwargs) as r:
        ctype = r.headers.get("Content-Type", "")
        if ctype.startswith("text/event-stream"):
            await r.content.readany()
        else:
            await r.read()
        return r.status, ctype, r.headers


async def test_every_route_and_its_errors_carry_the_headers(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert w.app is not None
        token = reply_token(w.cfg.secrets.secret_key, w.campaign_id, w.hh("A-001").id)
        code = new_code()
        await w.store.roster.set_enrolment_codes([(w.hh("A-001").id, hash_code(code, w.cfg.secrets.secret_key))])
        values = {"id": str(w.campaign_id), "campaign_id": str(w.campaign_id), "household_id": str(w.hh("A-001").id),
                  "association_id": str(w.assoc_ids[ASSOC_A]), "token": token, "code": code}
        table = sorted({(r.method, r.resource.canonical) for r in w.app.router.routes()
                        if r.resource is not None and r.method != "HEAD"}, key=lambda mp: mp[1] == "/logout")
        calls: list[tuple[str, str]] = []
        for method, path in table:
            url = "/static/base.css" if path == "/static" else fill(path, values)
            calls.append((method, url))
            if "{" in path:
                calls.append((method, fill(path, {k: "999999" for k in values} | {"token": "x" * 22,
                                                                                  "code": "AAAA-AAAA-AAAA-AAAA"})))
        calls += [("GET", "/no/such/page"), ("GET", "/static/no-such.css"), ("GET", "/logout"),
                  ("PUT", "/api/campaigns"), ("HEAD", "/login"), ("HEAD", f"/r/{token}")]
        failures: list[str] = []
        seen: set[int] = set()
        async with client() as anon, client() as session:
            await login(session, w, "admin")
            bearer = {"Authorization": f"Bearer {w.tokens['admin']}"}
            for method, url in calls:
                for who, http, headers in (("anonymous", anon, {}), ("admin", session, bearer)):
                    kwargs: dict[str, Any] = {"headers": headers}
                    if method == "POST":
                        kwargs["data"] = b"{not json"
                        kwargs["headers"] = {**headers, "Content-Type": "application/json"}
                    status, ctype, got = await _call(http, method, w.url + url, **kwargs)
                    seen.add(status)
                    failures += [f"{who} {method} {url} → {status}: {p}"
                                 for p in header_problems(got, ctype, url, method)]
            # answers the route walk does not produce by itself
            extra: list[tuple[str, str, dict[str, Any]]] = [
                ("POST", "/api/campaigns", {"data": b"{" + b" " * 70_000 + b"}",
                                            "headers": {**bearer, "Content-Type": "application/json"}}),  # 413
                ("GET", "/api/associations", {"headers": {"Authorization": "Bearer not-a-token"}}),  # 401
                ("POST", "/hooks/twilio/sms", {"data": {"From": "+819011110001", "Body": "1"}}),  # 403
            ]
            for method, url, kwargs in extra:
                status, ctype, got = await _call(anon, method, w.url + url, **kwargs)
                seen.add(status)
                failures += [f"{method} {url} → {status}: {p}" for p in header_problems(got, ctype, url, method)]
        assert failures == [], "\n".join(failures)
        assert {200, 302, 400, 401, 403, 404, 405, 413} <= seen | {302}, seen


async def test_rate_limited_and_unavailable_answers_carry_the_headers(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="2") as env:
        statuses = []
        for _ in range(3):
            status, ctype, got = await _call(env.http, "GET", env.reply_url("A-001"))
            statuses.append(status)
            assert header_problems(got, ctype) == []
        assert statuses[-1] == 429
        await env.clock.advance(120)
        await break_writes(env.store, True)  # writes fail: answers get 503
        try:
            status, ctype, got = await _call(env.http, "POST", env.reply_url("A-002"), data={"status": "safe"})
            assert status == 503 and header_problems(got, ctype) == []
            status, ctype, got = await _call(env.http, "GET", f"{env.url}/healthz")
            assert status == 503 and header_problems(got, ctype) == []
        finally:
            await break_writes(env.store, False)


# one city per case (a store of its own on either store)
@pytest.mark.parametrize(("public_url", "expected"), [("https://anpi.example.jp", "max-age=31536000"), (None, None)])
async def test_hsts_behind_an_https_public_url_only(tmp_path: Path, public_url: str | None,
                                                    expected: str | None) -> None:
    async with world(tmp_path, public_url=public_url) as w, client() as http:
        for url in ("/login", "/healthz", "/static/base.css", "/no/such/page", f"/r/{'x' * 22}"):
            status, _, got = await _call(http, "GET", w.url + url)
            assert got.get("Strict-Transport-Security") == expected, (public_url, url, status)
        async with http.get(f"{w.url}/static/base.css") as r:
            assert "no-store" not in r.headers.get("Cache-Control", "")  # static files may be cached
