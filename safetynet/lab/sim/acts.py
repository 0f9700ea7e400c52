"""A simulated resident's answer, sent the way it reaches the app from a real phone.

Each channel's resident side (`channels/<name>/resident.py`, named by its spec) builds the request
its provider sends: a web-push action (the service worker's POST), a Telegram callback query with
the webhook secret header, an SMS signed with X-Twilio-Signature, a keypad digit to the call's
Gather action… The credentials are what the providers hold; for the sandbox they come from the same
config as the app. Every retry resends the same request, so a retried answer is never counted twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.config import Config
from safetynet.domain import Status
from safetynet.lab.sim.http import HttpError, LeanHttp
from safetynet.lab.sim.messages import ResidentMessage
from safetynet.lab.sim.sides import resident_of

MAX_ATTEMPTS = 5
# A 429 asking for longer than this is not worth waiting for in a simulation: it counts as failed.
MAX_RETRY_AFTER_SECONDS = 30.0


def credentials(cfg: Config) -> ResidentKeys:
    return ResidentKeys(cfg.server.public_url.rstrip("/"), dict(cfg.secrets.values), cfg.secrets.secret_key)


# Kept under its old name: what the sim's callers pass around.
Credentials = ResidentKeys


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


def resident(channel: str) -> SimulatedResident:
    side = resident_of(channel)
    if side is None:
        raise LookupError(f"channel {channel!r} has no simulated resident")
    return side


class Actor:
    """Sends answers over one HTTP session; safe to share between many concurrent tasks."""

    def __init__(self, http: LeanHttp, creds: Credentials, max_attempts: int = MAX_ATTEMPTS,
                 backoff_seconds: float = 0.2) -> None:
        self.http = http
        self.creds = creds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    def build(self, a: Answer) -> ResidentRequest:
        """The request the provider (or the service worker) sends for this answer."""
        return resident(a.message.channel).answer(a.message, str(a.status), a.location, self.creds)

    async def answer(self, a: Answer) -> ActOutcome:
        """Sends the answer, retrying connection errors, 5xx and 429 with the very same request."""
        req = self.build(a)
        status, latency, detail = 0, 0.0, ""
        for attempt in range(1, self.max_attempts + 1):
            wait = self.backoff_seconds * attempt
            t0 = time.perf_counter()
            try:
                # each provider (and the residents' browsers, for web push) on its own connections: a
                # connection of webhooks and reply pages mixed is one no real city has
                resp = await self.http.post(req.url, req.body, req.headers, pool=a.message.channel)
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
            resp = await self.http.post(m.reply_url.rstrip("/") + "/seen", b"", {}, pool=m.channel)
        except (HttpError, TimeoutError):
            return False
        return resp.status < 300
