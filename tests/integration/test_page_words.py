"""Every page of the route table, rendered in Japanese, speaks Japanese: no internal identifiers
(`city`, `association:…`, channel keys) and no stray English words in what a person reads."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

from dashboard_fixtures import ASSOC_A, SECRET, STAFF, World, client, login, world

from safetynet.channels import registry
from safetynet.replies.tokens import check_token, reply_token
from safetynet.roster.codes import hash_code, new_code
from safetynet.web.city_views import band

# GET routes that are not pages a person reads (JSON, feeds, files, streams, probes)
NOT_PAGES = {
    "/api/audit", "/api/campaigns", "/api/campaigns/{id}/stats", "/api/associations",
    "/api/campaigns/{campaign_id}/households/{household_id}/replies", "/api/campaigns/{campaign_id}/help",
    "/api/campaigns/{id}/events", "/api/campaigns/{id}/checks", "/api/openapi.json", "/cap/campaigns/{id}.xml", "/cap/feed.atom",
    "/join/{code}/manifest.webmanifest", "/icons/icon-{size}.png", "/static", "/sw.js", "/healthz", "/readyz",
    "/metrics", "/city/curve", "/",
    # a redirect to /join/{code} (its dead end is the bad-code page, checked below)
    "/join",
    # the reply link's dead end, the same page as an unknown token's (checked below)
    "/r/",
}
# Names a Japanese page may show as they are: the product, languages in their own names, brands.
ALLOWED = {"SafetyNet", "English", "SMS", "LINE", "Telegram", "CSV", "JSON", "PDF", "QR", "URL", "Web", "Push",
           "iPhone", "iPad", "Android", "Safari", "Chrome", "iOS", "OK", "ID", "CAP", "HTML", "JavaScript", "API",
           # the language switch's label says it in English too, for whoever cannot read the page
           "Language"}
# A command a page tells someone to type, written as it is typed (a server command, a bot's /start).
COMMAND = re.compile(r"`?safetynet(?: [a-z]+)+`?|/start\b")
IDENTIFIERS = re.compile(r"\bcity\b|association:|district:|\b(?:" + "|".join(
    sorted({*registry.names(), "sms", "telegram", "voice", "webpush", "line", "email"})) + r")\b")


def visible_text(page: str) -> str:
    """What a person reads: text outside tags, scripts and styles, plus the attributes shown."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    # the language switch names each language in itself (Português, Tiếng Việt)
    page = re.sub(r'<nav class="lang".*?</nav>', " ", page, flags=re.S)
    shown = re.findall(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return htmllib.unescape(" ".join([text, *shown]))


def problems(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """Identifiers and English words in `text`; `data` (names, logins, codes shown as they are) aside."""
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    text = COMMAND.sub(" ", text)
    found = [m.group(0) for m in IDENTIFIERS.finditer(text)]
    found += [w for w in re.findall(r"[A-Za-z][A-Za-z_.:-]*[A-Za-z]", text) if w not in ALLOWED]
    return sorted(set(found))


async def _urls(w: World) -> dict[str, str]:
    code = new_code()
    await w.store.roster.set_enrolment_codes([(w.hh("A-001").id, hash_code(code, SECRET))])
    aid = w.assoc_ids[ASSOC_A]
    return {
        "/r/{token}": f"/r/{reply_token(SECRET, w.campaign_id, w.hh('A-001').id)}",
        "/join/{code}": f"/join/{code}",
        "/join/{code}/{channel}/confirm": "",  # only a channel that confirms by link has it: none on here
        "/login": "/login", "/admin": "/admin", "/city": "/city", "/city/letters": "/city/letters",
        "/a/{association_id}": f"/a/{aid}?campaign={w.campaign_id}",
        "/a/{association_id}/help": f"/a/{aid}/help?campaign={w.campaign_id}",
        "/a/{association_id}/notes": f"/a/{aid}/notes?campaign={w.campaign_id}",
        "/a/{association_id}/households": f"/a/{aid}/households?campaign={w.campaign_id}",
        "/a/{association_id}/statuses": f"/a/{aid}/statuses?campaign={w.campaign_id}",
        "/a/{association_id}/doorknock/rows": f"/a/{aid}/doorknock/rows?campaign={w.campaign_id}",
        "/a/{association_id}/doorknock": f"/a/{aid}/doorknock?campaign={w.campaign_id}",
        "/campaigns/{id}/report": f"/campaigns/{w.campaign_id}/report",
        "/c/{token}": "",  # a contact check's page: its check is started last (below)
    }


async def test_every_page_in_japanese_shows_no_identifier_or_english_word(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await w.answer("A-002", "need_help")
        await w.answer("A-003", "safe")
        urls = await _urls(w)
        routes = {r.resource.canonical for r in w.app.router.routes() if r.method == "GET" and r.resource}
        unknown = sorted(routes - NOT_PAGES - set(urls))
        assert unknown == [], f"a new page: add it to this test's URLs (or to NOT_PAGES): {unknown}"
        csrf = await login(http, w, "admin")
        token = urls["/r/{token}"]
        pages = [u for u in urls.values() if u]
        code = urls["/join/{code}"].rsplit("/", 1)[1]
        # and what a channel's words name from the configuration as it is (the address email comes from)
        configured = (v for spec in registry.SPECS for v in w.cfg.channels.get(spec.name).resident_words().values())
        data = (code, *(x for login, _, _ in STAFF for x in (login, login.upper())), *configured,
                w.cfg.server.public_url)  # the letters page says where letters would point (見本 on loopback)
        found: dict[str, list[str]] = {}
        for url in pages:
            async with http.get(f"{w.url}{url}", params={"lang": "ja"} if "?" not in url else None) as r:
                assert r.status == 200, url
                found[url] = problems(visible_text(await r.text()), data)
        # pages reached by a form or a wrong link
        async with http.post(f"{w.url}{token}", data={"status": "safe", "lang": "ja"}) as r:
            found["POST /r/{token}"] = problems(visible_text(await r.text()))
        for url in ("/r/not-a-token-at-all", "/join/WRONG-CODE-0000"):
            async with http.get(f"{w.url}{url}") as r:
                assert r.status == 404
                page = await r.text()
            # the dead ends say it in English too, in a lang="en" part
            found[url] = problems(visible_text(re.sub(r'<(section|span) lang="en">.*?</\1>', " ", page, flags=re.S)))
        # a staff page's link that leads nowhere (missing, or outside the viewer's scope)
        for url in ("/a/99999", f"/a/{w.assoc_ids[ASSOC_A]}?campaign=abc", "/campaigns/99999/report"):
            async with http.get(f"{w.url}{url}") as r:
                assert r.status == 404
                found[f"404 {url}"] = problems(visible_text(await r.text()), data)
        # a contact check's page, asking and then thanking
        async with http.post(f"{w.url}/city/campaigns/check", data={"csrf": csrf, "scope": f"association:{ASSOC_A}", "really": "1"},
                             allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            check_id = int(r.headers["Location"].rsplit("=", 1)[1])
        household = await w.store.roster.get_household(w.hh("A-001").id)
        assert household is not None
        mobile = next(ct for ct in household.contacts if ct.kind == "mobile")
        check_url = f"/c/{check_token(SECRET, check_id, mobile.id)}"
        async with http.get(f"{w.url}{check_url}") as r:
            assert r.status == 200
            found["GET /c/{token}"] = problems(visible_text(await r.text()))
        async with http.post(f"{w.url}{check_url}") as r:
            assert r.status == 200
            found["POST /c/{token}"] = problems(visible_text(await r.text()))
        bad = {u: p for u, p in found.items() if p}
        assert bad == {}, "\n".join(f"{u}: {p}" for u, p in bad.items())


def test_the_scan_finds_what_it_looks_for() -> None:
    assert problems(visible_text('<p>対象: city</p><p title="sms">xy</p><td>association:桜町</td>')) == [
        "association", "association:", "city", "sms", "xy"]
    assert problems(visible_text("<p>日本語 English SMS</p><script>var city = 1;</script>")) == []


def test_a_rate_shown_as_80_percent_is_always_good() -> None:
    # shown rounded down (domain.shares): 79.99 % reads 79 % and is not yet good
    assert [band(r) for r in (0.7999, 0.8, 0.8001, 0.4999, 0.5)] == ["mid", "good", "good", "low", "mid"]
