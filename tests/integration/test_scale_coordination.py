"""Several processes on one store (DESIGN §8): one leader runs the schedulers, and a provider's
`max_per_second` holds for every dispatcher together."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from broadcast_helpers import H, e164_mobile, in_memory, make_cfg, run_with_clock, seed, senders
from store_helpers import break_writes

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.leader import Leader
from safetynet.broadcast.ratelimit import SharedLaneGate
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind
from safetynet.store import StoreUnavailable, open_store

MSG = {"ja": "地震の訓練です。無事ですか。", "en": "Earthquake drill. Are you safe?"}


async def _tried(leaders: Leader | list[Leader], clock: FakeClock, seconds: float) -> None:
    """Moves time on and waits until each leader has tried for the lease again and sleeps anew."""
    group = leaders if isinstance(leaders, list) else [leaders]
    for leader in group:
        leader.tried.clear()
    await clock.advance(seconds)
    for leader in group:
        await asyncio.wait_for(leader.tried.wait(), 10)
    for _ in range(5):
        await asyncio.sleep(0)  # each registers its next wait on the clock before time moves again


async def test_one_leader_runs_the_duties_and_a_successor_takes_over(tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = make_cfg(tmp_path)  # one SQLite file, or this test's PostgreSQL schema
    a_store = await open_store(cfg, clock)
    b_store = await open_store(cfg, clock)  # another process on the same database
    log: list[str] = []

    def duty(who: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            log.append(f"{who} starts")
            try:
                await asyncio.Event().wait()
            finally:
                log.append(f"{who} ends")
        return run

    a = Leader(a_store.coordination, clock, {"ladder": duty("a")}, owner="a", ttl_seconds=15)
    b = Leader(b_store.coordination, clock, {"ladder": duty("b")}, owner="b", ttl_seconds=15)
    a_task = asyncio.create_task(a.run())
    await asyncio.wait_for(a.leading.wait(), 10)
    a.tried.clear()
    b_task = asyncio.create_task(b.run())
    await asyncio.wait_for(b.tried.wait(), 10)
    for _ in range(5):
        await asyncio.sleep(0)
    for _ in range(4):  # renewals keep the lease with a
        await _tried([a, b], clock, 5)
    assert a.leading.is_set() and not b.leading.is_set() and log == ["a starts"]

    # a's database goes read-only: it cannot renew, and stops acting before its term could end
    await break_writes(a_store, True)
    broke_at = clock.monotonic()
    while not b.leading.is_set():
        await _tried([a, b], clock, 5)
    assert log == ["a starts", "a ends", "b starts"]
    assert clock.monotonic() - broke_at <= 15 + 5  # b took over within a term and a try
    assert not a.leading.is_set()

    # mended, a stays a follower: b holds the lease
    await break_writes(a_store, False)
    await _tried(a, clock, 5)
    assert not a.leading.is_set()

    # b stops cleanly: the lease is released, a leads at its next try instead of after a term
    b.stop()
    await b_task
    await _tried(a, clock, 5)
    assert a.leading.is_set() and a.terms == 2
    assert log[-3:] == ["b starts", "b ends", "a starts"]
    a.stop()
    await a_task
    assert log[-1] == "a ends"
    assert await b_store.coordination.lease_holder("schedulers") is None
    await a_store.close()
    await b_store.close()


async def test_a_dead_leaders_lease_is_taken_once_it_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    async with in_memory(clock) as store:
        assert await store.coordination.acquire_lease("schedulers", "killed", 15)  # then kill -9
        started: list[float] = []

        async def duty() -> None:
            started.append(clock.monotonic())

        b = Leader(store.coordination, clock, {"ladder": duty}, owner="b", ttl_seconds=15)
        t0 = clock.monotonic()
        task = asyncio.create_task(b.run())
        while not b.leading.is_set():
            await _tried(b, clock, 5)
        assert started and 15 <= started[0] - t0 <= 20
        b.stop()
        await task


async def test_a_duty_that_fails_is_started_again_while_the_process_leads(tmp_path: Path) -> None:
    """Review: one store error while a JMA telegram was ingested ended the triggers duty for good: the
    process kept renewing the lease, /readyz stayed green and no later telegram was acted on. A failed
    duty starts again after 5 s, doubling while it keeps failing; the other duties go on."""
    clock = FakeClock()
    async with in_memory(clock) as store:
        starts: list[float] = []
        steady = asyncio.Event()

        async def triggers() -> None:
            starts.append(clock.monotonic())
            if len(starts) <= 2:
                raise StoreUnavailable("database is locked")
            await asyncio.Event().wait()

        async def ladder() -> None:
            steady.set()
            await asyncio.Event().wait()

        leader = Leader(store.coordination, clock, {"triggers": triggers, "ladder": ladder}, owner="a")
        task = asyncio.create_task(leader.run())
        await asyncio.wait_for(leader.leading.wait(), 10)
        await asyncio.wait_for(steady.wait(), 10)
        t0 = starts[0]
        for _ in range(10):  # bounded: the code before never started it again
            if len(starts) >= 3:
                break
            await _tried(leader, clock, 5)
        assert [round(s - t0) for s in starts] == [0, 5, 15]  # 5 s, then 10 s
        leader.stop()
        await task


async def test_a_leader_whose_renewal_hangs_steps_down_before_its_term_ends(tmp_path: Path) -> None:
    """Review: on PostgreSQL a renewal waiting for a pool connection under the reply surge had no bound:
    the term ran out, another process took the lease, and both led until the call came back."""
    clock = FakeClock()
    async with in_memory(clock) as store:
        hang = asyncio.Event()
        real = store.coordination.acquire_lease

        async def acquire(name: str, owner: str, ttl: float) -> bool:
            if hang.is_set():
                await asyncio.Event().wait()  # stuck behind a busy pool
            return await real(name, owner, ttl)

        store.coordination.acquire_lease = acquire  # type: ignore[method-assign]
        ended = asyncio.Event()

        async def duty() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                ended.set()

        leader = Leader(store.coordination, clock, {"ladder": duty}, owner="a", ttl_seconds=0.3)  # tries bounded at 0.1 s
        task = asyncio.create_task(leader.run())
        await asyncio.wait_for(leader.leading.wait(), 10)
        took = clock.monotonic()
        hang.set()
        for _ in range(2):  # the term was taken at 0; a third of it before its end, the leader stops acting
            await _tried(leader, clock, 0.1)
        await asyncio.wait_for(ended.wait(), 10)
        assert not leader.leading.is_set() and clock.monotonic() - took < 0.3
        leader.stop()
        await task


def _spec() -> CampaignSpec:
    return CampaignSpec("地震訓練", CampaignKind.DRILL, ("city",), dict(MSG))


async def _two_dispatchers(tmp_path: Path, shared: bool) -> tuple[list[float], list[int]]:
    """Two dispatchers on one store send a first wave of 60 SMS through one provider limited to
    10/s: returns the send times the provider saw and how many each dispatcher sent."""
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="10", SAFETYNET_CHANNELS_SMS_CONCURRENCY="4",
                   SAFETYNET_BROADCAST_LEASE_SECONDS="8")  # a lane holds 20: both dispatchers get work
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H(f"k{i}", "m") for i in range(1, 61)])
        await CampaignService(store, cfg, clock).launch(_spec())
        provider = senders(clock)  # one provider account, seen by both dispatchers
        dispatchers = [Dispatcher(store, provider, cfg, clock, owner=f"d{i}",
                                  shared_slots=store.coordination if shared else None) for i in range(2)]
        reports = await run_with_clock(clock, asyncio.gather(*(d.burst() for d in dispatchers)), step=0.02)
        sent = provider["sms"].sent
        assert sorted(m.address for m in sent) == sorted(e164_mobile(i) for i in range(1, 61))  # once each
        return sorted(t for _, t in provider["sms"].attempts), [r.sent for r in reports]


def _most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for u in times if t <= u < t + 1.0 - 1e-9) for t in times)


async def test_two_dispatchers_together_stay_within_the_providers_limit(tmp_path: Path) -> None:
    times, per_dispatcher = await _two_dispatchers(tmp_path, shared=True)
    assert all(n > 0 for n in per_dispatcher)  # both worked
    assert _most_in_a_second(times) <= 10
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.1 - 1e-6  # evenly spaced, as one dispatcher would send
    assert times[-1] - times[0] < 60 / 10 + 1.0  # and no slower than the limit allows


async def test_without_shared_slots_two_dispatchers_would_double_the_rate(tmp_path: Path) -> None:
    """The control: each dispatcher's own pacing holds its share, not the provider's limit."""
    times, _ = await _two_dispatchers(tmp_path, shared=False)
    assert _most_in_a_second(times) > 15


async def test_a_providers_slow_down_holds_the_lane_for_every_dispatcher() -> None:
    clock = FakeClock()
    async with in_memory(clock) as store:
        a = SharedLaneGate("sms", store.coordination, 10, clock)
        b = SharedLaneGate("sms", store.coordination, 10, clock)
        assert await a.acquire()
        a.pause(30.0)  # a 429 with Retry-After: 30 reached dispatcher a only
        await asyncio.gather(*a._holds)  # the hold is written (in the background of the send)
        t0 = clock.monotonic()
        got = asyncio.create_task(b.acquire())
        while not got.done():
            await clock.advance(0.5)
        assert 30 - 0.5 <= clock.monotonic() - t0 <= 30.5
        # a dispatcher that may not wait that long hands its work back instead of holding it
        c = SharedLaneGate("sms", store.coordination, 10, clock)
        a.pause(60.0)
        await asyncio.gather(*a._holds)
        assert not await c.acquire(max_wait=5.0)
        assert c.paused_for > 55


class _SlowSlots:
    """The store's lane slots, answering a reservation only when the test lets it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def reserve_slots(self, lane: str, count: int, interval: float) -> float:
        self.asked.set()
        await self.answer.wait()
        return self.clock.now()

    async def hold_lane(self, lane: str, until: float) -> None:
        return None


async def test_a_slow_down_heard_while_the_store_hands_out_slots_voids_them() -> None:
    """A 429 that comes back while this sender waits for the store's slots: the sender waits out
    the pause instead of sending at once with a slot reserved before it."""
    clock = FakeClock()
    slots = _SlowSlots(clock)
    gate = SharedLaneGate("sms", slots, 10, clock)
    t0 = clock.monotonic()
    got = asyncio.create_task(gate.acquire())
    await asyncio.wait_for(slots.asked.wait(), 5)
    gate.pause(1.0)  # another send's 429 with Retry-After: 1
    slots.answer.set()
    while not got.done():
        await clock.advance(0.05)
    assert await got
    assert clock.monotonic() - t0 >= 1.0 - 1e-6


async def test_a_failing_store_falls_back_to_this_processs_own_pacing() -> None:
    clock = FakeClock()
    async with in_memory(clock) as store:
        gate = SharedLaneGate("sms", store.coordination, 10, clock)
        store.fail_writes(OSError("disk full"))
        t0 = clock.monotonic()
        task = asyncio.gather(*(gate.acquire() for _ in range(5)))
        while not task.done():
            await clock.advance(0.05)
        assert all(await task) and clock.monotonic() - t0 >= 0.4 - 1e-6



async def test_a_web_process_starts_no_send_worker(tmp_path: Path) -> None:
    """QA: `serve --role web` started the web-push worker process (a child for the encryption of bulk sends),
    which only a dispatcher uses. A web process keeps its senders in-process (enrolment codes, the push
    key on the enrolment page, webhook answers); a dispatcher still gets the worker."""
    from safetynet.broadcast.sendworker import ProcessSender
    from safetynet.system import running_system

    cfg = make_cfg(tmp_path)
    assert cfg.channels.get("webpush").enabled
    async with running_system(cfg, port=0, role="web", send_workers=True) as web:
        assert "webpush" in web.services.senders
        assert [c for c, s in web.services.senders.items() if isinstance(s, ProcessSender)] == []
    async with running_system(cfg, port=0, role="dispatcher", send_workers=True) as disp:
        assert isinstance(disp.services.senders["webpush"], ProcessSender)


async def test_roles_split_what_a_process_runs(tmp_path: Path) -> None:
    import aiohttp

    from safetynet.config import ConfigError
    from safetynet.system import running_system

    cfg = make_cfg(tmp_path)
    async with running_system(cfg, port=0, role="web") as web, aiohttp.ClientSession() as http:
        assert web.dispatcher is None and web.leader is None  # no sending, no schedulers
        assert web.escalation is not None  # unhandled help: every process that takes answers checks
        async with http.get(f"{web.url}/login") as r:
            assert r.status == 200
    async with running_system(cfg, port=0, role="dispatcher") as disp, aiohttp.ClientSession() as http:
        assert disp.dispatcher is not None and disp.leader is not None and disp.escalation is None
        await asyncio.wait_for(disp.leader.leading.wait(), 10)
        assert set(disp.leader.duties) == {"ladder", "triggers", "retention"}
        async with http.get(f"{disp.url}/login") as r:
            assert r.status == 404
        async with http.get(f"{disp.url}/healthz") as r:
            assert r.status == 200
    try:
        async with running_system(cfg, port=0, role="everything"):
            raise AssertionError("an unknown role must not start")
    except ConfigError as e:
        assert "everything" in str(e)
