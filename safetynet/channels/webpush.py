"""Web push through pywebpush's async API (VAPID, RFC 8291/8292) over one shared aiohttp session.

Traps handled (../shared/notes/libraries.md §2): the TTL is always set (pywebpush's default 0 drops
the alert for an offline phone), a timeout on every call (the default is none), claims are never
reused (pywebpush mutates them: a reused dict keeps the first push service's `aud`), and the
VAPID header is signed once per push-service origin and refreshed before it expires.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from safetynet.channels import labels
from safetynet.channels.base import (
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    parse_retry_after,
    send_logged,
)
from safetynet.clock import Clock, SystemClock
from safetynet.config import Config, WebPushConfig
from safetynet.domain import Channel

VAPID_KEY_FILE = "vapid_private.pem"
# RFC 8292 caps a VAPID JWT at 24 h; sign for 12 h and re-sign an hour before the end.
VAPID_LIFETIME_SECONDS = 12 * 3600
VAPID_REFRESH_BEFORE_SECONDS = 3600
# 4,096 bytes a record, minus the aes128gcm header (86), the tag (16) and a pad byte; with margin.
MAX_PAYLOAD_BYTES = 3800


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- VAPID keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VapidKeys:
    vapid: Vapid02
    # The public key as the browser's PushManager.subscribe({applicationServerKey}) wants it.
    application_server_key: str


def _keys(v: Vapid02) -> VapidKeys:
    raw = v.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return VapidKeys(v, b64u(raw))


def load_or_create_vapid(data_dir: Path) -> VapidKeys:
    """The server's VAPID key pair from `data_dir/vapid_private.pem`, created (mode 0600) on first use."""
    path = Path(data_dir) / VAPID_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        v = Vapid02()
        v.generate_keys()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(v.private_pem())
            return _keys(v)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return _keys(Vapid02.from_pem(path.read_bytes()))


def origin(endpoint: str) -> str:
    p = urlsplit(endpoint)
    return f"{p.scheme}://{p.netloc}"


class VapidHeaders:
    """One signed `Authorization: vapid t=…,k=…` per push-service origin, re-signed before expiry."""

    def __init__(self, vapid: Vapid02, subscriber: str, clock: Clock) -> None:
        self.vapid = vapid
        self.subscriber = subscriber
        self.clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def authorization(self, endpoint: str) -> str:
        aud = origin(endpoint)
        now = self.clock.now()
        hit = self._cache.get(aud)
        if hit is not None and now < hit[1] - VAPID_REFRESH_BEFORE_SECONDS:
            return hit[0]
        exp = int(now) + VAPID_LIFETIME_SECONDS
        # A fresh claims dict every time: py_vapid and pywebpush both write into the dict they get.
        header: str = self.vapid.sign({"sub": self.subscriber, "aud": aud, "exp": exp})["Authorization"]
        self._cache[aud] = (header, float(exp))
        return header


# --- subscriptions -----------------------------------------------------------------------------


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


def sandbox_hosts(cfg: Config) -> tuple[str, ...]:
    """The sandbox's host:port, accepted as a push service besides the allowlist."""
    return (f"{cfg.sandbox.host}:{cfg.sandbox.port}",)


# --- payload and sending -----------------------------------------------------------------------


def topic(campaign_id: int) -> str:
    # Topic: <= 32 base64url characters; a newer alert of the same campaign replaces an unread one.
    return f"safetynet-c{campaign_id}"


def build_payload(msg: OutboundMessage) -> str:
    """The JSON the service worker receives: text, reply link and token, and two answer actions.

    A staff alert (no reply token) has no actions: a tap opens its link (the dashboard).
    """
    doc: dict[str, object] = {
        "title": msg.title,
        "body": msg.text,
        "url": msg.reply_url,
        "token": msg.reply_token,
        "campaign": msg.campaign_id,
        "drill": msg.drill,
    }
    if msg.reply_token:
        doc["actions"] = [{"action": a, "title": labels.answer_label(a, msg.language)} for a in labels.ANSWERS]
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    excess = len(data.encode()) - MAX_PAYLOAD_BYTES
    if excess <= 0:
        return data
    # Too long for one push record: shorten the body (never the link); 4 bytes covers any character.
    keep = max(0, len(msg.text) - excess)
    while True:
        doc["body"] = msg.text[:keep] + "…"
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        if len(data.encode()) <= MAX_PAYLOAD_BYTES or keep == 0:
            return data
        keep = max(0, keep - (len(data.encode()) - MAX_PAYLOAD_BYTES) - 3)


class WebPushSender:
    name = Channel.WEBPUSH

    def __init__(
        self,
        cfg: WebPushConfig,
        keys: VapidKeys,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if cfg.ttl_seconds <= 0:
            raise ValueError("channels.webpush.ttl_seconds must be > 0: TTL 0 drops the alert for an offline phone")
        self.cfg = cfg
        self.keys = keys
        self._headers = VapidHeaders(keys.vapid, cfg.subscriber, clock or SystemClock())
        self._session = session
        self._own_session = session is None
        self._redact = Redactor()

    async def start(self) -> None:
        if self._session is None or (self._own_session and self._session.closed):
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.cfg.concurrency))
            self._own_session = True

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(Channel.WEBPUSH, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        if self._session is None:
            raise RuntimeError("WebPushSender.start() was not called")
        try:
            sub = json.loads(msg.address)
            endpoint = sub["endpoint"]
            authorization = self._headers.authorization(endpoint)
        except (ValueError, KeyError, TypeError):
            raise PermanentSendError(Reason.SUBSCRIPTION_GONE, contact_dead=True, error_class="InvalidSubscription") from None
        headers = {"Urgency": "high", "Topic": topic(msg.campaign_id), "Authorization": authorization}
        try:
            resp = await webpush_async(
                sub,
                build_payload(msg),
                headers=headers,
                ttl=self.cfg.ttl_seconds,
                timeout=self.cfg.timeout_seconds,
                aiohttp_session=self._session,
            )
        except WebPushException as e:
            raise self._classify_response(e) from e
        except TimeoutError as e:
            raise RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=type(e).__name__) from e
        except aiohttp.ClientConnectorError as e:
            raise RetryableSendError(Reason.NETWORK, error_class=type(e).__name__, provider_answer=self._redact(str(e))) from e
        except aiohttp.ClientError as e:
            raise RetryableSendError(
                Reason.NETWORK, outcome_unknown=True, error_class=type(e).__name__, provider_answer=self._redact(str(e))
            ) from e
        assert not isinstance(resp, str)  # only with curl=True
        return SendResult(resp.headers.get("Location"))

    def _classify_response(self, e: WebPushException) -> SendError:
        status = e.status_code or 0
        answer = self._redact(f"{status} {e.message}")
        name = type(e).__name__
        if status in (404, 410):
            return PermanentSendError(Reason.SUBSCRIPTION_GONE, contact_dead=True, error_class=name, provider_answer=answer)
        if status == 429:
            return RetryableSendError(
                Reason.RATE_LIMITED, retry_after=parse_retry_after(e.retry_after), error_class=name, provider_answer=answer
            )
        if status >= 500:
            return RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True, error_class=name, provider_answer=answer)
        if status in (401, 403):
            # Our VAPID key is not the one the browser subscribed with: an operator problem.
            return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
        return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)


def from_config(cfg: Config, public_url: str) -> WebPushSender:
    return WebPushSender(cfg.channels.webpush, load_or_create_vapid(cfg.data_dir))
