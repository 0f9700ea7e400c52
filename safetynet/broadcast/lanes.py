"""One provider lane: a channel's sender behind its token bucket, concurrency limit and pause.

A lane turns a claimed delivery into an outcome: it waits for its slot, sends, retries short
blips inline (tenacity, sleeping on the Clock), and classifies the rest into "retry later"
(persisted `next_attempt_at`) or "failed" (the dispatcher falls back to the next channel).
A 429 or any Retry-After pauses the whole lane, not only the message that got it.

On stop every wait (backoff, Retry-After, the lane's pause, its pacing) ends at once and the
delivery goes back to the outbox with its attempts; only a send already handed to the provider
runs on (the dispatcher bounds how long).

A sender that takes many recipients in one request (`max_batch` > 1, LINE's multicast) gets
batches: deliveries of one campaign, up to its `max_batch`, in one request (one token of the
lane's rate, which then counts requests). A failure of the whole request (5xx, 429, timeout) is
each delivery's and is retried like a single send; a recipient's own failure (a blocked user) is
decided for that delivery alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState

from safetynet.broadcast.health import LaneHealth
from safetynet.broadcast.ratelimit import KeyedGate, LaneGate
from safetynet.broadcast.retry import Action, RetryDecision, RetryPolicy
from safetynet.channels import registry
from safetynet.channels.base import (
    BatchOutcome,
    BatchSender,
    ChannelSender,
    KeyPacing,
    OutboundMessage,
    Reason,
    Replaceable,
    RetryableSendError,
    SendError,
    SendResult,
    max_batch,
)
from safetynet.clock import Clock
from safetynet.domain import ChannelName
from safetynet.domain.campaigns import AttemptRecord, ClaimedDelivery, DeliveryOutcome, OutcomeKind
from safetynet.metrics import LaneMeter, Metrics

log = structlog.get_logger("broadcast.lane")

# A 429 without Retry-After still means "slow down": the lane waits this long.
DEFAULT_PAUSE_SECONDS = 1.0


def duplicate_safe(channel: ChannelName) -> bool:
    """A duplicate is harmless on this channel (its spec says so: a push with a Topic replaces the
    unread one). Elsewhere an unknown outcome (5xx, timeout) is retried later, never inline."""
    return registry.is_channel(channel) and registry.spec(channel).duplicate_safe

T = TypeVar("T")
Builder = Callable[[ClaimedDelivery], OutboundMessage | None]
Recorder = Callable[[DeliveryOutcome], Awaitable[None]]


class LaneStopping(Exception):
    """The lane stopped while this delivery waited: it goes back to the outbox, due `remaining` from now."""

    def __init__(self, remaining: float = 0.0) -> None:
        super().__init__("lane stopping")
        self.remaining = remaining


class LanePaused(Exception):
    """The lane is paused for longer than a worker may hold a delivery; it goes back to the outbox."""

    error = "lane_paused"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"lane paused for {seconds:.1f} s")
        self.seconds = seconds


class ChannelFailing(LanePaused):
    """The channel fails as a whole and another send probes it (or the next probe is not due yet):
    back to the outbox without an attempt, due when the next probe may go."""

    error = "channel_failing"


class ChannelDown(Exception):
    """The channel has failed for longer than the policy waits for it: the household's next channel
    is tried without a send here (one probe at a time still goes, to see it come back)."""

    error = "channel_down"


class KeyPaced(LanePaused):
    """The message's key (its recipient's domain) has no slot within a worker's wait: back to the
    outbox, due when the key's slot frees (the lane's other keys go on meanwhile)."""

    error = "paced"


@dataclass
class LaneStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    skipped: int = 0
    attempts: int = 0
    first_send: float | None = None
    last_send: float | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: DeliveryOutcome) -> None:
        self.attempts += len(outcome.attempts)
        if outcome.kind == OutcomeKind.SENT:
            self.sent += 1
            now = time.monotonic()
            self.first_send = self.first_send or now
            self.last_send = now
        elif outcome.kind == OutcomeKind.FAILED:
            self.failed += 1
        elif outcome.kind == OutcomeKind.RETRY:
            self.retried += 1
        elif outcome.kind == OutcomeKind.RELEASED:
            self.released += 1
        else:
            self.skipped += 1
        if outcome.error:
            self.errors[outcome.error] = self.errors.get(outcome.error, 0) + 1


class Lane:
    def __init__(
        self, channel: ChannelName, sender: ChannelSender, gate: LaneGate, concurrency: int, policy: RetryPolicy,
        clock: Clock, buffer: int, health: LaneHealth | None = None, meter: LaneMeter | None = None,
        pacing: KeyPacing | None = None, send_deadline: float | None = None,
    ) -> None:
        """`send_deadline`: how long one provider attempt may take (`RetryPolicy.send_deadline` of
        the channel's timeout); None: as long as it takes."""
        self.channel = channel
        self.sender = sender
        self.gate = gate
        # Pacing per key of a message (the channel's spec: email per recipient domain), besides `gate`.
        self.pacing_key = pacing.key if pacing is not None else None
        self.keyed = KeyedGate(pacing.per_second, clock) if pacing is not None else None
        self.concurrency = max(1, concurrency)
        self.policy = policy
        self.duplicate_safe = duplicate_safe(channel)
        # Deliveries handed to the sender at once (1: one `send` each).
        self.batch = max_batch(sender)
        self.send_deadline = send_deadline
        self.clock = clock
        # How many claimed deliveries the lane holds at most (queued here + in flight).
        self.buffer = max(self.concurrency, buffer)
        self.pending: deque[ClaimedDelivery] = deque()
        self.in_flight = 0
        self.stats = LaneStats()
        self.health = health or LaneHealth(clock.now())
        self.meter = meter or Metrics().lane(str(channel))
        self._has_work = asyncio.Event()
        self._closing = False
        # Workers inside a wait, and those of them that stop() interrupted (a cancel of our own,
        # told apart from any other cancellation and taken back with uncancel()).
        self._waiting: set[asyncio.Task[object]] = set()
        self._interrupted: set[asyncio.Task[object]] = set()
        self.interrupted_waits = 0
        # Set whenever a wait starts or ends (how a test sees that every worker sits in a retry wait).
        self.waits_changed = asyncio.Event()
        # While the channel fails as a whole, one send at a time probes it, one every probe_seconds.
        self._probing = False
        self._next_probe = clock.monotonic()

    @property
    def held(self) -> int:
        return len(self.pending) + self.in_flight

    @property
    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0

    @property
    def waiting(self) -> int:
        """Deliveries whose worker waits (a backoff, a Retry-After, the lane's pause or pacing)."""
        return len(self._waiting)

    def room(self) -> int:
        return self.buffer - self.held

    def probe_wait(self) -> float | None:
        """While the channel fails (and the policy still waits for it), the lane takes one delivery
        at a time, its probe: seconds until it takes the next (0: now, if it holds none). None: it
        takes deliveries as usual."""
        failing_for = self.health.failing_for(self.clock.now())
        if failing_for is None or failing_for >= self.policy.outage_wait_seconds:
            return None
        if self.held or self._probing:
            return self.policy.probe_seconds
        return max(0.0, self._next_probe - self.clock.monotonic())

    def _decide(self, attempt: int, e: SendError) -> RetryDecision:
        return self.policy.decide(attempt, e, duplicate_safe=self.duplicate_safe,
                                  failing_for=self.health.failing_for(self.clock.now()))

    def _probe_turn(self) -> bool:
        """Whether this send may go now, and probes the channel (True) or goes as usual (False).
        Raises ChannelFailing (back to the outbox) or ChannelDown (fall back) while another probes."""
        failing_for = self.health.failing_for(self.clock.now())
        if failing_for is None:
            return False
        wait = self._next_probe - self.clock.monotonic()
        if self._probing or wait > 0:
            if failing_for >= self.policy.outage_wait_seconds:
                raise ChannelDown()
            raise ChannelFailing(max(wait, 0.0) if not self._probing else self.policy.probe_seconds)
        self._probing = True
        return True

    def _probed(self) -> None:
        self._probing = False
        self._next_probe = self.clock.monotonic() + self.policy.probe_seconds

    async def put(self, items: list[ClaimedDelivery]) -> None:
        self.pending.extend(items)
        if self.pending:
            self._has_work.set()

    async def put_first(self, items: list[ClaimedDelivery]) -> None:
        """Ahead of everything held (staff alerts)."""
        self.pending.extendleft(reversed(items))
        if self.pending:
            self._has_work.set()

    def stop_taking(self) -> None:
        """From now on no worker starts another send; every wait ends at once (sends in flight go on)."""
        self._closing = True
        self._has_work.set()
        for task in self._waiting - self._interrupted:
            self._interrupted.add(task)
            self.interrupted_waits += 1
            task.cancel()

    async def _wait(self, seconds: float) -> None:
        """Sleeps on the Clock unless the lane stops: then raises LaneStopping at once."""
        if self._closing:
            raise LaneStopping(seconds)
        task = asyncio.current_task()
        assert task is not None
        until = self.clock.monotonic() + seconds
        self._waiting.add(task)
        self.waits_changed.set()
        try:
            await self.clock.sleep(seconds)
        except asyncio.CancelledError:
            if task not in self._interrupted or task.uncancel() > 0:
                raise  # cancelled by someone else too: that cancellation wins
            raise LaneStopping(max(0.0, until - self.clock.monotonic())) from None
        finally:
            self._waiting.discard(task)
            self._interrupted.discard(task)
            self.waits_changed.set()

    async def close(self) -> list[ClaimedDelivery]:
        """Stops taking work; returns what was held but not started (to be released)."""
        self.stop_taking()
        left = list(self.pending)
        self.pending.clear()
        return left

    async def take(self) -> ClaimedDelivery | None:
        # An Event, not a Condition: one wake-up per batch of claims instead of a lock per delivery.
        while not self._closing:
            if self.pending:
                self.in_flight += 1
                return self.pending.popleft()
            self._has_work.clear()
            await self._has_work.wait()
        return None

    async def take_batch(self) -> list[ClaimedDelivery]:
        """Up to `batch` held deliveries of the first one's campaign, in claim order ([] when stopping):
        its messages, or its notices after a cancel (one text a language: a multicast carries them
        by the hundred); a staff alert alone."""
        first = await self.take()
        if first is None:
            return []
        out = [first]
        if first.staff is not None:  # a staff alert goes alone: its own text, its own request
            return out
        notices = first.notice is not None
        while (self.pending and len(out) < self.batch and self.pending[0].campaign_id == first.campaign_id
               and self.pending[0].staff is None and (self.pending[0].notice is not None) == notices):
            out.append(self.pending.popleft())
        self.in_flight += len(out) - 1
        return out

    # -- one delivery --------------------------------------------------------------------------

    async def deliver(self, d: ClaimedDelivery, msg: OutboundMessage) -> DeliveryOutcome:
        at = self.clock.now()
        attempts: list[AttemptRecord] = []
        try:
            result = await self._send_with_retries(d, msg, attempts)
        except LaneStopping as s:
            # Not handed to the provider (or its last attempt already answered): back to the
            # outbox, due when its wait would have ended, its attempts counted.
            now = self.clock.now()
            return DeliveryOutcome(d, OutcomeKind.RETRY if attempts else OutcomeKind.RELEASED, now,
                                   tuple(attempts), next_attempt_at=now + s.remaining,
                                   error=attempts[-1].detail if attempts else None)
        except LanePaused as p:
            return DeliveryOutcome(d, OutcomeKind.RETRY, at, tuple(attempts),
                                   next_attempt_at=self.clock.now() + p.seconds, error=p.error)
        except ChannelDown as down:
            return DeliveryOutcome(d, OutcomeKind.FAILED, self.clock.now(), tuple(attempts), error=down.error)
        except SendError as e:
            decision = self._decide(d.attempts + len(attempts), e)
            now = self.clock.now()
            if decision.action == Action.GIVE_UP:
                return DeliveryOutcome(d, OutcomeKind.FAILED, now, tuple(attempts), error=e.reason,
                                       contact_dead=e.contact_dead)
            return DeliveryOutcome(d, OutcomeKind.RETRY, now, tuple(attempts),
                                   next_attempt_at=now + decision.delay, error=e.reason)
        except Exception as e:  # a bug in a sender must not lose the delivery: it is retried later
            log.exception("delivery_internal_error", channel=self.channel, delivery_id=d.id)
            now = self.clock.now()
            self.health.failed(now, "internal", type(e).__name__)
            return DeliveryOutcome(d, OutcomeKind.RETRY, now, tuple(attempts),
                                   next_attempt_at=now + self.policy.backoff(d.attempts + 1),
                                   error=f"internal:{type(e).__name__}")
        return DeliveryOutcome(d, OutcomeKind.SENT, self.clock.now(), tuple(attempts),
                               provider_id=result.provider_id, segments=result.segments)

    async def _send_with_retries(
        self, d: ClaimedDelivery, msg: OutboundMessage, attempts: list[AttemptRecord]
    ) -> SendResult:
        return await self._with_retries(d.attempts, lambda: self._attempt(msg, attempts), attempts)

    async def _with_retries(self, prior: int, call: Callable[[], Awaitable[T]], attempts: list[AttemptRecord]) -> T:
        """`call()`, its short failures retried inline as the policy says; `prior` attempts were made before."""
        # Fast path without tenacity: almost every send succeeds the first time.
        try:
            return await call()
        except SendError as e:
            first = self._decide(prior + len(attempts), e)
            if first.action != Action.INLINE:
                raise
        await self._wait(first.delay)
        box: list[RetryDecision] = []

        def inline(rs: RetryCallState) -> bool:
            exc = rs.outcome.exception() if rs.outcome is not None else None
            if not isinstance(exc, SendError):
                return False
            box[:] = [self._decide(prior + len(attempts), exc)]
            return box[0].action == Action.INLINE

        retrying = AsyncRetrying(
            retry=inline, wait=lambda rs: box[0].delay if box else 0.0, sleep=self._wait, reraise=True
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    async def _slot(self) -> None:
        if not await self.gate.acquire(max_wait=self.policy.max_inline_seconds, sleep=self._wait):
            raise LanePaused(self.gate.paused_for)
        if self._closing:
            raise LaneStopping()

    def _failed(self, e: SendError, at: float) -> None:
        """A provider's refusal of the attempt begun `at` (it ends now): the lane's health, and a
        pause when it asks the lane to slow down."""
        self.health.failed(at, e.reason, e.provider_answer or e.error_class, ended=self.clock.now())
        if e.retry_after is not None or e.reason == "rate_limited":
            pause = e.retry_after if e.retry_after is not None else DEFAULT_PAUSE_SECONDS
            self.gate.pause(pause)
            log.warning("lane_paused", channel=self.channel, seconds=round(pause, 2))

    async def _bounded(self, send: Awaitable[T]) -> T:
        """`send` within the lane's deadline. One that overruns it is stuck (a stopped worker, a
        connection that never answers): it fails as a timeout of the channel, so the lane's health
        counts it, the policy retries it, and a sender that can replace what hangs does so."""
        if self.send_deadline is None:
            return await send
        deadline = asyncio.timeout(self.send_deadline)
        try:
            async with deadline:
                return await send
        except TimeoutError:
            if not deadline.expired():
                raise  # the sender's own, not ours
        log.error("send_overdue", channel=self.channel, deadline_seconds=round(self.send_deadline, 2),
                  replaced=isinstance(self.sender, Replaceable))
        if isinstance(self.sender, Replaceable):
            await self.sender.replace_stuck()
        raise RetryableSendError(Reason.TIMEOUT, f"no answer within {self.send_deadline:.1f} s",
                                 outcome_unknown=True, error_class="SendOverdue")

    async def _paced(self, msg: OutboundMessage) -> None:
        """Waits for the message's key's slot (a batch's messages are not paced per key)."""
        if self.keyed is None or self.pacing_key is None:
            return
        key = self.pacing_key(msg)
        if not self.keyed.paced(key):
            return
        if not await self.keyed.acquire(key, max_wait=self.policy.max_inline_seconds, sleep=self._wait):
            raise KeyPaced(self.keyed.free_in(key))

    async def _turn(self, msg: OutboundMessage | None) -> bool:
        """This send's turn: whether it probes the failing channel, then its slots (the key's of
        `msg`, the lane's). The probe's turn comes first: a delivery that may not go (another probes,
        or the channel is down and the household falls back) leaves without waiting for a send slot
        of the dead channel (review: 5,000 SMS households fell back at the SMS rate, ~8 minutes)."""
        probe = self._probe_turn()
        try:
            if msg is not None:
                # the key's slot first: a lane slot taken while waiting for it would be spent for nothing
                await self._paced(msg)
            await self._slot()
        except BaseException:
            if probe:
                self._probing = False  # nothing was sent (a pause, a stop): the next delivery may probe
            raise
        return probe

    async def _attempt(self, msg: OutboundMessage, attempts: list[AttemptRecord]) -> SendResult:
        probe = await self._turn(msg)
        at, started = self.clock.now(), time.perf_counter()
        try:
            result = await self._bounded(self.sender.send(msg))
        except SendError as e:
            took = time.perf_counter() - started
            self.meter.error_seconds.observe(took)
            self._failed(e, at)
            attempts.append(_failed_attempt(e, at, took))
            raise
        finally:
            if probe:
                self._probed()
        took = time.perf_counter() - started
        self.meter.sent_seconds.observe(took)
        attempts.append(AttemptRecord(at, _ms(took), "sent"))
        self.health.sent(at)
        return result

    # -- a batch (a sender with max_batch > 1) -------------------------------------------------

    async def deliver_batch(self, ds: Sequence[ClaimedDelivery], msgs: Sequence[OutboundMessage]
                            ) -> list[DeliveryOutcome]:
        """The deliveries of one provider request, each with its own outcome."""
        at = self.clock.now()
        shared: list[AttemptRecord] = []  # the request's failed attempts: every delivery's
        prior = max(d.attempts for d in ds)
        try:
            sent_at, ms, results = await self._with_retries(prior, lambda: self._attempt_batch(msgs, shared), shared)
        except LaneStopping as s:
            now = self.clock.now()
            return [DeliveryOutcome(d, OutcomeKind.RETRY if shared else OutcomeKind.RELEASED, now, tuple(shared),
                                    next_attempt_at=now + s.remaining, error=shared[-1].detail if shared else None)
                    for d in ds]
        except LanePaused as p:
            return [DeliveryOutcome(d, OutcomeKind.RETRY, at, tuple(shared),
                                    next_attempt_at=self.clock.now() + p.seconds, error=p.error) for d in ds]
        except ChannelDown as down:
            return [DeliveryOutcome(d, OutcomeKind.FAILED, self.clock.now(), tuple(shared), error=down.error)
                    for d in ds]
        except SendError as e:
            return [self._decided(d, e, tuple(shared)) for d in ds]
        except Exception as e:  # a bug in a sender must not lose the deliveries: they are retried later
            log.exception("delivery_internal_error", channel=self.channel, batch=len(ds))
            now = self.clock.now()
            self.health.failed(now, "internal", type(e).__name__)
            return [DeliveryOutcome(d, OutcomeKind.RETRY, now, tuple(shared),
                                    next_attempt_at=now + self.policy.backoff(d.attempts + 1),
                                    error=f"internal:{type(e).__name__}") for d in ds]
        out = []
        for d, r in zip(ds, results, strict=True):
            if isinstance(r, SendError):
                own = (*shared, AttemptRecord(sent_at, ms, "retry" if r.retryable else "failed",
                                              r.error_class or type(r).__name__, r.reason))
                out.append(self._decided(d, r, own))
            else:
                attempts = (*shared, AttemptRecord(sent_at, ms, "sent"))
                out.append(DeliveryOutcome(d, OutcomeKind.SENT, self.clock.now(), attempts,
                                           provider_id=r.provider_id, segments=r.segments))
        return out

    def _decided(self, d: ClaimedDelivery, e: SendError, attempts: tuple[AttemptRecord, ...]) -> DeliveryOutcome:
        """A delivery whose send failed, outside any inline retry: given up or due again later."""
        decision = self._decide(d.attempts + len(attempts), e)
        now = self.clock.now()
        if decision.action == Action.GIVE_UP:
            return DeliveryOutcome(d, OutcomeKind.FAILED, now, attempts, error=e.reason, contact_dead=e.contact_dead)
        return DeliveryOutcome(d, OutcomeKind.RETRY, now, attempts, next_attempt_at=now + decision.delay, error=e.reason)

    async def _attempt_batch(self, msgs: Sequence[OutboundMessage], attempts: list[AttemptRecord]
                             ) -> tuple[float, float, list[BatchOutcome]]:
        """One provider request for `msgs`: (when, how long, one outcome per message)."""
        assert isinstance(self.sender, BatchSender)
        probe = await self._turn(None)
        at, started = self.clock.now(), time.perf_counter()
        try:
            results = await self._bounded(self.sender.send_batch(msgs))
        except SendError as e:
            took = time.perf_counter() - started
            for _ in msgs:  # the metrics count recipients: the request failed for each of them
                self.meter.error_seconds.observe(took)
            self._failed(e, at)
            attempts.append(_failed_attempt(e, at, took))
            raise
        finally:
            if probe:
                self._probed()
        took = time.perf_counter() - started
        if len(results) != len(msgs):
            raise RuntimeError(f"{self.channel}: {len(results)} outcomes for {len(msgs)} recipients")
        for r in results:
            if isinstance(r, SendError):
                self.meter.error_seconds.observe(took)
                self._failed(r, at)
            else:
                self.meter.sent_seconds.observe(took)
                self.health.sent(at)
        return at, _ms(took), results


def _failed_attempt(e: SendError, at: float, took: float) -> AttemptRecord:
    return AttemptRecord(at, _ms(took), "retry" if e.retryable else "failed", e.error_class or type(e).__name__,
                         e.reason)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
