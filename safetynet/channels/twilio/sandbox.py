"""What the fakes of Twilio's Messages API (SMS) and Calls API (voice) share: the account's
credentials and Basic auth, fault answers in Twilio's error shape, and requests signed with
X-Twilio-Signature the way Twilio signs its webhooks."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from safetynet.channels.fakes import ActResult, ChannelFake, Fault
from safetynet.channels.twilio import ACCOUNT_SID, API_VERSION, AUTH_TOKEN

E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def json_answer(status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json", headers=headers)


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    doc = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return json_answer(status, doc, headers)


def parse_twiml(twiml: str) -> tuple[str, str | None, str | None]:
    """(spoken text, the first Gather's action URL, the Say language) of a TwiML document."""
    root = ET.fromstring(twiml)  # noqa: S314 - loopback input from the app under test
    said = [el.text or "" for el in root.iter("Say")]
    gather = next(root.iter("Gather"), None)
    say = next(root.iter("Say"), None)
    action = gather.get("action") if gather is not None else None
    return "\n".join(said), action, say.get("language") if say is not None else None


class TwilioFake(ChannelFake):
    """A Twilio account's API on the sandbox; SMS and voice each add their resource."""

    @property
    def account_sid(self) -> str:
        return self.host.secret(ACCOUNT_SID.key)

    @property
    def auth_token(self) -> str:
        return self.host.secret(AUTH_TOKEN.key)

    def _auth_ok(self, request: web.Request) -> bool:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token)
        return request.match_info["sid"] == self.account_sid and request.headers.get("Authorization") == expected

    async def refusal(self, request: web.Request) -> web.Response | None:
        """401, or an injected fault (5xx, 429 with Retry-After), or None to go on."""
        if not self._auth_ok(request):
            self.host.state.count(self.name, "unauthorized")
            return error(401, 20003, "Authenticate")
        gated = await self.host.state.gate(self.name)
        if gated is None:
            return None
        fault, retry_after = gated
        if fault is Fault.SERVER_ERROR:
            return error(500, 20500, "Internal Server Error")
        ra = self.host.state.retry_after_header() if fault is Fault.INJECTED_429 else str(int(retry_after))
        return error(429, 20429, "Too Many Requests", {"Retry-After": ra})

    def dead_number(self, to: str) -> web.Response | None:
        if E164.match(to) and not self.host.state.is_dead(to):
            return None
        self.host.state.count(self.name, "dead")
        return error(400, 21211, f"Invalid 'To' Phone Number: The 'To' number {to} is not a valid phone number.")

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    async def post_signed(self, url: str, params: dict[str, str]) -> ActResult:
        """A form POST signed with X-Twilio-Signature, as Twilio sends webhooks."""
        return await self.host.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)})

    def callback(self, url: str, params: dict[str, str]) -> None:
        """A status callback, signed, sent soon by the sandbox's callback workers."""
        self.host.queue_post(url, params, {"X-Twilio-Signature": self.sign(url, params)})

    def uri(self, resource: str, sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{resource}/{sid}.json"
