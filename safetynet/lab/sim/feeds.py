"""Following the sandbox's record of messages, and handing each new one to the residents.

In-process (`follow_sandbox`): the sandbox wakes its waiters on every record it adds, so the
follower sleeps until there is something new, then reads from the last sequence number it saw
(records are kept in sequence order). Out of process (`follow_http`): `GET /_sandbox/messages?since=`
page by page, polling only while nothing new arrives.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog

from safetynet.lab.sim.messages import ResidentMessage, from_json, from_record

log = structlog.get_logger("sim")

Sink = Callable[[ResidentMessage], None]
PAGE = 2000
IDLE_POLL_SECONDS = 0.1
# The in-process wait wakes on every new record; this only bounds a wait nobody ends.
WAIT_SECONDS = 3600.0


def _after(records: list[Any], last_seq: int) -> int:
    """Index of the first record with a sequence number above `last_seq`."""
    return bisect.bisect_right(records, last_seq, key=lambda r: r.seq)


class Follower:
    """What a follower saw: the last sequence number and how many records it skipped or used."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.last_seq = 0
        self.records = 0
        self.ignored = 0  # records that are no campaign message (staff alerts, enrolment notices, edits)
        self._progress = asyncio.Event()

    def take(self, message: ResidentMessage | None, seq: int) -> None:
        self.last_seq = max(self.last_seq, seq)
        self.records += 1
        if message is None:
            self.ignored += 1
        else:
            self.sink(message)

    def batch_done(self) -> None:
        self._progress.set()

    async def caught_up(self, seq: int) -> None:
        """Until every record up to `seq` was handed over."""
        while self.last_seq < seq:
            self._progress.clear()
            await self._progress.wait()


async def follow_sandbox(sandbox: Any, follower: Follower) -> None:
    """Forever (cancel to stop): every new record of the in-process `sandbox` (a `Sandbox`)."""
    while True:
        records = sandbox.records
        i = _after(records, follower.last_seq)
        for rec in records[i:]:
            follower.take(from_record(rec), rec.seq)
        follower.batch_done()
        with contextlib.suppress(TimeoutError):
            await sandbox.wait_for(lambda recs: bool(recs) and recs[-1].seq > follower.last_seq, WAIT_SECONDS)


async def settle(sandbox: Any, follower: Follower, idle: Callable[[], Awaitable[None]]) -> None:
    """Until every record of the in-process `sandbox` was handed over and `idle()` returned with
    nothing new arriving meanwhile (the residents read everything and sent every answer due)."""

    def last() -> int:
        records = sandbox.records
        return records[-1].seq if records else 0

    while True:
        await follower.caught_up(last())
        await idle()
        if follower.last_seq >= last():
            return


async def follow_http(sandbox_url: str, follower: Follower, session: aiohttp.ClientSession,
                      idle_poll_seconds: float = IDLE_POLL_SECONDS) -> None:
    """Forever (cancel to stop): every new message of the sandbox at `sandbox_url`."""
    url = f"{sandbox_url.rstrip('/')}/_sandbox/messages"
    while True:
        try:
            async with session.get(url, params={"since": str(follower.last_seq), "limit": str(PAGE), "kind": "all"}) as resp:
                page = await resp.json() if resp.status == 200 else []
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.warning("sim_feed_failed", error_class=type(e).__name__)
            page = []
        for doc in page:
            follower.take(from_json(doc), int(doc.get("seq", 0)))
        follower.batch_done()
        if len(page) < PAGE:
            await asyncio.sleep(idle_poll_seconds)
