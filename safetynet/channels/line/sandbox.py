"""The LINE Messaging API endpoints SafetyNet uses (push, multicast, reply, bot info) on the sandbox,
and a resident's events (a postback button, follow, a text, unfollow) posted to the app's
`/hooks/line` signed with the channel secret, as LINE sends them.

As on LINE: a retry key already accepted gets 409 with X-Line-Accepted-Request-Id; a malformed
user id refuses the request (400 naming `to`); a multicast to a user who blocked the account or
does not exist is accepted and silently not delivered (recorded here as `failed`, counted `dead`),
while a push to such a user is refused (400 naming `to`).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import OrderedDict
from typing import Any

from aiohttp import web

from safetynet.channels.fakes import Act, ActResult, ChannelFake, FakeHost, Fault, Handler
from safetynet.channels.line import ACCESS_TOKEN, CHANNEL_SECRET
from safetynet.channels.line.contacts import is_user_id
from safetynet.channels.line.events import SIGNATURE_HEADER, parse_postback_data, signature, webhook_url
from safetynet.channels.line.sender import MAX_RECIPIENTS

BASIC_ID = "@safetynet-sandbox"
MAX_MESSAGES = 5
# Accepted retry keys kept (LINE keeps them 24 hours); enough for a city's run.
MAX_KEYS = 200_000
_TO_INVALID = "The property, 'to', in the request body is invalid (line: -, column: -)"


def _answer(status: int, doc: Any, headers: dict[str, str] | None = None) -> web.Response:
    h = {"X-Line-Request-Id": str(uuid.uuid4())}
    h.update(headers or {})
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json", headers=h)


def _fail(status: int, message: str, details: list[dict[str, str]] | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    doc: dict[str, Any] = {"message": message}
    if details:
        doc["details"] = details
    return _answer(status, doc, headers)


def _texts(messages: list[Any]) -> str:
    return "\n".join(str(m.get("text", "")) for m in messages if isinstance(m, dict) and m.get("type") == "text")


def _postbacks(messages: list[Any]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        template = m.get("template") if isinstance(m, dict) else None
        for a in (template or {}).get("actions", []) if isinstance(template, dict) else []:
            if isinstance(a, dict) and a.get("type") == "postback":
                out.append({"label": str(a.get("label", "")), "data": str(a.get("data", ""))})
    return out


class LineFake(ChannelFake):
    name = "line"

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host)
        self._keys: OrderedDict[str, str] = OrderedDict()  # retry key -> the request id that took it

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", "/v2/bot/message/push", self.push), ("POST", "/v2/bot/message/multicast", self.multicast),
                ("POST", "/v2/bot/message/reply", self.reply), ("GET", "/v2/bot/info", self.bot_info)]

    def acts(self) -> dict[str, Act]:
        return {"line": self._act}

    def reset(self) -> None:
        self._keys.clear()

    # -- the API -----------------------------------------------------------------------------------

    async def _refusal(self, request: web.Request, keyed: bool) -> web.Response | None:
        """Authentication, injected faults, the retry key: a response when the request stops here."""
        st = self.host.state
        if request.headers.get("Authorization", "") != f"Bearer {self.host.secret(ACCESS_TOKEN.key)}":
            st.count(self.name, "unauthorized")
            return _fail(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")
        gated = await st.gate(self.name)
        if gated is not None:
            fault, _ = gated
            if fault is Fault.SERVER_ERROR:
                return _fail(500, "Internal server error")
            return _fail(429, "Too Many Requests", headers={"Retry-After": st.retry_after_header()})
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None:
            if not keyed:
                return _fail(400, "The retry key is not supported by this API")
            try:
                uuid.UUID(key)
            except ValueError:
                return _fail(400, "The retry key must be a UUID")
            if key in self._keys:
                st.count(self.name, "retry_key_accepted")
                return _fail(409, "The retry key is already accepted",
                             headers={"X-Line-Accepted-Request-Id": self._keys[key]})
        return None

    def _accept_key(self, request: web.Request, request_id: str) -> None:
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None:
            self._keys[key] = request_id
            if len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            doc = json.loads(await request.read())
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def _messages(self, doc: dict[str, Any]) -> list[Any] | None:
        messages = doc.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            return None
        return messages

    async def push(self, request: web.Request) -> web.Response:
        if (refused := await self._refusal(request, keyed=True)) is not None:
            return refused
        st = self.host.state
        doc = await self._body(request)
        messages = self._messages(doc or {})
        if doc is None or messages is None:
            st.count(self.name, "bad_request")
            return _fail(400, "The request body has 1 error(s)", [{"message": "invalid", "property": "messages"}])
        to = str(doc.get("to", ""))
        if not is_user_id(to) or st.is_dead(to):
            st.count(self.name, "dead")
            return _fail(400, _TO_INVALID)
        request_id = str(uuid.uuid4())
        seq = st.next_seq()
        st.add(self.name, "message", to, _texts(messages), f"{request_id}:0",
               {"messages": messages, "postbacks": _postbacks(messages), "request_id": request_id, "to": to},
               seq=seq)
        self._accept_key(request, request_id)
        return _answer(200, {"sentMessages": [{"id": str(seq), "quoteToken": secrets.token_hex(8)}]},
                       {"X-Line-Request-Id": request_id})

    async def multicast(self, request: web.Request) -> web.Response:
        if (refused := await self._refusal(request, keyed=True)) is not None:
            return refused
        st = self.host.state
        doc = await self._body(request)
        messages = self._messages(doc or {})
        to = (doc or {}).get("to")
        if doc is None or messages is None or not isinstance(to, list) or not 1 <= len(to) <= MAX_RECIPIENTS:
            st.count(self.name, "bad_request")
            return _fail(400, "The request body has 1 error(s)", [{"message": "invalid", "property": "to"}])
        bad = [{"message": "invalid user id", "property": f"to[{i}]"} for i, u in enumerate(to)
               if not isinstance(u, str) or not is_user_id(u)]
        if bad:
            st.count(self.name, "bad_request")
            return _fail(400, f"The request body has {len(bad)} error(s)", bad)
        request_id = str(uuid.uuid4())
        # The messages and buttons are shared by every recipient's record: a city's records stay small.
        postbacks, text = _postbacks(messages), _texts(messages)
        for i, user in enumerate(to):
            data = {"messages": messages, "postbacks": postbacks, "request_id": request_id, "to": user}
            if st.is_dead(user):
                st.count(self.name, "dead")
                st.add(self.name, "failed", user, None, f"{request_id}:{i}", data)
            else:
                st.add(self.name, "message", user, text, f"{request_id}:{i}", data)
        self._accept_key(request, request_id)
        return _answer(200, {}, {"X-Line-Request-Id": request_id})

    async def reply(self, request: web.Request) -> web.Response:
        if (refused := await self._refusal(request, keyed=False)) is not None:
            return refused
        doc = await self._body(request)
        messages = self._messages(doc or {})
        token = str((doc or {}).get("replyToken", ""))
        if messages is None or not token:
            return _fail(400, "Invalid reply token")
        self.host.state.add(self.name, "reply", token, _texts(messages), token, {"messages": messages})
        return _answer(200, {"sentMessages": [{"id": str(self.host.state.next_seq()), "quoteToken": "q"}]})

    async def bot_info(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.host.secret(ACCESS_TOKEN.key)}":
            return _fail(401, "Authentication failed.")
        return _answer(200, {"userId": "U" + "0" * 32, "basicId": BASIC_ID, "displayName": "SafetyNet",
                             "chatMode": "bot", "markAsReadMode": "auto"})

    # -- a resident ----------------------------------------------------------------------------------

    async def post_events(self, events: list[dict[str, Any]], secret: str | None = None) -> ActResult:
        """Posts a webhook body to the app, signed with the channel secret (or `secret`, to forge one)."""
        body = json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()
        sig = signature(self.host.secret(CHANNEL_SECRET.key) if secret is None else secret, body)
        return await self.host.post(webhook_url(self.host.need_app_url()), body=body,
                                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: sig})

    async def press(self, user_id: str, answer: str, event_id: str | None = None,
                    sent_at: float | None = None) -> ActResult:
        """Presses the `answer` button of the latest message sent to `user_id` (at `sent_at`: a press
        LINE delivers late, as after our restart)."""
        rec = self.host.state.find(self.name, user_id)
        if rec is None:
            raise LookupError(f"no LINE message was sent to {user_id}")
        data = next((p["data"] for p in rec.data.get("postbacks", [])
                     if (parse_postback_data(p["data"]) or (0, ""))[1] == answer), None)
        if data is None:
            raise LookupError(f"the message to {user_id} has no {answer!r} button")
        return await self.post_events([event(user_id, "postback", event_id, sent_at=self._at(sent_at),
                                             postback={"data": data})])

    def _at(self, sent_at: float | None) -> float:
        return self.host.now() if sent_at is None else sent_at

    async def follow(self, user_id: str, unblocked: bool = False) -> ActResult:
        """A follow: a new friend, or (`unblocked`) one who had blocked the account and unblocked it."""
        return await self.post_events([event(user_id, "follow", follow={"isUnblocked": unblocked})])

    async def say(self, user_id: str, text: str, sent_at: float | None = None) -> ActResult:
        """A text message from the resident (an enrolment code, a keyword), sent at `sent_at` (now)."""
        return await self.post_events([event(user_id, "message", sent_at=self._at(sent_at), message={
            "type": "text", "id": str(self.host.state.next_seq()), "text": text, "quoteToken": "q"})])

    async def unfollow(self, user_id: str) -> ActResult:
        return await self.post_events([event(user_id, "unfollow", with_reply=False)])

    async def _act(self, d: dict[str, Any]) -> ActResult:
        user = str(d["user_id"])
        if d.get("follow"):
            return await self.follow(user)
        if d.get("unfollow"):
            return await self.unfollow(user)
        if "text" in d:
            return await self.say(user, str(d["text"]))
        return await self.press(user, str(d["answer"]))


def event(user_id: str, kind: str, event_id: str | None = None, with_reply: bool = True, redelivery: bool = False,
          sent_at: float | None = None, **fields: Any) -> dict[str, Any]:
    """One webhook event as LINE writes it (its `timestamp`, in ms: `sent_at`, or now)."""
    ev: dict[str, Any] = {
        "type": kind, "mode": "active", "timestamp": int((time.time() if sent_at is None else sent_at) * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id or ("01" + secrets.token_hex(12).upper()),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if with_reply:
        ev["replyToken"] = secrets.token_hex(16)
    ev.update(fields)
    return ev
