"""What a simulated resident reads in a message the sandbox received (pure).

Every campaign message carries the household's reply token: in the reply link of the text, in the
web-push payload, in the Telegram buttons' callback data, and in the voice call's keypad action URL.
The token is the same on every channel of a household in a campaign, so it is what identifies the
household to the simulation. Messages without one (enrolment notices, staff alerts, door-knock
links) are not for residents to answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from safetynet.domain import Channel
from safetynet.replies.tokens import TOKEN_LENGTH

_REPLY_LINK = re.compile(rf"/r/([A-Za-z0-9_-]{{{TOKEN_LENGTH}}})(?![A-Za-z0-9_-])")
_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class ResidentMessage:
    """One campaign message as the resident's phone holds it, with what is needed to answer it."""

    seq: int
    channel: Channel
    token: str
    address: str  # phone number, Telegram chat id, or push subscription id
    provider_id: str  # Twilio SID, "chat:message_id", push message id
    received_at: float
    reply_url: str = ""  # web push: where the service worker posts the answer
    sender: str = ""  # SMS/voice: the number the message came from
    gather_action: str = ""  # voice: the keypad answer's URL
    text: str = ""  # Telegram only (the callback quotes the message it answers)

    @property
    def household_key(self) -> int:
        """A stable number for the household behind the token (the model's dice are seeded with it)."""
        return int.from_bytes(hashlib.blake2b(self.token.encode(), digest_size=8).digest(), "big")


def token_in_text(text: str | None) -> str | None:
    m = _REPLY_LINK.search(text or "")
    return m.group(1) if m else None


def _telegram_token(data: Mapping[str, Any]) -> str | None:
    markup = data.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    for row in rows:
        for button in row:
            _, sep, token = str(button.get("callback_data", "")).partition(":")
            if sep and len(token) == TOKEN_LENGTH:
                return token
    return None


def _voice_token(action: str) -> str | None:
    values = parse_qs(urlsplit(action).query).get("t")
    return values[0] if values and len(values[0]) == TOKEN_LENGTH else None


def _token_and_extras(ch: Channel, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The reply token a message carries, and what its channel needs to answer it."""
    if ch == Channel.WEBPUSH:
        payload = data.get("payload")
        if not isinstance(payload, dict):
            return None, {}  # not decrypted (the sandbox runs with verify_push off): nothing a phone could show
        url = str(payload.get("url", ""))
        token = payload.get("token") or token_in_text(url)
        return (str(token), {"reply_url": url}) if token and url else (None, {})
    if ch == Channel.TELEGRAM:
        return _telegram_token(data) or token_in_text(text), {}
    sender = str(data.get("from", ""))
    if ch == Channel.SMS:
        return token_in_text(text), {"sender": sender}
    action = str(data.get("gather_action") or "")
    return (_voice_token(action) if action else None), {"sender": sender, "gather_action": action}


def parse_record(
    seq: int, channel: str, kind: str, address: str, text: str | None, provider_id: str, t: float,
    data: Mapping[str, Any],
) -> ResidentMessage | None:
    """The resident's view of one sandbox record, or None when it is nothing to answer."""
    ch = _CHANNELS.get(channel)
    if kind != "message" or ch is None:
        return None
    token, extras = _token_and_extras(ch, text, data)
    if not token:
        return None
    # Only a Telegram answer quotes its message's text; a city's worth of texts is not kept otherwise.
    kept = (text or "") if ch == Channel.TELEGRAM else ""
    return ResidentMessage(seq=seq, channel=ch, token=token, address=address, provider_id=provider_id,
                           received_at=t, text=kept, **extras)


def from_record(rec: Any) -> ResidentMessage | None:
    """From an in-process sandbox `Record`."""
    return parse_record(rec.seq, rec.channel, rec.kind, rec.address, rec.text, rec.provider_id, rec.t, rec.data)


def from_json(doc: Mapping[str, Any]) -> ResidentMessage | None:
    """From one item of the sandbox's `GET /_sandbox/messages`."""
    try:
        return parse_record(int(doc["seq"]), str(doc["channel"]), str(doc.get("kind", "message")),
                            str(doc.get("address", "")), doc.get("text"), str(doc.get("provider_id", "")),
                            float(doc.get("t", 0.0)), doc.get("data") or {})
    except (KeyError, TypeError, ValueError):
        return None
