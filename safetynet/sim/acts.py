"""A simulated resident's answer, sent the way it reaches the app from a real phone.

- web push: the notification's action button; the service worker POSTs `{"status", "key"}` to
  `/r/{token}/answer` and retries with the same key (the server counts it once);
- Telegram: a button press, delivered by Telegram as a callback query with the webhook secret header;
- SMS: an inbound message from the resident's number, signed with X-Twilio-Signature;
- voice: the keypad digit, posted by Twilio to the call's Gather action, signed.

The credentials are what the providers hold (the Twilio auth token, the Telegram webhook secret);
for the sandbox they come from the same config as the app. Every retry resends the same request
(same key, MessageSid, callback query id or CallSid), so a retried answer is never counted twice.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from safetynet.channels.telegram import SECRET_HEADER, callback_data, webhook_secret, webhook_url
from safetynet.config import Config
from safetynet.domain import Channel, Status
from safetynet.sim.http import HttpError, LeanHttp
from safetynet.sim.messages import ResidentMessage

TWILIO_API_VERSION = "2010-04-01"
# Words residents really type; the keyword parser must take every one of them.
SMS_WORDS = {Status.SAFE: ("1", "無事", "ぶじ", "１", "ok", "無事です"),
             Status.NEED_HELP: ("2", "助けて", "たすけて", "２", "help")}
DIGITS = {Status.SAFE: "1", Status.NEED_HELP: "2"}
MAX_ATTEMPTS = 5
# A 429 asking for longer than this is not worth waiting for in a simulation: it counts as failed.
MAX_RETRY_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class Credentials:
    public_url: str
    twilio_account_sid: str
    twilio_auth_token: str
    telegram_secret: str

    @classmethod
    def from_config(cls, cfg: Config) -> Credentials:
        s = cfg.secrets
        return cls(cfg.server.public_url.rstrip("/"), s.twilio_account_sid, s.twilio_auth_token,
                   webhook_secret(s.secret_key) if s.secret_key else "")


@dataclass(frozen=True, slots=True)
class Answer:
    message: ResidentMessage
    status: Status
    location: str | None = None


@dataclass(frozen=True, slots=True)
class ActOutcome:
    accepted: bool
    http_status: int  # 0: no HTTP answer (connection error, timeout)
    attempts: int
    latency_seconds: float  # of the last attempt
    detail: str = ""


@dataclass(frozen=True)
class _Request:
    url: str
    body: bytes
    headers: dict[str, str]


def _json(url: str, doc: Any, headers: dict[str, str] | None = None) -> _Request:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return _Request(url, body, {"Content-Type": "application/json", **(headers or {})})


def sms_body(status: Status, household_key: int) -> str:
    words = SMS_WORDS[status]
    return words[household_key % len(words)]


def _update_id(message: ResidentMessage) -> int:
    return (message.household_key % 1_000_000_000) * 16 + message.seq % 16


class Actor:
    """Sends answers over one HTTP session; safe to share between many concurrent tasks."""

    def __init__(self, http: LeanHttp, creds: Credentials, max_attempts: int = MAX_ATTEMPTS,
                 backoff_seconds: float = 0.2) -> None:
        self.http = http
        self.creds = creds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    def _signed(self, url: str, params: dict[str, str]) -> _Request:
        signature = RequestValidator(self.creds.twilio_auth_token).compute_signature(url, params)
        return _Request(url, urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": str(signature)})

    def build(self, a: Answer) -> _Request:
        """The request the provider (or the service worker) sends for this answer."""
        m = a.message
        if m.channel == Channel.WEBPUSH:
            body: dict[str, Any] = {"status": str(a.status), "key": "sim" + secrets.token_urlsafe(12)}
            if a.location:
                body["location"] = a.location
            return _json(m.reply_url.rstrip("/") + "/answer", body)
        if m.channel == Channel.TELEGRAM:
            chat_id = int(m.address)
            _, _, message_id = m.provider_id.partition(":")
            update = {"update_id": _update_id(m), "callback_query": {
                "id": secrets.token_hex(8),
                "from": {"id": chat_id, "is_bot": False, "first_name": "Resident", "language_code": "ja"},
                "message": {"message_id": int(message_id or 0), "date": int(m.received_at),
                            "chat": {"id": chat_id, "type": "private"}, "text": m.text},
                "chat_instance": str(chat_id), "data": callback_data(str(a.status), m.token)}}
            return _json(webhook_url(self.creds.public_url), update, {SECRET_HEADER: self.creds.telegram_secret})
        if m.channel == Channel.SMS:
            sid = "SM" + secrets.token_hex(16)
            return self._signed(f"{self.creds.public_url}/hooks/twilio/sms", {
                "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": self.creds.twilio_account_sid,
                "From": m.address, "To": m.sender, "Body": sms_body(a.status, m.household_key), "NumMedia": "0",
                "NumSegments": "1", "SmsStatus": "received", "ApiVersion": TWILIO_API_VERSION})
        return self._signed(m.gather_action, {
            "CallSid": m.provider_id, "AccountSid": self.creds.twilio_account_sid, "From": m.sender, "To": m.address,
            "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": TWILIO_API_VERSION,
            "Digits": DIGITS[a.status], "FinishedOnKey": ""})

    async def answer(self, a: Answer) -> ActOutcome:
        """Sends the answer, retrying connection errors, 5xx and 429 with the very same request."""
        req = self.build(a)
        status, latency, detail = 0, 0.0, ""
        for attempt in range(1, self.max_attempts + 1):
            wait = self.backoff_seconds * attempt
            t0 = time.perf_counter()
            try:
                resp = await self.http.post(req.url, req.body, req.headers)
            except (HttpError, TimeoutError) as e:
                status, latency, detail = 0, time.perf_counter() - t0, type(e).__name__
            else:
                status, latency = resp.status, time.perf_counter() - t0
                if status < 300:
                    return ActOutcome(True, status, attempt, latency)
                detail = f"http_{status}"
                if status == 429:
                    wait = float(resp.headers.get("retry-after", "1") or 1)
                elif status < 500:
                    return ActOutcome(False, status, attempt, latency, detail)
            if attempt == self.max_attempts or wait > MAX_RETRY_AFTER_SECONDS:
                break
            await asyncio.sleep(wait)
        return ActOutcome(False, status, self.max_attempts, latency, detail)

    async def seen(self, m: ResidentMessage) -> bool:
        """The service worker showed the notification (`read`); best effort, like the real one."""
        try:
            resp = await self.http.post(m.reply_url.rstrip("/") + "/seen", b"", {})
        except (HttpError, TimeoutError):
            return False
        return resp.status < 300
