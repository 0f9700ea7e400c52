"""The email contact kind and the roster's email/メール column (pure).

Carrier addresses of older handsets break RFC 5322 (docomo allowed `taro..yamada.@docomo.ne.jp`
until 2009, and those addresses still exist), so the local part is taken as the carriers take it:
printable ASCII without spaces or the few characters SMTP cannot carry unquoted. The domain is
stored in lower case (domains are case-insensitive; the local part is not, strictly).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from safetynet.channels.spec import ContactKindSpec, RosterColumn

MAX_ADDRESS = 254
MAX_LOCAL = 64
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def parse_email(text: str) -> str:
    """An email address in its stored form (lower-case domain); ValueError saying what is wrong."""
    # NFKC: full-width ａ＠ｂ typed on a Japanese keyboard become ASCII
    v = unicodedata.normalize("NFKC", text).strip().strip("<>").strip()
    if v.lower().startswith("mailto:"):
        v = v[7:]
    if not v:
        raise ValueError("the email address is empty")
    if any(c.isspace() for c in v):
        raise ValueError(f"{text.strip()!r} contains a space: put one email address in the cell")
    local, at, domain = v.rpartition("@")
    if not at or not local:
        raise ValueError(f"{text.strip()!r} is not an email address (it needs a name, @ and a domain)")
    if len(v) > MAX_ADDRESS or len(local) > MAX_LOCAL:
        raise ValueError(f"{text.strip()!r} is too long for an email address")
    if not _LOCAL.fullmatch(local):
        raise ValueError(f"{text.strip()!r} has characters an email address cannot carry before the @")
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"{text.strip()!r} has no valid domain after the @ (e.g. docomo.ne.jp)")
    return f"{local}@{domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def mask_email(address: str) -> str:
    """`t…@docomo.ne.jp`: the carrier shows which phone it is; the name is not given away."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


def _email_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_email(text)


EMAIL = ContactKindSpec("email", mask=mask_email, normalise=parse_email)
EMAIL_COLUMN = RosterColumn("email", "メール", EMAIL.name, _email_cell,
                            aliases=("mail", "メールアドレス", "emailaddress"), position=40)
