"""Reply tokens: one per household per campaign, unguessable, stored only as a hash.

A token is derived (HMAC of the secret key), so the dispatcher can rebuild any message at any
ladder step without keeping the clear token in the database. 22 base64url characters = 132 bits.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Callable

TOKEN_LENGTH = 22


def reply_token(secret_key: str, campaign_id: int, household_id: int) -> str:
    if not secret_key:
        raise ValueError("secret key is not set: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    return _derived(secret_key, f"reply:{campaign_id}:{household_id}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_TOKEN_RE = re.compile("[A-Za-z0-9_-]{" + str(TOKEN_LENGTH) + "}")


def looks_like_token(text: str) -> bool:
    """Cheap shape check before any lookup (same answer for unknown and malformed)."""
    return _TOKEN_RE.fullmatch(text) is not None


# The characters a resident link's token is made of: base64url (a reply token, an email confirmation
# secret) and an enrolment code's letters, digits and hyphens.
_LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def token_part(text: str, valid: Callable[[str], bool]) -> str | None:
    """The token of a resident link with text stuck after it, else None: chat and mail apps take
    along what follows a URL in a sentence (「。」, 「）」, 「ご確認ください」, a slash), so the token is the
    run of token characters the text starts with, taken when something else follows it and the run
    is itself `valid` (a run with more token characters glued on is no token of ours). One rule
    for every resident link: reply links, enrolment codes, email confirmation links."""
    m = _LINK_TOKEN.match(text)
    if m is None or m.end() == len(text):
        return None
    head = m.group()
    return head if valid(head) else None


def token_within(text: str) -> str | None:
    """The reply token of a link with text stuck after it (QA: …/r/TOKEN。 and …/r/TOKEN。ご確認ください
    got the dead end), else None."""
    return token_part(text, looks_like_token)


def reply_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/r/{token}"


def check_token(secret_key: str, campaign_id: int, contact_id: int) -> str:
    """A contact check's token: one per contact (not per household), so a tap confirms the very
    address the message went to. Derived like `reply_token`, under its own label."""
    if not secret_key:
        raise ValueError("secret key is not set: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    return _derived(secret_key, f"check:{campaign_id}:{contact_id}")


def _derived(secret_key: str, label: str) -> str:
    # One token a message sent, on the event loop. A copy of an HMAC already keyed: 1.1 µs against
    # 1.5 for the one-shot `hmac.digest`, which also lets go of the GIL for the hashing and must
    # then wait for it back while the store's threads hold it.
    mac = _keyed(secret_key).copy()
    mac.update(label.encode())
    return base64.urlsafe_b64encode(mac.digest()).decode()[:TOKEN_LENGTH]


@functools.lru_cache(maxsize=4)  # one secret key a deployment
def _keyed(secret_key: str) -> hmac.HMAC:
    return hmac.new(secret_key.encode(), digestmod=hashlib.sha256)


def check_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"
