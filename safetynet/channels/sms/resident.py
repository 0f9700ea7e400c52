"""A simulated resident answering by SMS: an inbound message from their number, signed by Twilio."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.sms.webhook import SMS_PATH
from safetynet.channels.twilio import ACCOUNT_SID, API_VERSION, AUTH_TOKEN

# Words residents really type; the keyword parser must take every one of them.
WORDS = {"safe": ("1", "無事", "ぶじ", "１", "ok", "無事です"), "need_help": ("2", "助けて", "たすけて", "２", "help")}
_REPLY_LINK = re.compile(r"/r/([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])")


def token_in_text(text: str | None) -> str | None:
    m = _REPLY_LINK.search(text or "")
    return m.group(1) if m else None


def body_for(status: str, household_key: int) -> str:
    words = WORDS[status]
    return words[household_key % len(words)]


def signed(url: str, params: dict[str, str], keys: ResidentKeys) -> ResidentRequest:
    signature = RequestValidator(keys.secrets.get(AUTH_TOKEN.key, "")).compute_signature(url, params)
    return ResidentRequest(url, urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": str(signature)})


class SmsResident(SimulatedResident):
    channel = "sms"

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        return token_in_text(text), {"sender": str(data.get("from", ""))}

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        sid = "SM" + secrets.token_hex(16)
        return signed(f"{keys.public_url}{SMS_PATH}", {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": keys.secrets.get(ACCOUNT_SID.key, ""),
            "From": message.address, "To": message.sender, "Body": body_for(status, message.household_key),
            "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": API_VERSION}, keys)
