"""RFC 8291 push encryption: the same bytes as http_ece for the same key pair and salt, readable by a
browser's side (http_ece's decrypt, as the sandbox does), fresh keys every message."""

from __future__ import annotations

import base64
import os

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from safetynet.channels.webpush.encryption import (
    RECORD_SIZE,
    InvalidSubscription,
    Receiver,
    encrypt,
    receiver,
)


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _browser(compressed: bool = False) -> tuple[ec.EllipticCurvePrivateKey, bytes, Receiver]:
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    point = key.public_key().public_bytes(
        Encoding.X962, PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint)
    sub = {"endpoint": "https://push.example/wpush/1", "keys": {"p256dh": _b64u(point), "auth": _b64u(auth)}}
    return key, auth, receiver(sub)


@pytest.mark.parametrize("size", [1, 400, 3800, RECORD_SIZE - 17])  # http_ece writes no record at all for 0
def test_the_body_is_http_eces_for_the_same_key_pair_and_salt(size: int) -> None:
    _, auth, to = _browser()
    payload = os.urandom(size)
    ephemeral, salt = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
    theirs = http_ece.encrypt(payload, salt=salt, private_key=ephemeral, dh=to.public, auth_secret=auth,
                              version="aes128gcm")
    assert encrypt(payload, to, ephemeral=ephemeral, salt=salt) == theirs


@pytest.mark.parametrize("compressed", [False, True])
def test_the_browser_reads_it_and_every_message_has_its_own_keys(compressed: bool) -> None:
    key, auth, to = _browser(compressed)
    text = "【訓練】安否確認です。無事ですか？".encode()
    first, second = encrypt(text, to), encrypt(text, to)
    for body in (first, second):
        assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == text
    # salt (16 bytes), then record size and key id length, then the sender's key: both new each time
    assert first[:16] != second[:16] and first[21:86] != second[21:86]


def test_a_payload_over_one_record_is_refused() -> None:
    _, _, to = _browser()
    with pytest.raises(ValueError, match="at most"):
        encrypt(b"x" * (RECORD_SIZE - 16), to)


@pytest.mark.parametrize("sub", [
    {}, {"endpoint": "https://push.example/1"}, {"endpoint": "https://push.example/1", "keys": {"p256dh": "AAAA", "auth": "x"}},
    {"endpoint": 7, "keys": {"p256dh": _b64u(b"\x04" + b"\x01" * 64), "auth": "x"}},
])
def test_unusable_subscriptions_are_invalid(sub: dict[str, object]) -> None:
    with pytest.raises(InvalidSubscription):
        receiver(sub)
