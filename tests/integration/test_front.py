"""The reply routes' front (`web.front`): what it answers itself, and what it hands to aiohttp.

Every test of the reply pages already runs through the front (the fixtures listen as `serve` does);
these pin the framing: one keep-alive connection going from the front to aiohttp mid-way, pipelined
requests, bodies it does not take, malformed heads, `Connection: close`, and that the front's
answer is the page aiohttp would give. The front sends no `Server` header and aiohttp does: that
tells who answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

from replies_fixtures import Env, running_app

from safetynet.domain import Status
from safetynet.web.app import SECURITY_HEADERS

TIMEOUT = 10.0


class Conn:
    """One raw keep-alive connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, env: Env) -> Conn:
        port = int(env.url.rsplit(":", 1)[1])
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, *requests: bytes) -> None:
        self.writer.write(b"".join(requests))
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next response: status, headers (lower-case names), body."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            body = await asyncio.wait_for(self.reader.readexactly(int(headers["content-length"])), TIMEOUT)
        elif headers.get("transfer-encoding") == "chunked":
            body = await self._chunked()
        else:
            body = b""
        return status, headers, body

    async def _chunked(self) -> bytes:
        out = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return out
            out += chunk[:-2]

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b""

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def connected(env: Env) -> AsyncIterator[Conn]:
    conn = await Conn.open(env)
    try:
        yield conn
    finally:
        conn.close()


def _path(env: Env, key: str) -> str:
    return env.reply_url(key)[len(env.url):]


def get(path: str, version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode()


def post(path: str, body: bytes, ctype: str = "application/x-www-form-urlencoded", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def _without_key(page: bytes) -> bytes:
    """The page without its fresh form key (each page has its own)."""
    return re.sub(rb'name="k" value="[^"]*"', b'name="k" value=""', page)


async def test_the_front_answers_the_page_aiohttp_would(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            path = _path(env, "A-001")
            await conn.send(get(path))
            status, front, page = await conn.answer()
            assert status == 200 and "server" not in front  # the front's
            assert "無事です" in page.decode()
            # HTTP/1.0 is aiohttp's: the same page, the same headers but for aiohttp's Server and Date
            await conn.send(get(path, "1.0", "Connection: keep-alive\r\n"))
            status, via_aiohttp, again = await conn.answer()
            assert status == 200 and "server" in via_aiohttp
            assert _without_key(again) == _without_key(page)
            for name in [*SECURITY_HEADERS, "Cache-Control", "X-Robots-Tag", "Content-Type"]:
                assert front[name.lower()] == via_aiohttp[name.lower()], name


async def test_one_connection_goes_from_the_front_to_aiohttp_midway(tmp_path: Path) -> None:
    """A connection asks for the page, then another route (aiohttp's), then answers: each is served."""
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            path = _path(env, "A-001")
            await conn.send(get(path))
            status, headers, _ = await conn.answer()
            assert status == 200 and "server" not in headers
            await conn.send(get("/healthz"))
            status, headers, _ = await conn.answer()
            assert status == 200 and "server" in headers  # aiohttp's from here on
            await conn.send(post(path, b"status=safe&k=front-handoff-1"))
            status, headers, page = await conn.answer()
            assert status == 200 and "server" in headers and "記録しました" in page.decode()
        assert await env.status("A-001") == Status.SAFE


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            one, two = _path(env, "A-001"), _path(env, "A-002")
            await conn.send(post(one, b"status=safe&k=pipelined-1"), get(two),
                            post(two, b"status=need_help&k=pipelined-2"), get("/healthz"), get(one))
            answers = [await conn.answer() for _ in range(5)]
            assert [a[0] for a in answers] == [200, 200, 200, 200, 200]
            assert "記録しました" in answers[0][2].decode() and "無事です" in answers[1][2].decode()
            assert "server" in answers[3][1] and "server" in answers[4][1]  # aiohttp's after /healthz
        assert await env.status("A-001") == Status.SAFE
        assert await env.status("A-002") == Status.NEED_HELP


async def test_the_json_answer_and_seen_through_the_front(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            path = _path(env, "A-003")
            await conn.send(post(path + "/seen?via=webpush", b"", ctype=""))
            status, headers, body = await conn.answer()
            assert (status, body) == (204, b"") and "content-length" not in headers and "server" not in headers
            doc = json.dumps({"status": "need_help", "key": "front-json-1"}).encode()
            await conn.send(post(path + "/answer", doc, ctype="application/json"))
            status, headers, body = await conn.answer()
            assert status == 200 and "server" not in headers and headers["cache-control"] == "no-store"
            assert json.loads(body)["recorded"] is True
            # not an object: aiohttp's 400, as before the front
            await conn.send(post(path + "/answer", b"[1]", ctype="application/json"))
            status, headers, body = await conn.answer()
            assert status == 400 and "server" in headers and b"expected a JSON object" in body
        assert await env.status("A-003") == Status.NEED_HELP


async def test_bodies_and_heads_the_front_does_not_take_get_aiohttps_answer(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        path = _path(env, "A-001")
        cases = [
            # a chunked body: aiohttp reads it and the answer is recorded
            (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Transfer-Encoding: chunked\r\n\r\n1b\r\nstatus=safe&k=chunked-front\r\n0\r\n\r\n").encode(),
            # a multipart form
            post(path, b"--b\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nsafe\r\n--b--\r\n",
                 ctype="multipart/form-data; boundary=b"),
        ]
        for request in cases:
            async with connected(env) as conn:
                await conn.send(request)
                status, headers, page = await conn.answer()
                assert status == 200 and "server" in headers and "記録しました" in page.decode(), page[:200]
        # a malformed head: aiohttp's 400, and the connection ends
        async with connected(env) as conn:
            await conn.send(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n".encode())
            status, _, _ = await conn.answer()
            assert status == 400 and await conn.closed()
        # a body over the form limit: the 413 page with its way back
        async with connected(env) as conn:
            await conn.send(post(path, b"status=safe&note=" + b"x" * 5000))
            status, headers, page = await conn.answer()
            assert status == 413 and path in page.decode()
        assert await env.status("A-001") == Status.SAFE


async def test_connection_close_is_honoured(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            await conn.send(get(_path(env, "A-001"), extra="Connection: close\r\n"))
            status, headers, _ = await conn.answer()
            assert status == 200 and headers["connection"] == "close" and "server" not in headers
            assert await conn.closed()


async def test_a_failure_in_the_front_is_the_failure_page_not_a_dropped_connection(tmp_path: Path) -> None:
    from store_helpers import break_writes

    async with running_app(tmp_path) as env:
        await break_writes(env.store, True)
        async with connected(env) as conn:
            await conn.send(post(_path(env, "A-002"), b"status=safe&k=broken-store-1"))
            status, headers, page = await conn.answer()
            assert status == 503 and "server" not in headers and headers["retry-after"] == "30"
            assert "119" in page.decode() and headers["content-security-policy"]
            # the connection stays usable
            await break_writes(env.store, False)
            await conn.send(post(_path(env, "A-002"), b"status=safe&k=broken-store-2"))
            status, _, _ = await conn.answer()
            assert status == 200


async def test_upgrade_and_connect_requests_are_aiohttps_not_a_dropped_connection(tmp_path: Path) -> None:
    """Review: llhttp stops at an Upgrade (what `curl --http2` sends to http://) or CONNECT with an
    exception of its own, which dropped the connection unanswered."""
    async with running_app(tmp_path) as env:
        upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
        for path in ("/healthz", _path(env, "A-001")):
            async with connected(env) as conn:
                await conn.send(get(path, extra=upgrade))
                status, headers, _ = await conn.answer()
                assert status == 200 and "server" in headers, path
        # after an answer of the front's, on the same connection (pipelined)
        async with connected(env) as conn:
            await conn.send(get(_path(env, "A-001")), get("/healthz", extra=upgrade))
            first, second = await conn.answer(), await conn.answer()
            assert (first[0], second[0]) == (200, 200) and "server" in second[1]
        async with connected(env) as conn:
            await conn.send(b"CONNECT example.jp:443 HTTP/1.1\r\nHost: example.jp:443\r\n\r\n")
            status, headers, _ = await conn.answer()
            assert status >= 400 and "server" in headers


async def test_a_head_over_aiohttps_limit_is_refused_as_before(tmp_path: Path) -> None:
    """Review: a whole head of 20 KB in one read was served; aiohttp refuses heads past 8 KB."""
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            await conn.send(get(_path(env, "A-001"), extra=f"X-Long: {'a' * 20_000}\r\n"))
            status, headers, _ = await conn.answer()
            assert status == 400 and "server" in headers
        assert await env.status("A-001") != Status.READ  # the page was not served: no read recorded


async def test_a_form_without_a_content_type_is_refused_as_before(tmp_path: Path) -> None:
    """Review: `read_form` answers 415 to a body without a Content-Type; the front recorded it."""
    async with running_app(tmp_path) as env:
        path = _path(env, "A-001")
        async with connected(env) as conn:
            body = b"status=safe&k=untyped-form-1"
            await conn.send(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            status, _, _ = await conn.answer()
            assert status == 415
        assert await env.history("A-001") == []


async def test_over_the_limit_a_json_client_gets_json(tmp_path: Path) -> None:
    """Review: the 429 of a client asking for JSON was JSON before the front (the guard made it)."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="1",
                           SAFETYNET_REPLIES_RATE_LIMIT_BURST="1") as env:
        path = _path(env, "A-001") + "/answer"
        doc = json.dumps({"status": "safe", "key": "json-limit-1"}).encode()
        async with connected(env) as conn:
            await conn.send(post(path, doc, ctype="application/json", extra="Accept: application/json\r\n"))
            assert (await conn.answer())[0] == 200
            await conn.send(post(path, doc, ctype="application/json", extra="Accept: application/json\r\n"))
            status, headers, body = await conn.answer()
            assert status == 429 and int(headers["retry-after"]) >= 1
            assert json.loads(body) == {"error": "Too Many Requests"}
            await conn.send(get(_path(env, "A-002")))  # a page: the catalog's words, Japanese first
            status, headers, body = await conn.answer()
            assert status == 429 and headers["content-type"].startswith("text/html")
            text = body.decode()
            assert text.index("アクセスが集中しています") < text.index("Too many requests right now")


async def test_a_redirect_keeps_the_query_as_sent(tmp_path: Path) -> None:
    """Through the front (「)」 stuck to the token) and through aiohttp (「。」 arrives escaped): the
    query goes back as it came, escapes kept (review: aiohttp's decoded query put a space, raw UTF-8
    or a line break into Location, and the last dropped the connection unanswered)."""
    async with running_app(tmp_path) as env:
        query = "?lang=en&a=1&a=2&z=a+b&y=%0D%0Aevil&w=%E6%97%A5"
        for tail, served_by_front in ((")", True), ("%E3%80%82", False)):
            async with connected(env) as conn:
                await conn.send(get(_path(env, "A-001") + tail + query))
                status, headers, _ = await conn.answer()
                assert status == 302 and headers["location"] == _path(env, "A-001") + query, tail
                assert ("server" not in headers) is served_by_front


async def test_a_body_written_after_its_head_is_waited_for(tmp_path: Path) -> None:
    """aiohttp's client (the citywide bench's residents) writes a small body apart from its head:
    the front waits for it (they were all handed to aiohttp at first)."""
    async with running_app(tmp_path) as env:
        async with connected(env) as conn:
            body = b"status=safe&k=split-body-1"
            request = post(_path(env, "A-001"), body)
            head, tail = request[:-len(body)], request[-len(body):]
            await conn.send(head)
            await asyncio.sleep(0.05)  # a real gap between the two segments; nothing waits on it
            await conn.send(tail)
            status, headers, page = await conn.answer()
            assert status == 200 and "server" not in headers and "記録しました" in page.decode()
        assert await env.status("A-001") == Status.SAFE


async def test_at_shutdown_a_request_whose_body_is_coming_is_still_answered(tmp_path: Path) -> None:
    """Review: a head read, its body not yet come, was cut when the server began to stop; aiohttp,
    had it held the connection, would have let the request finish within its shutdown timeout."""
    from ports import listening_socket

    from safetynet.web.app import app_runner, create_app, site
    from safetynet.web.front import FrontSite

    async with running_app(tmp_path) as env:
        sock = listening_socket()
        runner = app_runner(create_app(env.svc), shutdown_timeout=5.0)
        await runner.setup()
        listening = site(runner, sock=sock)
        assert isinstance(listening, FrontSite)
        await listening.start()
        port = sock.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Conn(reader, writer)
        try:
            body = b"status=safe&k=at-shutdown-1"
            request = post(_path(env, "A-001"), body)
            await conn.send(request[:-len(body)])  # the head: the front now waits for the body
            for _ in range(1000):  # until the server (on this loop) has read it; no clock involved
                if any(c.waiting_for_body for c in listening.connections):
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError("the front never read the head")
            stopping = asyncio.create_task(runner.cleanup())
            await conn.send(request[-len(body):])
            status, _, page = await conn.answer()
            assert status == 200 and "記録しました" in page.decode()
            await stopping
        finally:
            conn.close()
        assert await env.status("A-001") == Status.SAFE
