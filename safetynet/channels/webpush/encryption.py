"""One push message's body: RFC 8291 encryption in the aes128gcm content coding (RFC 8188), by http_ece.

pywebpush's `WebPusher` does the same around http_ece, and per message also deep-copies the
subscription, re-decodes its keys and builds case-insensitive header dicts: a third of a push's
CPU beside the crypto under py-spy in the first wave. The crypto itself is per message by the
RFC: a fresh ECDH key pair and salt for every push (the key pair is not reused across pushes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

from safetynet.channels.webpush.vapid import b64u_decode

CONTENT_ENCODING = "aes128gcm"


class InvalidSubscription(ValueError):
    """A stored subscription whose endpoint or keys cannot be used: nothing will ever reach it."""


def receiver(subscription: Mapping[str, Any]) -> tuple[str, ec.EllipticCurvePublicKey, bytes]:
    """(endpoint, the browser's public key, its auth secret) of a subscription, or InvalidSubscription."""
    try:
        endpoint = subscription["endpoint"]
        keys = subscription["keys"]
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64u_decode(keys["p256dh"]))
        auth = b64u_decode(keys["auth"])
    except (KeyError, TypeError, ValueError) as e:  # binascii.Error and a point off the curve are ValueErrors
        raise InvalidSubscription(type(e).__name__) from None
    if not isinstance(endpoint, str) or not auth:
        raise InvalidSubscription("endpoint or auth")
    return endpoint, public, auth


def encrypt(payload: bytes, public: ec.EllipticCurvePublicKey, auth: bytes) -> bytes:
    """The aes128gcm body of `payload` for the browser holding `public` and `auth` (one record)."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())  # RFC 8291 §2: a new key pair for each message
    body: bytes = http_ece.encrypt(payload, private_key=ephemeral, dh=public, auth_secret=auth,
                                   version=CONTENT_ENCODING)
    return body
