"""Static files are named by their content's version on every page (`/static/dash.js?v=…`), so a
browser that kept the last release's script never runs it against a new release's page; the
versioned URL may be kept for a year, an unversioned or outdated one is asked again each time."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from dashboard_fixtures import client, login, world

ASSET = re.compile(r'(?:href|src)="(/static/[^"?]+)(\?v=([0-9a-f]+))?"')


async def test_pages_name_static_files_by_version_and_the_versioned_url_may_be_kept(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "admin")
        seen: dict[str, str] = {}
        for page in ("/login", "/city"):
            async with http.get(w.url + page) as r:
                html = await r.text()
            found = ASSET.findall(html)
            assert found, page
            for path, _, version in found:
                assert version, f"{page} names {path} without its version"
                seen[path] = version
        assert {"/static/base.css", "/static/dash.css", "/static/live.js", "/static/city.js"} <= set(seen)
        for path, version in seen.items():
            async with http.get(f"{w.url}{path}?v={version}") as r:
                body = await r.read()
                assert r.status == 200
                assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert hashlib.sha256(body).hexdigest().startswith(version)  # the version follows the content
        for url in ("/static/dash.js", "/static/dash.js?v=0123456789ab"):
            async with http.get(w.url + url) as r:
                await r.read()
                assert r.status == 200 and r.headers["Cache-Control"] == "no-cache", url
        async with http.get(w.url + "/static/dash.js", headers={"If-None-Match": r.headers["ETag"]}) as again:
            assert again.status == 304  # asking again costs no body when nothing changed
        async with http.get(w.url + "/static/no-such.js?v=0123456789ab") as r:
            assert r.status == 404 and "immutable" not in r.headers.get("Cache-Control", "")
        # a kept versioned copy asked again stays immutable; a file with no version is never kept a year
        path, version = next(iter(seen.items()))
        async with http.get(f"{w.url}{path}?v={version}") as r:
            etag = r.headers["ETag"]
        async with http.get(f"{w.url}{path}?v={version}", headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
