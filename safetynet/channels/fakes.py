"""What a channel's provider fake (`channels/<name>/sandbox.py`) gets from the sandbox server.

The sandbox server (`safetynet/sandbox/`) owns the generic part: fault settings, the record of
every message, counters, the control API and the HTTP client that calls the app back. Each channel
brings its fake of its provider: routes that speak the provider's API as far as our client library
uses it, and "acts" (a resident answering, enrolling) posted to the app as the provider would.
This module is the contract between the two; it imports nothing of either.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


class Fault(Enum):
    SERVER_ERROR = "5xx"
    INJECTED_429 = "429_injected"
    RATE_LIMITED = "429_rate_limit"


@dataclass(slots=True)
class Record:
    """One thing a provider fake received (a message, a callback answer, an edit)."""

    seq: int
    channel: str
    kind: str  # message | answer_callback | edit_message
    address: str
    text: str | None
    provider_id: str
    t: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "channel": self.channel,
            "kind": self.kind,
            "address": self.address,
            "text": self.text,
            "provider_id": self.provider_id,
            "t": self.t,
            "data": self.data,
        }


@dataclass(frozen=True)
class ActResult:
    """The app's answer to something a fake posted as a resident."""

    status: int
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}


class FakeState(Protocol):
    """The sandbox's memory as a fake uses it (`safetynet.sandbox.state.SandboxState`)."""

    faults: Any  # .verify_push, .callbacks…
    records: list[Record]

    async def gate(self, channel: str) -> tuple[Fault, float] | None: ...

    def count(self, channel: str, outcome: str) -> None: ...

    def next_seq(self) -> int: ...

    def add(self, channel: str, kind: str, address: str, text: str | None, provider_id: str,
            data: dict[str, Any], seq: int | None = None) -> Record: ...

    def find(self, channel: str, address: str, kind: str = "message") -> Record | None: ...

    def by_provider_id(self, provider_id: str, kind: str = "message") -> Record | None: ...

    def is_dead(self, address: str) -> bool: ...

    def is_undelivered(self, address: str) -> bool: ...

    def retry_after_header(self) -> str: ...

    def notify(self) -> None: ...


class FakeHost(Protocol):
    """What the sandbox server gives each fake."""

    state: FakeState
    secret_key: str  # the app's, for what is derived from it (Telegram's webhook secret)
    app_url: str | None
    sandbox_url: str  # where the sandbox itself listens (a push subscription's endpoint)
    listen_host: str  # the address the sandbox binds: a fake with its own server (SMTP) binds it too
    listen_port: int  # the port the sandbox was asked for; 0 (any): such a fake takes a free port too
    now: Callable[[], float]  # when a resident writes, by the app's clock where a test controls it

    def secret(self, key: str) -> str:
        """A channel secret as the sandbox accepts it: the configured one, else its sandbox value."""
        ...

    def settings(self, channel: str) -> Any:
        """The channel's configured settings (an SMS fake answers from its `from_number`)."""
        ...

    def need_app_url(self) -> str: ...

    async def post(self, url: str, *, data: Mapping[str, str] | None = None, body: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> ActResult:
        """A request to the app, now (a resident's act)."""
        ...

    def queue_post(self, url: str, data: Mapping[str, str], headers: Mapping[str, str]) -> None:
        """A request to the app, soon, by the sandbox's callback workers (a delivery status)."""
        ...

    def fake(self, name: str) -> ChannelFake: ...


Handler = Callable[[Any], Awaitable[Any]]  # an aiohttp handler: request → response


class FakeCannotListen(OSError):
    """A fake with a listener of its own (the mail server) could not open it: where, and the config
    section whose port sets it, so the sandbox names that port and not its own."""

    def __init__(self, cause: OSError, host: str, port: int, section: str) -> None:
        # asyncio's own words repeat the address ("error while attempting to bind on address …"): the system's
        super().__init__(cause.errno, os.strerror(cause.errno) if cause.errno else cause.strerror)
        self.host, self.port, self.section = host, port, section

Act = Callable[[dict[str, Any]], Awaitable[ActResult]]


class ChannelFake:
    """A provider's fake: its routes on the sandbox, and the acts of its residents.

    `acts()` names what `POST /_sandbox/act/{what}` (and `Sandbox.act`) can do, with the JSON body
    as the argument; a missing field is a KeyError (400), an impossible act a LookupError (409).
    """

    name = ""

    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def routes(self) -> list[tuple[str, str, Handler]]:
        return []

    def acts(self) -> dict[str, Act]:
        return {}

    async def open(self) -> None:
        """When the sandbox starts: a fake whose provider is not HTTP (an SMTP server) starts its own
        listener (on `host.listen_host`) here."""

    async def close(self) -> None:
        """When the sandbox stops."""

    def reset(self) -> None:
        """`POST /_sandbox/reset`: forget what this fake holds beyond the records."""

    def app_settings(self) -> dict[str, Any]:
        """Settings the app's `[channels.NAME]` needs to reach this fake beyond `api_base_url`
        (an SMTP server's host and port)."""
        return {}


# --- simulated residents (lab: the demo and the benchmarks) --------------------------------------


@dataclass(frozen=True)
class ResidentKeys:
    """What the providers hold to reach the app: its public URL, the channels' secrets, its secret key."""

    public_url: str
    secrets: Mapping[str, str]
    secret_key: str


@dataclass(frozen=True)
class ResidentRequest:
    """The request a provider (or a phone's service worker) sends the app for a resident's answer."""

    url: str
    body: bytes
    headers: dict[str, str]


class SimulatedResident:
    """A channel's resident side (`channels/<name>/resident.py`): what a received message holds that
    answers it, and the request that carries the answer to the app, exactly as the provider sends it.

    Every retry resends the same request (same key or provider id), so it is never counted twice.
    """

    channel = ""
    # The answer quotes the message's text (a Telegram callback does): the simulation keeps it.
    keeps_text = False
    # The phone reports the message as shown (a push notification): `read`, never an answer.
    reports_seen = False

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        """(the reply token the message carries, the extras needed to answer it: reply_url, sender,
        gather_action); (None, {}) when it is nothing a resident answers."""
        raise NotImplementedError

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        """The request for answering `message` (a `sim.messages.ResidentMessage`) with `status`."""
        raise NotImplementedError

    def campaign_of_stand_in(self, token: str) -> int | None:
        """The campaign a stand-in token names, for a channel whose messages carry no reply token
        (`read` made one up); None when `token` is the household's reply token itself."""
        return None
