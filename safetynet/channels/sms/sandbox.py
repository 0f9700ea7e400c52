"""Twilio's Messages API (2010-04-01) on the sandbox, with status callbacks, and a resident's SMS
answer posted to the app as Twilio would (signed)."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from safetynet.channels.fakes import Act, ActResult, Handler
from safetynet.channels.sms.segments import MAX_BODY_CHARS, segment_count
from safetynet.channels.sms.webhook import SMS_PATH
from safetynet.channels.twilio import API_VERSION
from safetynet.channels.twilio.sandbox import TwilioFake, error, json_answer


class SmsFake(TwilioFake):
    name = "sms"

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", f"/{API_VERSION}/Accounts/{{sid}}/Messages.json", self.messages)]

    def acts(self) -> dict[str, Act]:
        return {"sms": self._act}

    async def messages(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (refused := await self.refusal(request)) is not None:
            return refused
        to, body, from_ = str(form.get("To", "")), str(form.get("Body", "")), str(form.get("From", ""))
        if (dead := self.dead_number(to)) is not None:
            return dead
        st = self.host.state
        if not body:
            st.count(self.name, "bad_request")
            return error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            st.count(self.name, "bad_request")
            return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        seq = st.next_seq()
        sid = f"SM{seq:032x}"
        segments = segment_count(body)
        callback = str(form.get("StatusCallback", ""))
        st.add(self.name, "message", to, body, sid, {"from": from_, "status_callback": callback, "segments": segments},
               seq=seq)
        if callback:
            failed = st.is_undelivered(to)
            params = {
                "MessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid, "From": from_, "To": to,
                "MessageStatus": "undelivered" if failed else "delivered", "ApiVersion": API_VERSION,
            }
            params["SmsStatus"] = params["MessageStatus"]
            if failed:
                params["ErrorCode"] = "30003"  # unreachable destination handset
            self.callback(callback, params)
        return json_answer(201, {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": from_, "body": body, "status": "queued",
            "num_segments": str(segments), "direction": "outbound-api", "api_version": API_VERSION,
            "uri": self.uri("Messages", sid),
        })

    async def reply(self, from_: str, body: str, to: str | None = None, sid: str | None = None) -> ActResult:
        """A resident's SMS to the app's number (an answer by keyword); `sid` of an earlier one
        sends it again as the provider's retry does."""
        url = f"{self.host.need_app_url()}{SMS_PATH}"
        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
            "From": from_, "To": to or self.host.settings(self.name).from_number, "Body": body, "NumMedia": "0",
            "NumSegments": "1", "SmsStatus": "received", "ApiVersion": API_VERSION,
        }
        return await self.post_signed(url, params)

    async def _act(self, d: dict[str, Any]) -> ActResult:
        return await self.reply(str(d["from"]), str(d["body"]), d.get("to"))
