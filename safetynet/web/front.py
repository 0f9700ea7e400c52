"""The listening socket's own HTTP/1.1 front: the reply routes served here, everything else by aiohttp.

A resident's answer is the one request a disaster multiplies by the city: aiohttp's request and
response objects cost more than the reply itself (issue 18: without its store read and its page a
reply GET was still 1.55× a bare aiohttp handler). So a connection starts on this front. A request
it can take whole is parsed by llhttp (httptools), served by the reply lane (`reply_pages.lane`:
the same `ReplyRoutes` the aiohttp handlers call) and answered in one write. Anything else (another path, a
method or framing the lane does not take, a malformed head) hands the connection to aiohttp with
every byte of that request, before anything of it was answered: aiohttp then parses it anew and
keeps the connection. Nothing is decided twice: the front only frames and routes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

import httptools
import structlog
from aiohttp import web

from safetynet.domain.records import quick

log = structlog.get_logger("web.front")

# Longest request head the front reads; a longer one goes to aiohttp, which answers it (431/400).
MAX_HEAD_BYTES = 8192
# What a lane request may carry; a larger body goes to aiohttp (and its 413 page).
MAX_BODY_BYTES = 4096
# How long (at most; half the body timeout if that is shorter) the front waits for a body written
# after its head before aiohttp takes the request: a body that slow then has aiohttp's whole body
# timeout, not twice it.
BODY_WAIT_SECONDS = 1.0
# What answers under way get to finish when the server stops (as aiohttp's own shutdown in `serve`).
DRAIN_SECONDS = 5.0
# A client that sends many requests without reading the answers is not read from meanwhile.
_PAUSE_BUFFER = 64 * 1024


@quick
@dataclass(frozen=True, slots=True)
class Ask:
    """One request the lane takes: the method, the path (no query), the query string, the headers
    the lane reads (lower-case names), the body, and the peer's address."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    peer: str


@quick
@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


# The lane: (ask) -> the answer, or None for "not mine" (aiohttp takes the connection from this
# request on). `takes` tells from the method and path alone, before the body is read.
Serve = Callable[[Ask], Awaitable[Answer | None]]
Takes = Callable[[bytes, bytes], bool]


@dataclass(frozen=True, slots=True)
class Lane:
    takes: Takes
    serve: Serve
    # the answer to a request that failed (500), as the app's own
    failure: Callable[[Ask, int], Answer]
    # headers (lower-case) the lane reads; others are parsed by llhttp and dropped
    reads: frozenset[bytes]


_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _Head:
    """httptools' callbacks for one request: its URL and the headers the lane reads."""

    __slots__ = ("body", "complete", "connection", "framing", "headers", "reads", "url")

    def __init__(self, reads: frozenset[bytes]) -> None:
        self.reads = reads
        self.reset()

    def reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.complete = False
        self.framing = False  # Transfer-Encoding, Expect or Upgrade: aiohttp's to answer
        self.connection = ""  # the Connection header's tokens, lower-case

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key in (b"transfer-encoding", b"expect", b"upgrade"):
            self.framing = True
        elif key == b"connection":
            self.connection += value.decode("latin-1").lower() + ","
        elif key in self.reads:
            text = key.decode("latin-1")
            # a header sent twice: joined as aiohttp's `headers.get` would not; only X-Forwarded-For
            # may repeat meaningfully, and its hops join with commas
            prior = self.headers.get(text)
            self.headers[text] = value.decode("latin-1") if prior is None else f"{prior},{value.decode('latin-1')}"

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _DateHeader:
    """`Date:` as sent, made once a second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line


_DATE = _DateHeader()
_HEADER_BLOCKS: dict[tuple[int, tuple[tuple[str, str], ...]], bytes] = {}


def _head_bytes(status: int, headers: Mapping[str, str]) -> bytes:
    """The status line and the fixed headers, made once for each set (a reply page's are always the same)."""
    key = (status, tuple(headers.items()))
    found = _HEADER_BLOCKS.get(key)
    if found is None:
        if len(_HEADER_BLOCKS) > 256:
            _HEADER_BLOCKS.clear()
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} has a line break")
            lines.append(f"{name}: {value}\r\n")
        found = _HEADER_BLOCKS[key] = "".join(lines).encode("latin-1")
    return found


def encode(answer: Answer, close: bool) -> bytes:
    """The answer as sent: one buffer, one write."""
    tail = b"Connection: close\r\n" if close else b""
    if answer.status in (204, 304):  # no body, and no Content-Length either (RFC 9110 §8.6)
        return b"".join((_head_bytes(answer.status, answer.headers), _DATE.line(), tail, b"\r\n"))
    return b"".join((_head_bytes(answer.status, answer.headers), _DATE.line(), tail,
                     b"Content-Length: ", str(len(answer.body)).encode(), b"\r\n\r\n", answer.body))


class Front(asyncio.Protocol):
    """One connection, while its requests are the lane's; aiohttp's from the first that is not."""

    def __init__(self, site: FrontSite) -> None:
        self._site = site
        self._lane = site.lane
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._head = _Head(site.lane.reads)
        self._parser = httptools.HttpRequestParser(self._head)
        self._pending: tuple[int, int, bytes, Any] | None = None  # a head read, its body still coming
        self._busy = False
        self._paused = False
        self._writing_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._peer = ""
        # once a connection: asking asyncio on each request costs a getpid() system call on Python 3.11
        self._loop = asyncio.get_running_loop()

    # -- asyncio ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._site.connections.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._site.connections.discard(self)
        self._transport = None
        self._disarm()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._busy or self._writing_paused:
            if len(self._buf) > _PAUSE_BUFFER and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
            return
        self._next()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if not self._busy and self._buf:
            self._next()

    # -- requests ----------------------------------------------------------------------------

    def _next(self) -> None:
        """Takes the next whole request in the buffer, if there is one."""
        try:
            self._take()
        except Exception:  # a fault of ours: the client must not wait for the idle timer to learn it
            log.exception("front_framing_failed")
            if self._transport is not None:
                self._transport.close()

    def _take(self) -> None:
        found = self._pending or self._read_head()
        if found is None:
            return
        size, body_size, method, url = found
        buf = self._buf
        if len(buf) < size + body_size:
            # the body comes after its head (aiohttp's client writes them apart): wait for it a
            # moment; past that, aiohttp takes the request, with its own body timeout and its 408
            if self._pending is None:
                self._pending = found
                self._arm(min(self._site.body_timeout / 2, BODY_WAIT_SECONDS), self._hand_off)
            return
        if self._pending is not None:
            self._pending = None
            self._disarm()
        head = self._head
        if body_size:
            try:
                self._parser.feed_data(bytes(buf[size:size + body_size]))
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                self._hand_off()
                return
        if not head.complete:
            self._hand_off()
            return
        raw = bytes(buf[:size + body_size])
        del buf[:size + body_size]
        # HTTP/1.1 (the only version the front takes) keeps the connection unless told otherwise
        keep = "close" not in head.connection
        ask = Ask(method.decode("ascii"), (url.path or b"").decode("utf-8", "surrogateescape"),
                  (url.query or b"").decode("latin-1"), head.headers, b"".join(head.body), self._peer)
        self._busy = True
        self._disarm()
        self._site.track(self._loop.create_task(self._serve(ask, raw, keep)))

    def _read_head(self) -> tuple[int, int, bytes, Any] | None:
        """(head size, body size, method, URL) of the request at the buffer's start once its head is
        whole and the lane takes it; None while it is coming, or after handing it to aiohttp."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES or (buf and not self._could_take(buf)):
                self._hand_off()
            return None
        size = end + 4
        if size > MAX_HEAD_BYTES:  # aiohttp's 400 for a head past its limit, as before the front
            self._hand_off()
            return None
        head = self._head
        head.reset()
        try:
            self._parser.feed_data(bytes(buf[:size]))
            url = httptools.parse_url(head.url)
        except (httptools.HttpParserError, httptools.HttpParserInvalidURLError, httptools.HttpParserUpgrade):
            # malformed, or an Upgrade or CONNECT (llhttp stops there): aiohttp's to answer
            self._hand_off()
            return None
        method = self._parser.get_method()
        length = head.headers.get("content-length")
        body_size = 0 if length is None else int(length) if length.isascii() and length.isdigit() else -1
        if (head.framing or body_size < 0 or body_size > MAX_BODY_BYTES or self._parser.get_http_version() != "1.1"
                or not self._lane.takes(method, url.path or b"")):
            self._hand_off()
            return None
        return size, body_size, method, url

    async def _serve(self, ask: Ask, raw: bytes, keep: bool) -> None:
        close = not keep or self._site.stopping
        try:
            answer = await self._lane.serve(ask)
            data = None if answer is None else encode(answer, close)
        except Exception:
            log.exception("request_failed", path=ask.path[:3] + "…", method=ask.method)
            data = encode(self._lane.failure(ask, 500), close)
        transport = self._transport
        if transport is None:
            return
        if data is None:  # the lane's "not mine": aiohttp answers this request and the rest
            self._buf[:0] = raw
            self._hand_off()
            return
        transport.write(data)
        self._busy = False
        if close or self._site.stopping:
            transport.close()
            return
        if self._paused and len(self._buf) <= _PAUSE_BUFFER:
            self._paused = False
            transport.resume_reading()
        self._arm()
        if self._buf and not self._writing_paused:
            self._next()

    def _could_take(self, buf: bytearray) -> bool:
        """Whether the head being received may still be the lane's (its request line so far)."""
        space = buf.find(b" ")
        if space < 0:
            return len(buf) < 16
        slash = buf.find(b" ", space + 1)
        target = bytes(buf[space + 1:slash if slash > 0 else space + 1 + 256])
        return self._lane.takes(bytes(buf[:space]), target.split(b"?", 1)[0])

    def _hand_off(self) -> None:
        """aiohttp takes the connection with what is buffered, from the start of this request."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._disarm()
        self._pending = None
        self._site.connections.discard(self)
        protocol = self._site.aiohttp_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data, self._buf = bytes(self._buf), bytearray()
        if self._paused:
            transport.resume_reading()
        if data:
            protocol.data_received(data)
        self._transport = None

    # -- idle connections ---------------------------------------------------------------------

    def _arm(self, seconds: float | None = None, then: Callable[[], None] | None = None) -> None:
        """A client has `header_timeout` to send its next request's head (aiohttp's keep-alive
        timeout), then the body timeout for the body after it."""
        self._disarm()
        self._timer = self._loop.call_later(seconds or self._site.header_timeout, then or self._idle)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        self._timer = None
        if self._transport is not None and not self._busy:
            self._transport.close()

    @property
    def waiting_for_body(self) -> bool:
        """A request's head is read and its body is still coming."""
        return self._pending is not None

    def close_if_idle(self) -> None:
        """At shutdown: an idle connection closes; a request whose body is still coming is aiohttp's,
        whose shutdown lets it finish (as it would have had it taken the connection)."""
        if self._transport is None or self._busy:
            return
        if self._pending is not None:
            self._hand_off()
        else:
            self._transport.close()


class FrontSite(web.BaseSite):
    """aiohttp's TCP (or socket) site whose connections start on the front (`Front`)."""

    def __init__(self, runner: web.BaseRunner, lane: Lane, *, header_timeout: float, body_timeout: float,
                 host: str | None = None, port: int | None = None, sock: socket.socket | None = None,
                 backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        self.lane = lane
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.connections: set[Front] = set()
        self.stopping = False
        self._host = host
        self._port = port
        self._sock = sock
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        if self._sock is not None:
            host, port = self._sock.getsockname()[:2]
            return f"http://{host}:{port}"
        return f"http://{self._host or '0.0.0.0'}:{self._port}"  # noqa: S104 - a name, not a bind

    def aiohttp_protocol(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None
        return server()

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(lambda: Front(self), sock=self._sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(lambda: Front(self), self._host, self._port or 0,
                                                    backlog=self._backlog)

    async def stop(self) -> None:
        """Stops listening, closes idle connections, and lets answers under way finish (those close
        their connection after them) before aiohttp's shutdown and the app's cleanup."""
        self.stopping = True
        for connection in list(self.connections):
            connection.close_if_idle()
        await super().stop()
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=DRAIN_SECONDS)
            for task in late:  # not into the app's cleanup, with its store closed under it
                task.cancel()
