"""Malformed bodies on every POST route of the route table: a 4xx that says why, never a 500 and
never an error-level log line (a traceback in the log is a page for whoever is on call).

The table holds what a broken client or a scanner sends: multipart without its boundary, parts a
multipart reader cannot read, charsets no codec knows, bytes that are not UTF-8, JSON nested past
the parser's depth, numbers of thousands of digits. Each goes to every POST route with the
credentials that route needs to get as far as reading its body (a staff session and its CSRF
header, a reply token, an enrolment code, the Telegram secret), so the reading itself is tested.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import structlog
from dashboard_fixtures import ASSOC_A, World, client, login, world
from test_scope_routes import fill

from safetynet.broadcast.service import CampaignService
from safetynet.channels.telegram.updates import SECRET_HEADER, webhook_secret
from safetynet.clock import FakeClock
from safetynet.replies.tokens import reply_token
from safetynet.roster.codes import hash_code, new_code
from safetynet.triggers.service import TriggerService
from safetynet.web.bodies import loads, parse_urlencoded

URLENCODED = "application/x-www-form-urlencoded"
_PART = b'--x\r\nContent-Disposition: form-data; name="status"\r\n'

# (what it is, Content-Type, body)
MALFORMED: list[tuple[str, str, bytes]] = [
    ("multipart without boundary", "multipart/form-data", _PART + b"\r\nsafe\r\n--x--\r\n"),
    ("multipart, boundary never found", "multipart/form-data; boundary=x", b"status=safe"),
    ("multipart, boundary too long", "multipart/form-data; boundary=" + "x" * 100, b"--x\r\n"),
    ("multipart part without a name", "multipart/form-data; boundary=x",
     b"--x\r\nContent-Disposition: form-data\r\n\r\nsafe\r\n--x--\r\n"),
    ("multipart part in an unknown charset", "multipart/form-data; boundary=x",
     _PART + b"Content-Type: text/plain; charset=x-no-such\r\n\r\nsafe\r\n--x--\r\n"),
    ("multipart part in an unknown transfer encoding", "multipart/form-data; boundary=x",
     _PART + b"Content-Transfer-Encoding: x-no-such\r\n\r\nsafe\r\n--x--\r\n"),
    ("multipart part that is not UTF-8", "multipart/form-data; boundary=x", _PART + b"\r\n\xff\xfe\r\n--x--\r\n"),
    ("form in an unknown charset", f"{URLENCODED}; charset=x-no-such", b"status=safe"),
    ("form that is not UTF-8", URLENCODED, b"status=safe&note=%FF%FE"),
    ("form of 500 fields", URLENCODED, b"&".join([b"a=1"] * 500)),
    ("JSON in an unknown charset", "application/json; charset=x-no-such", b'{"status": "safe"}'),
    ("JSON that is not UTF-8", "application/json", b'{"status": "\xff\xfe"}'),
    ("JSON nested 30,000 deep", "application/json", b"[" * 30_000 + b"]" * 30_000),
    ("JSON objects nested 10,000 deep", "application/json", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    ("JSON with a 5,000-digit number", "application/json", b'{"status": "safe", "people_safe": ' + b"9" * 5000 + b"}"),
    ("JSON that is a 5,000-digit number", "application/json", b"9" * 5000),
    ("JSON with a 5,000-digit fraction", "application/json", b'{"a": 0.' + b"1" * 5000 + b"}"),
    ("JSON that is not JSON", "application/json", b"{not json"),
]

# Routes that never read their body answer for what their path and credentials say; the rest
# must refuse every malformed body. Keep this short and explicit.
IGNORE_BODY = {
    "/r/{token}/seen",  # the service worker's "shown" ping carries nothing
    "/api/campaigns/{id}/close",
    "/api/campaigns/{id}/cancel",
}


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def error_lines() -> Iterator[list[str]]:
    """Every error-level line while the block runs: structlog events and stdlib records (aiohttp's own)."""
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    found: list[str] = []
    try:
        with structlog.testing.capture_logs() as events:
            yield found
    finally:
        root.removeHandler(handler)
        found += handler.records
        found += [f"{e.get('event')} {e.get('path', '')}" for e in events
                  if e.get("log_level") in ("error", "critical", "exception")]


def post_routes(w: World) -> list[str]:
    assert w.app is not None
    return sorted({r.resource.canonical for r in w.app.router.routes()
                   if r.method == "POST" and r.resource is not None},
                  key=lambda p: (p == "/logout", p))  # last: it ends the session


async def _post(http: aiohttp.ClientSession, url: str, ctype: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=body, headers={**headers, "Content-Type": ctype}, allow_redirects=False) as r:
        return r.status, await r.text()


async def test_malformed_bodies_on_every_post_route_get_a_4xx_and_log_no_error(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        w.svc.triggers = TriggerService(w.store, w.cfg, CampaignService(w.store, w.cfg, w.clock), w.clock)
        code = new_code()
        await w.store.roster.set_enrolment_codes([(w.hh("A-001").id, hash_code(code, w.cfg.secrets.secret_key))])
        values = {"id": str(w.campaign_id), "campaign_id": str(w.campaign_id), "household_id": str(w.hh("A-004").id),
                  "association_id": str(w.assoc_ids[ASSOC_A]), "code": code,
                  "token": reply_token(w.cfg.secrets.secret_key, w.campaign_id, w.hh("A-001").id)}
        routes = post_routes(w)
        assert len(routes) >= 20, routes  # the real table, every module's routes
        telegram = {SECRET_HEADER: webhook_secret(w.cfg.secrets.secret_key)}
        failures: list[str] = []
        async with client() as session:
            csrf = await login(session, w, "admin")
            with error_lines() as errors:
                for path in routes:
                    if path == "/logout":  # the fake clock's minutes per body have run past a session's life
                        session.cookie_jar.clear()
                        csrf = await login(session, w, "admin")
                    headers = {**telegram, **({} if path == "/logout" else {"X-CSRF-Token": csrf})}
                    for what, ctype, body in MALFORMED:
                        await w.clock.advance(60)  # per-address limits refill: the body is what is tested
                        status, text = await _post(session, w.url + fill(path, values), ctype, body, headers)
                        if status >= 500 or (status < 400 and path not in IGNORE_BODY):
                            failures.append(f"POST {path} with {what}: {status} {text[:80]!r}")
                        elif status >= 400 and not text.strip():
                            failures.append(f"POST {path} with {what}: {status} without a reason")
        assert failures == [], "\n".join(failures)
        assert errors == []


def test_the_readers_refuse_what_no_handler_could_use() -> None:
    assert parse_urlencoded(b"a=1&a=2&&b=x+y%21") == [("a", "1"), ("a", "2"), ("b", "x y!")]
    assert parse_urlencoded(b"note=%82%A0", "shift_jis") == [("note", "あ")]
    assert loads(b'{"n": 12345678901234567890, "f": 1.5}') == {"n": 12345678901234567890, "f": 1.5}
    assert loads('\ufeff{"a": 1}'.encode()) == {"a": 1}  # a BOM some clients write
    for bad in (b"[" * 30_000 + b"]" * 30_000, b"9" * 5000, b"-" + b"9" * 41, b"\xff"):
        try:
            loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad[:20]!r}")
