"""Per-key request limits (a token bucket per key), failure back-off per key, and the client address
behind proxies. Both prune themselves as they go."""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from safetynet.clock import Clock
from safetynet.web.app import SERVICES


class KeyedRateLimit:
    """`per_minute` requests per key, with bursts up to `burst`; `hit` returns seconds to wait or 0."""

    def __init__(self, clock: Clock, per_minute: float, burst: int | None = None, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last monotonic)

    def hit(self, key: str) -> float:
        now = self.clock.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else 0
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


class FailureBackoff:
    """Failures per key that slow the key down instead of locking it.

    The first `free` failures cost nothing (typos); after that each try must wait twice as long
    as the one before, from `first_wait` up to `max_wait` seconds, so a script learns little and a
    person who remembers the password waits minutes at worst. A success, or `forget_after` seconds
    without a failure, clears the key. `wait` says how long the key must still wait (0: now).
    """

    def __init__(self, clock: Clock, free: int, first_wait: float, max_wait: float, forget_after: float,
                 max_keys: int = 100_000) -> None:
        self.clock = clock
        self.free = free
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, monotonic of the last)

    def wait(self, key: str) -> float:
        found = self._failures.get(key)
        if found is None:
            return 0.0
        failures, last = found
        now = self.clock.monotonic()
        if now - last >= self.forget_after:
            del self._failures[key]
            return 0.0
        if failures < self.free:
            return 0.0
        delay = min(self.max_wait, self.first_wait * 2.0 ** (failures - self.free))
        return max(0.0, last + delay - now)

    def failed(self, key: str) -> None:
        now = self.clock.monotonic()
        failures, last = self._failures.get(key, (0, now))
        if now - last >= self.forget_after:
            failures = 0
        self._failures[key] = (failures + 1, now)
        if len(self._failures) > self.max_keys:
            self._prune(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        recent = {k: v for k, v in self._failures.items() if now - v[1] < self.forget_after}
        if len(recent) > self.max_keys:  # a flood of fresh keys: keep the newest half
            recent = dict(sorted(recent.items(), key=lambda kv: kv[1][1])[len(recent) // 2:])
        self._failures = recent


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in networks)


def forwarded_client(peer: str, forwarded_for: list[str], networks: tuple[_Network, ...]) -> str:
    """The client behind trusted proxies: the right-most X-Forwarded-For hop that is not one of them.

    Hops left of the first untrusted one were written by the client itself, so they are never used;
    a malformed hop ends the walk there (its sender is not to be believed either).
    """
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    client = peer
    for hop in reversed(hops):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


def client_ip(request: web.Request) -> str:
    """The address limits are keyed on: the peer, or the forwarded client when the peer is a trusted proxy."""
    peer = request.remote or "unknown"
    proxies: tuple[str, ...] = request.app[SERVICES].cfg.server.trusted_proxies
    if not proxies:
        return peer
    return forwarded_client(peer, request.headers.getall("X-Forwarded-For", []), trusted_networks(proxies))


TOO_MANY = "too many requests; please wait and try again"


def retry_after(wait: float) -> str:
    """`Retry-After` for a wait of `wait` seconds: whole seconds, at least one."""
    return str(max(1, int(wait + 0.999)))


def enforce(limit: KeyedRateLimit, key: str) -> None:
    """Raises 429 with Retry-After when `key` is over its limit."""
    wait = limit.hit(key)
    if wait > 0:
        raise web.HTTPTooManyRequests(text=TOO_MANY, headers={"Retry-After": retry_after(wait)})
