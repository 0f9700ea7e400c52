"""Twilio's Messages and Calls API (2010-04-01), as far as the twilio client uses it, with status callbacks."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
from aiohttp import web

from safetynet.channels.sandbox.context import SandboxContext, ctx_of
from safetynet.channels.sandbox.state import Fault
from safetynet.channels.sms import MAX_BODY_CHARS, segment_count

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
API_VERSION = "2010-04-01"


def _json(status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json", headers=headers)


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    doc = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return _json(status, doc, headers)


def _auth_ok(ctx: SandboxContext, request: web.Request) -> bool:
    expected = aiohttp.encode_basic_auth(ctx.account_sid, ctx.auth_token)
    return request.match_info["sid"] == ctx.account_sid and request.headers.get("Authorization") == expected


async def _refusal(ctx: SandboxContext, request: web.Request, channel: str) -> web.Response | None:
    if not _auth_ok(ctx, request):
        ctx.state.count(channel, "unauthorized")
        return _error(401, 20003, "Authenticate")
    gated = await ctx.state.gate(channel)
    if gated is None:
        return None
    fault, retry_after = gated
    if fault is Fault.SERVER_ERROR:
        return _error(500, 20500, "Internal Server Error")
    ra = ctx.state.retry_after_header() if fault is Fault.INJECTED_429 else str(int(retry_after))
    return _error(429, 20429, "Too Many Requests", {"Retry-After": ra})


def _dead_number(ctx: SandboxContext, channel: str, to: str) -> web.Response | None:
    if E164.match(to) and not ctx.state.is_dead(to):
        return None
    ctx.state.count(channel, "dead")
    return _error(400, 21211, f"Invalid 'To' Phone Number: The 'To' number {to} is not a valid phone number.")


async def messages(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = await request.post()
    if (refused := await _refusal(ctx, request, "sms")) is not None:
        return refused
    to, body, from_ = str(form.get("To", "")), str(form.get("Body", "")), str(form.get("From", ""))
    if (dead := _dead_number(ctx, "sms", to)) is not None:
        return dead
    if not body:
        ctx.state.count("sms", "bad_request")
        return _error(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        ctx.state.count("sms", "bad_request")
        return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    st = ctx.state
    seq = st.next_seq()
    sid = f"SM{seq:032x}"
    segments = segment_count(body)
    callback = str(form.get("StatusCallback", ""))
    st.add("sms", "message", to, body, sid, {"from": from_, "status_callback": callback, "segments": segments}, seq=seq)
    if callback:
        failed = st.is_undelivered(to)
        params = {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": ctx.account_sid, "From": from_, "To": to,
            "MessageStatus": "undelivered" if failed else "delivered", "ApiVersion": API_VERSION,
        }
        params["SmsStatus"] = params["MessageStatus"]
        if failed:
            params["ErrorCode"] = "30003"  # unreachable destination handset
        ctx.queue_callback(callback, params)
    return _json(201, {
        "sid": sid, "account_sid": ctx.account_sid, "to": to, "from": from_, "body": body, "status": "queued",
        "num_segments": str(segments), "direction": "outbound-api", "api_version": API_VERSION,
        "uri": f"/{API_VERSION}/Accounts/{ctx.account_sid}/Messages/{sid}.json",
    })


def parse_twiml(twiml: str) -> tuple[str, str | None, str | None]:
    """(spoken text, the first Gather's action URL, the Say language) of a TwiML document."""
    root = ET.fromstring(twiml)  # noqa: S314 - loopback input from the app under test
    said = [el.text or "" for el in root.iter("Say")]
    gather = next(root.iter("Gather"), None)
    say = next(root.iter("Say"), None)
    action = gather.get("action") if gather is not None else None
    return "\n".join(said), action, say.get("language") if say is not None else None


async def calls(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = await request.post()
    if (refused := await _refusal(ctx, request, "voice")) is not None:
        return refused
    to, from_ = str(form.get("To", "")), str(form.get("From", ""))
    if (dead := _dead_number(ctx, "voice", to)) is not None:
        return dead
    twiml = str(form.get("Twiml", ""))
    if not twiml and not form.get("Url"):
        ctx.state.count("voice", "bad_request")
        return _error(400, 21205, "Url parameter is required.")
    try:
        text, action, language = parse_twiml(twiml) if twiml else ("", None, None)
    except ET.ParseError:
        ctx.state.count("voice", "bad_request")
        return _error(400, 12100, "Document parse failure")
    st = ctx.state
    seq = st.next_seq()
    sid = f"CA{seq:032x}"
    callback = str(form.get("StatusCallback", ""))
    data = {
        "from": from_, "twiml": twiml, "url": form.get("Url"), "gather_action": action, "language": language,
        "status_callback": callback, "events": form.getall("StatusCallbackEvent", []), "timeout": form.get("Timeout"),
    }
    st.add("voice", "message", to, text, sid, data, seq=seq)
    if callback:
        answered = not st.is_undelivered(to)
        ctx.queue_callback(callback, {
            "CallSid": sid, "AccountSid": ctx.account_sid, "From": from_, "To": to, "Direction": "outbound-api",
            "CallStatus": "completed" if answered else "no-answer", "CallDuration": "20" if answered else "0",
            "ApiVersion": API_VERSION,
        })
    return _json(201, {
        "sid": sid, "account_sid": ctx.account_sid, "to": to, "from": from_, "status": "queued",
        "direction": "outbound-api", "api_version": API_VERSION,
        "uri": f"/{API_VERSION}/Accounts/{ctx.account_sid}/Calls/{sid}.json",
    })


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"/{API_VERSION}/Accounts/{{sid}}/Messages.json", messages)
    app.router.add_post(f"/{API_VERSION}/Accounts/{{sid}}/Calls.json", calls)
