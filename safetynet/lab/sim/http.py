"""A lean HTTP/1.1 client for the simulated residents (keep-alive requests on loopback).

A city of residents answering at once is a load generator: with aiohttp's client each request costs
the generating process several hundred microseconds of CPU, which on a two-core machine is taken
from the server being measured. This client only does what the answers need: POST a body with a few
headers over kept-alive connections, and read a response framed by Content-Length or chunked
encoding. Anything else (TLS, redirects, cookies, proxies) is out of scope: it talks to the app on
this machine. The enrolment and the benchmark's own polling use it too, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


class HttpError(ConnectionError):
    """The connection failed or the server broke HTTP framing; the request may be retried."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class _Pool:
    idle: list[_Conn] = field(default_factory=list)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the (empty) trailer
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


class LeanHttp:
    """`source_address`: the local address every connection binds to (a simulated phone's own address).

    `pool` names who sends a request: connections are kept apart by it, as a city's answers come over
    connections of their own (Telegram's servers, Twilio's, the residents' browsers), never one shared.
    `max_connections` bounds the requests in flight to a host, whoever sends them; each sender keeps
    the connections it opened idle for its next request."""

    def __init__(self, max_connections: int = 64, timeout_seconds: float = 30.0,
                 source_address: str | None = None) -> None:
        self.max_connections = max_connections
        self.timeout_seconds = timeout_seconds
        self.source_address = source_address
        self._pools: dict[tuple[str, int, str], _Pool] = {}
        # requests in flight are bounded by host, whoever sends them (`max_connections` in all)
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], pool: str = "") -> Response:
        return await self.request("POST", url, body, headers, pool)

    async def get(self, url: str, headers: Mapping[str, str], pool: str = "") -> Response:
        return await self.request("GET", url, b"", headers, pool)

    async def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                      pool: str = "") -> Response:
        p = urlsplit(url)
        if p.scheme != "http" or not p.hostname:
            raise ValueError(f"LeanHttp speaks plain http only: {url}")
        key = (p.hostname, p.port or 80, pool)
        target = (p.path or "/") + (f"?{p.query}" if p.query else "")
        head = [f"{method} {target} HTTP/1.1", f"Host: {p.netloc}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body
        slot = self._slots.setdefault(key[:2], asyncio.Semaphore(self.max_connections))
        async with slot:
            conn = await self._acquire(key)
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    resp = await self._exchange(conn, request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                conn.close()
                raise HttpError(f"{type(e).__name__}: {e}") from None
            except TimeoutError:
                conn.close()
                raise
            if resp.headers.get("connection", "").lower() == "close":
                conn.close()
            else:
                self._pools[key].idle.append(conn)
            return resp

    async def _exchange(self, conn: _Conn, request: bytes) -> Response:
        conn.writer.write(request)
        await conn.writer.drain()
        head = await conn.reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head[:-4])
        if "content-length" in headers:
            body = await conn.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(conn.reader)
        elif status in (204, 304):
            body = b""
        else:
            body = await conn.reader.read()
            headers["connection"] = "close"
        return Response(status, headers, body)

    async def _acquire(self, key: tuple[str, int, str]) -> _Conn:
        pool = self._pools.setdefault(key, _Pool())
        while pool.idle:
            conn = pool.idle.pop()
            if not conn.reader.at_eof():
                return conn
            conn.close()
        try:
            local = (self.source_address, 0) if self.source_address else None
            reader, writer = await asyncio.open_connection(key[0], key[1], limit=MAX_HEAD_BYTES, local_addr=local)
        except OSError as e:
            raise HttpError(f"cannot connect to {key[0]}:{key[1]}: {e}") from None
        return _Conn(reader, writer)

    async def close(self) -> None:
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()
