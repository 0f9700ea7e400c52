"""The simulated residents: they read what the sandbox delivered and answer like people would.

`ResidentDriver.feed(message)` is called for every message a phone received (see `sim.feeds` for
the in-process and HTTP followers of the sandbox's record). The household behind the message
decides once, whichever of its channels brought the message, with the model (`sim.model.reaction`):
stay silent, wait for an SMS or a call, or answer after a log-normal delay (divided by the model's
time compression). A household is known by its reply token; a LINE multicast carries none, so its
campaign and user id lead to the token (the simulated city's user ids name their household). Answers then go out
through `sim.acts` with at most `concurrency` requests in flight. Counters are exact: every answer
is counted once as accepted or failed, and `answered` keeps what was accepted per token (to check
that the server stored everything it acknowledged).

`hold=True` collects the decisions without sending; `release()` then lets every due answer out as
fast as the machine allows (the benchmark's reply storm).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from safetynet.domain import Status
from safetynet.lab.sim.acts import Actor, ActOutcome, Answer, Credentials
from safetynet.lab.sim.city import household_of_line_user
from safetynet.lab.sim.http import LeanHttp
from safetynet.lab.sim.messages import ResidentMessage, key_of
from safetynet.lab.sim.model import ResidentModel, intent_of, react
from safetynet.lab.sim.sides import resident_of
from safetynet.replies.tokens import reply_token

log = structlog.get_logger("sim")

DEFAULT_CONCURRENCY = 64
_SCHEDULED, _SILENT, _DONE = 1, 2, 3


@dataclass
class DriverStats:
    messages: int = 0  # campaign messages the residents received
    repeats: int = 0  # messages to a household that had already decided
    silent: int = 0  # households that will not answer
    waiting: int = 0  # app messages ignored by residents who answer only an SMS or a call
    seen: int = 0  # push notifications reported as shown (`read`)
    scheduled: int = 0
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    retried: int = 0  # answers that needed more than one attempt
    by_channel: Counter[str] = field(default_factory=Counter)  # accepted answers per channel
    by_status: Counter[str] = field(default_factory=Counter)  # accepted answers per status
    failures: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # channel -> seconds, accepted answers
    first_answer_at: float | None = None  # loop time of the first accepted answer
    last_answer_at: float | None = None

    def all_latencies(self) -> list[float]:
        return sorted(x for values in self.latencies.values() for x in values)

    def to_dict(self) -> dict[str, Any]:
        lat = self.all_latencies()
        per = {ch: sorted(v) for ch, v in self.latencies.items()}
        span = (self.last_answer_at - self.first_answer_at) if self.first_answer_at and self.last_answer_at else 0.0
        return {
            "messages": self.messages, "repeats": self.repeats, "silent": self.silent, "waiting": self.waiting,
            "seen": self.seen, "scheduled": self.scheduled, "sent": self.sent, "accepted": self.accepted,
            "failed": self.failed, "retried": self.retried, "by_channel": dict(self.by_channel),
            "by_status": dict(self.by_status), "failures": dict(self.failures),
            "answer_seconds": round(span, 3),
            "answers_per_second": round(self.accepted / span, 1) if span > 0 else None,
            "latency_p50_ms": round(percentile(lat, 0.50) * 1000, 2),
            "latency_p99_ms": round(percentile(lat, 0.99) * 1000, 2),
            "latency_max_ms": round((lat[-1] if lat else 0.0) * 1000, 2),
            "latency_p99_ms_by_channel": {ch: round(percentile(v, 0.99) * 1000, 2) for ch, v in per.items()},
        }


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass(frozen=True, slots=True)
class _Job:
    answer: Answer | None  # None: only report the push as shown
    message: ResidentMessage
    household: str = ""  # the household's reply token (`ResidentDriver.household_of`)


class ResidentDriver:
    def __init__(self, model: ResidentModel, creds: Credentials, *, concurrency: int = DEFAULT_CONCURRENCY,
                 hold: bool = False, report_seen: bool = False, max_per_second: float = 0.0) -> None:
        self.model = model
        self.max_per_second = max_per_second  # 0: as fast as answers fall due
        self.creds = creds
        self.concurrency = concurrency
        self.report_seen = report_seen
        self.stats = DriverStats()
        self.answered: dict[str, Status] = {}  # message token -> the answer the server accepted
        self._state: dict[str, int] = {}  # household -> what it decided
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=2 * concurrency)
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        if not hold:
            self._released.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._http: LeanHttp | None = None
        self._actor: Actor | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._http = LeanHttp(max_connections=self.concurrency)
        self._actor = Actor(self._http, self.creds)
        self._tasks = [asyncio.create_task(self._schedule(), name="sim-schedule")]
        self._tasks += [asyncio.create_task(self._work(), name="sim-worker") for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> ResidentDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def release(self) -> None:
        """Lets held answers go (each when due; with a huge time compression, at once)."""
        self._released.set()
        self._wake.set()

    async def idle(self) -> None:
        """Until no answer is waiting, queued or in flight."""
        await self._idle.wait()

    @property
    def pending(self) -> int:
        return self._pending

    # -- deciding --------------------------------------------------------------------------------

    def feed(self, message: ResidentMessage) -> None:
        """A phone received `message`: decide, and schedule what the household will do."""
        self.stats.messages += 1
        if self.report_seen and _reports_seen(message.channel):
            self._push(0.0, _Job(None, message))
        household = self.household_of(message)
        state = self._state.get(household)
        if state is not None:
            self.stats.repeats += 1
            return
        intent = intent_of(self.model, key_of(household))
        got = react(self.model, intent, message.channel)
        if got is None:
            if intent.answers:
                self.stats.waiting += 1  # a late answerer: the SMS or the call will reach them
            else:
                self._state[household] = _SILENT
                self.stats.silent += 1
            return
        status, delay = got
        location = "shelter" if intent.at_shelter else None
        self._state[household] = _SCHEDULED
        self.stats.scheduled += 1
        self._push(delay, _Job(Answer(message, status, location), message, household))

    def household_of(self, message: ResidentMessage) -> str:
        """The reply token of the household `message` reached, on whichever channel.

        One household answers once: a LINE answer the server had not stored when the ladder's SMS
        went out must not be followed by a second answer, with other dice, to the SMS.
        """
        side = resident_of(message.channel)
        campaign = side.campaign_of_stand_in(message.token) if side is not None else None
        if campaign is None:
            return message.token
        household = household_of_line_user(message.address)
        return message.token if household is None else reply_token(self.creds.secret_key, campaign, household)

    def _push(self, delay: float, job: _Job) -> None:
        due = asyncio.get_running_loop().time() + delay
        heapq.heappush(self._heap, (due, next(self._order), job))
        self._pending += 1
        self._idle.clear()
        self._wake.set()

    # -- sending ---------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        next_slot = loop.time()
        while True:
            await self._released.wait()
            while self._heap and self._heap[0][0] <= loop.time():
                if self.max_per_second > 0:  # a steady stream (the soak), not a storm
                    next_slot = max(next_slot + 1.0 / self.max_per_second, loop.time())
                    await asyncio.sleep(next_slot - loop.time())
                await self._queue.put(heapq.heappop(self._heap)[2])
            self._wake.clear()
            timeout = (self._heap[0][0] - loop.time()) if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            except Exception as e:  # one bad answer must not stop the residents
                self.stats.failed += 1
                self.stats.failures[type(e).__name__] += 1
                log.warning("sim_answer_crashed", error_class=type(e).__name__)
            finally:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()

    async def _run(self, job: _Job) -> None:
        assert self._actor is not None
        if job.answer is None:
            if await self._actor.seen(job.message):
                self.stats.seen += 1
            return
        self.stats.sent += 1
        outcome = await self._actor.answer(job.answer)
        self._record(job.answer, job.household, outcome)

    def _record(self, a: Answer, household: str, outcome: ActOutcome) -> None:
        s = self.stats
        if outcome.attempts > 1:
            s.retried += 1
        self._state[household] = _DONE
        if not outcome.accepted:
            s.failed += 1
            s.failures[outcome.detail or f"http_{outcome.http_status}"] += 1
            return
        now = asyncio.get_running_loop().time()
        s.accepted += 1
        s.by_channel[str(a.message.channel)] += 1
        s.by_status[str(a.status)] += 1
        s.latencies.setdefault(str(a.message.channel), []).append(outcome.latency_seconds)
        s.first_answer_at = s.first_answer_at or now
        s.last_answer_at = now
        self.answered[a.message.token] = a.status


def _reports_seen(channel: str) -> bool:
    side = resident_of(channel)
    return side is not None and side.reports_seen
