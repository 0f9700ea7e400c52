"""Twilio's Calls API (2010-04-01) on the sandbox, with call status callbacks, and a resident
pressing keys on the latest call (following the app's TwiML as Twilio would)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from aiohttp import web

from safetynet.channels.fakes import Act, ActResult, Handler
from safetynet.channels.twilio import API_VERSION
from safetynet.channels.twilio.sandbox import TwilioFake, error, json_answer, parse_twiml


class VoiceFake(TwilioFake):
    name = "voice"

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", f"/{API_VERSION}/Accounts/{{sid}}/Calls.json", self.calls)]

    def acts(self) -> dict[str, Act]:
        return {"voice": self._act}

    async def calls(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (refused := await self.refusal(request)) is not None:
            return refused
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        if (dead := self.dead_number(to)) is not None:
            return dead
        st = self.host.state
        twiml = str(form.get("Twiml", ""))
        if not twiml and not form.get("Url"):
            st.count(self.name, "bad_request")
            return error(400, 21205, "Url parameter is required.")
        try:
            text, action, language = parse_twiml(twiml) if twiml else ("", None, None)
        except ET.ParseError:
            st.count(self.name, "bad_request")
            return error(400, 12100, "Document parse failure")
        seq = st.next_seq()
        sid = f"CA{seq:032x}"
        callback = str(form.get("StatusCallback", ""))
        data = {
            "from": from_, "twiml": twiml, "url": form.get("Url"), "gather_action": action, "language": language,
            "status_callback": callback, "events": form.getall("StatusCallbackEvent", []),
            "timeout": form.get("Timeout"),
        }
        st.add(self.name, "message", to, text, sid, data, seq=seq)
        if callback:
            answered = not st.is_undelivered(to)
            self.callback(callback, {
                "CallSid": sid, "AccountSid": self.account_sid, "From": from_, "To": to, "Direction": "outbound-api",
                "CallStatus": "completed" if answered else "no-answer", "CallDuration": "20" if answered else "0",
                "ApiVersion": API_VERSION,
            })
        return json_answer(201, {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": from_, "status": "queued",
            "direction": "outbound-api", "api_version": API_VERSION, "uri": self.uri("Calls", sid),
        })

    async def press(self, to: str, digits: str, words: str = "") -> ActResult:
        """Presses `digits` ("" = no input), or says `words` (as Twilio's speech recognition heard them),
        on the latest call to `to`, following the app's TwiML."""
        rec = self.host.state.find(self.name, to)
        if rec is None:
            raise LookupError(f"no call was made to {to}")
        action = rec.data.get("gather_action")
        if not action:
            raise LookupError("the call is not waiting for keypad input")
        params = {
            "CallSid": rec.provider_id, "AccountSid": self.account_sid, "From": rec.data.get("from", ""), "To": to,
            "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": API_VERSION,
            "Digits": digits, "FinishedOnKey": "",
        }
        if words:  # what Twilio posts for speech: no Digits, the words and its confidence
            params = {**{k: v for k, v in params.items() if k not in ("Digits", "FinishedOnKey")},
                      "SpeechResult": words, "Confidence": "0.9"}
        result = await self.post_signed(action, params)
        # The answer is TwiML: the next Gather (a second ask) or a goodbye; follow it like Twilio would.
        try:
            said, next_action, _ = parse_twiml(result.body)
        except Exception:  # not TwiML (an error page): the call is over
            said, next_action = "", None
        rec.data["gather_action"] = next_action
        rec.data.setdefault("heard", []).append(said)
        return result

    async def _act(self, d: dict[str, Any]) -> ActResult:
        return await self.press(str(d["to"]), str(d.get("digits", "")), str(d.get("words", "")))
