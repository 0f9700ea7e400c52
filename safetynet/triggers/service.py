"""The trigger service: telegrams and alerts in (HTTP push, Atom feed, watched folder), decisions out.

Each input is parsed (pure), decided by the rules (pure), acted on through the `CampaignPort`,
folded into the in-memory state and stored in `trigger_events`, one at a time under a lock.
The state is rebuilt from the stored decisions on start, so a restart forgets nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import Any

import aiohttp
import structlog

from safetynet.clock import Clock, SystemClock
from safetynet.config import Config
from safetynet.domain.campaigns import Actor
from safetynet.domain.japan_time import date_time_jst
from safetynet.domain.triggers import (
    ENDED_BY_PERSON,
    Decision,
    ReasonPart,
    TriggerInputError,
    TriggerRecord,
    TriggerState,
)
from safetynet.runtime import process_owner
from safetynet.store import Store
from safetynet.triggers.cap import CapAlert, parse_cap
from safetynet.triggers.feed import FeedPoller, PollResult
from safetynet.triggers.inputs import Telegram, parse_telegram
from safetynet.triggers.jma import JmaTelegram, parse_jma
from safetynet.triggers.port import CampaignPort, CampaignRequest
from safetynet.triggers.reasons import reason_fields
from safetynet.triggers.rules import apply, decide
from safetynet.triggers.settings import rules_from_config
from safetynet.triggers.watch import DirectoryWatcher

log = structlog.get_logger("triggers")

# Decisions of the last week rebuild the memory: far beyond the aftershock window, and enough for
# the late reports of a long event (a distant earthquake's tsunami, serial 8 the next day).
MEMORY_SECONDS = 7 * 86400.0
# How far before its last look a process reads the decisions others stored (`_others`).
_LOOK_BACK_SECONDS = 60.0
# A telegram reported longer ago than this is recorded but never acted on (a stale file in the
# watched folder, a feed read after a long outage): a campaign hours late would confuse residents.
MAX_AGE_SECONDS = 12 * 3600.0
# One decision at a time across every process on the store (DESIGN §8), as `_lock` within one: the
# 震度速報 pushed to one web process and the 震源・震度情報 of the same earthquake to another, at once,
# each found the event without a campaign and each made one (review). A lease, not a lock per event:
# a CAP update names its alert only through a memory the other process may not have yet, and a 取消 or
# an aftershock needs the others' last decision as much. Renewed every third of its term while a
# decision lasts (a campaign started city-wide); a process killed holding it holds it for one term.
DECISION_LEASE = "triggers.decide"
DECISION_LEASE_SECONDS = 30.0
# How soon a process refused the lease asks again, doubling to the cap: the holder's decision takes
# tens of milliseconds, a city-wide start seconds. Real time, whatever the clock: it waits for another
# process's work, not for a time the rules reason about.
_LEASE_RETRY_SECONDS = 0.02
_LEASE_RETRY_CAP_SECONDS = 0.5
# A city-wide 震源・震度情報 (~400 KB) takes ~70 ms to parse: off the event loop, so sends don't stall.
_PARSE_INLINE_BYTES = 32 * 1024

__all__ = [
    "CampaignPort", "CampaignRequest", "DirectoryWatcher", "FeedPoller", "JmaTelegram", "PollResult",
    "TriggerService", "handle_cap", "handle_jma",
]


class TriggerService:
    def __init__(
        self,
        store: Store,
        cfg: Config,
        campaigns: CampaignPort,
        clock: Clock | None = None,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.campaigns = campaigns
        self.clock = clock or SystemClock()
        self.rules = rules_from_config(cfg)
        self.max_age_seconds = max_age_seconds
        self.state = TriggerState()
        self._lock = asyncio.Lock()
        self._loaded = False
        self._looked_at = 0.0  # when the stored decisions were last read (`_others`)
        # a name no other service has, in this process or another (the lease's owner)
        self._owner = process_owner()

    async def load(self) -> int:
        """Rebuilds the rules' memory from the stored decisions; returns how many were read."""
        async with self._lock:
            return await self._load()

    async def _load(self) -> int:
        self._looked_at = self.clock.now()
        records = await self.store.triggers.since(self._looked_at - MEMORY_SECONDS)
        state = TriggerState()
        for rec in records:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                apply(state, Decision.from_json(rec.detail))
        self.state = state
        self._loaded = True
        return len(records)

    async def _others(self) -> None:
        """The decisions other processes stored since this one last looked, folded into its memory: the
        feed runs on the leader, but a telegram pushed over the API lands on whichever process serves it
        (review: the 震度速報 made #12 on one, the 震源・震度情報 of the same earthquake #13 on the other, and
        a 取消 landing on the second never withdrew #12; after a failover the new leader decided from
        its memory of days before). A decision it has itself (its telegram seen) is not applied twice;
        the look reaches back a minute before the last, for clocks and commits a little apart."""
        since, self._looked_at = self._looked_at - _LOOK_BACK_SECONDS, self.clock.now()
        for rec in await self.store.triggers.since(since):
            if rec.dedupe_key in self.state.seen:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                apply(self.state, Decision.from_json(rec.detail))

    async def ingest_jma(self, body: bytes, source: str = "http", pushed_by: Actor | None = None) -> Decision:
        """A JMA telegram; `pushed_by`: who pushed it over the API (`CampaignRequest.pushed_by`)."""
        return await self._ingest(await self._parse(parse_jma, body, source), source, pushed_by)

    async def ingest_cap(self, body: bytes, source: str = "http", pushed_by: Actor | None = None) -> Decision:
        return await self._ingest(await self._parse(parse_cap, body, source), source, pushed_by)

    async def ingest_any(self, body: bytes, source: str) -> Decision:
        """A JMA telegram or a CAP alert (the watched folder and the feed)."""
        return await self._ingest(await self._parse(parse_telegram, body, source), source)

    async def _parse(self, parse: Any, body: bytes, source: str) -> Telegram:
        try:
            if len(body) > _PARSE_INLINE_BYTES:
                telegram: Telegram = await asyncio.to_thread(parse, body, self.rules)
            else:
                telegram = parse(body, self.rules)
        except TriggerInputError as e:
            log.warning("trigger_input_refused", origin=source[:200], error=str(e)[:300])
            raise
        return telegram

    async def _ingest(self, telegram: Telegram, source: str, pushed_by: Actor | None = None) -> Decision:
        async with self._lock, self._deciding() as renewal:
            if not self._loaded:
                await self._load()
            else:
                await self._others()
            if await self.store.triggers.exists(telegram.dedupe_key):
                return self._duplicate(telegram)
            await self._learn_ended()
            d = self._stale(decide(telegram, self.state, self.rules))
            d = await self._act(d, pushed_by)
            # the memory after the record: the other way, a record that failed left the telegram "seen",
            # its retry was stored as a duplicate ignored, and after a restart the event had no campaign
            # (its 取消 found none; its next report made a second one) (review). Retried, the campaign the
            # first try made is found again by its key (`create_campaign`)
            if renewal.done():  # the renewal ends only when the lease was lost
                # another process may have decided meanwhile from a memory without this decision: not
                # stored from a memory that may be stale; the push is answered 503, the feed and the
                # folder read it again, and the campaign made is found again by its key (the day's reread)
                raise TriggerLeaseLost(self._owner)
            await self.store.triggers.record(TriggerRecord.of(d, source))
            apply(self.state, d)
        log.info("trigger_decided", source=d.source, origin=source[:200], event_id=d.event_id,
                 decision=d.decision, campaign_id=d.campaign, kind=d.kind, reason=d.reason)
        return d

    @contextlib.asynccontextmanager
    async def _deciding(self) -> AsyncIterator[asyncio.Task[None]]:
        """Holds the store's decision lease (`DECISION_LEASE`) from before the others' decisions are read
        until this one is stored, so the next process to decide reads it."""
        leases = self.store.coordination
        pause, waited = _LEASE_RETRY_SECONDS, False
        while not await leases.acquire_lease(DECISION_LEASE, self._owner, DECISION_LEASE_SECONDS):
            if not waited:
                holder = await leases.lease_holder(DECISION_LEASE)
                log.info("trigger_decision_waiting", holder=holder[0] if holder else None)
                waited = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LEASE_RETRY_CAP_SECONDS)
        renewal = asyncio.create_task(self._renew_decision_lease(), name="trigger-decision-lease")
        try:
            yield renewal
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            try:
                await leases.release_lease(DECISION_LEASE, self._owner)
            except Exception as e:  # the lease runs out by itself: the next decision waits one term at most
                log.warning("trigger_decision_lease_unreleased", error=str(e)[:300] or type(e).__name__)

    async def _renew_decision_lease(self) -> None:
        while True:
            await self.clock.sleep(DECISION_LEASE_SECONDS / 3)
            try:
                # bounded as the leader's renewal: a renewal stuck on a slow store would outlast the lease
                held = await asyncio.wait_for(self.store.coordination.acquire_lease(
                    DECISION_LEASE, self._owner, DECISION_LEASE_SECONDS), DECISION_LEASE_SECONDS / 3)
            except Exception as e:
                held = False
                log.warning("trigger_decision_lease_unrenewed", error=str(e)[:300] or type(e).__name__)
            if not held:
                # another process may decide now from a memory without this decision: this one is not stored
                log.warning("trigger_decision_lease_lost", owner=self._owner)
                return

    async def _learn_ended(self) -> None:
        """Asks the campaign side how the campaigns the rules still count on stand (one read each: the active
        events of the last week, few), and marks the events whose campaign a person cancelled or closed.
        Unasked, an event whose proposal the on-call admin cancelled at 02:01 had its 02:05 report of 震度6弱
        "updated" into the cancelled campaign (nothing happened), an equal quake within the window was an
        "aftershock" of a campaign city hall had closed, and a 取消 claimed the cancelled proposal was left
        running (review). A campaign the campaign side no longer has is left as it was."""
        for ev in self.state.events.values():
            if ev.active and ev.campaign is not None:
                state = await self.campaigns.campaign_state(ev.campaign)
                if state in ENDED_BY_PERSON:
                    ev.ended = str(state)

    @staticmethod
    def _duplicate(t: Telegram) -> Decision:
        src = "cap" if isinstance(t, CapAlert) else "jma"
        event_id = t.identifier if isinstance(t, CapAlert) else t.event_id
        return Decision("ignore", **reason_fields((ReasonPart.of("trigger.reason.duplicate"),)), source=src, event_id=event_id)

    def _stale(self, d: Decision) -> Decision:
        if d.decision == "ignore" or not d.reported_at:
            return d
        if self.clock.now() - d.reported_at <= self.max_age_seconds:
            return d
        hours = f"{self.max_age_seconds / 3600:g}"
        # a decision stored before parts existed is never decided again, so `d.parts` is always there
        stale = ReasonPart.of("trigger.reason.stale", time=date_time_jst(d.reported_at), hours=hours, meant=d.parts)
        return replace(d, decision="ignore", campaign=None, **reason_fields((stale,)))

    async def _act(self, d: Decision, pushed_by: Actor | None) -> Decision:
        if d.creates:
            request = CampaignRequest(
                dedupe_key=f"trigger:{d.dedupe_key}", kind=d.kind, start=d.decision == "start", title=d.title,
                hazard=d.hazard, scenario=self.rules.scenario, source=d.source, reason=d.reason,
                event_id=d.event_id, messages=dict(d.messages), pushed_by=pushed_by,
            )
            return replace(d, campaign=await self.campaigns.create_campaign(request))
        if d.decision == "update" and d.campaign is not None:
            await self.campaigns.update_campaign(d.campaign, d.title, dict(d.messages), d.reason)
        elif d.decision == "withdraw" and d.campaign is not None:
            # the campaign side tells the city admins of a withdrawal they would otherwise miss
            cancelled = await self.campaigns.cancel_proposed(d.campaign, d.reason)
            if not cancelled and d.mode == "propose":
                return replace(d, **reason_fields((*d.parts, ReasonPart.of("trigger.reason.left_running"))))
            if cancelled and d.mode == "start":  # the log says which of the rules' two cases it was
                still = ReasonPart.of("trigger.reason.still_waited", campaign=str(d.campaign))
                return replace(d, **reason_fields((*d.parts, still)))
        return d

    # -- sources ------------------------------------------------------------------------------

    def feed_poller(self, session: aiohttp.ClientSession, on_result: Any = None) -> FeedPoller | None:
        jma = self.cfg.triggers.jma
        if not jma.feed_url:
            return None
        return FeedPoller(self.ingest_any, session, jma.feed_url, self.clock, jma.poll_seconds, on_result)

    def directory_watcher(self, on_scan: Any = None) -> DirectoryWatcher | None:
        folder = self.cfg.triggers.jma.watch_dir
        if not folder:
            return None
        return DirectoryWatcher(self.ingest_any, self.cfg.resolve(folder), self.clock, on_scan=on_scan)

    async def run(self, session: aiohttp.ClientSession | None = None) -> None:
        """Loads the memory, then polls the feed and watches the folder (those configured) until cancelled.

        Without a `session`, one is opened for the feed and closed on the way out.
        """
        await self.load()
        if session is None and self.cfg.triggers.jma.feed_url:
            async with aiohttp.ClientSession() as own:
                await self._run_sources(own)
        else:
            await self._run_sources(session)

    async def _run_sources(self, session: aiohttp.ClientSession | None) -> None:
        tasks: list[asyncio.Task[None]] = []
        poller = self.feed_poller(session) if session is not None else None
        watcher = self.directory_watcher()
        if poller is not None:
            tasks.append(asyncio.create_task(poller.run(), name="trigger-feed"))
        if watcher is not None:
            await asyncio.to_thread(watcher.folder.mkdir, parents=True, exist_ok=True)
            tasks.append(asyncio.create_task(watcher.run(), name="trigger-watch"))
        log.info("trigger_sources_started", feed=poller is not None, watch_dir=watcher is not None)
        if not tasks:
            return
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class TriggerLeaseLost(RuntimeError):
    """The decision lease ran out while a decision was made: it is not stored (`_ingest`), and is made again."""


def _answer(d: Decision) -> dict[str, Any]:
    return {"decision": d.decision, "reason": d.reason, "event_id": d.event_id, "campaign": d.campaign,
            "kind": d.kind}


async def _handled(decided: Awaitable[Decision]) -> tuple[int, dict[str, Any]]:
    """An HTTP push's answer: 200 with the decision, 400 with the reason for a refused body, 503 when the
    decision's turn ran out (`TriggerLeaseLost`): pushed again, it is made again."""
    try:
        return 200, _answer(await decided)
    except TriggerInputError as e:
        return 400, {"error": str(e)}
    except TriggerLeaseLost:
        return 503, {"error": "another process was deciding on this telegram's event meanwhile: push it again"}


async def handle_jma(service: TriggerService, body: bytes, pushed_by: Actor | None = None) -> tuple[int, dict[str, Any]]:
    """For `POST /api/triggers/jma` (`_handled`)."""
    return await _handled(service.ingest_jma(body, "http", pushed_by))


async def handle_cap(service: TriggerService, body: bytes, pushed_by: Actor | None = None) -> tuple[int, dict[str, Any]]:
    """For `POST /api/triggers/cap` (`_handled`)."""
    return await _handled(service.ingest_cap(body, "http", pushed_by))
