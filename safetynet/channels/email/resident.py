"""A simulated resident answering a mail: the phone's browser opens the reply link and posts the
page's plain form (no script, no cookie), as a feature phone does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.sms.resident import token_in_text

_LINK = re.compile(r"https?://\S+/r/[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")


def reply_url_in(text: str | None) -> str | None:
    m = _LINK.search(text or "")
    return m.group(0) if m else None


class EmailResident(SimulatedResident):
    channel = "email"

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        url = reply_url_in(text)
        token = token_in_text(url)
        return (token, {"reply_url": url}) if token and url else (None, {})

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        form = {"status": status, "via": self.channel}
        if location:
            form["location"] = location
        return ResidentRequest(message.reply_url, urlencode(form).encode(),
                               {"Content-Type": "application/x-www-form-urlencoded"})
