"""The escalation ladder: later steps to households that have not answered, then the door-knock list.

Step 0 is planned when a campaign starts (`CampaignService.start`). This scheduler plans each
later step when its time comes, for households that have not answered and have one of the step's
channels. The last step (door knock) puts every household still silent on the list and tells the
association's head and deputies. Progress is stored per campaign (`campaign_ladder.next_step`),
and the door-knock notices owed with the step (`doorknock_notices`), so a restart neither repeats
nor skips a step, nor forgets to tell a head. While a real event runs, a drill's ladder is paused
and its later steps move back by the time it was paused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from safetynet.broadcast.planner import plan_step
from safetynet.clock import Clock
from safetynet.domain import CampaignKind, CampaignState
from safetynet.domain.campaigns import Campaign, LadderProgress, LadderStep
from safetynet.domain.roster import UnknownScopeError
from safetynet.store.errors import StoreUnavailable
from safetynet.store.ports import CampaignRepo

log = structlog.get_logger("broadcast.ladder")


class DoorKnockNotifier(Protocol):
    """Tells each association's head and deputies that their door-knock list is ready (replies work);
    awaits `done(association_id)` once an association's notices are queued (or it has no one to tell)."""

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int],
                               done: Callable[[int], Awaitable[object]] | None = None) -> None: ...


# A door-knock notice that failed is tried again after this, doubling to the cap.
OWED_RETRY_SECONDS = 5.0
OWED_RETRY_CAP_SECONDS = 300.0
# A notice still owed this long after its campaign ended is given up (and said so, once): it tells of a
# walk nobody is waiting for, and one that never goes out (an association's staff data the notifier
# fails on) would otherwise be tried, and logged with its trace, every five minutes for good.
OWED_AFTER_END_SECONDS = 24 * 3600.0
# How often the running campaigns look for households that came into their scope since they started (a
# roster imported during the event): a scan of each scope on a reader, a write only for the ones found.
NEWCOMERS_SECONDS = 60.0


@dataclass
class _Backoff:
    """When a campaign's owed door-knock notices, having failed `tries` times, are tried again."""

    tries: int
    next_at: float


def step_due_at(campaign: Campaign, progress: LadderProgress, step: LadderStep) -> float:
    started = campaign.started_at if campaign.started_at is not None else campaign.created_at
    return started + progress.paused_seconds + step.after_seconds


class LadderScheduler:
    def __init__(
        self, campaigns: CampaignRepo, clock: Clock, *, notifier: DoorKnockNotifier | None = None,
        on_planned: Callable[[], None] | None = None, tick_seconds: float = 1.0,
        enrol_newcomers: Callable[[Campaign], Awaitable[int]] | None = None,
    ) -> None:
        self.store = campaigns
        self.clock = clock
        self.notifier = notifier
        self.on_planned = on_planned
        # `CampaignService.enrol_newcomers`, run for every running campaign in one tick every
        # NEWCOMERS_SECONDS: together, so a household new to two events of the kind is in both within
        # milliseconds (review: a minute apart, its answer to the first was not the second's)
        self.enrol_newcomers = enrol_newcomers
        self._newcomers_due = 0.0
        self.tick_seconds = tick_seconds
        self._stop = asyncio.Event()
        # campaigns whose owed door-knock notices failed (the store's record of them is what is owed):
        # when to try again. In memory: a process that leads after a restart tries at once
        self._backoff: dict[int, _Backoff] = {}
        self._real_running = False  # as the last tick found: a drill's notices wait meanwhile

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Ticks until `stop()`; a failing tick is logged and retried on the next one."""
        while not self._stop.is_set():
            try:
                await self.tick()
            except StoreUnavailable as e:
                # a lost connection (a terminated backend, a restart) or a database down for a moment:
                # expected, and the next tick does the work again; its trace would only bury the line
                log.warning("ladder_tick_retried", error=str(e))
            except Exception:
                log.exception("ladder_tick_failed")
            stopper = asyncio.ensure_future(self._stop.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(self.tick_seconds))
            _, pending = await asyncio.wait({stopper, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def tick(self) -> list[tuple[int, int]]:
        """One pass over the running campaigns; returns the (campaign, step) pairs done."""
        running = await self.store.running()
        real_running = any(c.kind == CampaignKind.REAL for c in running)
        self._real_running = real_running
        await self._tell_owed()
        done: list[tuple[int, int]] = []
        for campaign in running:
            progress = await self._pause_bookkeeping(campaign, real_running)
            if progress is None:  # a drill paused by a real event (its newcomers are enrolled all the same)
                continue
            while progress.next_step < len(campaign.ladder):
                index = progress.next_step
                step = campaign.ladder[index]
                if self.clock.now() < step_due_at(campaign, progress, step):
                    break
                if not await self._do_step(campaign, index, step):
                    break  # someone else recorded it first
                done.append((campaign.id, index))
                progress = await self.store.ladder_progress(campaign.id)
        # after every campaign's steps (a newcomer enrolled past the door-knock step is listed as it is
        # sent step 0, where the step would have made one enrolled just before it unreachable), every
        # campaign's newcomers one after the other; the next look is set once this one is done (review: a
        # tick failing halfway left the rest a minute behind)
        if self.enrol_newcomers is not None and self.clock.now() >= self._newcomers_due:
            for campaign in running:
                await self._newcomers(campaign)
            self._newcomers_due = self.clock.now() + NEWCOMERS_SECONDS
        return done

    async def _newcomers(self, campaign: Campaign) -> None:
        """The households that came into the campaign's scope since it started, enrolled (`enrol_newcomers`).
        A failure is logged and tried at the next look: the other campaigns must not wait for it."""
        if self.enrol_newcomers is None:
            return
        try:
            await self.enrol_newcomers(campaign)
        except (StoreUnavailable, UnknownScopeError) as e:  # the store down a moment; a scope renamed since
            log.warning("newcomers_not_enrolled", campaign_id=campaign.id, error=str(e))
        except Exception:
            log.exception("newcomers_not_enrolled", campaign_id=campaign.id)

    async def _pause_bookkeeping(self, campaign: Campaign, real_running: bool) -> LadderProgress | None:
        """The campaign's progress, or None while it is a drill paused by a real event."""
        progress = await self.store.ladder_progress(campaign.id)
        if campaign.kind != CampaignKind.DRILL:
            return progress
        now = self.clock.now()
        if real_running:
            if progress.paused_since is None and await self.store.set_paused(campaign.id, True, now):
                log.info("drill_paused", campaign_id=campaign.id)
            return None
        if progress.paused_since is not None:
            await self.store.set_paused(campaign.id, False, now)
            log.info("drill_resumed", campaign_id=campaign.id)
            progress = await self.store.ladder_progress(campaign.id)
        return progress

    async def _do_step(self, campaign: Campaign, index: int, step: LadderStep) -> bool:
        """Plans (or, the door-knock step, makes the list and tells the heads of) step `index`, and
        records it done; False when another process recorded it first."""
        now = self.clock.now()
        if step.door_knock:
            # recorded with the list and its notices owed, before the heads are told: an undo from now on
            # sees the list made and puts its household back on it (review: an undo while the notices were
            # queued left it off for good), and a notice that fails is still owed after a restart
            counts = await self.store.record_doorknock(campaign.id, index, now)
            if counts is None:
                return False
            log.info("door_knock_list_ready", campaign_id=campaign.id, households=sum(counts.values()),
                     associations=len(counts))
            await self._tell_owed()
            return True
        planned = 0
        async for batch in self.store.step_households(campaign.id):
            busy = await self.store.waiting_channels(campaign.id, batch[0].id, batch[-1].id, before_step=index)
            plan = plan_step(batch, index, step, busy)
            await self.store.write_step(campaign.id, plan, now)
            planned += sum(1 for d in plan.deliveries if d.fallback_rank == 0)
        log.info("ladder_step_planned", campaign_id=campaign.id, step=index, households=planned)
        if self.on_planned is not None:
            self.on_planned()
        return await self.store.advance_ladder(campaign.id, index, self.clock.now())

    async def _tell_owed(self) -> None:
        """The door-knock notices the store holds as owed, each association's given to the notifier and
        recorded told as soon as it has queued them, a campaign's failures backing off from
        `OWED_RETRY_SECONDS` to `OWED_RETRY_CAP_SECONDS` (review: one that failed, the store restarting,
        was lost with the step already recorded; and then the retry lived in this process, lost on a
        restart). The associations told before a failure or a stop are not told again; one whose list
        has emptied since is told nothing; one whose notices were queued but whose record failed (the
        store failing in between) is told twice rather than never. A campaign cancelled meanwhile (a
        false alarm) asks no walk, and a drill's notices wait while a real event runs (heads walking a
        real list must not be sent on a drill's); both as `_pause_bookkeeping` treats the drill itself."""
        notifier = self.notifier
        if notifier is None:
            return
        owed = await self.store.owed_doorknock_notices()
        for settled in self._backoff.keys() - owed.keys():
            del self._backoff[settled]
        now = self.clock.now()
        for campaign_id, associations in owed.items():
            wait = self._backoff.get(campaign_id)
            if wait is not None and now < wait.next_at:
                continue
            left = set(associations)

            async def told(association_id: int, campaign_id: int = campaign_id, left: set[int] = left) -> None:
                await self.store.doorknock_notices_told(campaign_id, [association_id])
                left.discard(association_id)

            try:
                campaign = await self.store.get(campaign_id)
                if campaign is None or campaign.state == CampaignState.CANCELLED:
                    await self.store.doorknock_notices_told(campaign_id, associations)
                    log.info("door_knock_notice_dropped", campaign_id=campaign_id, associations=len(associations))
                    continue
                if self._given_up(campaign, now):
                    await self.store.doorknock_notices_told(campaign_id, associations)
                    log.error("door_knock_notice_given_up", campaign_id=campaign_id, associations=len(associations),
                              ended_hours_ago=round((now - (campaign.closed_at or now)) / 3600, 1))
                    continue
                if campaign.kind == CampaignKind.DRILL and self._real_running:
                    continue  # not a failure: no backing off, it goes once the real event ends
                counts = await self.store.doorknock_counts(campaign_id)
                listed = {a: counts[a] for a in associations if counts.get(a, 0) > 0}
                emptied = [a for a in associations if a not in listed]
                if emptied:
                    await self.store.doorknock_notices_told(campaign_id, emptied)
                    left.difference_update(emptied)
                if listed:
                    await notifier.door_knock_ready(campaign, listed, told)
            except Exception as e:
                # one failing campaign's notices must not stop the ladder of every campaign: caught here,
                # and the wait doubles to its cap without growing past it (no overflow however long). The
                # notifier logged each association's failure with its trace: one line here
                tries = (wait.tries if wait is not None else 0) + 1
                retry_at = now + min(OWED_RETRY_CAP_SECONDS, OWED_RETRY_SECONDS * 2 ** min(tries - 1, 16))
                self._backoff[campaign_id] = _Backoff(tries, retry_at)
                log.warning("door_knock_notify_failed", campaign_id=campaign_id, associations=len(left),
                            retry_in=retry_at - now, error=repr(e))
                continue
            self._backoff.pop(campaign_id, None)

    @staticmethod
    def _given_up(campaign: Campaign, now: float) -> bool:
        ended = campaign.closed_at
        return campaign.state != CampaignState.RUNNING and ended is not None and now - ended > OWED_AFTER_END_SECONDS
