"""Escalating a help request nobody handles: "no one left behind".

On the night of an earthquake the head's own phone may be dead, or the head hurt. A help request
left open (not marked handled) for `[replies] help_escalate_minutes` in a running campaign goes,
once, to the standing-in staff: the district's heads, else the city's admins (`notify.standing_in`),
through the same outbox as the help alert. Every process that takes answers checks every
`CHECK_SECONDS`; the store's claim is one atomic statement, so each request is told once however
many processes check (DESIGN §8). Drills escalate too: a drill rehearses the real flow, and its
alert carries the drill mark. A request whose every help alert failed or was dropped (the head blocked
the LINE account, the deputy's mail relay is down) goes at the next check, without the wait.

Told at least once: a request is marked told (`escalation_told`) only once its alerts are queued, and
a claim left untold (a process killed in between, or a fault telling it) is claimed again after
`ESCALATION_CLAIM_SECONDS`; a duplicate alert costs less than a missed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from safetynet.clock import Clock
from safetynet.domain.replies import escalation_cutoff
from safetynet.replies.notify import NotifyReport
from safetynet.store import Store
from safetynet.store.errors import StoreError

log = structlog.get_logger("replies")

# Often enough that a request is told within a minute of its due time; each check is one statement.
CHECK_SECONDS = 30.0


class Escalator(Protocol):
    async def escalate(self, campaign_id: int, household_id: int) -> NotifyReport: ...


class HelpEscalation:
    """`run()` checks every `every_seconds` on `clock` until `stop()`; `check()` is one round. Each
    round first calls `resend` (`ReplyIntake.resend_unnotified`: help alerts a store error kept from
    the head), escalation on or off."""

    def __init__(self, store: Store, notifier: Escalator, clock: Clock, minutes: float,
                 every_seconds: float = CHECK_SECONDS,
                 resend: Callable[[], Awaitable[object]] | None = None) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.minutes = minutes
        self.every_seconds = every_seconds
        self.resend = resend
        self.checked = asyncio.Event()  # set after each round (tests await it instead of sleeping)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def check(self) -> list[tuple[int, int]]:
        """Claims the requests due now and tells their standing-in staff; returns (campaign, household)."""
        if self.resend is not None:
            try:
                await self.resend()
            except StoreError as e:  # the next round tries again; the escalation still runs
                log.warning("help_resend_failed", error=str(e))
        cutoff = escalation_cutoff(self.clock.now(), self.minutes)
        if cutoff is None:
            return []
        due = await self.store.replies.claim_unhandled_help(cutoff)
        for campaign_id, household_id in due:
            try:
                await self.notifier.escalate(campaign_id, household_id)
                await self.store.replies.escalation_told(campaign_id, household_id)
            except StoreError as e:  # untold: claimed again later; the others still go out
                log.error("help_escalation_failed", campaign_id=campaign_id, household_id=household_id,
                          error=str(e))
            except Exception:  # a fault of ours with this one (its row, its text): the rest still go out
                log.exception("help_escalation_failed", campaign_id=campaign_id, household_id=household_id)
        return due

    async def run(self) -> None:
        if escalation_cutoff(self.clock.now(), self.minutes) is None:
            log.info("help_escalation_off")
            if self.resend is None:
                return
        while not self._stop.is_set():
            try:
                await self.check()
            except StoreError as e:  # the store is down: the next round tries again
                log.warning("help_escalation_check_failed", error=str(e))
            except Exception:  # one bad round must not end the watch for the rest of the night
                log.exception("help_escalation_check_failed")
            self.checked.set()
            await self._wait()

    async def _wait(self) -> None:
        stopper = asyncio.ensure_future(self._stop.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(self.every_seconds))
        try:
            await asyncio.wait({stopper, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            sleeper.cancel()
