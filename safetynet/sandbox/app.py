"""The sandbox's aiohttp application: each channel's provider fake, plus its own `/_sandbox/…` control routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from safetynet.channels.fakes import Act
from safetynet.sandbox.host import HOST, SandboxHost, host_of


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


async def faults(request: web.Request) -> web.Response:
    ctx = host_of(request)
    if request.method == "POST":
        try:
            ctx.state.faults.update(await _json_body(request))
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"error": str(e)}, status=400)
    return web.json_response(ctx.state.faults.to_dict())


async def stats(request: web.Request) -> web.Response:
    return web.json_response(host_of(request).state.stats_doc())


async def app_settings(request: web.Request) -> web.Response:
    """What the app's channel settings need to reach fakes with servers of their own (an SMTP
    server's host and port): `{channel: {key: value}}`, only the channels that have any."""
    fakes = host_of(request).fakes
    return web.json_response({name: s for name, fake in fakes.items() if (s := fake.app_settings())})


async def messages(request: web.Request) -> web.Response:
    st = host_of(request).state
    channel = request.query.get("channel")
    kind = request.query.get("kind", "message")
    try:
        since = int(request.query.get("since", "0"))
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        return web.json_response({"error": "since and limit must be integers"}, status=400)
    out = [
        r.to_dict()
        for r in st.records
        if r.seq > since and (channel is None or r.channel == channel) and (kind == "all" or r.kind == kind)
    ]
    return web.json_response(out[:limit])


async def reset(request: web.Request) -> web.Response:
    host = host_of(request)
    host.state.reset()
    for fake in host.fakes.values():
        fake.reset()
    return web.json_response({"ok": True})


def acts(host: SandboxHost) -> dict[str, Act]:
    """Every fake's acts, by name (`sms`, `telegram`, `voice`, `push`…)."""
    out: dict[str, Act] = {}
    for fake in host.fakes.values():
        out.update(fake.acts())
    return out


async def act(request: web.Request) -> web.Response:
    known = acts(host_of(request))
    fn = known.get(request.match_info["what"])
    if fn is None:
        raise web.HTTPNotFound(text=f"act on {', '.join(sorted(known))}")
    body = await _json_body(request)
    try:
        result = await fn(body)
    except KeyError as e:
        return web.json_response({"error": f"missing field {e}"}, status=400)
    except (LookupError, ValueError) as e:
        return web.json_response({"error": str(e)}, status=409)
    return web.json_response(result.to_dict())


async def _on_startup(app: web.Application) -> None:
    await app[HOST].start()


async def _on_cleanup(app: web.Application) -> None:
    await app[HOST].stop()


def build_app(host: SandboxHost) -> web.Application:
    # Provider bodies are small; push payloads are at most 4 KB once encrypted.
    app = web.Application(client_max_size=64 * 1024)
    app[HOST] = host
    for fake in host.fakes.values():
        for method, path, handler in fake.routes():
            app.router.add_route(method, path, handler)
    app.router.add_route("*", "/_sandbox/faults", faults)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/messages", messages)
    app.router.add_get("/_sandbox/app-settings", app_settings)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_post("/_sandbox/act/{what}", act)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app
