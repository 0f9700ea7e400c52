"""Per-key (IP, login) request limits: a token bucket per key, pruned as it goes."""

from __future__ import annotations

from aiohttp import web

from safetynet.clock import Clock


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


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def enforce(limit: KeyedRateLimit, key: str) -> None:
    """Raises 429 with Retry-After when `key` is over its limit."""
    wait = limit.hit(key)
    if wait > 0:
        seconds = str(max(1, int(wait + 0.999)))
        raise web.HTTPTooManyRequests(
            text="too many requests; please wait and try again", headers={"Retry-After": seconds}
        )
