"""The Telegram Bot API methods SafetyNet uses, under `/bot{token}/{method}`."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from safetynet.channels.sandbox.context import SandboxContext, ctx_of
from safetynet.channels.sandbox.state import Fault

MAX_TEXT_CHARS = 4096  # Telegram's limit for a message text
BOT_USER = {"id": 100000001, "is_bot": True, "first_name": "SafetyNet", "username": "safetynet_sandbox_bot"}

Method = Callable[[SandboxContext, dict[str, Any]], Awaitable[web.Response]]


def _ok(result: Any) -> web.Response:
    return web.Response(text=json.dumps({"ok": True, "result": result}), content_type="application/json")


def _fail(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    doc: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        doc["parameters"] = parameters
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json")


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    return {k: str(v) for k, v in (await request.post()).items()}


def _markup(value: Any) -> Any:
    if isinstance(value, str) and value:
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value or None


def _chat_id(value: Any) -> int | None:
    try:
        chat_id = int(value)
    except (TypeError, ValueError):
        return None
    return chat_id if chat_id != 0 else None


def _message(chat_id: int, message_id: int, text: str, markup: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private"},
        "from": BOT_USER,
        "text": text,
    }
    if markup:
        msg["reply_markup"] = markup
    return msg


async def get_me(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    return _ok(BOT_USER)


async def send_message(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    st = ctx.state
    gated = await st.gate("telegram")
    if gated is not None:
        fault, retry_after = gated
        if fault is Fault.SERVER_ERROR:
            return _fail(500, "Internal Server Error")
        seconds = max(1, round(retry_after))
        return _fail(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
    chat_id = _chat_id(p.get("chat_id"))
    if chat_id is None:
        st.count("telegram", "bad_request")
        return _fail(400, "Bad Request: chat not found")
    if st.is_dead(str(chat_id)):
        st.count("telegram", "dead")
        return _fail(403, "Forbidden: bot was blocked by the user")
    text = str(p.get("text") or "")
    if not text.strip():
        st.count("telegram", "bad_request")
        return _fail(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_CHARS:
        st.count("telegram", "bad_request")
        return _fail(400, "Bad Request: message is too long")
    markup = _markup(p.get("reply_markup"))
    seq = st.next_seq()
    data = {"reply_markup": markup, "link_preview_options": _markup(p.get("link_preview_options")), "edits": []}
    st.add("telegram", "message", str(chat_id), text, f"{chat_id}:{seq}", data, seq=seq)
    # The message id is the record's sequence number: unique, so a callback finds its message.
    return _ok(_message(chat_id, seq, text, markup))


async def answer_callback_query(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    qid = str(p.get("callback_query_id") or "")
    if not qid:
        return _fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    ctx.state.add("telegram", "answer_callback", "", str(p.get("text") or ""), qid, {"show_alert": p.get("show_alert")})
    return _ok(True)


async def edit_message_text(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    chat_id, text = _chat_id(p.get("chat_id")), str(p.get("text") or "")
    try:
        message_id = int(p.get("message_id") or 0)
    except (TypeError, ValueError):
        message_id = 0
    original = ctx.state.by_provider_id(f"{chat_id}:{message_id}")
    if chat_id is None or original is None:
        return _fail(400, "Bad Request: message to edit not found")
    if not text:
        return _fail(400, "Bad Request: message text is empty")
    markup = _markup(p.get("reply_markup"))
    if original.data.get("edits") and original.data["edits"][-1] == {"text": text, "reply_markup": markup}:
        return _fail(400, "Bad Request: message is not modified")
    original.data["edits"].append({"text": text, "reply_markup": markup})
    ctx.state.add("telegram", "edit_message", str(chat_id), text, original.provider_id, {"reply_markup": markup})
    return _ok(_message(chat_id, message_id, text, markup))


async def set_webhook(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    url = str(p.get("url") or "")
    if not url:
        ctx.telegram_webhook = None
        return _ok(True)
    secret = p.get("secret_token")
    ctx.telegram_webhook = (url, str(secret) if secret else None)
    return _ok(True)


async def delete_webhook(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    ctx.telegram_webhook = None
    return _ok(True)


async def get_webhook_info(ctx: SandboxContext, p: dict[str, Any]) -> web.Response:
    url = ctx.telegram_webhook[0] if ctx.telegram_webhook else ""
    return _ok({"url": url, "has_custom_certificate": False, "pending_update_count": 0})


METHODS: dict[str, Method] = {
    "getme": get_me,
    "sendmessage": send_message,
    "answercallbackquery": answer_callback_query,
    "editmessagetext": edit_message_text,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
}


async def bot_api(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if request.match_info["token"] != ctx.bot_token:
        ctx.state.count("telegram", "unauthorized")
        return _fail(401, "Unauthorized")
    method = METHODS.get(request.match_info["method"].lower())
    if method is None:
        return _fail(404, "Not Found: method not found")
    try:
        params = await _params(request)
    except ValueError:
        return _fail(400, "Bad Request: can't parse JSON")
    return await method(ctx, params)


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/bot{token}/{method}", bot_api)
