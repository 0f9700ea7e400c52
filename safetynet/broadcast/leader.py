"""One leader among every process on a store: it alone runs the schedulers (ladder, triggers,
retention), however many `serve` processes share the store (DESIGN §8).

The leader holds a named lease in the store and renews it every third of its term. A process that
fails to renew (the store is down, or another took the lease after a pause) stops its duties
before its term could have run out, so two leaders never act at once; the others try every third
of a term and the first to find the lease expired takes over. A clean stop releases the lease, so
the next leader starts at once instead of after the term. Duties are idempotent in the store
(a ladder step is recorded done once, a trigger decision once per telegram), so a step cut short
by a lost lease is finished by the next leader without being repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from safetynet.clock import Clock
from safetynet.runtime import process_owner
from safetynet.store.errors import StoreError
from safetynet.store.ports import CoordinationRepo

log = structlog.get_logger("broadcast.leader")

LEASE_NAME = "schedulers"
LEASE_SECONDS = 15.0
# A duty that failed is started again after this, doubling to the cap while it keeps failing soon after
# its start (review: one store error while a telegram was ingested ended the triggers for good, the
# lease renewed and /readyz green).
DUTY_RESTART_SECONDS = 5.0
DUTY_RESTART_CAP_SECONDS = 60.0

Duty = Callable[[], Coroutine[Any, Any, Any]]


class Leader:
    """Runs `duties` (each a coroutine function, started afresh on every term) while it holds the lease."""

    def __init__(self, coordination: CoordinationRepo, clock: Clock, duties: dict[str, Duty], *,
                 owner: str | None = None, name: str = LEASE_NAME, ttl_seconds: float = LEASE_SECONDS) -> None:
        self.coordination = coordination
        self.clock = clock
        self.duties = duties
        self.owner = owner or process_owner()
        self.name = name
        self.ttl = ttl_seconds
        self.leading = asyncio.Event()  # set while this process leads (tests await it)
        self.terms = 0
        self.tried = asyncio.Event()  # set after each try for the lease (tests await it)
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Tries for the lease and renews it until `stop()`; then ends the duties and releases it."""
        held_until = 0.0  # monotonic: how long the last successful (re)new holds
        try:
            while not self._stop.is_set():
                asked = self.clock.monotonic()
                try:
                    # bounded: a renewal stuck behind a busy pool must not outlast the term while the duties
                    # act (review: past it, another process takes the lease and both lead)
                    got = await asyncio.wait_for(self.coordination.acquire_lease(self.name, self.owner, self.ttl),
                                                 self.ttl / 3)
                except (StoreError, TimeoutError) as e:
                    got = None
                    log.warning("leader_lease_unreachable", error=str(e) or type(e).__name__)
                if got:
                    held_until = asked + self.ttl
                    if not self.leading.is_set():
                        self._begin()
                elif got is False or self.clock.monotonic() >= held_until - self.ttl / 3:
                    # another holds it, or the store stayed down so long our term may be over by
                    # the next try: stop acting before anyone else could start
                    await self._end("lost" if got is False else "store_unreachable")
                self.tried.set()
                await self._wait(self.ttl / 3)
        finally:
            was_leading = self.leading.is_set()
            await self._end("stopped")
            if was_leading:
                with contextlib.suppress(Exception):
                    await self.coordination.release_lease(self.name, self.owner)

    def _begin(self) -> None:
        self.terms += 1
        self.leading.set()
        log.info("leader_elected", owner=self.owner, lease=self.name)
        loop = asyncio.get_running_loop()
        for name, duty in self.duties.items():
            self._tasks[name] = loop.create_task(self._guard(name, duty), name=name)

    async def _guard(self, name: str, duty: Duty) -> None:
        """Runs `duty` for the term, starting it again after a failure (`DUTY_RESTART_SECONDS`, doubling
        to the cap while it fails again within the cap of its start); a duty that returns is done."""
        wait = DUTY_RESTART_SECONDS
        while True:
            began = self.clock.monotonic()
            try:
                await duty()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.clock.monotonic() - began > DUTY_RESTART_CAP_SECONDS:
                    wait = DUTY_RESTART_SECONDS  # it ran a good while: a new failure, not the same one again
                log.exception("leader_duty_failed", duty=name, restart_in_seconds=wait)
            await self.clock.sleep(wait)
            log.info("leader_duty_restarted", duty=name)
            wait = min(wait * 2, DUTY_RESTART_CAP_SECONDS)

    async def _end(self, why: str) -> None:
        if not self.leading.is_set():
            return
        self.leading.clear()
        log.info("leader_stepped_down", owner=self.owner, lease=self.name, reason=why)
        # Cancelled mid-step is safe: the store records each step once and plans each delivery once, and
        # the door-knock notices owed stay in the store, each association's removed once its notices are queued.
        tasks, self._tasks = list(self._tasks.values()), {}
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _wait(self, seconds: float) -> None:
        stopper = asyncio.ensure_future(self._stop.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({stopper, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            sleeper.cancel()
