"""A web-push service (RFC 8030) that checks what a real one checks and decrypts like a browser.

`POST /_sandbox/webpush/subscribe` mints a subscription the way a browser's PushManager would
(its own P-256 key and auth secret), so `POST /wpush/{id}` can verify the VAPID JWT (RFC 8292)
and decrypt the aes128gcm body (RFC 8291) with http_ece: a test reads what the phone would show.
A resident's tap on a notification's action is the service worker's POST of the answer.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from safetynet.channels.fakes import Act, ActResult, ChannelFake, FakeHost, Fault, Handler
from safetynet.channels.webpush.vapid import b64u, b64u_decode

URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# RFC 8292 §2: a JWT must not expire more than 24 hours ahead.
MAX_JWT_SECONDS = 24 * 3600


@dataclass
class PushKeys:
    private_key: Any  # cryptography EllipticCurvePrivateKey: the "browser's" key
    auth: bytes
    application_server_key: str | None


class VapidError(ValueError):
    pass


# Verified JWTs by token: a sender that caches its VAPID header sends the same one many times.
_verified: dict[str, tuple[str, dict[str, Any]]] = {}


def verify_vapid(header: str, expected_aud: str, now: float) -> tuple[str, dict[str, Any]]:
    """(the sender's public key k, the JWT claims) of `Authorization: vapid t=…,k=…`; VapidError if wrong."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("Authorization must use the vapid scheme")
    parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
    token, k = parts.get("t", ""), parts.get("k", "")
    cached = _verified.get(token)
    if cached is None or cached[0] != k:
        cached = (k, _check_signature(token, k))
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[token] = cached
    claims = cached[1]
    if claims.get("aud") != expected_aud:
        raise VapidError(f"JWT aud {claims.get('aud')!r} is not this push service ({expected_aud})")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_JWT_SECONDS + 60:
        raise VapidError("JWT exp is missing, past, or more than 24 hours ahead")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise VapidError("JWT sub must be a mailto: or https: contact")
    return cached


def _check_signature(token: str, k: str) -> dict[str, Any]:
    try:
        head, payload, sig = token.split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64u_decode(k))
        raw = b64u_decode(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        if json.loads(b64u_decode(head)).get("alg") != "ES256":
            raise VapidError("JWT alg must be ES256")
        claims = json.loads(b64u_decode(payload))
    except (ValueError, InvalidSignature) as e:
        raise VapidError(f"invalid VAPID JWT ({type(e).__name__})") from None
    if not isinstance(claims, dict):
        raise VapidError("JWT claims must be an object")
    return claims


def _refuse(fake: PushFake, status: int, outcome: str, text: str) -> web.Response:
    fake.host.state.count("webpush", outcome)
    return web.Response(status=status, text=text)


def _check_headers(request: web.Request) -> tuple[int, str, str | None] | str:
    """(ttl, urgency, topic), or the reason the request is refused."""
    h = request.headers
    ttl = h.get("TTL", "")
    if not ttl.isdigit():
        return "TTL header missing or invalid"
    if h.get("Content-Encoding", "").lower() != "aes128gcm":
        return "Content-Encoding must be aes128gcm"
    urgency = h.get("Urgency", "normal").lower()
    if urgency not in URGENCIES:
        return "Urgency must be very-low, low, normal or high"
    topic = h.get("Topic")
    if topic is not None and not TOPIC_RE.match(topic):
        return "Topic must be 1-32 base64url characters"
    return int(ttl), urgency, topic


def _decrypt(keys: PushKeys, body: bytes) -> tuple[str | None, Any]:
    plain: bytes = http_ece.decrypt(body, private_key=keys.private_key, auth_secret=keys.auth, version="aes128gcm")
    try:
        payload = json.loads(plain)
    except ValueError:
        return plain.decode("utf-8", "replace"), None
    return (payload.get("body") if isinstance(payload, dict) else None), payload


class PushFake(ChannelFake):
    """A push service: subscriptions minted here, pushes verified and decrypted like a browser would."""

    name = "webpush"

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host)
        self.subscriptions: dict[str, PushKeys] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", "/wpush/{id}", self.push), ("POST", "/_sandbox/webpush/subscribe", self.subscribe_endpoint)]

    def acts(self) -> dict[str, Act]:
        return {"push": self._act}

    def mint(self, base_url: str, application_server_key: str | None = None) -> dict[str, Any]:
        """A new browser subscription: endpoint on `base_url`, and the keys the sender encrypts to."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        sub_id = secrets.token_urlsafe(16)
        self.subscriptions[sub_id] = PushKeys(key, auth, application_server_key)
        public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {
            "endpoint": f"{base_url.rstrip('/')}/wpush/{sub_id}",
            "expirationTime": None,
            "keys": {"p256dh": b64u(public), "auth": b64u(auth)},
        }

    def subscribe(self, application_server_key: str | None = None, host: str | None = None) -> dict[str, Any]:
        """A browser's push subscription on this sandbox (`host` picks another name for it, e.g. localhost)."""
        base = self.host.sandbox_url
        if host:
            base = f"http://{host}:{base.rsplit(':', 1)[1]}"
        return self.mint(base, application_server_key)

    async def push(self, request: web.Request) -> web.Response:
        st, sub_id = self.host.state, request.match_info["id"]
        body = await request.read()
        gated = await st.gate("webpush")
        if gated is not None:
            fault, retry_after = gated
            if fault is Fault.SERVER_ERROR:
                return web.Response(status=503, text="Service Unavailable")
            ra = st.retry_after_header() if fault is Fault.INJECTED_429 else str(int(retry_after))
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": ra})
        if st.is_dead(sub_id):
            # Real services name the subscription in the body: the sender must not log it.
            return _refuse(self, 410, "dead", f"push subscription {request.url} has unsubscribed or expired")
        checked = _check_headers(request)
        if isinstance(checked, str):
            return _refuse(self, 400, "bad_request", checked)
        ttl, urgency, topic = checked
        text, payload, aud = None, None, None
        if st.faults.verify_push:
            keys = self.subscriptions.get(sub_id)
            if keys is None:
                return _refuse(self, 404, "dead", "no such subscription")
            try:
                k, claims = verify_vapid(request.headers.get("Authorization", ""), f"{request.scheme}://{request.host}", time.time())
            except VapidError as e:
                return _refuse(self, 401, "unauthorized", str(e))
            if keys.application_server_key and k != keys.application_server_key:
                return _refuse(self, 403, "unauthorized", "VAPID key differs from the subscription's applicationServerKey")
            try:
                text, payload = _decrypt(keys, body)
            except Exception as e:  # http_ece raises several types for one meaning: undecryptable
                return _refuse(self, 400, "bad_request", f"payload does not decrypt ({type(e).__name__})")
            aud = claims.get("aud")
        elif not request.headers.get("Authorization", "").lower().startswith("vapid "):
            return _refuse(self, 401, "unauthorized", "Authorization must use the vapid scheme")
        seq = st.next_seq()
        data = {"ttl": ttl, "urgency": urgency, "topic": topic, "payload": payload, "aud": aud, "bytes": len(body)}
        st.add("webpush", "message", sub_id, text, f"msg-{seq}", data, seq=seq)
        return web.Response(status=201, headers={"Location": f"/wpush/msg/{seq}"})


    async def subscribe_endpoint(self, request: web.Request) -> web.Response:
        doc = await request.json() if request.can_read_body else {}
        key = doc.get("applicationServerKey") if isinstance(doc, dict) else None
        sub = self.mint(f"{request.scheme}://{request.host}", key if isinstance(key, str) else None)
        return web.json_response(sub, status=201)

    async def action(self, sub_id: str, action: str) -> ActResult:
        """The notification's action button: the service worker posts the answer to the reply URL."""
        rec = self.host.state.find("webpush", sub_id)
        payload = rec.data.get("payload") if rec is not None else None
        if not isinstance(payload, dict) or "url" not in payload:
            raise LookupError("no decrypted push was received for this subscription (verify_push off?)")
        return await self.host.post(payload["url"], data={"status": action})

    async def _act(self, d: dict[str, Any]) -> ActResult:
        return await self.action(str(d["id"]), str(d["action"]))
