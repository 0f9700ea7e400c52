"""A simulated resident pressing an answer button: a postback event delivered by LINE to the app's
webhook, signed with the channel secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.line import CHANNEL_SECRET
from safetynet.channels.line.events import (
    SIGNATURE_HEADER,
    parse_postback_data,
    postback_data,
    signature,
    webhook_url,
)
from safetynet.channels.line.sandbox import event


def campaign_of(data: Mapping[str, Any]) -> int | None:
    """The campaign a recorded message's buttons answer, or None (a staff alert, a reply)."""
    for p in data.get("postbacks") or ():
        parsed = parse_postback_data(str(p.get("data", "")))
        if parsed is not None:
            return parsed[0]
    return None


class LineResident(SimulatedResident):
    channel = "line"

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        # A multicast carries no reply token (one text for every household): the answer names the
        # campaign and LINE adds the user id, so these two identify the household to a simulation.
        campaign, user = campaign_of(data), str(data.get("to", ""))
        return (f"line:{campaign}:{user}" if campaign is not None and user else None), {}

    def campaign_of_stand_in(self, token: str) -> int | None:
        prefix, _, rest = token.partition(":")
        campaign = rest.partition(":")[0]
        return int(campaign) if prefix == "line" and campaign.isdigit() else None

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        campaign = self.campaign_of_stand_in(str(message.token))
        if campaign is None:
            raise ValueError("a LINE answer needs the stand-in token its message was read with")
        # The same event id on every retry of this answer: LINE's redelivery is counted once.
        event_id = "01" + hashlib.sha256(f"{message.address}:{campaign}:{status}".encode()).hexdigest()[:24].upper()
        ev = event(message.address, "postback", event_id, postback={"data": postback_data(campaign, status)})
        body = json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, separators=(",", ":")).encode()
        sig = signature(keys.secrets.get(CHANNEL_SECRET.key, ""), body)
        return ResidentRequest(webhook_url(keys.public_url), body,
                               {"Content-Type": "application/json", SIGNATURE_HEADER: sig})
