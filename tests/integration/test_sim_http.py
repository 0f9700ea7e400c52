"""The residents' lean HTTP client against a real aiohttp server: framing, keep-alive, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from safetynet.lab.sim.http import HttpError, LeanHttp


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    peers: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        peers.append(str(request.transport.get_extra_info("peername") if request.transport else ""))
        body = await request.read()
        return web.Response(body=body, headers={"X-Type": request.headers.get("Content-Type", "")})

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one ", b"two ", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def closing(request: web.Request) -> web.Response:
        return web.Response(text="bye", headers={"Connection": "close"})

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    inside = [0]

    async def busy(request: web.Request) -> web.Response:
        """Answers how many requests are in here, itself included, after letting the others in."""
        inside[0] += 1
        most = inside[0]
        for _ in range(20):  # loop turns, not time: whatever is sent meanwhile arrives
            await asyncio.sleep(0)
            most = max(most, inside[0])
        inside[0] -= 1
        return web.Response(text=str(most))

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/closing", closing)
    app.router.add_post("/empty", empty)
    app.router.add_post("/busy", busy)
    async with TestServer(app, host="127.0.0.1") as srv:
        yield str(srv.make_url("")).rstrip("/"), peers


async def test_bodies_headers_and_keep_alive() -> None:
    async with server() as (url, peers):
        http = LeanHttp(max_connections=1)
        for i in range(5):
            resp = await http.post(f"{url}/echo?x={i}", f"答え{i}".encode(), {"Content-Type": "text/plain"})
            assert resp.status == 200 and resp.body.decode() == f"答え{i}"
            assert resp.headers["x-type"] == "text/plain"
        assert len(set(peers)) == 1  # one kept-alive connection served all five
        await http.close()


async def test_chunked_empty_and_closing_responses() -> None:
    async with server() as (url, _):
        http = LeanHttp(max_connections=2)
        assert (await http.post(f"{url}/chunked", b"", {})).body == b"one two three"
        assert (await http.post(f"{url}/empty", b"", {})).status == 204
        assert (await http.post(f"{url}/closing", b"", {})).body == b"bye"
        assert (await http.post(f"{url}/echo", b"again", {})).body == b"again"  # a new connection after close
        await http.close()


async def test_concurrency_is_bounded_by_the_connections() -> None:
    async with server() as (url, peers):
        http = LeanHttp(max_connections=3)
        got = await asyncio.gather(*(http.post(f"{url}/echo", str(i).encode(), {}) for i in range(30)))
        assert sorted(int(r.body) for r in got) == list(range(30))
        assert len(set(peers)) <= 3
        await http.close()


async def test_senders_keep_their_own_connections_and_share_the_bound() -> None:
    """A provider's webhooks and the residents' browsers never share a connection (a server may serve
    a connection's requests by the route of its first: `web.front`); requests in flight stay bounded
    by the host, whoever sends them."""
    async with server() as (url, peers):
        http = LeanHttp(max_connections=2)
        for sender in ("telegram", "webpush", "telegram", "webpush"):
            assert (await http.post(f"{url}/echo", sender.encode(), {}, pool=sender)).body == sender.encode()
        assert peers[0] == peers[2] and peers[1] == peers[3] and peers[0] != peers[1]
        got = await asyncio.gather(*(http.post(f"{url}/busy", b"", {}, pool=f"p{i % 5}") for i in range(20)))
        assert [r.status for r in got] == [200] * 20
        assert max(int(r.body) for r in got) == 2  # five senders, never more than two requests at the server
        await http.close()


async def test_a_refused_connection_is_an_http_error() -> None:
    http = LeanHttp()
    with pytest.raises(HttpError):
        await http.post("http://127.0.0.1:9/x", b"", {})
    with pytest.raises(ValueError):
        await http.post("https://example.org/x", b"", {})
