"""Passwords, opaque tokens and who-may-see-what (pure; no I/O)."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from safetynet.domain import Role, Scope
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.campaigns import Actor
from safetynet.domain.roster import StaffRemoval
from safetynet.domain.vocabulary import CAMPAIGN_ROLES

# scrypt cost: n=2**14, r=8 takes ~50 ms and 16 MiB here, enough to make a stolen hash expensive.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(dk)}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        # still spend the time, so an unknown login is not faster than a wrong password
        hashlib.scrypt(b"x", salt=b"0" * 16, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
        return False
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(_unb64(dk))
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(dk))


def new_token(nbytes: int = 24) -> str:
    """An opaque bearer secret (API token, session id): 192 bits, URL-safe."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """What the database keeps of a bearer secret; high-entropy tokens need no salt."""
    return hashlib.sha256(secret_bytes(token)).hexdigest()


def secret_bytes(value: str) -> bytes:
    """A secret (or what a client sent as one) as bytes, for any str: aiohttp hands header bytes that
    are not UTF-8 over as lone surrogates, which `str.encode()` refuses (a 500 from a forged
    header); `surrogatepass` encodes them, and the result simply matches nothing."""
    return value.encode("utf-8", "surrogatepass")


def same_secret(sent: str, expected: str) -> bool:
    """Constant-time equality of two secrets: as bytes, because `hmac.compare_digest` refuses str
    with non-ASCII characters (a TypeError, i.e. a 500, from a forged CSRF token or signature)."""
    return hmac.compare_digest(secret_bytes(sent), secret_bytes(expected))


# Longest expiry `token create --expires-days` takes: ten years is "never" said honestly.
MAX_TOKEN_DAYS = 3650


def token_expiry(now: float, days: int | None) -> float | None:
    """When a token created `now` for `days` days expires (None: never); ValueError outside 1…MAX_TOKEN_DAYS."""
    if days is None:
        return None
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"an API token lasts 1 to {MAX_TOKEN_DAYS} days (--expires-days)")
    return now + days * 86400.0


def token_maker(created_by: int | None, logins: Mapping[int, str], removed: str) -> str:
    """Who made an API token, as its lists show it: their login; `removed` (「削除済み」) for a maker
    removed since, whose tokens keep working (QA: nothing said whose they were); "-" for none (a token
    of `safetynet token create`, or one made before makers were kept)."""
    if created_by is None:
        return "-"
    return logins.get(created_by, removed)


def removal_log_fields(removal: StaffRemoval, via: str) -> dict[str, object]:
    """The fields of the `staff_removed` log line, the same from the command line and /admin (QA: the
    command line wrote none): ids and counts, never the login or name (the audit log has the login)."""
    return {"staff_id": removal.staff_id, "role": str(removal.role), "via": via,
            "alerts_dropped": removal.alerts_dropped, "live_tokens": len(removal.live_tokens)}


def keyed_hash(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a staff member (by session) or an API token, with a role and a scope."""

    role: Role
    scope: Scope
    staff_id: int | None = None
    login: str = ""
    display_name: str = ""
    token_id: int | None = None  # set when the request came with an API token
    token_owner: int | None = None  # the staff id of the person who made that token, if a person did

    @property
    def actor(self) -> Actor:
        """Who this is when it starts or approves a campaign, or reads a household (the audit log):
        a staff member by login and id, or an API token by its id: a token is no person (DESIGN §9)."""
        if self.staff_id is not None:
            return Actor(self.login, self.staff_id, role=str(self.role))
        if self.token_id is not None:
            return Actor(f"token:{self.token_id}", on_behalf_of=self.token_owner, role=str(self.role))
        return Actor(self.login or "unknown", role=str(self.role))

    @property
    def is_city_admin(self) -> bool:
        return self.role == Role.CITY_ADMIN

    def sees(self, district: str, association: str) -> bool:
        return self.scope.allows(district, association)

    @property
    def may_start_campaigns(self) -> bool:
        return self.role in CAMPAIGN_ROLES


def command_line_actor() -> str:
    """Who runs a command, for the audit log: `cli:` and the operating system's user (the command
    line signs nobody in; whoever can read the database file is trusted with it). The one home of
    the name: every command's audit entry (`cli_audit_entry`) and every campaign step taken from the
    command line without `--as` (`Actor(command_line_actor())`) says it so."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid): the uid, still someone
        return f"cli:uid{os.getuid()}"


def cli_audit_entry(at: float, action: AuditAction, what: str, *, campaign_id: int | None = None,
                    detail: str = "") -> AuditEntry:
    """An audit entry for what a command did, by `command_line_actor()`. An export writes it before
    its output goes out (DESIGN §9): a reader that stops early (`| head`) cannot leave it unrecorded."""
    return AuditEntry(at, command_line_actor(), str(action), what, campaign_id=campaign_id, detail=detail)


def validate_role_scope(role: Role, scope: Scope) -> None:
    """A role goes with a scope of the matching width; raises ValueError otherwise."""
    expected = {
        Role.CITY_ADMIN: "city",
        Role.DISTRICT_HEAD: "district",
        Role.ASSOCIATION_HEAD: "association",
        Role.DEPUTY: "association",
    }[role]
    if scope.kind != expected:
        hint = "city" if expected == "city" else f"{expected}:NAME"
        raise ValueError(f"role {role} needs scope {hint}, got {scope}")
