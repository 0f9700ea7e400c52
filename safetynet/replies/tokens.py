"""Reply tokens: one per household per campaign, unguessable, stored only as a hash.

A token is derived (HMAC of the secret key), so the dispatcher can rebuild any message at any
ladder step without keeping the clear token in the database. 22 base64url characters = 132 bits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TOKEN_LENGTH = 22


def reply_token(secret_key: str, campaign_id: int, household_id: int) -> str:
    if not secret_key:
        raise ValueError("secret key is not set: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    # hmac.digest: OpenSSL's one-shot HMAC, a third of hmac.new(...).digest() (one token a message sent)
    mac = hmac.digest(secret_key.encode(), f"reply:{campaign_id}:{household_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_LENGTH]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_TOKEN_RE = re.compile("[A-Za-z0-9_-]{" + str(TOKEN_LENGTH) + "}")


def looks_like_token(text: str) -> bool:
    """Cheap shape check before any lookup (same answer for unknown and malformed)."""
    return _TOKEN_RE.fullmatch(text) is not None


def reply_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/r/{token}"


def check_token(secret_key: str, campaign_id: int, contact_id: int) -> str:
    """A contact check's token: one per contact (not per household), so a tap confirms the very
    address the message went to. Derived like `reply_token`, under its own label."""
    if not secret_key:
        raise ValueError("secret key is not set: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    mac = hmac.digest(secret_key.encode(), f"check:{campaign_id}:{contact_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_LENGTH]


def check_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"
