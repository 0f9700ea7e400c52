"""web/webhooks.py: how a channel's WebhookRoute is served. A handler may read the raw body (to check
a signature over it, as LINE's X-Line-Signature needs) and then parse it, with the same limits and
4xx as every other route; a refusal is its status, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from channel_helpers import write_config
from pg_helpers import store_env
from roster_helpers import SECRET_KEY

from safetynet.channels.base import WebhookRefused, WebhookRequest, WebhookResponse, WebhookRoute
from safetynet.clock import FakeClock
from safetynet.config import load_config
from safetynet.store import open_store
from safetynet.web import webhooks
from safetynet.web.app import Services, create_app


async def test_a_handler_reads_the_raw_body_then_parses_it(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY, **store_env()})
    store = await open_store(cfg, FakeClock())
    seen: list[tuple[bytes, Any]] = []

    async def handle(req: WebhookRequest) -> WebhookResponse:
        raw = await req.body()
        if req.headers.get("X-Sig") != "ok":
            raise WebhookRefused(403, "bad signature")
        parsed = await (req.json() if req.query.get("as") == "json" else req.form())
        seen.append((raw, parsed))
        return WebhookResponse(200, '{"ok":true}', "application/json")

    app = create_app(Services(cfg=cfg, store=store, clock=FakeClock()))
    # more than the server's own body limit (64 KB): the route's limit holds, and a body read once
    # is parsed from what was read (a second read of such a request would find nothing)
    route = WebhookRoute("POST", "/hooks/test", handle, 128 * 1024)
    app.router.add_post("/hooks/test", webhooks._handler(route))
    try:
        async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
            url = str(server.make_url("/hooks/test"))
            body = json.dumps({"events": [{"type": "postback"}], "pad": "x" * 70_000}).encode()
            async with http.post(url + "?as=json", data=body, headers={"X-Sig": "ok"}) as r:
                assert r.status == 200
            async with http.post(url, data={"a": "1", "b": "x y"}, headers={"X-Sig": "ok"}) as r:
                assert r.status == 200
            assert seen == [(body, json.loads(body)), (b"a=1&b=x+y", [("a", "1"), ("b", "x y")])]
            async with http.post(url + "?as=json", data=b"[" * 1000, headers={"X-Sig": "ok"}) as r:
                assert r.status == 400 and "JSON" in await r.text()
            async with http.post(url + "?as=json", data=b"{}", headers={"X-Sig": "forged"}) as r:
                assert r.status == 403
            async with http.post(url + "?as=json", data=b"x" * 200_000, headers={"X-Sig": "ok"}) as r:
                assert r.status == 413
            assert len(seen) == 2
    finally:
        await store.close()
