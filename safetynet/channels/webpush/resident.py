"""A simulated resident tapping a notification's action: the service worker POSTs `{"status", "key"}`
to `/r/{token}/answer` and retries with the same key (the server counts it once)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.sms.resident import token_in_text


class PushResident(SimulatedResident):
    channel = "webpush"
    reports_seen = True

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        payload = data.get("payload")
        if not isinstance(payload, dict):
            return None, {}  # not decrypted (the sandbox runs with verify_push off): nothing a phone could show
        url = str(payload.get("url", ""))
        token = payload.get("token") or token_in_text(url)
        return (str(token), {"reply_url": url}) if token and url else (None, {})

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        body: dict[str, Any] = {"status": status, "key": "sim" + secrets.token_urlsafe(12), "via": self.channel}
        if location:
            body["location"] = location
        return ResidentRequest(message.reply_url.rstrip("/") + "/answer",
                               json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                               {"Content-Type": "application/json"})
