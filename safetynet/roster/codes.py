"""Enrolment codes: printed on a letter, typed by a resident, stored only as a keyed hash.

A code is 16 symbols of Crockford's base32 (digits and letters without I, L, O, U), 5 bits
each: 80 bits from `secrets`, shown in groups of four (`K7QM-4XPA-93TF-R2DN`). Typing is
forgiving: case, spaces, hyphens and full-width characters do not matter, and the letters
people confuse with digits are read as those digits (O→0, I/L→1).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SYMBOLS = 16
GROUP = 4
BITS = SYMBOLS * 5  # 80
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー_.]")
_VALID = frozenset(ALPHABET)


class CodeError(ValueError):
    """Text that cannot be an enrolment code; the message is fit to show a resident."""


class MissingSecretKey(Exception):
    """No secret key to hash codes with."""


def new_code() -> str:
    """A fresh code, grouped for printing."""
    value = int.from_bytes(secrets.token_bytes(BITS // 8), "big")
    raw = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(SYMBOLS - 1, -1, -1))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def normalize_code(text: str) -> str:
    """What a resident typed → the 16 canonical symbols; raises CodeError."""
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = _SEPARATORS.sub("", folded).translate(_CONFUSABLE)
    bad = sorted({ch for ch in compact if ch not in _VALID})
    if bad:
        raise CodeError(f"the code cannot contain {', '.join(repr(c) for c in bad)}")
    if len(compact) != SYMBOLS:
        raise CodeError(f"the code has {SYMBOLS} characters, this one has {len(compact)}")
    return compact


def hash_code(code: str, secret_key: str) -> str:
    """HMAC-SHA256 (hex) of the normalized code under the app secret key."""
    if not secret_key:
        raise MissingSecretKey("no secret key: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    return hmac.new(
        secret_key.encode("utf-8"), normalize_code(code).encode("ascii"), hashlib.sha256
    ).hexdigest()


def join_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/join/{format_code(normalize_code(code))}"
