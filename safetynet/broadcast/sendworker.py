"""A channel sender whose sends run in a child process: web push encryption on the second core.

Web push costs about 0.35 ms of ECDH + AES-GCM and 0.15 ms of signing a message, all CPU; in the
server's process it would cap the whole broadcast near one core. `ProcessSender` implements the
same `ChannelSender` protocol, so the dispatcher, its lanes, retries and outcomes are unchanged:
each `send` travels to the child as one JSON line and its `SendResult` or classified `SendError`
comes back the same way. The child never touches the database, so there stays one writer.

The parent alone decides when the child ends: the child ignores SIGTERM and SIGINT (systemd and a
terminal's Ctrl-C signal the whole group) and exits at the end of its stdin. `close()` first gives
sends someone still awaits a short grace, then closes stdin; the child cancels what is left (no one
waits for those answers any more) and exits, or is killed.

    senders["webpush"] = ProcessSender(cfg, "webpush")   # then start() as usual
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import pickle
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from typing import Any

import structlog

from safetynet.channels.base import (
    OutboundMessage,
    PermanentSendError,
    Reason,
    RetryableSendError,
    SendError,
    SendResult,
)
from safetynet.config import Config, channel_context
from safetynet.domain import ChannelName

log = structlog.get_logger("broadcast.sendworker")

READY = "sendworker ready"
_FIELDS = tuple(f.name for f in fields(OutboundMessage))
# Lines can carry a web-push subscription and a long message: well under this.
_LINE_LIMIT = 1 << 20
# On close, sends still awaited get this long; then the child has this long to exit.
CLOSE_GRACE_SECONDS = 5.0
EXIT_SECONDS = 5.0


def _error_doc(e: BaseException) -> dict[str, Any]:
    if isinstance(e, SendError):
        return {"retryable": e.retryable, "reason": e.reason, "message": str(e), "retry_after": e.retry_after,
                "outcome_unknown": e.outcome_unknown, "contact_dead": e.contact_dead,
                "error_class": e.error_class, "provider_answer": e.provider_answer}
    # Not a provider answer (a bug, a crash in the library): retried later, never a lost delivery.
    return {"retryable": True, "reason": str(Reason.NETWORK), "message": "send worker error",
            "retry_after": None, "outcome_unknown": True, "contact_dead": False,
            "error_class": type(e).__name__, "provider_answer": ""}


def _error(doc: dict[str, Any]) -> SendError:
    cls = RetryableSendError if doc["retryable"] else PermanentSendError
    return cls(Reason(doc["reason"]), doc["message"], retry_after=doc["retry_after"],
               outcome_unknown=doc["outcome_unknown"], contact_dead=doc["contact_dead"],
               error_class=doc["error_class"], provider_answer=doc["provider_answer"])


class LineBatch:
    """Lines written in one step of the event loop leave in one write: one system call a step, not one a
    message (each was a tenth of the send worker's CPU, and of the parent's share of a push)."""

    def __init__(self, write: Callable[[bytes], None], closing: Callable[[], bool] = lambda: False) -> None:
        self._write = write
        self._closing = closing
        self._lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(line)

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        # The other end gone (killed, or stopped reading): nobody can read these lines any more, and
        # each side already settles what its peer held when the peer dies. A write then would raise
        # in a loop callback (uvloop: RuntimeError on the closed transport).
        if self._closing():
            return
        with contextlib.suppress(ConnectionError):
            self._write(b"".join(lines))


async def lines_of(stream: asyncio.StreamReader) -> AsyncIterator[list[bytes]]:
    """The complete lines that have arrived, all of them at each read (not one `readline` a line);
    ends at EOF (a partial last line is dropped: its writer died in the middle of it)."""
    rest = b""
    while chunk := await stream.read(_LINE_LIMIT):
        *lines, rest = (rest + chunk).split(b"\n")
        if len(rest) > _LINE_LIMIT:
            raise ValueError("send worker line too long")
        if lines:
            yield lines


class ProcessSender:
    """`ChannelSender` over a child process running the real sender of `channel`."""

    def __init__(self, cfg: Config, channel: ChannelName, public_url: str | None = None) -> None:
        self.name = channel
        self.cfg = cfg
        self.public_url = public_url or cfg.server.public_url
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lines: LineBatch | None = None
        self._pending: dict[int, asyncio.Future[SendResult]] = {}
        self._ids = itertools.count(1)
        self._restart = asyncio.Lock()
        self._closed = False
        # the child the last send given up on was waiting for (`replace_stuck` kills that one only)
        self._overdue: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet.broadcast.sendworker", self.name, self.public_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(base64.b64encode(pickle.dumps(self.cfg)) + b"\n")
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if line.decode().strip() != READY:
                raise RuntimeError(f"{self.name} send worker did not start: {line[:200]!r}")
        except BaseException:
            # a child that never became ready is not left behind: each restart would add another
            if proc.returncode is None:
                proc.kill()
            await asyncio.shield(proc.wait())
            raise
        self._proc = proc
        self._lines = LineBatch(proc.stdin.write, proc.stdin.is_closing)
        self._reader = asyncio.create_task(self._read(), name=f"sendworker-{self.name}")
        log.info("send_worker_started", channel=self.name, pid=self._proc.pid)

    async def _running(self) -> asyncio.subprocess.Process:
        """The child, started again if it died (a crash must not end web push for the night)."""
        async with self._restart:
            proc = self._proc
            if proc is not None and self._alive():
                return proc
            if self._closed:
                raise RetryableSendError(Reason.NETWORK, "send worker closed", error_class="SendWorkerDown")
            log.error("send_worker_restarting", channel=self.name,
                      exit_code=proc.returncode if proc is not None else None)
            try:
                await self.start()
            except Exception as e:
                raise RetryableSendError(Reason.NETWORK, "send worker down", error_class="SendWorkerDown") from e
            assert self._proc is not None
            return self._proc

    def _alive(self) -> bool:
        # The reader ends at the child's EOF: after that nothing would answer a request.
        proc = self._proc
        return (proc is not None and proc.returncode is None and proc.stdin is not None
                and self._reader is not None and not self._reader.done())

    async def send(self, msg: OutboundMessage) -> SendResult:
        proc = self._proc
        if proc is None or not self._alive():
            proc = await self._running()
        assert proc.stdin is not None and self._lines is not None
        rid = next(self._ids)
        fut: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        # Positional fields: dataclasses.asdict deep-copies, and costs more than the send here.
        doc = [rid, *[getattr(msg, name) for name in _FIELDS]]
        self._lines.write(json.dumps(doc, ensure_ascii=False).encode() + b"\n")
        try:
            if proc.stdin.transport.get_write_buffer_size() > 1 << 16:
                await proc.stdin.drain()
            return await fut
        except asyncio.CancelledError:
            # given up on (the lane's deadline, or a stop): if the lane finds it overdue, this is
            # the child that did not answer
            self._overdue = proc
            raise

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            async for lines in lines_of(self._proc.stdout):
                for line in lines:
                    rid, ok, body = json.loads(line)
                    fut = self._pending.pop(rid, None)
                    if fut is None or fut.done():
                        continue
                    if ok:
                        fut.set_result(SendResult(*body))
                    else:
                        fut.set_exception(_error(body))
        finally:
            # The child is gone: whatever it held may or may not have reached the provider.
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RetryableSendError(Reason.NETWORK, "send worker exited", outcome_unknown=True,
                                                         error_class="SendWorkerExited"))
            self._pending.clear()

    async def replace_stuck(self) -> None:
        """A send got no answer within the lane's deadline: the child it waited on is stuck (stopped,
        hung in a library). That child is killed (what it held fails as an unknown outcome, at the
        reader's end) and another started, here rather than in the next send, whose deadline a start
        would eat into. A child started since (another overdue send replaced it) is left alone."""
        async with self._restart:
            proc, self._overdue = self._overdue, None
            if proc is None or proc is not self._proc or proc.returncode is not None:
                return
            log.error("send_worker_killed", channel=self.name, pid=proc.pid, reason="stuck")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await self._reader
            if self._closed:
                return
            try:
                await self.start()
            except Exception:  # the next send tries again
                log.exception("send_worker_not_restarted", channel=self.name)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def close(self, grace_seconds: float = CLOSE_GRACE_SECONDS) -> None:
        self._closed = True
        # A send whose caller gave up (a stopping dispatcher cancels it) has a cancelled future.
        awaited = [f for f in self._pending.values() if not f.done()]
        if awaited and self._alive():
            await asyncio.wait(awaited, timeout=grace_seconds)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._lines is not None:
            self._lines.flush()
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), EXIT_SECONDS)
        except TimeoutError:
            log.warning("send_worker_killed", channel=self.name, pid=proc.pid)
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


# -- the child -----------------------------------------------------------------------------------


async def _child(channel: ChannelName, public_url: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    # The parent's own configuration, handed over by the parent: trusted input.
    cfg: Config = pickle.loads(base64.b64decode(await reader.readline()))  # noqa: S301
    from safetynet.channels.registry import spec
    from safetynet.channels.spec import load
    from safetynet.logs import configure_logging
    from safetynet.runtime import tune_gc

    configure_logging(cfg.logging.level, "json")  # logs go to stderr; stdout carries the protocol
    sender = load(spec(channel).sender)(channel_context(cfg, channel, public_url=public_url))
    await sender.start()
    tune_gc()  # a long-lived process, as the server that started it
    writer.write(READY.encode() + b"\n")
    answers = LineBatch(writer.write, writer.is_closing)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(doc: list[Any]) -> None:
        rid, *values = doc
        try:
            kw = dict(zip(_FIELDS, values, strict=True))
            res = await sender.send(OutboundMessage(**kw))
            out: list[Any] = [rid, True, [res.provider_id, res.segments, res.cost_jpy]]
        except Exception as e:
            out = [rid, False, _error_doc(e)]
        answers.write(json.dumps(out, ensure_ascii=False).encode() + b"\n")

    try:
        async for lines in lines_of(reader):
            for line in lines:
                task = asyncio.create_task(handle(json.loads(line)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        # stdin ended: the parent stopped, and what it still waited for had its grace there
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        answers.flush()
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    finally:
        await sender.close()


def main(argv: list[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    channel, public_url = argv[0], argv[1]
    from safetynet.runtime import run

    run(_child(channel, public_url))  # uvloop when installed, as the server's own process
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    raise SystemExit(main(sys.argv[1:]))
