"""The dispatcher: claims due deliveries per lane, sends them, writes the outcomes back in batches.

It only polls the outbox, so a campaign started from the CLI is picked up by a running server.
Staff alerts (need-help, door-knock lists) are outbox rows too: each top-up claims a lane's due
staff alerts first, of any campaign, and puts them ahead of everything the lane holds.
Drills wait while a real event runs (their deliveries are not claimed). `stop()` is prompt and
loses nothing: nothing new is claimed or sent, retry waits end at once and their deliveries go
back to the outbox with their attempts, held claims are released, and sends already at a provider
get `stop_grace_seconds` to finish and be recorded. A send still out after that is cut off and
keeps its claim, exactly as after a crash: its outcome is unknown, so it comes back only when the
lease ends. `burst()` drains everything due and returns (tests, benchmarks).

While it runs it beats: a heartbeat row and each lane's health go to the store (`broadcast.health`),
so the console and `campaign start` of any process can tell whether anything is being sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from safetynet.broadcast.health import FORGET_EVERY_BEATS, HEARTBEAT_SECONDS, MIN_WRITE_SECONDS, LaneHealth
from safetynet.broadcast.lanes import Lane, LaneStats
from safetynet.broadcast.messages import compose, compose_check, notice_language, notice_title, title_for
from safetynet.broadcast.ratelimit import LaneGate, SharedLaneGate, SlotStore
from safetynet.broadcast.retry import RetryPolicy
from safetynet.channels import registry
from safetynet.channels.base import ChannelSender, OutboundMessage
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import CampaignKind, ChannelName
from safetynet.domain.campaigns import (
    Campaign,
    ClaimedDelivery,
    DeliveryOutcome,
    DispatcherBeat,
    HouseholdNotice,
    OutcomeKind,
    StaffAlert,
    going_on,
)
from safetynet.metrics import Metrics
from safetynet.replies.tokens import check_token, check_url, reply_token, reply_url
from safetynet.runtime import first_of
from safetynet.store import Store, StoreError
from safetynet.store.errors import ConnectionLost

log = structlog.get_logger("broadcast.dispatcher")

# How often the dispatcher applies provider callbacks held for a send no commit saw
# (`OutboxRepo.apply_held_statuses`: PostgreSQL's race between a callback and its send's commit;
# QA: SMS not delivered never fell back to the call). An SMS's fall-back waits this much longer at most.
HELD_STATUS_SWEEP_SECONDS = 2.0
# Outcomes sent but not yet committed, at most this many per send slot: enough to keep commits
# large, few enough that a crash repeats little (their claims come back after the lease).
UNRECORDED_PER_SLOT = 2
# A lane may catch up this much of a lag (a busy event loop) in a burst: 5 % over the limit in
# the worst second, where providers queue or allow about a second's worth.
CATCH_UP_SECONDS = 0.05
# A result the store could not take is tried again this often (backing off): about a minute in all,
# the time a PostgreSQL restart or fail-over takes.
RECORD_ATTEMPTS = 10
# After a store error (locked, disk full) the dispatcher tries again this much later.
STORE_RETRY_SECONDS = 1.0
# While busy, the list of running campaigns (and so which drills are paused) is re-read this often.
REFRESH_SECONDS = 0.25
# On stop, sends already handed to a provider get this long to answer (and be recorded).
STOP_GRACE_SECONDS = 5.0


class ContactsPort(Protocol):
    """Where a dead contact is reported (the roster store)."""

    async def mark_contact_dead(self, contact_id: int, reason: str) -> bool: ...


@dataclass
class DispatchReport:
    lanes: dict[str, LaneStats] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.lanes.values())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, s in self.lanes.items():
            span = (s.last_send - s.first_send) if s.first_send and s.last_send else 0.0
            out[name] = {"sent": s.sent, "failed": s.failed, "retried": s.retried, "released": s.released,
                         "skipped": s.skipped, "attempts": s.attempts, "errors": dict(s.errors),
                         "per_second": round((s.sent - 1) / span, 1) if span > 0 else None}
        return out


def _buffer(cfg: Config, channel: ChannelName) -> int:
    """Deliveries a lane may hold: enough to keep it busy, few enough to send well within the lease."""
    ch = cfg.channels.get(channel)
    if ch.max_per_second <= 0:
        return max(2 * ch.concurrency, cfg.broadcast.batch_size)
    return max(ch.concurrency, min(cfg.broadcast.batch_size, int(ch.max_per_second * cfg.broadcast.lease_seconds / 4)))


class Dispatcher:
    def __init__(
        self, store: Store, senders: Mapping[ChannelName, ChannelSender], cfg: Config, clock: Clock, *,
        contacts: ContactsPort | None = None, channels: Iterable[ChannelName] | None = None,
        owner: str | None = None, poll_seconds: float = 0.5, policy: RetryPolicy | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS, metrics: Metrics | None = None,
        shared_slots: SlotStore | None = None,
    ) -> None:
        """`shared_slots`: the store's lane slots, when other dispatchers share the store, so that a
        provider's `max_per_second` holds for all of them together (`SharedLaneGate`)."""
        self.campaigns = store.campaigns
        self.outbox = store.outbox
        self.health = store.health
        self.metrics = metrics or Metrics()
        self.cfg = cfg
        self.clock = clock
        self.contacts = contacts
        self.owner = owner or f"d-{secrets.token_hex(4)}"
        self.poll_seconds = poll_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.policy = policy or RetryPolicy.from_config(cfg.broadcast)
        wanted = set(channels) if channels is not None else set(senders)
        self.started_at = clock.now()
        # Set when a lane starts or stops failing: the heartbeat writes it at once.
        self._health_changed = asyncio.Event()
        self.lanes: dict[ChannelName, Lane] = {}
        for ch, sender in senders.items():
            if ch in wanted:
                conf = cfg.channels.get(ch)
                gate = (SharedLaneGate(str(ch), shared_slots, conf.max_per_second, clock)
                        if shared_slots is not None and conf.max_per_second > 0 else
                        LaneGate(conf.max_per_second, clock, burst=max(1.0, conf.max_per_second * CATCH_UP_SECONDS)))
                self.lanes[ch] = Lane(ch, sender, gate, conf.concurrency, self.policy, clock, _buffer(cfg, ch),
                                      LaneHealth(self.started_at, self._health_changed.set),
                                      self.metrics.lane(str(ch)), pacing=registry.pacing(ch, conf),
                                      send_deadline=self.policy.send_deadline(conf.timeout_seconds))
        self._health_written: dict[ChannelName, int] = {}
        self._campaigns: dict[int, Campaign] = {}
        self._active: list[int] = []
        self._real_running = False  # a real event runs: drills (their notices too) wait
        self._wake = asyncio.Event()
        self._refresh_due = True
        self._refreshed_at = 0.0
        self._stopping = False
        self._stopped = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._recording: set[asyncio.Task[None]] = set()
        # outcomes handed over in this turn of the loop, stored together by one task
        self._outcomes: list[DeliveryOutcome] = []
        self.max_unrecorded = max(64, UNRECORDED_PER_SLOT * sum(lane.concurrency for lane in self.lanes.values()))
        # A counter and an Event, not a Semaphore: asyncio's Semaphore rescans its waiters on every
        # release, which costs more than a send when 64 workers wait.
        self._unrecorded = 0
        # ids of the claims this dispatcher holds (queued in a lane, being sent, result not yet
        # stored): only these are renewed, so a claim whose result could not be stored runs out
        self._held: set[int] = set()
        self._record_room = asyncio.Event()
        # Counted each time the loop goes to sleep with no lane holding a delivery and no outcome being
        # stored: all that was due is done. How a test on a controlled clock keeps time from running
        # ahead of the dispatcher (a probe not yet taken when the clock passes its next one).
        self.rests = 0
        self.rested = asyncio.Event()

    # -- control -------------------------------------------------------------------------------

    def wake(self) -> None:
        """New work may be due (a campaign started or changed, a step was planned)."""
        self._refresh_due = True
        self._wake.set()

    def stop(self) -> None:
        """Prompt stop: `run` returns once held claims are released and sends in flight are recorded
        (or, after `stop_grace_seconds`, cut off)."""
        self._stopping = True
        self._stopped.set()
        for lane in self.lanes.values():
            lane.stop_taking()
        self._wake.set()
        self._record_room.set()  # a worker waiting for room records its outcome now

    @property
    def retry_waits(self) -> int:
        """Deliveries whose worker waits (backoff, Retry-After, a paused or paced lane)."""
        return sum(lane.waiting for lane in self.lanes.values())

    async def burst(self) -> DispatchReport:
        return await self.run(burst=True)

    async def run(self, burst: bool = False) -> DispatchReport:
        for lane in self.lanes.values():
            work = self._worker if lane.batch == 1 else self._batch_worker
            self._workers += [asyncio.create_task(work(lane), name=f"lane-{lane.channel}")
                              for _ in range(lane.concurrency)]
        keeper = asyncio.create_task(self._keep_leases(), name="lease-keeper")
        beating = asyncio.create_task(self._heartbeat(), name="dispatcher-heartbeat")
        try:
            await self._loop(burst)
        finally:
            # Ended, not cancelled: a task cancelled inside a write can leave the writer's
            # transaction open, and every later write (the releases below) would fail.
            self._stopping = True
            self._stopped.set()
            with contextlib.suppress(Exception):
                await keeper
            with contextlib.suppress(Exception):
                await beating
            await self._shutdown()
            await self._beat(stopped=True)
        return DispatchReport({str(ch): lane.stats for ch, lane in self.lanes.items()})

    async def _loop(self, burst: bool) -> None:
        last_reclaim: float | None = None
        last_sweep = self.clock.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                if self.clock.monotonic() - last_sweep >= HELD_STATUS_SWEEP_SECONDS:
                    last_sweep = self.clock.monotonic()
                    await self.outbox.apply_held_statuses()
                # first thing, then twice a lease: claims of a dead dispatcher come back
                if last_reclaim is None or self.clock.monotonic() - last_reclaim > self.cfg.broadcast.lease_seconds / 2:
                    # its own too, but not what it still holds: an own claim that ran out and is not held
                    # is one it lost track of (a result the store refused), and would otherwise never come
                    # back; a held one ran out because a renewal landed late (a slow store, a starved
                    # loop), and taking it back would send it twice, from this very process
                    await self.outbox.reclaim_expired(self.owner, keep=list(self._held))
                    last_reclaim = self.clock.monotonic()
                await self._refresh_campaigns()
                claimed = await self._top_up()
                if claimed:
                    continue
                if burst and self._idle():
                    if await self._drained():
                        return
                    continue
            except StoreError as e:
                # A locked or failing disk must not end the dispatcher: what it holds is leased, the
                # rest waits in the outbox; it tries again shortly. A lost connection is a warning: the
                # pool opens another, and the retry is all there is to it.
                (log.warning if isinstance(e, ConnectionLost) else log.error)("dispatcher_store_error", error=str(e))
                await self._pause(STORE_RETRY_SECONDS)
                continue
            if self._idle():
                self.rests += 1
                self.rested.set()
            await self._wait(None if burst else self.poll_seconds)

    def _idle(self) -> bool:
        """No lane holds a delivery and no outcome is being stored: a burst may end, a test may move time."""
        return not self._recording and all(lane.idle for lane in self.lanes.values())

    async def _keep_leases(self) -> None:
        """Renews this dispatcher's claims every third of the lease, so a slow lane (a provider limit,
        a long pause) never sees its own held deliveries reclaimed and sent twice."""
        lease = self.cfg.broadcast.lease_seconds
        while True:
            await self._pause(lease / 3)
            if self._stopping:
                return
            try:
                await self.outbox.renew_leases(self.owner, lease, list(self._held))
            except ConnectionLost as e:  # renewed on the next round, well within the lease
                log.warning("lease_renewal_failed", error=str(e))
            except Exception:
                log.exception("lease_renewal_failed")

    async def _heartbeat(self) -> None:
        """A heartbeat every HEARTBEAT_SECONDS, and soon after a lane starts or stops failing
        (never more often than MIN_WRITE_SECONDS apart)."""
        beats = 0
        while not self._stopping:
            self._health_changed.clear()
            # Dispatchers gone for days are dropped by a live one, now and then (every ~10 min).
            await self._beat(forget=beats % FORGET_EVERY_BEATS == 0)
            beats += 1
            await first_of(self._stopped.wait(), self._health_changed.wait(), self.clock.sleep(HEARTBEAT_SECONDS))
            if self._health_changed.is_set() and not self._stopping:
                await self._pause(MIN_WRITE_SECONDS)  # spaces the writes of a flapping provider

    async def _beat(self, *, stopped: bool = False, forget: bool = False) -> None:
        now = self.clock.now()
        for ch, lane in self.lanes.items():
            last_failure = lane.health.last_failure
            if lane.idle and lane.health.age_out(now):  # a send under way may yet answer
                log.info("channel_failing_aged_out", channel=ch, last_failure_at=last_failure,
                         reason=lane.health.reason)
        changed = [(ch, lane.health.changes) for ch, lane in self.lanes.items()
                   if self._health_written.get(ch) != lane.health.changes]
        rows = [self.lanes[ch].health.row(self.owner, str(ch), now) for ch, _ in changed]
        beat = DispatcherBeat(self.owner, socket.gethostname(), os.getpid(), tuple(str(ch) for ch in self.lanes),
                              self.started_at, now, now if stopped else None)
        try:
            await self.health.beat(beat, rows, forget=forget)
        except Exception as e:  # the outbox work goes on; the next beat tries again
            log.warning("dispatcher_heartbeat_failed", error=str(e))
            return
        self._health_written.update(changed)

    async def _drained(self) -> bool:
        """Burst mode, every lane idle: True when nothing is due; waits out a lane's pause if that
        is all that holds work back."""
        self._refresh_due = True
        await self._refresh_campaigns()
        open_lanes = [ch for ch, lane in self.lanes.items() if not lane.gate.paused_for and not lane.probe_wait()]
        if await self.outbox.due_count(self._active, open_lanes):
            return False
        paused = {ch: lane.gate.paused_for for ch, lane in self.lanes.items() if lane.gate.paused_for}
        # a failing channel's lane takes its next probe later: the wait is part of the burst
        paused.update({ch: wait for ch, lane in self.lanes.items() if (wait := lane.probe_wait())})
        if paused and await self.outbox.due_count(self._active, list(paused)):
            await self._pause(min(paused.values()))
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleeps on the Clock, or less if the dispatcher stops."""
        await first_of(self._stopped.wait(), self.clock.sleep(seconds))

    async def _wait(self, poll_seconds: float | None) -> None:
        if poll_seconds is None:
            await self._wake.wait()
            return
        await first_of(self._wake.wait(), self.clock.sleep(poll_seconds))

    async def _refresh_campaigns(self) -> None:
        # Real time, not the Clock: this only bounds how often the list is re-read while busy.
        if not self._refresh_due and time.monotonic() - self._refreshed_at < REFRESH_SECONDS:
            return
        self._refresh_due = False
        self._refreshed_at = time.monotonic()
        running = await self.campaigns.running()
        # A running real event pauses every drill: their deliveries wait in the outbox.
        going = going_on(running)
        self._active = [c.id for c in going]
        self._real_running = any(c.kind == CampaignKind.REAL for c in going)
        self._campaigns = {c.id: c for c in running}

    async def _top_up(self) -> int:
        total = 0
        lease = self.cfg.broadcast.lease_seconds
        for lane in self.lanes.values():
            room = lane.room()
            probe_wait = lane.probe_wait()
            if probe_wait is not None:
                # the channel fails as a whole: one delivery at a time probes it, the rest wait
                # in the outbox (their attempts untouched) until it answers again
                room = 1 if probe_wait <= 0 else 0
            if room < 1 or lane.gate.paused_for > self.policy.max_inline_seconds:
                continue
            # Staff alerts first, ahead of whatever the lane holds: a head waits for no broadcast.
            staff = await self.outbox.claim_staff(lane.channel, room, self.owner, lease)
            self._held.update(d.id for d in staff)
            if staff:
                await lane.put_first(staff)
                total += len(staff)
                room -= len(staff)
            if room < 1 or (room < max(1, lane.buffer // 2) and probe_wait is None):
                continue
            items = await self.outbox.claim(self._active, lane.channel, room, self.owner, lease)
            self._held.update(d.id for d in items)
            if items:
                await lane.put(items)
                total += len(items)
                room -= len(items)
            if room < max(1, lane.buffer // 2):
                continue
            # A cancelled campaign's notices last, and a few at a time: a running campaign's message due
            # later waits behind a tenth of the lane at most; a drill's wait out a real event, as its
            # deliveries do.
            notices = await self.outbox.claim_notices(lane.channel, min(room, max(1, lane.buffer // 10)), self.owner,
                                                      lease, drills=not self._real_running)
            self._held.update(d.id for d in notices)
            if notices:
                await lane.put(notices)
                total += len(notices)
        return total

    # -- workers -------------------------------------------------------------------------------

    async def _worker(self, lane: Lane) -> None:
        while True:
            d = await lane.take()
            if d is None:
                return
            try:
                outcome = await self._deliver(lane, d)
                await self._hand_over(lane, outcome)
            finally:
                lane.in_flight -= 1
                if lane.room() >= lane.buffer // 2:
                    self._wake.set()

    async def _batch_worker(self, lane: Lane) -> None:
        """A worker of a lane whose sender takes many recipients in one request."""
        while True:
            ds = await lane.take_batch()
            if not ds:
                return
            try:
                for outcome in await self._deliver_batch(lane, ds):
                    await self._hand_over(lane, outcome)
            finally:
                lane.in_flight -= len(ds)
                if lane.room() >= lane.buffer // 2:
                    self._wake.set()

    async def _hand_over(self, lane: Lane, outcome: DeliveryOutcome) -> None:
        lane.stats.count(outcome)
        lane.meter.outcome(outcome.kind)  # per delivery: a batch counts each recipient
        # The worker does not wait for the commit: it sends the next message while many
        # outcomes share one transaction. Bounded, so a slow disk slows sends down.
        while self._unrecorded >= self.max_unrecorded and not self._stopping:
            self._record_room.clear()
            await self._record_room.wait()
        self._unrecorded += 1
        if not self._outcomes:
            # One task and one store call a turn of the loop, not one a delivery: the task first
            # runs after the other workers' steps of this turn, and takes all they handed over.
            task = asyncio.create_task(self._record_handed_over())
            self._recording.add(task)
            task.add_done_callback(self._recorded)
        self._outcomes.append(outcome)

    async def _record_handed_over(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        try:
            await self._record(outcomes)
        finally:
            self._unrecorded -= len(outcomes)
            self._record_room.set()

    def _recorded(self, task: asyncio.Task[None]) -> None:
        self._recording.discard(task)
        if not self._recording:
            self._wake.set()  # burst mode waits for every outcome to be stored

    def _unsendable(self, d: ClaimedDelivery) -> DeliveryOutcome | None:
        """The outcome of a delivery that is not sent now (its campaign ended or waits, its contact
        went), or None."""
        now = self.clock.now()
        if d.composed:  # sent whatever its campaign's state: the answer behind it came in, or the cancel
            return DeliveryOutcome(d, OutcomeKind.FAILED, now, error="contact_gone") if not d.address else None
        campaign = self._campaigns.get(d.campaign_id)
        if campaign is None:
            return DeliveryOutcome(d, OutcomeKind.SKIPPED, now, error="campaign_ended")
        if d.campaign_id not in self._active:
            return DeliveryOutcome(d, OutcomeKind.RELEASED, now, next_attempt_at=now)
        if d.address is None:
            return DeliveryOutcome(d, OutcomeKind.FAILED, now, error="contact_gone")
        return None

    async def _staff_gone(self, ds: Sequence[ClaimedDelivery]) -> dict[int, str]:
        """These staff alerts whose recipient was removed, or whose address stopped being theirs, since
        the claim (delivery id → the error): a claimed alert waits in its lane behind slow sends (QA:
        30 s with a 12 s provider), and a head removed meanwhile, or whose lost phone's number was
        replaced, must not get a household's name and address on it. One read by key, staff alerts
        only; what is already in flight still goes."""
        if not any(d.staff is not None for d in ds):
            return {}
        try:
            return await self.outbox.staff_gone(ds)
        except StoreError as e:  # a household asking for help is not held back by a look that failed
            log.warning("staff_alert_recipient_unchecked", error=str(e))
            return {}

    def _removed(self, d: ClaimedDelivery, gone: Mapping[int, str]) -> DeliveryOutcome | None:
        why = gone.get(d.id) if d.staff is not None else None
        return None if why is None else DeliveryOutcome(d, OutcomeKind.SKIPPED, self.clock.now(), error=why)

    async def _deliver(self, lane: Lane, d: ClaimedDelivery) -> DeliveryOutcome:
        held = self._unsendable(d) or self._removed(d, await self._staff_gone([d]))
        if held is not None:
            return held
        return await lane.deliver(d, self._message_of(d))

    async def _deliver_batch(self, lane: Lane, ds: list[ClaimedDelivery]) -> list[DeliveryOutcome]:
        out: list[DeliveryOutcome] = []
        sendable: list[ClaimedDelivery] = []
        gone = await self._staff_gone(ds)
        for d in ds:
            held = self._unsendable(d) or self._removed(d, gone)
            if held is None:
                sendable.append(d)
            else:
                out.append(held)
        if sendable:
            msgs = [self._message_of(d) for d in sendable]
            out += await lane.deliver_batch(sendable, msgs)
        return out

    def _message_of(self, d: ClaimedDelivery) -> OutboundMessage:
        if d.staff is not None:
            return _staff_message(d, d.staff)
        if d.notice is not None:
            return self._notice_message(d, d.notice)
        return self._message(d, self._campaigns[d.campaign_id])

    def _message(self, d: ClaimedDelivery, campaign: Campaign) -> OutboundMessage:
        if campaign.kind == CampaignKind.CHECK and d.contact_id is not None:
            return self._check_message(d, campaign, d.contact_id)
        token = reply_token(self.cfg.secrets.secret_key, d.campaign_id, d.household_id)
        url = reply_url(self.cfg.server.public_url, token)
        drill = campaign.is_drill
        lang, text = compose(messages=campaign.messages, title=campaign.title, language=d.language, drill=drill,
                             reply_url=url, channel=d.channel, default_language=self.cfg.city.default_language,
                             city=self.cfg.city.name, city_latin=self.cfg.city.name_latin)
        assert d.address is not None
        return OutboundMessage(channel=d.channel, delivery_id=d.id, campaign_id=d.campaign_id,
                               household_id=d.household_id, address=d.address, text=text, reply_url=url,
                               reply_token=token, language=lang, drill=drill,
                               title=title_for(campaign.title, lang, drill))

    def _notice_message(self, d: ClaimedDelivery, notice: HouseholdNotice) -> OutboundMessage:
        """A household notice as composed when queued; its link, the reply page (which says the campaign
        was cancelled), made here as for every message (a token is never stored); no token in the
        message itself (no answer buttons, no keypad)."""
        url = reply_url(self.cfg.server.public_url, reply_token(self.cfg.secrets.secret_key, d.campaign_id,
                                                                d.household_id))
        return OutboundMessage(channel=d.channel, delivery_id=d.id, campaign_id=d.campaign_id,
                               household_id=d.household_id, address=notice.address, text=notice.text, reply_url=url,
                               reply_token="", language=notice_language(d.language, d.channel), drill=notice.drill,
                               title=notice_title(d.language, notice.drill))

    def _check_message(self, d: ClaimedDelivery, campaign: Campaign, contact_id: int) -> OutboundMessage:
        """A contact check: the contact's own token, so a tap confirms this address (not the household)."""
        token = check_token(self.cfg.secrets.secret_key, d.campaign_id, contact_id)
        url = check_url(self.cfg.server.public_url, token)
        lang, title, text = compose_check(messages=campaign.messages, language=d.language, confirm_url=url,
                                          channel=d.channel, default_language=self.cfg.city.default_language,
                                          city=self.cfg.city.name, city_latin=self.cfg.city.name_latin)
        assert d.address is not None
        return OutboundMessage(channel=d.channel, delivery_id=d.id, campaign_id=d.campaign_id,
                               household_id=d.household_id, address=d.address, text=text, reply_url=url,
                               # no reply token: no safe/help buttons (push, Telegram) nor keypad answers,
                               # as for a staff alert; a tap opens the contact's confirm page
                               reply_token="", language=lang, drill=False, title=title)

    async def _record(self, outcomes: list[DeliveryOutcome]) -> None:
        try:
            await self._store_results(outcomes)
        finally:
            # stored, or given up: either way no longer this dispatcher's to renew
            self._held.difference_update(o.delivery.id for o in outcomes)

    async def _store_results(self, outcomes: list[DeliveryOutcome]) -> None:
        """Stores outcomes in one commit (all or none), trying again while the store is down."""
        ids = [o.delivery.id for o in outcomes]
        for attempt in range(RECORD_ATTEMPTS):
            try:
                activated = await self.outbox.record_many(outcomes)
                break
            except StoreError as e:
                # The store is down for a moment (a PostgreSQL restart, a locked file): the messages
                # went out, so the results are worth waiting for. Given up, the claims are no longer
                # renewed: they run out and the deliveries come back (duplicates at worst).
                if attempt + 1 < RECORD_ATTEMPTS:
                    log.warning("delivery_result_retry", delivery_ids=ids, error=str(e))
                    await self.clock.sleep(STORE_RETRY_SECONDS * (attempt + 1))
                    continue
                log.exception("delivery_result_not_stored", delivery_ids=ids)
                return
            except Exception:
                if len(outcomes) > 1:
                    # One outcome the store refuses must not cost the others their record (each
                    # unrecorded one is sent again): one by one, only that one is lost.
                    log.exception("delivery_results_batch_refused", deliveries=len(outcomes))
                    for outcome in outcomes:
                        await self._store_results([outcome])
                    return
                # The claim is no longer renewed: its lease ends and the delivery is tried again (a
                # duplicate at worst).
                log.exception("delivery_result_not_stored", delivery_ids=ids)
                return
        else:  # pragma: no cover - the loop always breaks or returns
            return
        if any(channel is not None for channel in activated):
            self._wake.set()
        for outcome in outcomes:
            d = outcome.delivery
            if outcome.contact_dead and d.contact_id is not None and self.contacts is not None:
                try:
                    await self.contacts.mark_contact_dead(d.contact_id, outcome.error or "dead")
                except Exception:
                    log.exception("contact_not_marked_dead", contact_id=d.contact_id)

    async def _shutdown(self) -> None:
        self._stopping = True
        self._stopped.set()
        left: list[ClaimedDelivery] = []
        for lane in self.lanes.values():
            left += await lane.close()
        if left:
            now = self.clock.now()
            await self._record([DeliveryOutcome(d, OutcomeKind.RELEASED, now, next_attempt_at=now) for d in left])
        cut_off = await self._finish_sends()
        self._workers = []
        await asyncio.gather(*list(self._recording), return_exceptions=True)
        log.info("dispatcher_stopped", owner=self.owner, released=len(left), cut_off=cut_off,
                 waits_ended=sum(lane.interrupted_waits for lane in self.lanes.values()))

    async def _finish_sends(self) -> int:
        """Workers still busy are in a send (their waits ended at stop): they get the grace, then
        are cancelled. Returns how many sends were cut off."""
        busy = [w for w in self._workers if not w.done()]
        if busy:  # cancelling the wait for them does not cancel the workers
            await first_of(asyncio.wait(busy), self.clock.sleep(self.stop_grace_seconds))
        cut = [w for w in busy if not w.done()]
        for w in cut:
            w.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if cut:
            # Their claims stay until the lease ends (the provider may have the message).
            log.warning("dispatcher_sends_cut_off", owner=self.owner, count=len(cut),
                        grace_seconds=self.stop_grace_seconds)
        return len(cut)


def _staff_message(d: ClaimedDelivery, alert: StaffAlert) -> OutboundMessage:
    """A staff alert as composed when queued: the staff page's link in place of a reply URL, no token."""
    return OutboundMessage(channel=d.channel, delivery_id=d.id, campaign_id=d.campaign_id, household_id=0,
                           address=alert.address, text=alert.text, reply_url=alert.link, reply_token="",
                           language=d.language, drill=alert.drill, title=alert.text.split("\n", 1)[0])

