"""Reads of one event-loop iteration gathered into one query.

Every aiosqlite call is a hop to a connection's thread and back, and under load each hop waits for
the GIL; the reply page's reads arrive together (a city opening its links at once), so the
lookups that handlers make in the same iteration share one `… IN (…)` query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from safetynet.store.sqlite.db import CHUNK

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class IterationBatch(Generic[K, V]):
    """`get(key)` for many callers, answered by `fetch(keys)` once per loop iteration (in chunks of
    CHUNK keys); a key `fetch` leaves out gets `missing`.

    At most `in_flight` fetches run at once: under load, the lookups that arrive while they run
    wait for the next one (no wait when idle), so a busy server makes fewer, larger trips.
    """

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[dict[K, V]]], missing: V,
                 in_flight: int = 2) -> None:
        self._fetch = fetch
        self._missing = missing
        self._in_flight = in_flight
        self._pending: dict[K, list[asyncio.Future[V]]] = {}
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.lookups = 0

    async def get(self, key: K) -> V:
        if self._scheduled and self._loop is not None:
            # A dispatch is due on this iteration's loop: the running one. Asking asyncio costs a
            # getpid() system call on Python 3.11 (it checks for a fork): 180 ns against 30 on 3.12.
            loop = self._loop
        else:
            loop = self._loop = asyncio.get_running_loop()
            self._scheduled = True
            loop.call_soon(self._dispatch)  # after every handler this iteration has woken
        fut: asyncio.Future[V] = loop.create_future()
        self._pending.setdefault(key, []).append(fut)
        return await fut

    def _dispatch(self) -> None:
        self._scheduled = False
        if len(self._tasks) >= self._in_flight or not self._pending:
            return  # the next fetch to finish dispatches what gathered meanwhile
        batch, self._pending = self._pending, {}
        loop = self._loop or asyncio.get_running_loop()  # set by `get`, whose call_soon runs this
        keys = list(batch)
        self.lookups += len(keys)
        for n in range(0, len(keys), CHUNK):
            self.batches += 1
            task = loop.create_task(self._run({k: batch[k] for k in keys[n : n + CHUNK]}))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._pending and not self._scheduled:
            self._scheduled = True
            (self._loop or asyncio.get_running_loop()).call_soon(self._dispatch)

    async def _run(self, chunk: dict[K, list[asyncio.Future[V]]]) -> None:
        try:
            found = await self._fetch(list(chunk))
        except Exception as e:
            # The callers get the error. The task itself ends quietly: nobody awaits it, so raising
            # would only make asyncio log "Task exception was never retrieved" (seen with the
            # store down, on every batch a request was refused for).
            for futs in chunk.values():
                for f in futs:
                    if not f.done():
                        f.set_exception(e)
            return
        except BaseException:
            for futs in chunk.values():
                for f in futs:
                    f.cancel()
            raise
        for key, futs in chunk.items():
            value = found.get(key, self._missing)
            for f in futs:
                if not f.done():
                    f.set_result(value)
