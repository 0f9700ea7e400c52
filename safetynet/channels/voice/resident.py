"""A simulated resident answering a call: the keypad digit, posted by Twilio to the call's Gather action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.sms.resident import signed
from safetynet.channels.twilio import ACCOUNT_SID, API_VERSION

DIGITS = {"safe": "1", "need_help": "2"}
TOKEN_LENGTH = 22


def _token(action: str) -> str | None:
    values = parse_qs(urlsplit(action).query).get("t")
    return values[0] if values and len(values[0]) == TOKEN_LENGTH else None


class VoiceResident(SimulatedResident):
    channel = "voice"

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        action = str(data.get("gather_action") or "")
        return (_token(action) if action else None), {"sender": str(data.get("from", "")), "gather_action": action}

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        return signed(message.gather_action, {
            "CallSid": message.provider_id, "AccountSid": keys.secrets.get(ACCOUNT_SID.key, ""),
            "From": message.sender, "To": message.address, "CallStatus": "in-progress",
            "Direction": "outbound-api", "ApiVersion": API_VERSION, "Digits": DIGITS[status], "FinishedOnKey": ""},
            keys)
