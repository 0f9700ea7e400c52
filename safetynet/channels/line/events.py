"""LINE webhook bodies, the signature and the postback data (pure: no SDK, no network).

The signature is checked here with `hmac` over the raw bytes rather than with the SDK's
`WebhookParser`: the SDK's webhook module costs ~0.8 s at import and wants a `str` body, and the
events SafetyNet takes are four small shapes parsed below.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from safetynet.auth import same_secret
from safetynet.channels import labels

SIGNATURE_HEADER = "X-Line-Signature"
WEBHOOK_PATH = "/hooks/line"
# LINE refuses postback data over 300 characters; ours is about 20.
MAX_POSTBACK_CHARS = 300
_PREFIX = "sn1"


def signature(channel_secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(channel secret, raw body)): what LINE puts in X-Line-Signature."""
    mac = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify_signature(channel_secret: str, body: bytes, header_value: str | None) -> bool:
    if not channel_secret or not header_value:
        return False
    return same_secret(header_value.strip(), signature(channel_secret, body))


def postback_data(campaign_id: int, answer: str) -> str:
    """A button's data: the campaign and the answer (the household is the event's user id)."""
    if answer not in labels.ANSWERS:
        raise ValueError("answer must be safe or need_help")
    return f"{_PREFIX}:c{int(campaign_id)}:{answer}"


def parse_postback_data(data: str) -> tuple[int, str] | None:
    """(campaign id, answer) from a button's data, or None when it is not ours."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1].startswith("c") or parts[2] not in labels.ANSWERS:
        return None
    digits = parts[1][1:]
    if not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits), parts[2]


def webhook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}{WEBHOOK_PATH}"


@dataclass(frozen=True, slots=True)
class LineEvent:
    """One webhook event SafetyNet acts on. `kind`: postback | follow | unfollow | text."""

    kind: str
    event_id: str  # webhookEventId: the same on every redelivery of the event
    user_id: str
    reply_token: str = ""
    data: str = ""  # postback data
    text: str = ""  # a text message's text
    redelivery: bool = False
    sent_at: float | None = None  # the event's `timestamp` (ms), in seconds: when the resident sent it


class MalformedBody(ValueError):
    """Not a LINE webhook body."""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_events(doc: Any) -> list[LineEvent]:
    """The events we act on, in order, from the webhook's JSON document (read by the app's one JSON
    reader, which refuses what `json.loads` alone cannot hold: nesting past the recursion limit
    was a 500); other events (stickers, group joins, unknown types) are left out."""
    if doc is None:  # an empty body
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("events", []), list):
        raise MalformedBody("body has no events list")
    out: list[LineEvent] = []
    for ev in doc.get("events", []):
        if not isinstance(ev, dict):
            continue
        source = _dict(ev.get("source"))
        # Only one-to-one chats: a group's answer cannot name a household.
        user_id, event_id = _str(source.get("userId")), _str(ev.get("webhookEventId"))
        if source.get("type") != "user" or not user_id or not event_id:
            continue
        reply_token = _str(ev.get("replyToken"))
        redelivery = _dict(ev.get("deliveryContext")).get("isRedelivery") is True
        stamp = ev.get("timestamp")
        sent_at = stamp / 1000.0 if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0 else None
        kind = ev.get("type")
        if kind == "postback":
            data = _str(_dict(ev.get("postback")).get("data"))
            if data and len(data) <= MAX_POSTBACK_CHARS:
                out.append(LineEvent("postback", event_id, user_id, reply_token, data=data, redelivery=redelivery,
                                     sent_at=sent_at))
        elif kind in ("follow", "unfollow"):
            out.append(LineEvent(str(kind), event_id, user_id, reply_token, redelivery=redelivery))
        elif kind == "message" and _dict(ev.get("message")).get("type") == "text":
            text = _str(_dict(ev.get("message")).get("text"))
            out.append(LineEvent("text", event_id, user_id, reply_token, text=text, redelivery=redelivery,
                                 sent_at=sent_at))
    return out
