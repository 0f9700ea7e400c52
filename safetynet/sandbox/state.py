"""The sandbox's memory: fault settings, the record of every message, counters, and waiters.

Everything here runs once per provider request, so it stays cheap: a slotted record appended to
a list, a counter bumped, waiters woken only when someone waits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safetynet.channels import registry
from safetynet.channels.fakes import Fault, Record

__all__ = ["Fault", "Faults", "Record", "SandboxState"]


@dataclass
class Faults:
    """What goes wrong, settable by CLI flags and at run time (`POST /_sandbox/faults`)."""

    fail_5xx: float = 0.0  # fraction of requests answered 5xx
    fail_429: float = 0.0  # fraction answered 429 with Retry-After
    retry_after: float = 1.0  # seconds, sent with every 429
    latency_ms: float = 0.0  # added before every provider answer
    dead_fraction: float = 0.0  # recipients dead by hash (stable across runs and processes)
    dead: set[str] = field(default_factory=set)  # explicit dead addresses (phone, chat id, push id)
    undelivered_fraction: float = 0.0  # SMS/voice accepted, then a failing status callback
    rate_limit: dict[str, float] = field(default_factory=dict)  # channel -> requests a second
    rate_burst_seconds: float = 1.0  # bucket size, in seconds of the rate
    verify_push: bool = True  # verify VAPID and decrypt every push (off for benchmarks)
    callbacks: bool = True  # send Twilio status callbacks
    seed: int = 0

    def update(self, doc: dict[str, Any]) -> None:
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in doc.items():
            if key not in names:
                raise ValueError(f"unknown fault {key!r}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int | float):
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                value = type(current)(value)
            elif isinstance(current, set):
                value = {str(v) for v in value}
            elif isinstance(current, dict):
                value = {str(k): float(v) for k, v in value.items()}
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dead"] = sorted(self.dead)
        return d


def _fraction(address: str, salt: bytes) -> float:
    digest = hashlib.blake2b(address.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") / 2**64


class _Bucket:
    def __init__(self) -> None:
        self.tokens = -1.0
        self.at = 0.0

    def take(self, rate: float, burst_seconds: float) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = time.monotonic()
        cap = max(1.0, rate * burst_seconds)
        self.tokens = cap if self.tokens < 0 else min(cap, self.tokens + (now - self.at) * rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


class SandboxState:
    def __init__(self, faults: Faults | None = None, max_records: int = 2_000_000) -> None:
        self.faults = faults or Faults()
        self.records: list[Record] = []
        self.stats: Counter[tuple[str, str]] = Counter()
        self.message_count = 0
        self.max_records = max_records
        self._seq = 0
        self._rng = random.Random(self.faults.seed)
        self._buckets: dict[str, _Bucket] = {}
        self._waiters: list[asyncio.Event] = []
        # Latest record per (channel, address, kind) and per (provider id, kind): a resident's act
        # and a Telegram edit find their message in one lookup, even among a city's records.
        self._latest: dict[tuple[str, str, str], Record] = {}
        self._by_provider: dict[tuple[str, str], Record] = {}

    # --- faults ---

    def retry_after_header(self) -> str:
        ra = self.faults.retry_after
        return str(int(ra)) if float(ra).is_integer() else f"{ra:g}"

    async def gate(self, channel: str) -> tuple[Fault, float] | None:
        """Latency, then the rate limit, then injected faults: (fault, retry_after) or None to go on."""
        f = self.faults
        if f.latency_ms > 0:
            await asyncio.sleep(f.latency_ms / 1000)
        rate = f.rate_limit.get(channel, 0.0)
        if rate > 0:
            wait = self._buckets.setdefault(channel, _Bucket()).take(rate, f.rate_burst_seconds)
            if wait > 0:
                self.count(channel, Fault.RATE_LIMITED.value)
                return Fault.RATE_LIMITED, float(max(1, math.ceil(wait)))
        if f.fail_5xx or f.fail_429:
            r = self._rng.random()
            if r < f.fail_5xx:
                self.count(channel, Fault.SERVER_ERROR.value)
                return Fault.SERVER_ERROR, 0.0
            if r < f.fail_5xx + f.fail_429:
                self.count(channel, Fault.INJECTED_429.value)
                return Fault.INJECTED_429, f.retry_after
        return None

    def is_dead(self, address: str) -> bool:
        f = self.faults
        return address in f.dead or (f.dead_fraction > 0 and _fraction(address, b"dead") < f.dead_fraction)

    def is_undelivered(self, address: str) -> bool:
        f = self.faults
        return f.undelivered_fraction > 0 and _fraction(address, b"undelivered") < f.undelivered_fraction

    # --- records and counters ---

    def count(self, channel: str, outcome: str) -> None:
        self.stats[(channel, outcome)] += 1

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, channel: str, kind: str, address: str, text: str | None, provider_id: str, data: dict[str, Any], seq: int | None = None) -> Record:
        rec = Record(seq or self.next_seq(), channel, kind, address, text, provider_id, time.time(), data)
        self.records.append(rec)
        self._latest[(channel, address, kind)] = rec
        self._by_provider[(provider_id, kind)] = rec
        if len(self.records) > self.max_records:
            self._trim()
        if kind == "message":
            self.message_count += 1
            self.count(channel, "ok")
        self.notify()
        return rec

    def notify(self) -> None:
        if self._waiters:
            for ev in self._waiters:
                ev.set()

    def _trim(self) -> None:
        del self.records[: self.max_records // 2]
        self._latest = {(r.channel, r.address, r.kind): r for r in self.records}
        self._by_provider = {(r.provider_id, r.kind): r for r in self.records}

    def find(self, channel: str, address: str, kind: str = "message") -> Record | None:
        """The latest record of `kind` for `address` on `channel`."""
        return self._latest.get((channel, address, kind))

    def by_provider_id(self, provider_id: str, kind: str = "message") -> Record | None:
        return self._by_provider.get((provider_id, kind))

    async def wait_for(self, what: int | Callable[[list[Record]], bool], timeout_seconds: float = 30.0) -> None:
        """Until `what` messages were received, or `what(records)` holds. Event-driven, no polling."""

        def done() -> bool:
            return self.message_count >= what if isinstance(what, int) else bool(what(self.records))

        ev = asyncio.Event()
        self._waiters.append(ev)
        try:
            async with asyncio.timeout(timeout_seconds):
                while not done():
                    ev.clear()
                    await ev.wait()
        finally:
            self._waiters.remove(ev)

    def stats_doc(self) -> dict[str, Any]:
        per: dict[str, dict[str, int]] = {c: {} for c in registry.names()}
        for (channel, outcome), n in self.stats.items():
            per.setdefault(channel, {})[outcome] = n
        sent_429 = sum(n for (_, o), n in self.stats.items() if o.startswith("429"))
        return {
            "channels": per,
            "messages": self.message_count,
            "429_sent": sent_429,
            "429_rate_limit": sum(n for (_, o), n in self.stats.items() if o == Fault.RATE_LIMITED.value),
        }

    def reset(self) -> None:
        self.records.clear()
        self.stats.clear()
        self.message_count = 0
        self._buckets.clear()
        self._latest.clear()
        self._by_provider.clear()
