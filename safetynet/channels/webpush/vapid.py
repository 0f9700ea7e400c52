"""The server's VAPID key pair (RFC 8292) and the signed `Authorization` header per push service.

Traps handled (../shared/notes/libraries.md §2): claims are never reused (pywebpush and py_vapid
write into the dict they get: a reused one keeps the first push service's `aud`), and the header
is signed once per push-service origin and refreshed before it expires.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from safetynet.clock import Clock

VAPID_KEY_FILE = "vapid_private.pem"
# RFC 8292 caps a VAPID JWT at 24 h; sign for 12 h and re-sign an hour before the end.
VAPID_LIFETIME_SECONDS = 12 * 3600
VAPID_REFRESH_BEFORE_SECONDS = 3600

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
    # Whether this call wrote the key file: `init` lists only what it made (QA: two `init` at once both
    # printed "created …/vapid_private.pem", the one whose file lost the race too)
    created: bool = field(default=False, compare=False)


def _keys(v: Vapid02, created: bool = False) -> VapidKeys:
    raw = v.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return VapidKeys(v, b64u(raw), created)


def load_or_create_vapid(data_dir: Path) -> VapidKeys:
    """The server's VAPID key pair from `data_dir/vapid_private.pem`, created (mode 0600) on first use."""
    path = Path(data_dir) / VAPID_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        v = Vapid02()
        v.generate_keys()
        # written whole aside, then linked in place (fails if it exists): a process starting beside this
        # one never reads a file still being written (CI: two serve processes started side by side)
        part = path.with_name(f".{VAPID_KEY_FILE}.{os.getpid()}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(v.private_pem())
        try:
            os.link(part, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            return _keys(v, created=True)
        finally:
            part.unlink(missing_ok=True)
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


