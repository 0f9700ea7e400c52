"""A browser's push subscription, checked before it is stored (pure but for the P-256 check).

The endpoint must be a known push service (https) or the configured sandbox host; anything else
is refused so the server never POSTs to an address a subscriber chose.
"""

from __future__ import annotations

import binascii
import fnmatch
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from safetynet.channels.base import ChannelContext
from safetynet.channels.webpush.vapid import b64u_decode

# The characters of a URL (RFC 3986: unreserved, reserved and percent escapes); push services' are ASCII.
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def _host_allowed(host: str, port: int | None, allowed: Iterable[str], sandbox: Iterable[str]) -> tuple[bool, bool]:
    """(allowed as a push service, allowed as the sandbox)."""
    netloc = f"{host}:{port}" if port else host
    is_sandbox = any(s.lower() in (host, netloc) for s in sandbox)
    is_service = any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in allowed)
    return is_service, is_sandbox


def _key(keys: dict[str, Any], name: str, size: int) -> str:
    value = keys.get(name)
    if not isinstance(value, str):
        raise ValueError(f"subscription keys.{name} is missing")
    try:
        raw = b64u_decode(value)
    except (binascii.Error, ValueError):
        raise ValueError(f"subscription keys.{name} is not base64url") from None
    if len(raw) != size:
        raise ValueError(f"subscription keys.{name} must be {size} bytes, got {len(raw)}")
    return value


def validate_subscription(sub: Any, allowed_hosts: Iterable[str], sandbox_hosts: Iterable[str] = ()) -> dict[str, Any]:
    """A browser's PushSubscription JSON, checked and normalised to {"endpoint", "keys": {p256dh, auth}}.

    The endpoint must be a known push service (https) or a configured sandbox host; anything
    else is refused so the server never POSTs to an address a subscriber chose.
    """
    if not isinstance(sub, dict):
        raise ValueError("subscription must be a JSON object")
    endpoint = sub.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 2048:
        raise ValueError("subscription endpoint is missing or too long")
    if not _URL_CHARS.fullmatch(endpoint):
        # urlsplit strips or keeps NUL, CR, LF and spaces: stored, they would go out in a request line
        raise ValueError("subscription endpoint has characters a URL cannot carry")
    p = urlsplit(endpoint)
    host = (p.hostname or "").lower()
    if not host or p.username or p.password:
        raise ValueError("subscription endpoint is not a plain URL")
    is_service, is_sandbox = _host_allowed(host, p.port, allowed_hosts, sandbox_hosts)
    if not (is_service or is_sandbox):
        raise ValueError(f"push service {host} is not on the allowlist")
    if p.scheme != "https" and not (is_sandbox and p.scheme == "http"):
        raise ValueError("subscription endpoint must use https")
    keys = sub.get("keys")
    if not isinstance(keys, dict):
        raise ValueError("subscription keys are missing")
    p256dh = _key(keys, "p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64u_decode(p256dh))
    except ValueError:
        raise ValueError("subscription keys.p256dh is not a P-256 public key") from None
    auth = _key(keys, "auth", 16)
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def accept(ctx: ChannelContext, subscription: Any) -> str:
    """The enrolment's subscription → its address: canonical JSON, so the same browser subscribing
    twice is the same contact. ValueError when it is malformed or off the allowlist."""
    sandbox = (ctx.sandbox_host,) if ctx.sandbox_host else ()
    sub = validate_subscription(subscription, ctx.settings.allowed_hosts, sandbox)
    return json.dumps(sub, separators=(",", ":"), sort_keys=True)


def endpoint_host(address: str) -> str:
    """The push service's host of a stored subscription (what the enrolment page shows of it)."""
    try:
        return urlsplit(json.loads(address).get("endpoint", "")).hostname or ""
    except (ValueError, AttributeError):
        return ""
