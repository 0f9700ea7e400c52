"""The Telegram Bot API methods SafetyNet uses, under `/bot{token}/{method}`, and a resident
pressing a button or sending `/start CODE`, posted to the app's webhook as Telegram would
(with the secret-token header the app gave setWebhook, or the one derived from its secret key)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from safetynet.channels.fakes import Act, ActResult, ChannelFake, FakeHost, Fault, Handler
from safetynet.channels.telegram import BOT_TOKEN
from safetynet.channels.telegram.updates import SECRET_HEADER, callback_data, webhook_secret, webhook_url

MAX_TEXT_CHARS = 4096  # Telegram's limit for a message text
BOT_USER = {"id": 100000001, "is_bot": True, "first_name": "SafetyNet", "username": "safetynet_sandbox_bot"}

Method = Callable[["TelegramFake", dict[str, Any]], Awaitable[web.Response]]


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


async def get_me(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    return _ok(BOT_USER)


async def send_message(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    st = fake.host.state
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


async def answer_callback_query(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    qid = str(p.get("callback_query_id") or "")
    if not qid:
        return _fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    fake.host.state.add("telegram", "answer_callback", "", str(p.get("text") or ""), qid, {"show_alert": p.get("show_alert")})
    return _ok(True)


async def edit_message_text(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    chat_id, text = _chat_id(p.get("chat_id")), str(p.get("text") or "")
    try:
        message_id = int(p.get("message_id") or 0)
    except (TypeError, ValueError):
        message_id = 0
    original = fake.host.state.by_provider_id(f"{chat_id}:{message_id}")
    if chat_id is None or original is None:
        return _fail(400, "Bad Request: message to edit not found")
    if not text:
        return _fail(400, "Bad Request: message text is empty")
    markup = _markup(p.get("reply_markup"))
    if original.data.get("edits") and original.data["edits"][-1] == {"text": text, "reply_markup": markup}:
        return _fail(400, "Bad Request: message is not modified")
    original.data["edits"].append({"text": text, "reply_markup": markup})
    fake.host.state.add("telegram", "edit_message", str(chat_id), text, original.provider_id, {"reply_markup": markup})
    return _ok(_message(chat_id, message_id, text, markup))


async def set_webhook(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    url = str(p.get("url") or "")
    if not url:
        fake.webhook = None
        return _ok(True)
    secret = p.get("secret_token")
    fake.webhook = (url, str(secret) if secret else None)
    return _ok(True)


async def delete_webhook(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    fake.webhook = None
    return _ok(True)


async def get_webhook_info(fake: TelegramFake, p: dict[str, Any]) -> web.Response:
    url = fake.webhook[0] if fake.webhook else ""
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


def _resident(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Resident", "language_code": "ja"}


class TelegramFake(ChannelFake):
    name = "telegram"

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host)
        # (url, secret token) the app gave setWebhook; None until it does
        self.webhook: tuple[str, str | None] | None = None

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("*", "/bot{token}/{method}", self.bot_api)]

    def acts(self) -> dict[str, Act]:
        return {"telegram": self._act}

    async def bot_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.host.secret(BOT_TOKEN.key):
            self.host.state.count("telegram", "unauthorized")
            return _fail(401, "Unauthorized")
        method = METHODS.get(request.match_info["method"].lower())
        if method is None:
            return _fail(404, "Not Found: method not found")
        try:
            params = await _params(request)
        except ValueError:
            return _fail(400, "Bad Request: can't parse JSON")
        return await method(self, params)

    # -- a resident --------------------------------------------------------------------------------

    def _target(self) -> tuple[str, str | None]:
        if self.webhook is not None:
            return self.webhook
        secret = webhook_secret(self.host.secret_key) if self.host.secret_key else None
        return webhook_url(self.host.need_app_url()), secret

    async def post_update(self, update: dict[str, Any]) -> ActResult:
        url, secret = self._target()
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        result = await self.host.post(url, body=json.dumps(update).encode(), headers=headers)
        if result.status == 200:
            await self._response_method(result.body)
        return result

    async def _response_method(self, body: str) -> None:
        """Runs the Bot API method a webhook's response names, as Telegram does (its outcome goes
        nowhere: Telegram does not report it either)."""
        try:
            doc = json.loads(body)
        except ValueError:
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("method"), str):
            return
        method = METHODS.get(doc["method"].lower())
        if method is None:
            self.host.state.count("telegram", "response_method_unknown")
            return
        await method(self, {k: v for k, v in doc.items() if k != "method"})

    async def press(self, chat_id: int, answer: str) -> ActResult:
        """Presses the button for `answer` on the latest message sent to `chat_id`."""
        rec = self.host.state.find("telegram", str(chat_id))
        if rec is None:
            raise LookupError(f"no Telegram message was sent to chat {chat_id}")
        edits = rec.data.get("edits") or []
        markup = edits[-1]["reply_markup"] if edits else rec.data.get("reply_markup")
        buttons = [b for row in (markup or {}).get("inline_keyboard", []) for b in row]
        data = next((b["callback_data"] for b in buttons
                     if str(b.get("callback_data", "")).startswith(f"{answer}:")), None)
        if data is None:
            raise LookupError(f"the message to chat {chat_id} has no {answer!r} button")
        current_text = edits[-1]["text"] if edits else rec.text
        return await self.post_update({
            "update_id": self.host.state.next_seq(),
            "callback_query": {
                "id": secrets.token_hex(8),
                "from": _resident(chat_id),
                "message": {
                    "message_id": int(rec.provider_id.split(":")[1]),
                    "date": int(rec.t),
                    "chat": {"id": chat_id, "type": "private"},
                    "text": current_text,
                },
                "chat_instance": str(chat_id),
                "data": data,
            },
        })

    async def forged_press(self, chat_id: int, answer: str, reply_token: str) -> ActResult:
        """A button press for any token (for tests of what the app accepts), with no prior message."""
        return await self.post_update({
            "update_id": self.host.state.next_seq(),
            "callback_query": {
                "id": secrets.token_hex(8), "from": _resident(chat_id), "chat_instance": str(chat_id),
                "data": callback_data(answer, reply_token),
            },
        })

    async def start(self, chat_id: int, code: str) -> ActResult:
        """`/start CODE`: the resident opened the bot from the letter's link (enrolment)."""
        return await self.post_update({
            "update_id": self.host.state.next_seq(),
            "message": {
                "message_id": self.host.state.next_seq(), "date": int(self.host.now()), "from": _resident(chat_id),
                "chat": {"id": chat_id, "type": "private"}, "text": f"/start {code}",
            },
        })

    async def say(self, chat_id: int, text: str, sent_at: float | None = None) -> ActResult:
        """A text typed into the bot's chat ("2", "助けて", a sentence), not a button; sent at `sent_at`
        (now), as Telegram dates it."""
        return await self.post_update({
            "update_id": self.host.state.next_seq(),
            "message": {
                "message_id": self.host.state.next_seq(), "date": int(self.host.now() if sent_at is None else sent_at),
                "from": _resident(chat_id),
                "chat": {"id": chat_id, "type": "private"}, "text": text,
            },
        })

    async def _act(self, d: dict[str, Any]) -> ActResult:
        if "start" in d:
            return await self.start(int(d["chat_id"]), str(d["start"]))
        if "text" in d:
            return await self.say(int(d["chat_id"]), str(d["text"]))
        return await self.press(int(d["chat_id"]), str(d["answer"]))
