"""Per-key (IP, login) request limits: a token bucket per key, pruned as it goes; the client address behind proxies."""

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


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
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
    return forwarded_client(peer, request.headers.getall("X-Forwarded-For", []), _networks(proxies))


def enforce(limit: KeyedRateLimit, key: str) -> None:
    """Raises 429 with Retry-After when `key` is over its limit."""
    wait = limit.hit(key)
    if wait > 0:
        seconds = str(max(1, int(wait + 0.999)))
        raise web.HTTPTooManyRequests(
            text="too many requests; please wait and try again", headers={"Retry-After": seconds}
        )
