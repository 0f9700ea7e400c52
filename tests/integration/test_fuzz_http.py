"""Fuzzed requests to the running app: SMS bodies through the signed webhook, Telegram updates,
reply forms and the push action's JSON, the campaign API and the staff confirm/handled endpoints.

Whatever arrives: no 5xx, no stack trace, every refusal says why (a JSON `error`, a page, a
text), and nothing is half-written (each 200 answer is exactly one stored reply, each refusal
none; the status counts of every campaign still add up to its households).

The app (`replies_fixtures.running_app`: real SQLite, the sandbox as providers) runs in a thread
of its own so that hypothesis, which is synchronous, can drive it request by request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pg_helpers import fresh_store_env
from reliability_helpers import read_db, refusal_problems
from replies_fixtures import Env, enrolment_code, running_app
from test_triggers_fuzz import byte_mutations, text_mutations
from twilio.request_validator import RequestValidator

from safetynet.auth import new_token, token_hash
from safetynet.broadcast.service import CampaignService
from safetynet.channels.line.events import SIGNATURE_HEADER as LINE_SIGNATURE_HEADER
from safetynet.channels.line.events import signature as line_signature
from safetynet.channels.telegram.updates import SECRET_HEADER, webhook_secret
from safetynet.config import CapConfig, JmaConfig, TriggersConfig
from safetynet.domain import Role
from safetynet.triggers.service import TriggerService

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = ("A-001", "A-002", "A-003", "A-004", "B-001")


class LoopThread:
    """An event loop in a thread, so synchronous hypothesis tests can drive an async app:
    `lt.run(coro)` runs `coro` there and returns its result."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="app-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout_seconds: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_seconds)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def entered_in(lt: LoopThread, cm: contextlib.AbstractAsyncContextManager[Any]) -> Iterator[Any]:
    """`async with cm` held open in `lt`'s loop for the length of a synchronous `with`."""
    value = lt.run(cm.__aenter__())
    try:
        yield value
    finally:
        lt.run(cm.__aexit__(None, None, None))


class App:
    def __init__(self, lt: LoopThread, env: Env, api_token: str) -> None:
        self.lt, self.env, self.api_token = lt, env, api_token

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, str]:
        async def go() -> tuple[int, str, str]:
            async with self.env.http.request(method, self.env.url + path, allow_redirects=False, **kwargs) as r:
                return r.status, await r.text(errors="replace"), r.headers.get("Content-Type", "")
        result: tuple[int, str, str] = self.lt.run(go())
        return result

    def check(self, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
        status, body, ctype = self.request(method, path, **kwargs)
        problems = refusal_problems(status, body, ctype)
        assert not problems, (method, path, kwargs, problems, body[:500])
        return status, body

    def db(self) -> sqlite3.Connection:
        return read_db(self.env.cfg)

    def replies(self) -> int:
        with contextlib.closing(self.db()) as conn:
            return int(conn.execute("SELECT count(*) FROM replies").fetchone()[0])

    def counts_add_up(self) -> None:
        with contextlib.closing(self.db()) as conn:
            rows = conn.execute(
                "SELECT k.id, k.households, coalesce(sum(c.n), 0) FROM campaigns k LEFT JOIN campaign_counts c"
                " ON c.campaign_id = k.id WHERE k.state != 'draft' GROUP BY k.id").fetchall()
        assert all(r[1] == r[2] for r in rows), rows


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    lt = LoopThread()
    # one city for the module (on PostgreSQL a schema of its own, beside each test's)
    with fresh_store_env() as store:
        try:
            cm = running_app(tmp_path_factory.mktemp("fuzz-http"), SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="0", **store)
            with entered_in(lt, cm) as env:
                token = new_token()
                lt.run(env.store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", label="fuzz"))
                # triggers that act on the sample telegrams' areas and CAP codes
                cfg = dataclasses.replace(env.cfg, triggers=TriggersConfig(
                    jma=JmaConfig(areas=("771", "390", "220", "442"), cities=("1720100", "0338100"), min_intensity="3",
                                  drills=True), cap=CapConfig(codes=("17201",))))
                env.svc.triggers = TriggerService(env.store, cfg, CampaignService(env.store, env.cfg, env.clock),
                                                  env.clock)
                a = App(lt, env, token)
                yield a
                a.counts_add_up()
                lt.run(env.intake.idle())
        finally:
            lt.close()


TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
# Form field names: the client library refuses control characters there, so do we.
NAMES = st.text(st.characters(categories=("L", "N", "P")), max_size=12)
WEIRD = st.one_of(TEXT, st.sampled_from([
    "", " ", "1", "２", "無事", "たすけて", "SOS", "ok" * 800, "\x00", "\u202e", "🆘", "<script>alert(1)</script>",
    "' OR 1=1 --", "%s%n", "../../etc/passwd", "\r\n\r\nX-Injected: 1", "１ 無事です", "2 足をけがしました"]))
PHONES = st.one_of(st.sampled_from(["+819011110001", "+819011110002", "+819022220001", "+81311110002",
                                    "090-1111-0003", "+819099999999", "", "not a phone", "+8190" + "9" * 30]), TEXT)


def _signed_post(app: App, path: str, params: dict[str, str]) -> tuple[int, str]:
    url = app.env.cfg.server.public_url + path
    sig = RequestValidator(app.env.cfg.secrets.twilio_auth_token).compute_signature(url, params)
    return app.check("POST", path, data=params, headers={"X-Twilio-Signature": sig})


@FUZZ
@given(body=WEIRD, from_=PHONES, sid=st.one_of(st.just(None), st.text(max_size=40)),
       extra=st.dictionaries(NAMES, TEXT, max_size=3))
# a NUL from the sender: PostgreSQL text cannot hold one (a 500 there, found by this fuzz)
@example(body="", from_="\x00", sid="SM1", extra={})
@example(body="\x00", from_="+819011110001", sid="SM\x00", extra={})
def test_sms_bodies_through_the_signed_webhook(app: App, body: str, from_: str, sid: str | None,
                                                extra: dict[str, str]) -> None:
    params = {**extra, "Body": body, "From": from_, "To": app.env.cfg.channels.sms.from_number}
    params["MessageSid"] = sid if sid is not None else "SM" + new_token(16)
    status, text = _signed_post(app, "/hooks/twilio/sms", params)
    if params["MessageSid"] and params["From"]:
        assert status == 200 and "<Response>" in text
    else:
        assert status == 400


@FUZZ
@given(params=st.dictionaries(NAMES, TEXT, max_size=6), sig=st.one_of(st.just(None), st.text(
    st.characters(codec="ascii", categories=("L", "N", "P", "S")), max_size=40)))
def test_unsigned_or_forged_twilio_posts_change_nothing(app: App, params: dict[str, str], sig: str | None) -> None:
    before = app.replies()
    for path in ("/hooks/twilio/sms", "/hooks/twilio/status", "/hooks/twilio/voice?t=x"):
        headers = {"X-Twilio-Signature": sig} if sig is not None else {}
        status, _ = app.check("POST", path, data=params, headers=headers)
        assert status == 403
    assert app.replies() == before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def telegram_updates(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["random", "callback", "start", "message"]))
    chat = draw(st.one_of(st.integers(), st.just(5550003), TEXT, st.none()))
    if kind == "random":
        return draw(JSON)
    if kind == "callback":
        data = draw(st.one_of(TEXT, st.builds("{}:{}".format, st.sampled_from(["safe", "need_help", "x"]),
                                              st.text(max_size=30))))
        return {"update_id": draw(st.integers()), "callback_query": {
            "id": draw(st.one_of(TEXT, st.integers())), "from": {"id": chat, "is_bot": False},
            "message": draw(st.one_of(JSON, st.just({"message_id": 1, "chat": {"id": chat}, "text": "t"}))),
            "data": data}}
    text = "/start " + draw(TEXT) if kind == "start" else draw(TEXT)
    return {"update_id": 1, "message": {"message_id": draw(st.integers()), "chat": {"id": chat}, "text": text,
                                        "from": draw(JSON)}}


@FUZZ
@given(update=telegram_updates())
def test_telegram_updates(app: App, update: Any) -> None:
    secret = webhook_secret(app.env.cfg.secrets.secret_key)
    status, _ = app.check("POST", "/hooks/telegram", data=json.dumps(update),
                          headers={SECRET_HEADER: secret, "Content-Type": "application/json"})
    assert status == 200  # Telegram re-sends anything else for a day


@FUZZ
@given(raw=st.binary(max_size=300))
def test_telegram_bodies_that_are_not_json(app: App, raw: bytes) -> None:
    secret = webhook_secret(app.env.cfg.secrets.secret_key)
    status, _ = app.check("POST", "/hooks/telegram", data=raw,
                          headers={SECRET_HEADER: secret, "Content-Type": "application/json"})
    assert status in (200, 400)


@st.composite
def reply_forms(draw: st.DrawFn) -> dict[str, str]:
    form = draw(st.dictionaries(st.sampled_from(["status", "people_safe", "people_injured", "location", "note",
                                                 "k", "lang", "details", "via", "csrf"]) | NAMES,
                                WEIRD, max_size=7))
    if draw(st.booleans()):
        form["status"] = draw(st.sampled_from(["safe", "need_help"]))
    form.pop("k", None)  # every accepted answer is a new one (a retried key is tested elsewhere)
    return form


@FUZZ
# the pair below runs in this order before the drawn examples: the second is a kept details form's
# "safe" from a household that has asked for help since, refused (409) whatever the fuzz drew before
@example(key="A-002", form={"status": "need_help"}, token=None)
@example(key="A-002", form={"status": "safe", "details": "1", "note": "2 足をけがしました"}, token=None)
@given(key=st.sampled_from(KEYS), form=reply_forms(),
       token=st.one_of(st.just(None), st.text(st.characters(codec="ascii", exclude_characters="/?#%"), max_size=40)))
def test_reply_forms(app: App, key: str, form: dict[str, str], token: str | None) -> None:
    before = app.replies()
    path = f"/r/{quote(token, safe='')}" if token is not None else "/r/" + app.env.token(key)
    if token is not None and token.strip(".") == "":
        path = "/r/x" + quote(token, safe="")
    valid = token is None and form.get("status") in ("safe", "need_help")
    # The module's households carry what every earlier example (and test) answered: a "safe" sent
    # with the details form (details=1) from a household that now asks for help is the page's
    # kept-form refusal (reply_pages.ReplyRoutes.answer), not an accepted answer. Drawn about once in
    # a few thousand examples, it failed the fuzz now and then.
    asks_for_help = valid and app.lt.run(app.env.status(key)) == "need_help"
    kept_form = valid and form.get("details") == "1" and form["status"] == "safe" and asks_for_help
    status, _ = app.check("POST", path, data=form)
    if valid and len(urlencode(form)) < 4000:
        assert status == (409 if kept_form else 200)
    assert app.replies() == before + (1 if status == 200 else 0)


@FUZZ
@given(key=st.sampled_from(KEYS), doc=st.one_of(JSON, st.fixed_dictionaries(
    {"status": st.sampled_from(["safe", "need_help", "read", ""])},
    optional={"people_safe": JSON, "people_injured": JSON, "location": JSON, "note": JSON, "lang": JSON})))
def test_push_action_json(app: App, key: str, doc: Any) -> None:
    before = app.replies()
    status, body = app.check("POST", f"/r/{app.env.token(key)}/answer", data=json.dumps(doc),
                             headers={"Content-Type": "application/json"})
    assert app.replies() == before + (1 if status == 200 else 0)
    if status == 200:
        assert json.loads(body)["recorded"] is True


LADDER_STEP = st.fixed_dictionaries({}, optional={
    "after_minutes": JSON, "after_seconds": JSON, "channels": st.lists(st.sampled_from(
        ["webpush", "telegram", "sms", "voice", "fax", ""]), max_size=3) | JSON,
    "fallback": JSON, "door_knock": JSON})
CAMPAIGN = st.fixed_dictionaries({}, optional={
    "title": WEIRD | JSON, "kind": st.sampled_from(["drill", "real", "x"]) | JSON,
    "scope": st.lists(st.sampled_from(["city", "association:桜町一丁目町会", "district:nowhere", "association:"])
                      | TEXT, max_size=3) | JSON,
    "messages": st.dictionaries(st.sampled_from(["ja", "en", "xx", ""]), WEIRD, max_size=2) | JSON,
    "ladder": st.lists(LADDER_STEP, max_size=4) | JSON, "confirm": JSON, "start": JSON,
    "scenario": st.sampled_from(["citywide-earthquake", "../../etc/passwd", ""]) | JSON})


@FUZZ
@given(doc=st.one_of(JSON, CAMPAIGN), preview=st.booleans())
def test_campaign_api_json(app: App, doc: Any, preview: bool) -> None:
    path = "/api/campaigns/preview" if preview else "/api/campaigns"
    status, _ = app.check("POST", path, data=json.dumps(doc), headers={
        "Authorization": f"Bearer {app.api_token}", "Content-Type": "application/json"})
    assert status in ((200,) if preview else (201,)) or 400 <= status < 500


@FUZZ
@given(raw=st.binary(max_size=200), path=st.sampled_from(
    ["/api/campaigns", "/api/campaigns/preview", "/api/campaigns/1/close", "/api/campaigns/1/cancel",
     "/api/campaigns/1/households/1/confirm", "/api/campaigns/1/households/1/handled",
     "/api/campaigns/1/households/1/undo", "/api/campaigns/1/households/1/reopen"]))
def test_api_bodies_that_are_not_json(app: App, raw: bytes, path: str) -> None:
    app.check("POST", path, data=raw, headers={"Authorization": f"Bearer {app.api_token}",
                                               "Content-Type": "application/json"})


# ids SQLite can hold: larger ones are the reported defect test_attack_web.test_ids_beyond_sqlite_integers_are_not_found
IDS = st.one_of(st.integers(-2, 10), st.integers(-(2**63), 2**63 - 1),
                st.text(st.characters(codec="ascii"), min_size=1, max_size=12))


@FUZZ
@given(cid=IDS, hid=IDS, doc=st.one_of(JSON, st.fixed_dictionaries({}, optional={
    # strings only: a list or object here is the reported defect that
    # test_attack_web.test_confirm_with_a_method_that_is_not_a_string_is_refused pins down
    "method": st.sampled_from(["visit", "phone", "paper", "x", ""]) | TEXT, "note": WEIRD | JSON,
    "key": JSON, "reply_id": IDS | JSON})), action=st.sampled_from(["confirm", "handled", "undo", "reopen"]),
       as_form=st.booleans())
def test_confirm_and_handled(app: App, cid: Any, hid: Any, doc: Any, action: str, as_form: bool) -> None:
    path = f"/api/campaigns/{quote(str(cid), safe='')}/households/{quote(str(hid), safe='')}/{action}"
    headers = {"Authorization": f"Bearer {app.api_token}"}
    if as_form and isinstance(doc, dict):
        app.check("POST", path, data={k: str(v) for k, v in doc.items() if k.isprintable()}, headers=headers)
    else:
        app.check("POST", path, data=json.dumps(doc), headers={**headers, "Content-Type": "application/json"})


# -- trigger telegrams over HTTP -------------------------------------------------------------------

TRIGGER_PATHS = ("/api/triggers/jma", "/api/triggers/cap")


def _push(app: App, path: str, body: bytes) -> tuple[int, str]:
    return app.check("POST", path, data=body, headers={"Authorization": f"Bearer {app.api_token}",
                                                      "Content-Type": "application/xml"})


@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), byte_mutations(), text_mutations()),
       path=st.sampled_from(TRIGGER_PATHS))
def test_trigger_telegrams(app: App, body: bytes, path: str) -> None:
    status, text = _push(app, path, body)
    assert status in (200, 400, 413)
    if status == 200:
        doc = json.loads(text)
        assert doc["decision"] in ("ignore", "propose", "start", "update", "withdraw") and doc["reason"]


def _xml_attacks(listener: str) -> list[bytes]:
    jma = b'<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&x;</Title></Control></Report>'
    return [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>' + jma,
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + jma,
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{listener}/entity">]>'.encode() + jma,
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{listener}/external.dtd">'.encode() + jma.replace(b"&x;", b"t"),
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{listener}/param.dtd"> %p;]>'.encode()
        + jma.replace(b"&x;", b"t"),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "' + b"A" * 50_000 + b'">]>' + jma.replace(b"&x;", b"&x;" * 200),
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'.encode("utf-16")
        + jma.decode().encode("utf-16")[2:],
        b'<Report xmlns="http://xml.kishou.go.jp/jmaxml1/" xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></Report>',
        f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{listener}/xinclude" parse="text"/></alert>'.encode(),
    ]


def test_trigger_xml_cannot_expand_entities_or_fetch_anything(app: App) -> None:
    from aiohttp import web

    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text='<!ENTITY x "fetched">')

    async def listen() -> tuple[web.AppRunner, str]:
        server = web.Application()
        server.router.add_get("/{tail:.*}", record)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"

    runner, listener = app.lt.run(listen())
    try:
        for body in _xml_attacks(listener):
            for path in TRIGGER_PATHS:
                status, text = _push(app, path, body)
                assert status == 400, (path, body[:80], text)
                assert "root:" not in text and "fetched" not in text
                assert json.loads(text)["error"]
    finally:
        app.lt.run(runner.cleanup())
    assert hits == [], "the XML parser fetched something"


# -- what an audit against a real server found: headers, charsets, bodies and ids no client library sends ----------


def raw_exchange(app: App, head: bytes, body: bytes = b"") -> tuple[int, str, str]:
    """`head` (request line and headers, without the blank line) and `body` sent byte for byte, as no
    client library would (raw 0xE9 in a header value): (status, body, content type) of the answer."""
    async def go() -> tuple[int, str, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(app.env.url.rsplit(":", 1)[1]))
        try:
            length = b"Content-Length: %d\r\n" % len(body) if body or head.startswith(b"POST") else b""
            writer.write(head + b"\r\nHost: x\r\nConnection: close\r\n" + length + b"\r\n" + body)
            answer = await reader.read()
        finally:
            writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        headers, _, text = rest.partition(b"\r\n\r\n")
        ctype = next((h.split(b":", 1)[1].strip().decode() for h in headers.split(b"\r\n")
                      if h.lower().startswith(b"content-type:")), "")
        return int(status_line.split()[1]), text.decode("utf-8", "replace"), ctype
    result: tuple[int, str, str] = app.lt.run(go())
    return result


def raw_check(app: App, head: bytes, body: bytes = b"") -> tuple[int, str]:
    status, text, ctype = raw_exchange(app, head, body)
    problems = refusal_problems(status, text, ctype)
    assert not problems, (head, body[:80], problems, text[:300])
    return status, text


@pytest.fixture(scope="module")
def code(app: App) -> str:
    return app.lt.run(enrolment_code(app.env, "A-003"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def session(app: App) -> tuple[str, str]:
    """(session cookie, its CSRF token) of a city admin."""
    async def make() -> tuple[str, str]:
        staff = await app.env.store.auth.add_staff("auditor", "Auditor", Role.CITY_ADMIN, "city", None)
        cookie, csrf = new_token(), new_token()
        await app.env.store.auth.create_session(token_hash(cookie), staff.id, csrf, 3600.0)
        return cookie, csrf
    result: tuple[str, str] = app.lt.run(make())
    return result


@pytest.mark.parametrize("head", [
    b"GET /api/campaigns HTTP/1.1\r\nAuthorization: Bearer \xe9",
    b"GET /join/{code} HTTP/1.1\r\nAuthorization: Bearer \xe9",
    b"GET /join/{code} HTTP/1.1\r\nCookie: sn_session=\xe9",
    b"GET /r/{token}%2E HTTP/1.1\r\nCookie: sn_session=\xe9",
    b"GET /city HTTP/1.1\r\nCookie: sn_session=\xe9\xff",
    b"POST /hooks/telegram HTTP/1.1\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: \xe9",
    b"POST /hooks/line HTTP/1.1\r\nContent-Type: application/json\r\nX-Line-Signature: \xe9\xe9",
    b"POST /hooks/twilio/sms HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: \xe9",
])
def test_a_credential_header_that_is_not_utf8_is_a_wrong_credential(app: App, code: str, head: bytes) -> None:
    head = head.replace(b"{code}", code.encode()).replace(b"{token}", app.env.token("A-001").encode())
    status, _ = raw_check(app, head, b"{}" if b"hooks" in head else b"")
    assert status in (200, 302, 303, 401, 403, 404)


def test_a_csrf_token_that_is_not_ascii_is_a_wrong_one(app: App, session: tuple[str, str]) -> None:
    form = b"application/x-www-form-urlencoded"
    # the login form's token against its cookie: é in the form, then a raw 0xE9 in the cookie
    status, _ = raw_check(app, b"POST /login HTTP/1.1\r\nContent-Type: " + form + b"\r\nCookie: sn_login_csrf=abc",
                          "csrf=é&login=admin&password=x".encode())
    assert status == 403
    status, _ = raw_check(app, b"POST /login HTTP/1.1\r\nContent-Type: " + form + b"\r\nCookie: sn_login_csrf=\xe9",
                          b"csrf=abc&login=admin&password=x")
    assert status == 403
    status, _ = raw_check(app, b"GET /login HTTP/1.1\r\nCookie: sn_login_csrf=\xe9")
    assert status == 200
    cookie, _ = session
    for sent in (b"\xe9", "é".encode()):
        status, _ = raw_check(app, b"POST /api/campaigns HTTP/1.1\r\nContent-Type: application/json\r\n"
                              b"Cookie: sn_session=" + cookie.encode() + b"\r\nX-CSRF-Token: " + sent, b"{}")
        assert status == 403


FORM_AND_JSON_POSTS = ("/r/{token}", "/r/{token}/answer", "/join/{code}/webpush", "/join/{code}/sms", "/login",
                       "/hooks/twilio/sms", "/hooks/telegram", "/api/campaigns",
                       "/api/campaigns/1/households/1/confirm")


@pytest.mark.parametrize("path", FORM_AND_JSON_POSTS)
@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded; charset=rot13",
                                   "application/json; charset=base64", "multipart/form-data; charset=hex; boundary=XX"])
def test_a_charset_that_is_no_text_encoding_is_refused(app: App, code: str, session: tuple[str, str], path: str,
                                                       ctype: str) -> None:
    """rot13, base64, hex: Python's codecs know them, but they turn str into str or bytes into bytes."""
    path = path.replace("{code}", code).replace("{token}", app.env.token("A-004"))
    before = app.replies()
    cookie, csrf = session
    status, _ = raw_check(app, f"POST {path} HTTP/1.1\r\nContent-Type: {ctype}\r\nCookie: sn_session={cookie}\r\n"
                               f"X-CSRF-Token: {csrf}\r\n{SECRET_HEADER}: {webhook_secret(app.env.cfg.secrets.secret_key)}"
                               .encode(), b"status=safe" if "json" not in ctype else b'{"status": "safe"}')
    assert status in (400, 403, 415) or (status == 404 and "join" in path)  # 403: Twilio's signature goes first
    assert app.replies() == before


@pytest.mark.parametrize("path", ["/r/{token}", "/login", "/join/{code}/sms", "/api/campaigns/1/households/1/confirm"])
@pytest.mark.parametrize("body", [b"--XX\r\nfoo\r\n", b"--XX\r\n\r\n", b"--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--\r\n",
                                  b"--XX\r\nContent-Disposition: form-data; name=\"status\"\r\n"
                                  b"Content-Transfer-Encoding: rot13\r\n\r\nfnsr\r\n--XX--\r\n"])
def test_a_broken_multipart_body_is_a_400(app: App, code: str, session: tuple[str, str], path: str,
                                          body: bytes) -> None:
    path = path.replace("{code}", code).replace("{token}", app.env.token("A-004"))
    before = app.replies()
    cookie, csrf = session
    status, _ = raw_check(app, f"POST {path} HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
                               f"Cookie: sn_session={cookie}\r\nX-CSRF-Token: {csrf}".encode(), body)
    assert status in (400, 403)
    assert app.replies() == before


@pytest.mark.parametrize("digit", ["%C2%B2", "%EF%BC%91", "0_1", "%D9%A1", "+1", "%201"])
def test_an_id_is_ascii_digits_only(app: App, session: tuple[str, str], digit: str) -> None:
    """"²" passes str.isdigit() and then int() fails (a 500); "１" (full width) and "0_1" are 1 to int()."""
    cid = str(app.env.campaign_id)
    cookie, csrf = session
    as_staff = {"Cookie": f"sn_session={cookie}", "X-CSRF-Token": csrf}
    as_api = {"Authorization": f"Bearer {app.api_token}"}
    for method, path, headers, data in [
        ("GET", f"/a/{digit}", as_staff, None), ("GET", f"/a/1?campaign={digit}", as_staff, None),
        ("GET", f"/city?campaign={digit}", as_staff, None), ("GET", f"/city/curve?campaign={digit}", as_staff, None),
        ("GET", f"/campaigns/{digit}/report", as_staff, None), ("POST", f"/city/campaigns/{digit}/start", as_staff, {}),
        ("GET", f"/api/campaigns/{digit}/stats", as_api, None), ("GET", f"/api/campaigns/{digit}/checks", as_api, None),
        ("GET", f"/api/campaigns/{digit}/help", as_api, None), ("GET", f"/cap/campaigns/{digit}.xml", {}, None),
        ("POST", f"/api/campaigns/{digit}/close", as_api, None),
        ("POST", f"/api/campaigns/{cid}/households/{digit}/confirm", as_api, None),
        ("GET", f"/icons/icon-{digit}.png", {}, None),
    ]:
        status, _ = app.check(method, path, headers=headers, data=data)
        assert status in (400, 404), (path, status)
    # a `since` that is no number is ignored (the whole stream); an association that is none, 404
    for query, expected in ((f"since={digit}", 200), (f"association={digit}", 404)):
        assert app.lt.run(_stream_status(app, f"/api/campaigns/{cid}/events?{query}", as_api)) == expected
    status, _ = app.check("POST", "/admin/tokens/revoke", data=f"id={digit}".encode(),
                          headers={**as_staff, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 404


async def _stream_status(app: App, path: str, headers: dict[str, str]) -> int:
    """The status of a live stream, which is then left (it would run until the client goes)."""
    async with app.env.http.get(app.env.url + path, headers=headers) as r:
        if r.status >= 400:
            assert not refusal_problems(r.status, await r.text(), r.headers.get("Content-Type", ""))
        return r.status


DEEP = b'{"events":' + b"[" * 50_000 + b"]" * 50_000 + b"}"


def test_json_nested_past_the_recursion_limit_is_a_400(app: App, code: str) -> None:
    """A correctly signed LINE body nested 50,000 deep was a RecursionError 500: every JSON body
    goes through the one reader (`web.bodies.loads`), which says 400."""
    line = "sandbox-line-channel-secret"  # the sandbox value, used while LINE talks to the sandbox
    status, _ = app.check("POST", "/hooks/line", data=DEEP, headers={
        "Content-Type": "application/json", LINE_SIGNATURE_HEADER: line_signature(line, DEEP)})
    assert status == 400
    telegram = {SECRET_HEADER: webhook_secret(app.env.cfg.secrets.secret_key)}
    for path, headers in [("/hooks/telegram", telegram), ("/api/campaigns", {"Authorization": f"Bearer {app.api_token}"}),
                          (f"/r/{app.env.token('A-004')}/answer", {}), (f"/join/{code}/webpush", {})]:
        deep = b"[" * 1_500 + b"]" * 1_500  # past the parser's depth (1,000), within every route's size limit
        status, _ = app.check("POST", path, data=deep, headers={**headers, "Content-Type": "application/json"})
        assert status == 400, path


@pytest.mark.parametrize(("ctype", "body", "status"), [
    ("application/x-www-form-urlencoded", b"status=safe&note=\xff\xfe", 400),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"status=safe", 415),
    ("text/plain", b"status=safe", 415),
    ("multipart/form-data; boundary=XX", b"--XX\r\nfoo\r\n", 400),
])
@pytest.mark.parametrize("path", ["/r/{token}", "/join/{code}/sms"])
def test_a_resident_form_that_cannot_be_read_says_so_in_the_catalogs_words(
        app: App, code: str, path: str, ctype: str, body: bytes, status: int) -> None:
    """Was English with Python's own words ('utf-8' codec can't decode byte 0xff…): now the page
    says it in Japanese, then English; nothing is recorded."""
    before = app.replies()
    path = path.replace("{code}", code).replace("{token}", app.env.token("A-004"))
    got, text = raw_check(app, f"POST {path} HTTP/1.1\r\nContent-Type: {ctype}".encode(), body)
    assert got == status
    assert text.index("送信された内容を読み取れませんでした") < text.index("What was sent could not be read")
    assert "codec" not in text and "expected a form" not in text
    assert app.replies() == before


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/join/{code}/sms/confirm"),  # SMS confirms by a typed code: no link page
    ("GET", "/join/{code}/no-such/confirm"),
    ("POST", "/join/{code}/no-such"),
    ("POST", "/join/{code}/no-such/confirm"),
])
def test_an_enrolment_page_that_is_not_there_says_so_in_the_catalogs_words(
        app: App, code: str, method: str, path: str) -> None:
    """Was a plain-text 404 in English ("no such enrolment"): now the catalog's words, Japanese then
    English, with the way back to the household's page; a client asking for JSON still gets JSON."""
    status, text = app.check(method, path.replace("{code}", code), data={"lang": "en"})
    assert status == 404
    assert text.index("この登録のページはありません") < text.index("There is no such registration page")
    assert text.index("登録のページにもどる") < text.index("Back to the registration page")
    assert f'href="/join/{code}"' in text
    assert "no such enrolment" not in text
    status, text = app.check(method, path.replace("{code}", code), headers={"Accept": "application/json"})
    assert status == 404 and json.loads(text)["error"]


def _with_headers(app: App, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """(status, body, headers) of one request; the body checked as every refusal is (`refusal_problems`)."""
    async def go() -> tuple[int, str, Any]:
        async with app.env.http.request(method, app.env.url + path, headers=headers or {}, allow_redirects=False) as r:
            return r.status, await r.text(errors="replace"), r.headers
    status, text, got = app.lt.run(go())
    problems = refusal_problems(status, text, got.get("Content-Type", ""))
    assert not problems, (method, path, problems, text[:300])
    return status, text, got


@pytest.mark.parametrize(("method", "path", "allow", "back"), [
    ("DELETE", "/r/{token}", "GET,HEAD,POST", "/r/{token}"),
    ("GET", "/r/{token}/answer", "POST", "/r/{token}"),
    ("OPTIONS", "/r/{token}/seen", "POST", "/r/{token}"),
    ("PUT", "/join/{code}", "GET,HEAD", "/join/{code}"),
    ("GET", "/join/{code}/sms", "POST", "/join/{code}"),  # the address of a sent form, opened again
    ("GET", "/join/{code}/remove", "POST", "/join/{code}"),
    ("PATCH", "/join/{code}/email/confirm", "GET,HEAD,POST", "/join/{code}"),
])
def test_a_resident_url_asked_with_another_method_says_so_in_the_catalogs_words(
        app: App, code: str, method: str, path: str, allow: str, back: str) -> None:
    """Was aiohttp's English "405: Method Not Allowed": now the catalog's words, Japanese then English,
    with the way back and the Allow header; a client asking for JSON gets JSON, with Allow too."""
    token = app.env.token("A-004")
    path, back = (s.replace("{code}", code).replace("{token}", token) for s in (path, back))
    status, text, headers = _with_headers(app, method, path)
    assert (status, headers["Allow"]) == (405, allow)
    assert "text/html" in headers["Content-Type"]
    assert text.index("このページは、この開き方では表示できません") < text.index("This page cannot be opened this way")
    assert f'href="{back}"' in text
    assert "Method Not Allowed" not in text
    status, text, headers = _with_headers(app, method, path, {"Accept": "application/json"})
    assert (status, headers["Allow"]) == (405, allow) and json.loads(text)["error"]


@pytest.mark.parametrize(("path", "words"), [
    ("/r/{token}x/x", ("このリンクは無効か", "This link is not valid")),  # no token of ours before the slash
    ("/join/{code}/sms/confirm/x", ("この登録のページはありません", "There is no such registration page")),
])
def test_a_resident_url_no_route_matches_is_the_dead_end_page(app: App, code: str, path: str,
                                                             words: tuple[str, str]) -> None:
    """Was aiohttp's English "404: Not Found" (a link cut or pasted with more after it)."""
    path = path.replace("{code}", code).replace("{token}", app.env.token("A-004"))
    status, text, _ = _with_headers(app, "GET", path)
    assert status == 404
    assert text.index(words[0]) < text.index(words[1])
    assert "404: Not Found" not in text


def test_a_reply_link_with_a_path_after_its_token_goes_to_its_page(app: App) -> None:
    """`/r/TOKEN/…` (a slash typed or glued on, more pasted after it): the page the token meant (one rule
    for resident links, `tokens.token_part`), not the dead end."""
    token = app.env.token("A-004")
    for tail in ("/", "/x", "/。"):
        status, _, headers = _with_headers(app, "GET", f"/r/{token}{tail}")
        assert (status, headers["Location"]) == (302, f"/r/{token}")


class _LogWatch:
    """Every structlog event (with its level) and every stdlib record at error level while a block runs;
    `wait_for(event)` blocks until the app's loop thread has logged it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._seen = threading.Condition()

    def __call__(self, _: Any, method: str, event_dict: Any) -> Any:
        with self._seen:
            self.events.append({**event_dict, "log_level": method})
            self._seen.notify_all()
        raise structlog.DropEvent

    def wait_for(self, event: str) -> dict[str, Any]:
        with self._seen:
            assert self._seen.wait_for(lambda: any(e["event"] == event for e in self.events), timeout=10), self.events
            return next(e for e in self.events if e["event"] == event)

    def error_level(self) -> list[str]:
        return self.errors + [f"{e['event']} {e.get('path', '')}" for e in self.events
                              if e["log_level"] in ("error", "critical", "exception")]


@contextlib.contextmanager
def watched_logs() -> Iterator[_LogWatch]:
    watch = _LogWatch()

    class Errors(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            watch.errors.append(f"{record.name}: {record.getMessage()}")

    handler = Errors(logging.ERROR)
    logging.getLogger().addHandler(handler)
    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[watch])
    try:
        yield watch
    finally:
        structlog.configure(processors=processors)
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize(("head", "body"), [
    (b"POST /join HTTP/1.1\r\nContent-Length: 1", b"x"),  # raw_exchange adds a second Content-Length
    (b"POST /join HTTP/1.1\r\nTransfer-Encoding: chunked", b"0\r\n\r\n"),  # and Content-Length with chunked
    (b"GET /join HTTP/1.1\r\nNoColonHere", b""),
    (b"GET /jo\x01in HTTP/1.1", b""),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1", b""),
])
def test_a_malformed_request_is_the_clients_fault_in_the_log(app: App, head: bytes, body: bytes) -> None:
    """Was aiohttp's "Error handling request from …" at error level with a traceback, for what a
    client got wrong: now a 400 and one warning, `http_request_malformed`, without a traceback."""
    with watched_logs() as logs:
        status, _, _ = raw_exchange(app, head, body)
        event = logs.wait_for("http_request_malformed")
    assert status == 400
    assert event["log_level"] == "warning" and event["error_class"] and "exc_info" not in event
    assert logs.error_level() == []


def test_a_malformed_request_logs_the_kind_of_fault_not_the_request(app: App) -> None:
    """aiohttp's message quotes the request's bytes: a reply token in the request line, a credential in
    a header. Only its first line is logged."""
    token = app.env.token("A-001")
    secret = "kinkyu-bearer-9f3a"
    for head in (f"GET /r/{token}\x01 HTTP/1.1".encode(),
                 f"GET /join HTTP/1.1\r\nAuthorization: Bearer {secret}\x01".encode()):
        with watched_logs() as logs:
            raw_exchange(app, head)
            event = logs.wait_for("http_request_malformed")
        assert event["fault"] and "\n" not in event["fault"]
        assert token not in repr(logs.events) and secret not in repr(logs.events)


def test_a_client_gone_mid_body_is_no_error_in_the_log(app: App, code: str) -> None:
    """Was `request_failed` at error level with a ConnectionResetError traceback: a phone that lost
    its signal while sending a form is logged at info, `request_client_gone`, and nothing is stored."""
    async def send_half_and_go(path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(app.env.url.rsplit(":", 1)[1]))
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 100")  # the handler is under way
        writer.write(b"address=%2B8190")
        await writer.drain()
        writer.transport.abort()

    before = app.replies()
    with watched_logs() as logs:
        app.lt.run(send_half_and_go(f"/join/{code}/sms"))
        event = logs.wait_for("request_client_gone")
        raw_exchange(app, b"GET /join HTTP/1.1")  # the server has moved on: anything it logged is in
    assert event["log_level"] == "info" and "exc_info" not in event
    assert logs.error_level() == []
    assert app.replies() == before
