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

from safetynet.lab.sim.sides import resident_of
from safetynet.replies.tokens import TOKEN_LENGTH

_REPLY_LINK = re.compile(rf"/r/([A-Za-z0-9_-]{{{TOKEN_LENGTH}}})(?![A-Za-z0-9_-])")


@dataclass(frozen=True, slots=True)
class ResidentMessage:
    """One campaign message as the resident's phone holds it, with what is needed to answer it."""

    seq: int
    channel: str
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
        """A stable number for the token (a channel's wording and ids are drawn with it)."""
        return key_of(self.token)


def key_of(identity: str) -> int:
    """A stable number for a household's identity (the model's dice are seeded with it)."""
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "big")


def token_in_text(text: str | None) -> str | None:
    m = _REPLY_LINK.search(text or "")
    return m.group(1) if m else None


def parse_record(
    seq: int, channel: str, kind: str, address: str, text: str | None, provider_id: str, t: float,
    data: Mapping[str, Any],
) -> ResidentMessage | None:
    """The resident's view of one sandbox record, or None when it is nothing to answer."""
    side = resident_of(channel)
    if kind != "message" or side is None:
        return None
    token, extras = side.read(text, data)
    if not token:
        return None
    # Only some answers quote their message's text (Telegram's); a city's worth of texts is not kept otherwise.
    kept = (text or "") if side.keeps_text else ""
    return ResidentMessage(seq=seq, channel=channel, token=token, address=address, provider_id=provider_id,
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
