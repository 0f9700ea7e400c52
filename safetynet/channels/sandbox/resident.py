"""The sandbox acting as a resident: it answers the way each provider would deliver the answer.

Each act posts to the app what the real provider would post: a signed inbound SMS, a Telegram
update with the webhook secret header, a signed voice keypad callback, or a push notification's
action (the service worker's POST of the reply form).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from safetynet.channels.sandbox.context import SandboxContext
from safetynet.channels.sandbox.twilio_api import API_VERSION, parse_twiml
from safetynet.channels.telegram import SECRET_HEADER, callback_data, webhook_secret, webhook_url


@dataclass(frozen=True)
class ActResult:
    status: int
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}


async def sms(ctx: SandboxContext, from_: str, body: str, to: str | None = None) -> ActResult:
    url = f"{ctx.need_app_url()}/hooks/twilio/sms"
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": ctx.account_sid,
        "From": from_, "To": to or ctx.sms_from, "Body": body, "NumMedia": "0", "NumSegments": "1",
        "SmsStatus": "received", "ApiVersion": API_VERSION,
    }
    status, text = await ctx.post_signed(url, params)
    return ActResult(status, text)


def _telegram_target(ctx: SandboxContext) -> tuple[str, str | None]:
    if ctx.telegram_webhook is not None:
        return ctx.telegram_webhook
    secret = webhook_secret(ctx.secret_key) if ctx.secret_key else None
    return webhook_url(ctx.need_app_url()), secret


async def _post_update(ctx: SandboxContext, update: dict[str, Any]) -> ActResult:
    url, secret = _telegram_target(ctx)
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = secret
    assert ctx.session is not None
    async with ctx.session.post(url, data=json.dumps(update), headers=headers) as resp:
        return ActResult(resp.status, await resp.text())


def _resident(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Resident", "language_code": "ja"}


async def telegram_press(ctx: SandboxContext, chat_id: int, answer: str) -> ActResult:
    """Presses the button for `answer` on the latest message sent to `chat_id`."""
    rec = ctx.state.find("telegram", str(chat_id))
    if rec is None:
        raise LookupError(f"no Telegram message was sent to chat {chat_id}")
    edits = rec.data.get("edits") or []
    markup = edits[-1]["reply_markup"] if edits else rec.data.get("reply_markup")
    buttons = [b for row in (markup or {}).get("inline_keyboard", []) for b in row]
    data = next((b["callback_data"] for b in buttons if str(b.get("callback_data", "")).startswith(f"{answer}:")), None)
    if data is None:
        raise LookupError(f"the message to chat {chat_id} has no {answer!r} button")
    current_text = edits[-1]["text"] if edits else rec.text
    update = {
        "update_id": ctx.state.next_seq(),
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
    }
    return await _post_update(ctx, update)


async def telegram_forged_press(ctx: SandboxContext, chat_id: int, answer: str, reply_token: str) -> ActResult:
    """A button press for any token (for tests of what the app accepts), with no prior message."""
    update = {
        "update_id": ctx.state.next_seq(),
        "callback_query": {
            "id": secrets.token_hex(8), "from": _resident(chat_id), "chat_instance": str(chat_id),
            "data": callback_data(answer, reply_token),
        },
    }
    return await _post_update(ctx, update)


async def telegram_start(ctx: SandboxContext, chat_id: int, code: str) -> ActResult:
    update = {
        "update_id": ctx.state.next_seq(),
        "message": {
            "message_id": ctx.state.next_seq(), "date": int(time.time()), "from": _resident(chat_id),
            "chat": {"id": chat_id, "type": "private"}, "text": f"/start {code}",
        },
    }
    return await _post_update(ctx, update)


async def voice_press(ctx: SandboxContext, to: str, digits: str) -> ActResult:
    """Presses `digits` ("" = no input) on the latest call to `to`, following the app's TwiML."""
    rec = ctx.state.find("voice", to)
    if rec is None:
        raise LookupError(f"no call was made to {to}")
    action = rec.data.get("gather_action")
    if not action:
        raise LookupError("the call is not waiting for keypad input")
    params = {
        "CallSid": rec.provider_id, "AccountSid": ctx.account_sid, "From": rec.data.get("from", ""), "To": to,
        "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": API_VERSION,
        "Digits": digits, "FinishedOnKey": "",
    }
    status, body = await ctx.post_signed(action, params)
    # The answer is TwiML: the next Gather (a second ask) or a goodbye; follow it like Twilio would.
    try:
        said, next_action, _ = parse_twiml(body)
    except Exception:  # not TwiML (an error page): the call is over
        said, next_action = "", None
    rec.data["gather_action"] = next_action
    rec.data.setdefault("heard", []).append(said)
    return ActResult(status, body)


async def push_action(ctx: SandboxContext, sub_id: str, action: str) -> ActResult:
    """The notification's action button: the service worker posts the answer to the reply URL."""
    rec = ctx.state.find("webpush", sub_id)
    payload = rec.data.get("payload") if rec is not None else None
    if not isinstance(payload, dict) or "url" not in payload:
        raise LookupError("no decrypted push was received for this subscription (verify_push off?)")
    assert ctx.session is not None
    async with ctx.session.post(payload["url"], data={"status": action}) as resp:
        return ActResult(resp.status, await resp.text())
