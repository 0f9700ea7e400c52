"""The sandbox's aiohttp application: provider APIs plus its own `/_sandbox/…` control routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from safetynet.channels.sandbox import push_service, resident, telegram_api, twilio_api
from safetynet.channels.sandbox.context import CTX, SandboxContext, ctx_of


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


async def faults(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if request.method == "POST":
        try:
            ctx.state.faults.update(await _json_body(request))
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"error": str(e)}, status=400)
    return web.json_response(ctx.state.faults.to_dict())


async def stats(request: web.Request) -> web.Response:
    return web.json_response(ctx_of(request).state.stats_doc())


async def messages(request: web.Request) -> web.Response:
    st = ctx_of(request).state
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
    ctx_of(request).state.reset()
    return web.json_response({"ok": True})


Act = Callable[[SandboxContext, dict[str, Any]], Awaitable[resident.ActResult]]


async def _act_sms(ctx: SandboxContext, d: dict[str, Any]) -> resident.ActResult:
    return await resident.sms(ctx, str(d["from"]), str(d["body"]), d.get("to"))


async def _act_telegram(ctx: SandboxContext, d: dict[str, Any]) -> resident.ActResult:
    if "start" in d:
        return await resident.telegram_start(ctx, int(d["chat_id"]), str(d["start"]))
    return await resident.telegram_press(ctx, int(d["chat_id"]), str(d["answer"]))


async def _act_voice(ctx: SandboxContext, d: dict[str, Any]) -> resident.ActResult:
    return await resident.voice_press(ctx, str(d["to"]), str(d.get("digits", "")))


async def _act_push(ctx: SandboxContext, d: dict[str, Any]) -> resident.ActResult:
    return await resident.push_action(ctx, str(d["id"]), str(d["action"]))


ACTS: dict[str, Act] = {"sms": _act_sms, "telegram": _act_telegram, "voice": _act_voice, "push": _act_push}


async def act(request: web.Request) -> web.Response:
    fn = ACTS.get(request.match_info["what"])
    if fn is None:
        raise web.HTTPNotFound(text="act on sms, telegram, voice or push")
    body = await _json_body(request)
    try:
        result = await fn(ctx_of(request), body)
    except KeyError as e:
        return web.json_response({"error": f"missing field {e}"}, status=400)
    except (LookupError, ValueError) as e:
        return web.json_response({"error": str(e)}, status=409)
    return web.json_response(result.to_dict())


async def _on_startup(app: web.Application) -> None:
    await app[CTX].start()


async def _on_cleanup(app: web.Application) -> None:
    await app[CTX].stop()


def build_app(ctx: SandboxContext) -> web.Application:
    # Provider bodies are small; push payloads are at most 4 KB once encrypted.
    app = web.Application(client_max_size=64 * 1024)
    app[CTX] = ctx
    twilio_api.add_routes(app)
    telegram_api.add_routes(app)
    push_service.add_routes(app)
    app.router.add_route("*", "/_sandbox/faults", faults)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/messages", messages)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_post("/_sandbox/act/{what}", act)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app
